"""access_denied: bursts of refused calls of many kinds by one principal."""

from __future__ import annotations

from datetime import timedelta

from costguard.checks.access_denied import AccessDenied
from costguard.model import GLOBAL_REGION

from .conftest import (
    DEV_ARN,
    DEV_KEY,
    HOSTILE,
    ago,
    assert_only_quoted,
    event,
    render,
    run,
    snapshot,
)

NAMES = ("ListUsers", "ListBuckets", "DescribeInstances", "GetSecretValue", "ListRoles")


def refused(n: int, *, names=NAMES, start=None, step=timedelta(seconds=20), code="AccessDenied",
            **kw):
    start = start or ago(minutes=30)
    return [event(names[i % len(names)], at=start + i * step, error=code, principal=DEV_ARN,
                  key=DEV_KEY, read_only=True, **kw) for i in range(n)]


def test_a_burst_of_refusals_of_many_kinds_is_a_finding():
    [finding] = run(AccessDenied, snapshot(events=tuple(refused(12))))

    assert (finding.resource, finding.region) == (f"{DEV_ARN}#access-denied", GLOBAL_REGION)
    assert finding.details["count"] == 12
    assert {c["name"] for c in finding.details["refused"]} == set(NAMES)
    assert f"caller_key:{DEV_KEY}" in finding.entities


def test_few_refusals_one_kind_or_spread_out_is_no_finding():
    assert run(AccessDenied, snapshot(events=tuple(refused(9)))) == []
    assert run(AccessDenied, snapshot(events=tuple(refused(20, names=("GetObject",))))) == []
    spread = refused(12, step=timedelta(minutes=5))
    assert run(AccessDenied, snapshot(events=tuple(spread))) == []
    throttled = refused(12, code="ThrottlingException")
    assert run(AccessDenied, snapshot(events=tuple(throttled))) == []


def test_unauthorized_operation_counts_and_old_bursts_clear():
    ec2 = refused(12, code="Client.UnauthorizedOperation")
    assert len(run(AccessDenied, snapshot(events=tuple(ec2)))) == 1
    old = refused(12, start=ago(days=2))
    assert run(AccessDenied, snapshot(events=tuple(old))) == []


def test_remediation_contains_the_key_and_quotes_what_callers_chose():
    text = render("access_denied", run(AccessDenied, snapshot(
        events=tuple(refused(12, agent=HOSTILE)))))
    assert text.split("```\n", 2)[1].startswith(
        f"aws iam update-access-key --user-name dev --access-key-id {DEV_KEY}")
    assert_only_quoted(text, HOSTILE)
