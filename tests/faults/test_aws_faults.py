"""AWS failing in every way it does, under the real cycle, on SQLite and PostgreSQL.

Each scenario (tests/faults/harness.py): two unapproved c5.4xlarge and a security group open to
SSH in us-east-1 (us-east-1 and eu-west-1 are scanned) make one incident, emailed; the fix
resolves it, emailed. A fault botocore's retries absorb is injected in the detecting and in the
resolving cycle; a fault that fails a collection meets open findings (a clean cycle detects,
the faulty one follows) and the first cycle after the fix, then clean cycles resolve. The
fault proxy (tests/faults/proxy.py) injects it between costguard and moto_server.

After each: both messages delivered, duplicates only where docs/reliability.md allows them (none
here), no finding resolved before the fix (a failed collection never resolves), every row
intact, and the failure visible (an incomplete scan with its error, or botocore's retries
counted at the proxy). The measured row goes to docs/reliability-faults.md.

Two kinds of endpoint that stop answering: "hang" holds each chosen request for a second and
then drops the connection (botocore retries it as a connection error); "never answers" holds
one API's every request open without a word, so only the client's read timeout ends it
(`aws.read_timeout_s`, set to 1 s here: botocore's 60 s default would cost minutes).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from costguard.store import Store

from .harness import MEMBER, Attack, Runs, audit, play, resolved_count, write_config
from .proxy import Call, Fault, Rule
from .table import FAULTS as FAULT_ROWS
from .table import known, record_fault

pytestmark = pytest.mark.slow
SEED = 20261206


_runs = Counter[str]()


def sometimes(fault_for: Callable[[Call], Fault], share: float, max_streak: int = 2) -> Rule:
    """`fault_for(call)` on `share` of the calls (seeded per run), never more than `max_streak`
    times in a row for one operation, so botocore's 6 attempts always get through."""
    _runs["n"] += 1
    chance = random.Random(SEED + _runs["n"])
    streaks: Counter[tuple[str, str, str]] = Counter()
    lock = threading.Lock()

    def rule(call: Call) -> Fault | None:
        key = (call.service, call.region, call.operation)
        with lock:
            if streaks[key] < max_streak and chance.random() < share:
                streaks[key] += 1
                return fault_for(call)
            streaks[key] = 0
            return None

    return rule


def throttle(call: Call) -> Fault:
    code = {"ec2": "RequestLimitExceeded", "query": "Throttling", "rest-xml": "SlowDown"}
    return Fault(503 if call.protocol in ("ec2", "rest-xml") else 400,
                 code.get(call.protocol, "ThrottlingException"), "Rate exceeded")


def internal_error(call: Call) -> Fault:
    """AWS's own 500: an error body in the protocol's shape."""
    return Fault(500, "InternalError" if call.protocol in ("ec2", "query", "rest-xml")
                 else "InternalFailure", "We encountered an internal error. Please try again.")


def denied_in_one_region(call: Call) -> Fault | None:
    if (call.service, call.region, call.operation) == ("ec2", "us-east-1",
                                                      "DescribeSecurityGroups"):
        return Fault(403, "UnauthorizedOperation",
                     "You are not authorized to perform this operation.")
    return None


def denied_in_one_account(call: Call) -> Fault | None:
    """The member account's role cannot be assumed: AccessDenied on its AssumeRole."""
    if (call.service, call.operation) == ("sts", "AssumeRole"):
        return Fault(403, "AccessDenied", f"not authorized to assume a role in {MEMBER}")
    return None


def expiring_after(calls: int) -> Rule:
    """Every call after the first `calls` of a run answers ExpiredToken (mid-cycle)."""
    seen = Counter[str]()

    def rule(call: Call) -> Fault | None:
        seen["n"] += 1
        if seen["n"] <= calls or call.service == "sts":
            return None
        code = "ExpiredTokenException" if call.protocol in ("json", "rest-json") else \
            "ExpiredToken"
        return Fault(400, code, "The security token included in the request is expired")

    return rule


@dataclass(frozen=True)
class AwsFault:
    name: str
    rule: Callable[[], Rule]
    """Makes the rule for one run (a fresh seed and count each time)."""
    completes: bool | None
    """Whether a run under the fault still completes (botocore's retries absorb it); None:
    either, as the seeded draw falls."""
    member: bool = False
    """Whether a second account (assumed role) is scanned too."""


FAULTS = (
    AwsFault("throttling on 30% of calls", lambda: sometimes(throttle, 0.3), True),
    AwsFault("HTTP 500 InternalError on 30% of calls", lambda: sometimes(internal_error, 0.3),
             True),
    AwsFault("HTTP 500 with a non-AWS body on 30% of calls",
             lambda: sometimes(lambda c: Fault(500), 0.3), None),
    AwsFault("endpoint hangs then drops (30% of calls)",
             lambda: sometimes(lambda c: Fault(hang_s=1.0), 0.3), True),
    AwsFault("AccessDenied: DescribeSecurityGroups in us-east-1", lambda: denied_in_one_region,
             False),
    AwsFault("ExpiredToken mid-cycle", lambda: expiring_after(3), False),
    AwsFault("AccessDenied: one account's role cannot be assumed",
             lambda: denied_in_one_account, False, member=True),
)


