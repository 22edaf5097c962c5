"""costguard_health: repeated collection failures and a silent event queue."""

from __future__ import annotations

from costguard.checks.costguard_health import CostguardHealth
from costguard.model import GLOBAL_REGION, Severity

from .conftest import ACCOUNT, HOSTILE, ago, assert_only_quoted, health, render, run, snapshot


def test_a_source_failing_three_cycles_in_a_row_is_a_finding():
    snap = snapshot(health=(
        health("inventory", failures=3, region="eu-west-1", error="AccessDenied: no"),
        health("cost", failures=2, region=GLOBAL_REGION),
        health("cloudtrail", failures=0),
    ))

    [finding] = run(CostguardHealth, snap)

    assert finding.resource == f"costguard:health/inventory/{ACCOUNT}/eu-west-1"
    assert (finding.region, finding.severity) == ("eu-west-1", Severity.HIGH)
    assert finding.title == (
        f"costguard failed to collect inventory for {ACCOUNT}/eu-west-1 3 times in a row")
    assert finding.details["problems"] == ["failing"]
    assert finding.details["last_error"] == "AccessDenied: no"
    assert finding.details["last_success_at"] == "2026-11-22T10:00:00+00:00"
    assert run(CostguardHealth, snap, max_failed_cycles=2)[0].details["source"] == "cost"


def test_a_queue_silent_past_the_limit_is_one_level_lower():
    silent = health("events", last_event=ago(hours=25))

    [finding] = run(CostguardHealth, snapshot(health=(silent,)))

    assert finding.severity is Severity.MEDIUM
    assert finding.details["problems"] == ["silent"]
    assert finding.details["silent_minutes"] == 1500
    assert finding.title == (f"No event has reached costguard's queue for {ACCOUNT}/us-east-1 "
                             "since 2026-11-21 11:00 UTC")
    assert run(CostguardHealth, snapshot(health=(silent,)), max_queue_silence_minutes=1600) == []


def test_silence_is_measured_from_the_last_event_and_a_queue_that_never_had_one_is_not_judged():
    assert run(CostguardHealth, snapshot(health=(health("events", last_event=ago(hours=2)),))) \
        == []
    assert run(CostguardHealth, snapshot(health=(health("events"),))) == []


def test_a_failing_silent_queue_is_one_finding_at_the_policy_severity():
    both = health("events", failures=4, last_event=ago(days=2), error="QueueDoesNotExist")

    [finding] = run(CostguardHealth, snapshot(health=(both,)))

    assert finding.details["problems"] == ["failing", "silent"]
    assert finding.severity is Severity.HIGH


def test_every_source_makes_it_run():
    assert {s.value for s in CostguardHealth.sources} == {
        "inventory", "credential_report", "cost", "cloudtrail", "guardduty"}


def test_remediation_names_the_error_and_the_setup_commands():
    findings = run(CostguardHealth, snapshot(health=(
        health("inventory", failures=3, error="AccessDenied"),
        health("events", last_event=ago(days=2)),
    )))

    text = render("costguard_health", findings)

    assert (f"costguard could not collect inventory for account {ACCOUNT}, region us-east-1, "
            "3 times in a row") in text
    assert "; the last error: AccessDenied." in text
    assert "`costguard iam-policy` prints the policy" in text
    assert "aws events list-rules --region us-east-1 --name-prefix costguard-\n" in text
    assert "costguard setup events --regions us-east-1 --dry-run\n" in text


def test_remediation_quotes_error_text():
    text = render("costguard_health", run(CostguardHealth, snapshot(health=(
        health("inventory", failures=3, error=HOSTILE),))))

    assert_only_quoted(text, HOSTILE)


def test_an_account_costguard_cannot_enter_is_left_to_account_access():
    from costguard.snapshot import AccountAccess

    member = "444455556666"
    snap = snapshot(health=(health("inventory", failures=3, region="eu-west-1"),
                            health("inventory", failures=3, region="eu-west-1", account=member)),
                    access=(AccountAccess(member, None, "AssumeRole refused (AccessDenied)"),))

    assert [f.account for f in run(CostguardHealth, snap)] == [ACCOUNT]
