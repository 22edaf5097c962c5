"""root_activity: key vs console, verification by the root key's state, the credential report."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costguard.alerts.render import text_to_html
from costguard.checks.root_activity import RootActivity
from costguard.model import GLOBAL_REGION, Severity

from .conftest import (
    ACCOUNT,
    ATTACKER_IP,
    BROWSER,
    GO_SDK,
    HOSTILE,
    OTHER_ACCOUNT,
    ROOT_ARN,
    ROOT_KEY,
    SCRIPT,
    ago,
    assert_only_quoted,
    attack_events,
    event,
    iam,
    key,
    render,
    report,
    root,
    run,
    snapshot,
)

SESSION_KEY = "ASIACONSOLESESSION01"


def sign_in(minutes: float, *, ok: bool = True, ip: str = "198.51.100.7", **kw):
    """A root ConsoleLogin as CloudTrail records it (failures carry no errorCode)."""
    return event("ConsoleLogin", at=ago(minutes=minutes), key=None, ip=ip, agent=BROWSER,
                 response={"ConsoleLogin": "Success" if ok else "Failure"}, **kw)


def test_the_reference_incident_is_one_critical_finding_naming_key_address_and_agent():
    snap = snapshot(events=attack_events(), iam=(iam(keys=True),))

    [finding] = run(RootActivity, snap)

    assert finding.title == f"Root user of account {ACCOUNT} used with its access key"
    assert (finding.account, finding.region, finding.resource) == (ACCOUNT, GLOBAL_REGION,
                                                                   ROOT_ARN)
    assert finding.severity is Severity.CRITICAL
    assert finding.entities == {f"principal:{ROOT_ARN}", f"access_key:{ROOT_KEY}"}
    assert finding.at == ago(minutes=12)
    d = finding.details
    assert (d["how"], d["via"], d["root_key_active"]) == ("access_key", "cloudtrail", True)
    assert d["access_key_ids"] == [ROOT_KEY]
    assert d["source_ips"] == [ATTACKER_IP]
    assert d["user_agents"] == [GO_SDK]
    assert (d["first_seen"], d["last_seen"]) == ("2026-11-22T11:48:00+00:00",
                                                  "2026-11-22T11:51:00+00:00")
    assert [(c["name"], c["count"]) for c in d["calls"]] == [
        ("ImportKeyPair", 1), ("CreateSecurityGroup", 1), ("AuthorizeSecurityGroupIngress", 1),
        ("RunInstances", 1)]
    assert d["api_calls"] == ["ImportKeyPair", "CreateSecurityGroup",
                              "AuthorizeSecurityGroupIngress", "RunInstances"]
    assert d["activity"]["principal"] == ROOT_ARN
    assert d["activity"]["start"] == "2026-11-22T10:48:00+00:00"
    assert d["console_sign_ins"] == 0


def test_key_use_stays_until_the_root_key_is_gone_however_old_the_events():
    old = (event("DescribeRegions", at=ago(hours=20)),)

    assert len(run(RootActivity, snapshot(events=old, iam=(iam(keys=True),)))) == 1
    assert run(RootActivity, snapshot(events=old, iam=(iam(keys=False),))) == []
    # Without any IAM data nothing says the key is gone: the finding stays.
    assert len(run(RootActivity, snapshot(events=old))) == 1


def test_a_credential_report_older_than_the_key_use_cannot_clear_it():
    used = (event("RunInstances", at=ago(minutes=30)),)
    # report() is generated two hours before NOW: before this key use, so it cannot say.
    stale = iam(report=report(root()))
    assert len(run(RootActivity, snapshot(events=used, iam=(stale,)))) == 1

    fresh_use = (event("RunInstances", at=ago(hours=3)),)
    [finding] = run(RootActivity, snapshot(events=fresh_use, iam=(iam(report=report(root(
        keys=[key(1)]))),)))
    assert finding.details["root_key_active"] is True
    assert run(RootActivity, snapshot(events=fresh_use, iam=(iam(report=report(root())),))) == []


def test_reads_with_the_key_count_as_use_but_stay_out_of_the_activity():
    # Same time: the ids order them (counter-made ids would sort by the test order, "ev-10"
    # before "ev-9").
    calls = (event("DescribeInstances", event_id="ev-a"),
             event("GetCallerIdentity", event_id="ev-b"))
    snap = snapshot(events=calls, iam=(iam(keys=True),))

    [finding] = run(RootActivity, snap)

    assert [c["name"] for c in finding.details["calls"]] == ["DescribeInstances",
                                                            "GetCallerIdentity"]
    assert finding.details["activity"]["calls"] == []
    assert finding.details["api_calls"] == []


def test_a_console_sign_in_is_one_level_lower_and_clears_after_the_window():
    recent = snapshot(events=(sign_in(20),), iam=(iam(keys=False),))

    [finding] = run(RootActivity, recent)

    assert finding.severity is Severity.HIGH
    assert finding.title == f"Root user of account {ACCOUNT} used with a console sign-in"
    assert finding.entities == {f"principal:{ROOT_ARN}"}
    assert (finding.details["how"], finding.details["console_sign_ins"]) == ("console", 1)
    assert finding.details["source_ips"] == ["198.51.100.7"]
    assert run(RootActivity, snapshot(events=(sign_in(61),), iam=(iam(keys=False),))) == []
    assert len(run(RootActivity, snapshot(events=(sign_in(100),)), window_minutes=120)) == 1


def test_console_session_calls_extend_the_window_and_failed_sign_ins_are_not_use():
    session = event("StopInstances", at=ago(minutes=10), key=SESSION_KEY, agent=BROWSER)
    failures = tuple(sign_in(m, ok=False) for m in (5, 4, 3))

    [finding] = run(RootActivity, snapshot(events=(sign_in(90), session)))
    assert finding.details["how"] == "console"
    assert finding.details["last_seen"] == "2026-11-22T11:50:00+00:00"
    assert run(RootActivity, snapshot(events=failures, iam=(iam(keys=False),))) == []


def test_key_use_and_a_sign_in_together_are_critical_and_list_both():
    snap = snapshot(events=(event("RunInstances", at=ago(minutes=5)), sign_in(30)),
                    iam=(iam(keys=True),))

    [finding] = run(RootActivity, snap)

    assert finding.severity is Severity.CRITICAL
    assert finding.details["how"] == "access_key"
    assert finding.details["console_sign_ins"] == 1
    assert finding.details["source_ips"] == ["198.51.100.7", ATTACKER_IP]


def test_ignored_ranges_hide_expected_use_and_do_not_fall_back_to_the_report():
    snap = snapshot(
        events=(sign_in(5, ip="198.51.100.7"),),
        iam=(iam(report=report(root(last_login=ago(minutes=5))), keys=False),),
    )

    assert run(RootActivity, snap, ignore_source_ips=["198.51.100.0/24"]) == []
    assert len(run(RootActivity, snap, ignore_source_ips=["2001:db8::/32"])) == 1


def test_ignore_source_ips_must_be_cidrs():
    with pytest.raises(ValidationError, match="ignore_source_ips"):
        RootActivity.Params.model_validate({"ignore_source_ips": ["office"]})


def test_without_events_the_report_last_use_dates_stand_in():
    key_used = iam(report=report(root(keys=[key(1, used=ago(minutes=20))])), keys=True)
    password_used = iam(report=report(root(last_login=ago(minutes=10))), keys=False)
    long_ago = iam(report=report(root(keys=[key(1, used=ago(hours=3))])), keys=True)
    deleted = iam(report=report(root(keys=[key(1, used=ago(minutes=20))])), keys=False)

    [by_key] = run(RootActivity, snapshot(iam=(key_used,)))
    [by_password] = run(RootActivity, snapshot(iam=(password_used,)))

    assert (by_key.severity, by_key.details["via"]) == (Severity.CRITICAL, "credential_report")
    assert by_key.details["key_last_used"] == "2026-11-22T11:40:00+00:00"
    assert by_key.details["access_key_ids"] == []
    assert by_key.entities == {f"principal:{ROOT_ARN}"}
    assert (by_password.severity, by_password.details["how"]) == (Severity.HIGH, "console")
    assert by_password.details["password_last_used"] == "2026-11-22T11:50:00+00:00"
    assert run(RootActivity, snapshot(iam=(long_ago,))) == []
    assert run(RootActivity, snapshot(iam=(deleted,))) == []


def test_each_account_is_judged_on_its_own_events_and_the_policy_sets_the_level():
    snap = snapshot(
        events=(event("RunInstances"), sign_in(5, account=OTHER_ACCOUNT,
                                                principal=f"arn:aws:iam::{OTHER_ACCOUNT}:root")),
        iam=(iam(keys=True), iam(account=OTHER_ACCOUNT, keys=False)),
    )

    findings = run(RootActivity, snap, severity=Severity.HIGH)

    assert [(f.account, f.severity, f.details["how"]) for f in findings] == [
        (ACCOUNT, Severity.HIGH, "access_key"), (OTHER_ACCOUNT, Severity.MEDIUM, "console")]


def test_remediation_for_the_key_gives_the_console_only_deletion_and_how_it_is_verified():
    text = render("root_activity", run(RootActivity, snapshot(events=attack_events(),
                                                               iam=(iam(keys=True),))))

    assert text.startswith(
        f"The root user of account {ACCOUNT} was used with its access key {ROOT_KEY}, from "
        "2026-11-22T11:48:00+00:00 to 2026-11-22T11:51:00+00:00.\n")
    assert f"- Source IPs: {ATTACKER_IP}\n" in text
    assert "- User agent: 'aws-sdk-go/1.44.109 (go1.19.3; linux; amd64)'\n" in text
    assert "- Calls: ImportKeyPair x1 in us-east-1, " in text
    assert "RunInstances x1 in us-east-1;" in text
    assert "; from 2026-11-22T11:48:00+00:00 to 2026-11-22T11:51:00+00:00\n" in text
    assert "Contain it now: delete the root access key." in text
    assert (
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user_manage_delete-key.html"
        in text
    )
    assert "AttributeKey=Username,AttributeValue=root" in text
    assert ("the finding resolves on the first scan after GetAccountSummary reports no root "
            "access key" in text)


def test_remediation_for_a_sign_in_says_it_clears_after_the_window():
    text = render("root_activity", run(RootActivity, snapshot(events=(sign_in(5),))))

    assert "was used to sign in to the console" in text
    assert "- Console sign-ins: 1\n" in text
    assert "resolves 60 minutes after the last console use" in text
    assert "Contain it now" not in text


def test_remediation_quotes_what_the_caller_chose():
    odd = event("RunInstances", agent=HOSTILE, ip=SCRIPT)

    text = render("root_activity", run(RootActivity, snapshot(events=(odd,))))

    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