NEVER_ANSWERS = "endpoint never answers one API (read timeout 1 s)"
known(FAULT_ROWS, *(f.name for f in FAULTS), NEVER_ANSWERS, owner=__name__)
CASES = [pytest.param(f, "SQLite", id=f"SQLite-{f.name}") for f in FAULTS] + [
    pytest.param(FAULTS[0], "PostgreSQL", id=f"PostgreSQL-{FAULTS[0].name}",
                 marks=pytest.mark.postgres)]
"""Every fault on SQLite; on PostgreSQL the first (the store is not what these faults test:
the database faults are tests/faults/test_store_faults.py)."""


@pytest.mark.parametrize(("fault", "name"), CASES)
def test_an_aws_fault_loses_nothing_and_resolves_nothing_wrongly(fault, name, proxy, zygote,
                                                                 endpoint, inbox, tmp_path,
                                                                 request):
    url = (f"sqlite:///{tmp_path}/cg.db" if name == "SQLite"
           else request.getfixturevalue("pg_url"))
    runs = Runs(write_config(tmp_path, url, inbox.port, member=fault.member), zygote)
    injected: Counter[str] = Counter()
    faulty: list[int] = []

    def under_fault() -> int:
        proxy.reset(fault.rule())
        faulty.append(runs.cycle())
        injected.update(proxy.injected)
        proxy.reset()
        return faulty[-1]

    # A fault botocore absorbs meets the detection and the resolution; one that fails the
    # collection meets open findings (which it must not resolve) and the resolution.
    before = [under_fault] if fault.completes else [runs.cycle, under_fault]
    wrongly = play(runs, Attack(endpoint), url, before_fix=before, after_fix=[under_fault],
                   settle=1 if fault.completes else 2)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    seen = f"{sum(injected.values())} injected; " + (
        "absorbed by botocore's retries" if fault.completes else
        f"{faulty.count(3)} of {len(faulty)} scans incomplete (exit 3)")
    record_fault(fault.name, name, runs=len(runs.codes), expected=result.expected,
                 delivered=result.delivered, duplicated=result.duplicated, lost=result.lost,
                 wrongly_resolved=result.wrongly_resolved, intact=result.intact, seen_as=seen)

    assert runs.errors == []
    assert sum(injected.values()) > 0
    if fault.completes is not None:
        assert faulty == ([0, 0] if fault.completes else [3, 3]), runs.codes
    assert (result.delivered, result.duplicated, result.lost) == (2, 0, 0)
    assert result.wrongly_resolved == 0
    assert result.intact and result.open_findings == 0


def never_answers(call: Call) -> Fault | None:
    """DescribeSecurityGroups in us-east-1 is read and never answered (for up to two minutes,
    far past the client's read timeout); everything else is forwarded."""
    if (call.service, call.region, call.operation) == ("ec2", "us-east-1",
                                                      "DescribeSecurityGroups"):
        return Fault(hang_s=120.0, silent=True)
    return None


def test_an_endpoint_that_never_answers_times_out_and_resolves_nothing(proxy, zygote, endpoint,
                                                                       inbox, tmp_path):
    """With `read_timeout_s: 1`, each attempt at the silent API ends in botocore's
    ReadTimeoutError and is retried (7 attempts: botocore's `max_attempts` 6 counts retries,
    with its random back-off between them); then that region's inventory
    fails and the scan is incomplete. Played on the first cycle after the fix, where resolving
    on what the failed source did not say would be the mistake: nothing may resolve. The next
    cycle, the endpoint answering again, resolves and the resolution goes out. One silent
    cycle only: it costs 7 s of timeouts plus botocore's random back-off (for errors other than
    throttling at most 0.05 s times 1, 2, 4 ... 32: 3.2 s in all)."""
    url = f"sqlite:///{tmp_path}/cg.db"
    runs = Runs(write_config(tmp_path, url, inbox.port, aws="read_timeout_s: 1"), zygote)
    codes: list[int] = []
    seen: dict[str, object] = {}

    def silent() -> int:
        proxy.reset(never_answers)
        started = time.monotonic()
        codes.append(runs.cycle())
        seen["seconds"] = time.monotonic() - started  # shown in the row, never asserted
        seen["attempts"], seen["given_up"] = proxy.injected["hang"], proxy.abandoned
        proxy.reset()
        seen["resolved"] = resolved_count(url)
        with Store.open(url) as store:
            seen["errors"] = store.last_scans(1)[0].errors
        return codes[-1]

    wrongly = play(runs, Attack(endpoint), url, before_fix=[runs.cycle], after_fix=[silent],
                   settle=2)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    record_fault(NEVER_ANSWERS, "SQLite", runs=len(runs.codes), expected=result.expected,
                 delivered=result.delivered, duplicated=result.duplicated, lost=result.lost,
                 wrongly_resolved=result.wrongly_resolved + int(seen["resolved"]),
                 intact=result.intact,
                 seen_as=f"{seen['attempts']} attempts timed out, 1 of 1 scans incomplete "
                         f"(exit 3, ReadTimeoutError) after {seen['seconds']:.0f} s; the next "
                         "concluded")

    assert runs.errors == [] and codes == [3], runs.codes
    assert seen["attempts"] == 7 and seen["given_up"] == 7  # the first try and 6 retries
    assert any("Read timeout" in e and "us-east-1" in e for e in seen["errors"]), seen
    assert seen["resolved"] == 0  # the fixed resources stay open while a source is missing
    assert (result.delivered, result.duplicated, result.lost) == (2, 0, 0)
    assert result.wrongly_resolved == 0
    assert result.intact and result.open_findings == 0
