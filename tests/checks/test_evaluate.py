"""Pure evaluation (costguard/evaluate.py): which policies run, what they may resolve."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

import pytest

from costguard.checks.base import Check, Context, NoParams, Registry
from costguard.checks.evaluate import evaluate
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.settings.policies import Policy
from costguard.snapshot import Snapshot

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ACCOUNT = "111122223333"
SNAPSHOT = Snapshot(now=NOW, accounts=(ACCOUNT,))


class _Recording(Check):
    """A check that reports one finding per call and remembers the context it was given."""

    title = "test"
    severity = Severity.LOW
    remediation = "remediation/_default.md.j2"
    seen: list[Context]

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        type(self).seen.append(ctx)
        return [ctx.finding(account=ACCOUNT, region="us-east-1", resource=f"r-{ctx.policy}",
                            title=ctx.check)]


def make_registry() -> Registry:
    """A registry of three stand-in checks, one per source mix, plus one that raises."""
    registry = Registry()

    class Ec2(_Recording):
        id, sources, seen = "ec2_check", (Source.INVENTORY,), []

    class Iam(_Recording):
        id, sources, seen = "iam_check", (Source.CREDENTIAL_REPORT,), []

    class Spend(_Recording):
        id, sources, seen = "spend_check", (Source.INVENTORY, Source.COST), []

    class Broken(_Recording):
        id, sources, seen = "broken_check", (Source.INVENTORY,), []

        def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
            raise KeyError("no such field")

    for cls in (Ec2, Iam, Spend, Broken):
        registry.register(cls)
    return registry


def policy(name: str, check: str, severity: Severity = Severity.HIGH) -> Policy:
    """A loaded policy as the engine passes it."""
    return Policy(name=name, check=check, severity=severity, params=NoParams(),
                  remediation=None, references=(), file="test.yml", line=1)


COMPLETE = {
    (Source.INVENTORY, ACCOUNT, "us-east-1"),
    (Source.INVENTORY, ACCOUNT, "eu-west-1"),
    (Source.CREDENTIAL_REPORT, ACCOUNT, GLOBAL_REGION),
    (Source.COST, ACCOUNT, GLOBAL_REGION),
}


@pytest.fixture
def registry() -> Registry:
    """Fresh stand-in checks per test, so what one test's checks saw never leaks into another."""
    return make_registry()


def test_each_policy_runs_its_check_with_its_own_name_severity_and_time(registry):
    policies = [policy("ec2-a", "ec2_check", Severity.CRITICAL), policy("ec2-b", "ec2_check")]
    result = evaluate(policies, SNAPSHOT, fresh={Source.INVENTORY}, complete=COMPLETE,
                      registry=registry)
    assert [(f.policy, f.check, f.severity, f.resource) for f in result.findings] == [
        ("ec2-a", "ec2_check", Severity.CRITICAL, "r-ec2-a"),
        ("ec2-b", "ec2_check", Severity.HIGH, "r-ec2-b"),
    ]
    assert [c.now for c in registry.get("ec2_check").seen] == [NOW, NOW]
    assert result.errors == []


def test_a_check_runs_only_when_a_source_it_reads_is_fresh(registry):
    policies = [policy("ec2", "ec2_check"), policy("iam", "iam_check"),
                policy("spend", "spend_check")]
    result = evaluate(policies, SNAPSHOT, fresh={Source.COST}, complete=COMPLETE,
                      registry=registry)
    assert [f.policy for f in result.findings] == ["spend"]
    assert registry.get("ec2_check").seen == []
    assert registry.get("iam_check").seen == []


def test_scopes_come_from_complete_fresh_sources_the_check_reads(registry):
    policies = [policy("ec2", "ec2_check"), policy("iam", "iam_check"),
                policy("spend", "spend_check")]
    result = evaluate(policies, SNAPSHOT, fresh={Source.INVENTORY, Source.CREDENTIAL_REPORT},
                      complete=COMPLETE, registry=registry)
    assert result.scopes == {
        ("ec2_check", ACCOUNT, "us-east-1"),
        ("ec2_check", ACCOUNT, "eu-west-1"),
        ("iam_check", ACCOUNT, GLOBAL_REGION),
        # cost was complete once, but not collected this cycle: it resolves nothing now
        ("spend_check", ACCOUNT, "us-east-1"),
        ("spend_check", ACCOUNT, "eu-west-1"),
    }


def test_a_region_that_failed_gives_its_checks_no_scope_there(registry):
    complete = {(Source.INVENTORY, ACCOUNT, "us-east-1")}  # eu-west-1 was attempted and failed
    result = evaluate([policy("ec2", "ec2_check")], SNAPSHOT, fresh={Source.INVENTORY},
                      complete=complete, registry=registry)
    assert result.scopes == {("ec2_check", ACCOUNT, "us-east-1")}
    assert [f.resource for f in result.findings] == ["r-ec2"]


def test_a_broken_check_is_an_error_and_the_others_still_run(registry):
    policies = [policy("bad", "broken_check"), policy("ec2", "ec2_check")]
    result = evaluate(policies, SNAPSHOT, fresh={Source.INVENTORY}, complete=COMPLETE,
                      registry=registry)
    assert result.errors == ["check broken_check (policy bad) failed: 'no such field'"]
    assert [f.policy for f in result.findings] == ["ec2"]
    # the broken check resolves nothing: its absent findings must not look fixed
    assert {s[0] for s in result.scopes} == {"ec2_check"}


def test_a_policy_naming_an_unknown_check_is_skipped(registry):
    result = evaluate([policy("ghost", "no_such_check"), policy("ec2", "ec2_check")], SNAPSHOT,
                      fresh=set(Source), complete=COMPLETE, registry=registry)
    assert [f.policy for f in result.findings] == ["ec2"]
    assert result.errors == []
    assert not any(s[0] == "no_such_check" for s in result.scopes)
