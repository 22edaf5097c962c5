"""The one door to AWS: cached clients with adaptive retries, and a count of every API call.

Clients are cached in one LRU for the whole process (collectors/client_cache.py), bounded by
`runtime.client_cache`: every account x region of an Organization would otherwise keep its own.

boto3 and botocore are imported lazily, inside the functions that need them, so that importing
costguard (for `validate`, `checks`, or a test of pure logic) costs no boto3 import.

Call counting: a handler on the session's `before-call` event sees each API operation once per
invocation, before botocore's retry loop, so a request retried after throttling counts once, and
every page of a paginator counts once. That is the number AWS bills (Cost Explorer charges per
request) and the number the caller's rate limit sees; retries are botocore's concern and are
visible in its own logs. A call rejected by client-side parameter validation never reaches AWS
and is not counted.

`AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) is honoured by botocore
itself in the versions costguard requires (boto3 >= 1.34), so pointing costguard at moto_server
needs no code here; tests/test_awsapi.py proves it against a real moto server.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from costguard import __version__
from costguard.collectors.client_cache import CLIENTS, new_owner

if TYPE_CHECKING:
    import boto3

    from costguard.settings.sections import AwsConfig

CALL_LOG_ENV = "COSTGUARD_CALL_LOG"
"""Names a file to which every API call is appended as a JSON line (service, region, operation,
parameters): what the scan benchmark's bare boto3 script replays, so both make the same calls."""

DEFAULT_REGION = "us-east-1"
"""Where global services (IAM, STS, Cost Explorer) are called when the session names no region."""

RETRIES: dict[str, Any] = {"mode": "adaptive", "max_attempts": 6}
USER_AGENT_EXTRA = f"costguard/{__version__}"

# The IAM action prefix is the service's signing name (or its endpoint prefix when it has none),
# except for the few services whose signing name differs from their IAM prefix.
_IAM_PREFIX_OVERRIDES = {"monitoring": "cloudwatch"}


def iam_action(service_metadata: dict[str, Any], operation: str) -> str:
    """The IAM action an API operation needs, e.g. `ce:GetCostAndUsage`, as the policy names it."""
    name = service_metadata.get("signingName") or service_metadata["endpointPrefix"]
    return f"{_IAM_PREFIX_OVERRIDES.get(name, name)}:{operation}"


def error_code(exc: BaseException) -> str | None:
    """AWS's error code of a botocore ClientError (None for anything else), without importing it."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return response.get("Error", {}).get("Code")


def error_message(exc: BaseException) -> str:
    """AWS's error message of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Message", ""))


def aws_problem(exc: BaseException) -> str | None:
    """One line for an error about the AWS environment (credentials, profile, region, endpoint,
    or AWS refusing the call), which a command reports with exit code 2; None for anything else.
    Matched by botocore's base classes, so no new botocore exception escapes as a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = error_code(exc) or "error"
        operation = getattr(exc, "operation_name", "") or "a call"
        message = " ".join(error_message(exc).split()) or code
        return f"AWS refused {operation} ({code}): {message}"
    if isinstance(exc, BotoCoreError):
        hint = _HINTS.get(type(exc).__name__, "")
        return f"AWS: {' '.join(str(exc).split())}{hint}"
    return None


_HINTS = {
    "NoCredentialsError": " (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run "
    "where an instance or task role applies)",
    "NoRegionError": " (set AWS_DEFAULT_REGION or aws.regions)",
    "EndpointConnectionError": " (no network, a wrong region, or a wrong AWS_ENDPOINT_URL)",
}


class CallCounter:
    """A thread-safe tally of API calls, shared by an Aws and every Aws it assumes into."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def add(self, action: str) -> None:
        """Count one call; collectors may run regions in threads, hence the lock."""
        with self._lock:
            self.calls[action] += 1

    def on_before_call(self, model: Any = None, **_: Any) -> None:
        """botocore `before-call` handler; returns None so the call proceeds normally."""
        if model is not None:
            from costguard.collectors.permissions import authorizing_action

            self.add(authorizing_action(iam_action(model.service_model.metadata, model.name)))


