"""What every notification channel is: a params model built from its config section, and `send()`.

A channel sends a `Message` the outbox stored before any attempt, so a retry sends exactly what was
first rendered. Channels hold all notification I/O; failures surface as `DeliveryError` with a
one-line reason that the outbox records before it retries with back-off.

Secrets never sit in the config file: a channel declares `<name>_env` (an environment variable's
name) and `<name>_file` (a file path) fields, and an inline `<name>:` key is refused with a message
that points at those two.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from costguard.clock import utcnow
from costguard.model import Message
from costguard.settings.problems import matching
from costguard.text import oneline

THREAD_KEY = "thread_key"
"""`Message.fields` entry holding the key of an incident's first message, for follow-ups to
refer to (email threading); `costguard.alerts.compose` sets it."""

DOCUMENT_KEY = "document"
"""`Message.fields` entry holding the incident document (`costguard.alerts.document`): what
the webhook posts and what chat and paging channels build their payloads from."""


def document_of(message: Message) -> Mapping[str, Any]:
    """The incident document a message carries; empty for one stored before documents were."""
    document = message.fields.get(DOCUMENT_KEY)
    return document if isinstance(document, Mapping) else {}


EnvVarName = Annotated[str, matching(r"[A-Za-z_][A-Za-z0-9_]*",
                                     "an environment variable name such as SMTP_PASSWORD")]
"""The name of an environment variable (never its value), for `*_env` keys."""


class DeliveryError(Exception):
    """A send failed; the reason is one line because the outbox stores and shows it as such.

    `retry_after_s` is how long the other side asked us to wait (HTTP Retry-After: a 429 or
    503): the outbox retries no sooner. `permanent` means no retry can succeed (an SMTP 5xx
    rejection of every recipient, a revoked key, a deleted webhook): the outbox marks the message
    dead at once. Anything else, however long it lasts, is retried.
    """

    def __init__(self, reason: str, *, retry_after_s: float | None = None,
                 permanent: bool = False) -> None:
        super().__init__(oneline(reason))
        self.retry_after_s = retry_after_s
        self.permanent = permanent


class SecretError(ValueError):
    """A secret a channel's config names is not there, so the channel cannot be built."""



class ChannelParams(BaseModel):
    """Base of every channel's settings: unknown keys are errors and secrets come by reference."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)

    @classmethod
    def secret_names(cls) -> tuple[str, ...]:
        """The secrets this channel takes: `password` when it has password_env and password_file."""
        fields = cls.model_fields
        stems = (name.removesuffix("_env") for name in fields if name.endswith("_env"))
        return tuple(stem for stem in stems if f"{stem}_file" in fields)

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_inline_secrets(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Rewriting the generic "extra key" error keeps the key's location (so the config loader
        # points at its YAML line), tells the user what to write instead, and drops the input:
        # the value is the secret itself and must not end up in a terminal or a log.
        try:
            return handler(data)
        except ValidationError as exc:
            secrets = set(cls.secret_names())
            if not any(_is_inline_secret(err, secrets) for err in exc.errors()):
                raise
            errors = [_rebuilt(err, secrets) for err in exc.errors()]
            raise ValidationError.from_exception_data(exc.title, errors) from None

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> ChannelParams:
        for name in self.secret_names():
            if getattr(self, f"{name}_env") and getattr(self, f"{name}_file"):
                raise ValueError(f"set {name}_env or {name}_file, not both")
        return self


def _is_inline_secret(err: Any, secrets: set[str]) -> bool:
    loc = err["loc"]
    return err["type"] == "extra_forbidden" and len(loc) == 1 and loc[0] in secrets


def _rebuilt(err: Any, secrets: set[str]) -> Any:
    """An error as `from_exception_data` takes it: the inline secret rewritten (input dropped),
    every other one carried over as a custom error with its type and words, since not every
    pydantic error type (`path_type`, say) can be rebuilt from its name."""
    if _is_inline_secret(err, secrets):
        name = err["loc"][0]
        error = PydanticCustomError(
            "inline_secret",
            "Inline secrets are refused: put the {name} in an environment variable and name it "
            "in {name}_env, or in a file and give its path in {name}_file",
            {"name": name},
        )
        return InitErrorDetails(type=error, loc=err["loc"], input="<redacted>")
    words = err["msg"].replace("{", "{{").replace("}", "}}")
    error = PydanticCustomError(err["type"], words, err.get("ctx"))
    return InitErrorDetails(type=error, loc=err["loc"], input=err.get("input"))


def resolve_secret(
    channel: str, params: ChannelParams, name: str, env: Mapping[str, str]
) -> str | None:
    """The secret `name` read from `<name>_env` or `<name>_file`; None when neither is set.

    Called when a channel is built, so a missing secret stops startup with a clear message
    instead of turning into a delivery failure that is retried forever.
    """
    variable: str | None = getattr(params, f"{name}_env")
    path: Path | None = getattr(params, f"{name}_file")
    where = f"notifier {channel!r}"
    if variable:
        value = env.get(variable)
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise SecretError(f"{where}: {name}_env names ${variable}, which {state}")
        return value
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SecretError(f"{where}: {name}_file {path}: {exc.strerror or exc}") from None
        if not value:
            raise SecretError(f"{where}: {name}_file {path} is empty")
        return value
    return None


class Channel(abc.ABC):
    """One way of telling people: email, the log, a ticket system.

    Subclasses set `type` (the config's `type:` value) and `Params`, and implement `send`.
    `clock` gives the send time (the Date header), injectable so tests are exact.
    """

    type: ClassVar[str]
    Params: ClassVar[type[ChannelParams]]

    def __init__(
        self,
        name: str,
        params: ChannelParams,
        env: Mapping[str, str] = os.environ,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not isinstance(params, self.Params):
            raise TypeError(f"{type(self).__name__} needs {self.Params.__name__}")
        self.name = name
        self.params = params
        self.env = env
        self.clock = clock

    def secret(self, name: str) -> str | None:
        """A secret of this channel's config; see :func:`resolve_secret`."""
        return resolve_secret(self.name, self.params, name, self.env)

    @abc.abstractmethod
    def send(self, message: Message) -> str | None:
        """Deliver `message`; return the id the other side gave it, raise DeliveryError if not."""