class _CallLog:
    """Appends each call to the COSTGUARD_CALL_LOG file (benchmarks only), with the role the
    calling session assumed (None: the base credentials)."""

    def __init__(self, path: str, role: str | None = None) -> None:
        self.path = path
        self.role = role

    def __call__(self, params: Any = None, model: Any = None, context: Any = None,
                 **_: Any) -> None:
        import json

        entry = {"service": model.service_model.service_name, "operation": model.name,
                 "region": (context or {}).get("client_region"), "params": params or {},
                 "role": self.role}
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry, default=str) + "\n")


class Aws:
    """One AWS identity (a boto3 session) with cached clients and a shared call counter.

    Create one Aws per boto3 session: the counting handler is registered on the session when the
    Aws is made, and clients copy the session's handlers when they are created. Its clients are
    in the process's shared cache, under a number of its own; they leave it when the Aws is
    garbage-collected.
    """

    def __init__(self, session: boto3.Session, *, counter: CallCounter | None = None,
                 role_arn: str | None = None) -> None:
        self._session = session
        self._counter = counter or CallCounter()
        self._owner = new_owner()
        self._lock = threading.Lock()
        weakref.finalize(self, CLIENTS.forget_later, self._owner)
        self._identity: dict[str, str] | None = None
        # First among the most specific handlers, so a handler that answers the call itself
        # (botocore's Stubber does) cannot hide it from the count.
        session.events.register_first("before-call.*.*", self._counter.on_before_call)
        call_log = os.environ.get(CALL_LOG_ENV)
        if call_log:
            session.events.register("before-parameter-build.*.*", _CallLog(call_log, role_arn))

    @classmethod
    def from_environment(cls, profile: str | None = None, region: str | None = None, *,
                         connect_timeout_s: float | None = None,
                         read_timeout_s: float | None = None) -> Aws:
        """An Aws from the standard credential chain (env, profile, instance role, SSO...)."""
        import boto3

        session = boto3.Session(profile_name=profile, region_name=region)
        # The session's default client config reaches every client made from it (botocore
        # merges each client's own config over it), and `assume` hands it on to each account.
        session._session.set_default_client_config(
            client_config(connect_timeout_s, read_timeout_s))
        return cls(session)

    @classmethod
    def from_settings(cls, settings: AwsConfig) -> Aws:
        """An Aws as costguard.yml's `aws:` asks: its profile and its timeouts."""
        return cls.from_environment(settings.profile,
                                    connect_timeout_s=settings.connect_timeout_s,
                                    read_timeout_s=settings.read_timeout_s)

    @property
    def region(self) -> str:
        """The session's region, or us-east-1, for calls that are not tied to a region."""
        return self._session.region_name or DEFAULT_REGION

    @property
    def calls(self) -> Counter[str]:
        """Calls so far per IAM action (`ec2:DescribeInstances`), across every assumed account."""
        return self._counter.calls

    @property
    def total_calls(self) -> int:
        """All calls so far, the `api_calls` of a scan's JSON."""
        return sum(self._counter.calls.values())

    def client(self, service: str, region: str | None = None) -> Any:
        """The cached client for a service in a region; made on first use, and again after the
        shared cache evicted it."""
        key = (self._owner, service, region or self.region)
        client = CLIENTS.get(key)
        if client is not None:
            return client
        with self._lock:
            # boto3 sessions are not thread-safe when creating clients; clients themselves are.
            client = CLIENTS.get(key)  # made by another thread while this one waited
            if client is None:
                client = self._session.client(service, region_name=key[2],
                                              config=client_config())
                CLIENTS.put(key, client)
            return client

    def drop_client(self, service: str, region: str | None = None) -> None:
        """Forget one cached client (a one-shot scan is done with a region once it is read)."""
        CLIENTS.pop((self._owner, service, region or self.region))

    def release_clients(self) -> None:
        """Drop every cached client of this Aws and the service models the session parsed.

        A one-shot scan is done with EC2 and IAM once it has read them; their models are the
        largest thing in memory (EC2's alone is tens of MB once parsed), and freeing them before
        the store is imported keeps the scan's peak memory near a bare boto3 script's. Clients
        needed later are created again, loading only their own (small) models. botocore keeps
        parsed models in its loader's `_cache` (its `instance_cache`); there is no public way to
        empty it.
        """
        CLIENTS.forget(self._owner)
        loader = getattr(self._session, "_loader", None)
        cache = getattr(loader, "_cache", None)
        if isinstance(cache, dict):
            cache.clear()

    def identity(self) -> dict[str, str]:
        """Who these credentials are (STS GetCallerIdentity, asked once): Account and Arn."""
        if self._identity is None:
            answer = self.client("sts").get_caller_identity()
            self._identity = {"Account": answer["Account"], "Arn": answer.get("Arn", "")}
        return self._identity

    def account_id(self) -> str:
        """The account these credentials belong to."""
        return self.identity()["Account"]

    def partition(self) -> str:
        """The AWS partition of these credentials (`aws`, `aws-cn`, `aws-us-gov`)."""
        arn = self.identity()["Arn"].split(":")
        return arn[1] if len(arn) > 1 and arn[1] else "aws"

    def assume(self, role_arn: str, session_name: str = "costguard", *,
               external_id: str | None = None,
               clock: Callable[[], datetime] | None = None) -> Aws:
        """An Aws for another account through STS AssumeRole, counting into the same counter.

        The role is assumed on first use and re-assumed by botocore's refreshable credentials
        before the temporary ones expire (15 minutes ahead), so a long-running daemon can keep
        the returned Aws. `clock` (an aware datetime) is botocore's time fetcher, for tests.
        """
        import boto3
        import botocore.session
        from botocore.credentials import (
            AssumeRoleCredentialFetcher,
            DeferredRefreshableCredentials,
        )

        extra = {"RoleSessionName": session_name}
        if external_id:
            extra["ExternalId"] = external_id
        # No fetcher cache: the refreshable credentials decide when to refresh (with their
        # own, injectable, time fetcher), and each refresh is a real AssumeRole.
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=self._sts_creator(),
            source_credentials=self._session.get_credentials(),
            role_arn=role_arn,
            extra_args=extra,
            cache=_NoCache(),
        )
        core = botocore.session.Session()
        # One data loader for every account: each session would otherwise parse and keep its
        # own copy of every service model (EC2's is tens of MB), per member.
        core.register_component("data_loader", self._botocore().get_component("data_loader"))
        core.set_default_client_config(self._botocore().get_default_client_config())
        timing = {"time_fetcher": clock} if clock is not None else {}
        # botocore has no public setter for a session's credentials; assigning `_credentials`
        # is the common way to give a session refreshable credentials built by hand.
        core._credentials = DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role", **timing
        )
        session = boto3.Session(botocore_session=core, region_name=self.region)
        # boto3 appends its data folder to the (now shared) loader's search path per session.
        paths = core.get_component("data_loader").search_paths
        paths[:] = list(dict.fromkeys(paths))
        return Aws(session, counter=self._counter, role_arn=role_arn)

    def _botocore(self) -> Any:
        """The botocore session under the boto3 one (boto3 has no public accessor)."""
        return self._session._session

    def _sts_creator(self) -> Callable[..., Any]:
        """Creates the STS clients AssumeRole goes through: from this session, so they count."""

        def create(service: str, **kwargs: Any) -> Any:
            return self._session.client(
                service, region_name=self.region, config=client_config(), **kwargs
            )

        return create


class _NoCache(dict):
    """A credential cache that never holds anything, so every refresh asks STS."""

    def __contains__(self, key: object) -> bool:
        return False

    def __setitem__(self, key: str, value: Any) -> None:
        return None


def client_config(connect_timeout_s: float | None = None, read_timeout_s: float | None = None
                  ) -> Any:
    """Adaptive retries (client-side rate limiting on throttles), costguard's user agent, and
    the connect and read timeouts when given (botocore's 60 s each otherwise). Each timed-out
    attempt is retried like a dropped connection, so a call to an endpoint that never answers
    costs up to `max_attempts` read timeouts plus back-off before it fails."""
    from botocore.config import Config

    timeouts = {name: value for name, value in (("connect_timeout", connect_timeout_s),
                                                 ("read_timeout", read_timeout_s))
                if value is not None}
    return Config(retries=dict(RETRIES), user_agent_extra=USER_AGENT_EXTRA, **timeouts)
