"""Routing, remediation and the outbox hand-off (costguard/notify.py), on a real SQLite store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.routing import Notifier, alert_finding, route_matches
from costguard.checks import CHECKS, Check, Phase, Registry, default_registry
from costguard.model import AlertKind, Severity, Status
from costguard.runtime.bootstrap import read_config
from costguard.settings.config import Config
from costguard.settings.policies import load_policies
from costguard.store import NotificationStatus, Store, StoredFinding

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ACCOUNT, OTHER = "111122223333", "444455556666"

TWO_MAILBOXES = """\
notifiers:
  security:
    {type: smtp, host: 127.0.0.1, port: 25, security: none, from: cg@example.com,
     to: [sec@example.com]}
  ops:
    {type: smtp, host: 127.0.0.1, port: 25, security: none, from: cg@example.com,
     to: [ops@example.com]}
"""

ROUTES = TWO_MAILBOXES + """\
routes:
  - match: {severity: [critical]}
    notify: [security, ops]
  - match: {severity: [high], check: [instance_types], tag: {team: ml}}
    notify: [ops]
  - match: {severity: [high], account: ["444455556666"]}
    notify: [security]
  - match: {severity: [medium, low]}
    notify: [security]
    digest: daily
"""

REGISTRY = default_registry()


def config(tmp_path: Path, text: str) -> Config:
    """A config loaded from YAML as `costguard.yml` would be."""
    path = tmp_path / "costguard.yml"
    path.write_text(text + f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n")
    return read_config(path, env={})


def found(check: str = "instance_types", *, account: str = ACCOUNT, tags=None, fid: int = 1,
          severity: Severity = Severity.HIGH, title: str = "c5.4xlarge i-1") -> AlertFinding:
    """A finding as a message shows it."""
    details = {"tags": tags} if tags is not None else {}
    return AlertFinding(id=fid, policy=check.replace("_", "-"), check=check, severity=severity,
                        status="open", account=account, region="us-east-1",
                        resource=f"r-{fid}", title=title, details=details, first_seen=NOW,
                        last_seen=NOW)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in tmp_path."""
    with Store.open(f"sqlite:///{tmp_path}/cg.db") as opened:
        yield opened


# -- who hears about an incident ---------------------------------------------------------------


def test_without_notifiers_everything_goes_to_the_log(tmp_path):
    notifier = Notifier(config(tmp_path, ""), [])
    assert notifier.destinations([found()], Severity.INFO) == ["log"]
    assert list(notifier.channels) == ["log"]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(Severity.CRITICAL, ["security", "ops"]), (Severity.MEDIUM, ["security", "ops"]),
     (Severity.LOW, []), (Severity.INFO, [])],
)
def test_without_routes_every_notifier_gets_medium_and_above(tmp_path, severity, expected):
    notifier = Notifier(config(tmp_path, TWO_MAILBOXES), [])
    assert notifier.destinations([found()], severity) == expected


@pytest.mark.parametrize(
    ("findings", "severity", "expected"),
    [
        pytest.param([found()], Severity.CRITICAL, ["security", "ops"], id="critical"),
        pytest.param([found(tags={"team": "ml"})], Severity.HIGH, ["ops"], id="tagged"),
        pytest.param([found(tags={"team": "web"})], Severity.HIGH, [], id="other-tag"),
        pytest.param([found("open_admin_ports", tags={"team": "ml"})], Severity.HIGH, [],
                     id="tag-on-another-check"),
        pytest.param([found(account=OTHER)], Severity.HIGH, ["security"], id="account"),
        pytest.param([found(tags={"team": "ml"}), found(account=OTHER, fid=2)],
                     Severity.HIGH, ["ops", "security"], id="two-routes"),
        pytest.param([found()], Severity.MEDIUM, [], id="digest-only"),
    ],
)
def test_routes_pick_immediate_channels_in_order_without_repeats(
    tmp_path, findings, severity, expected
):
    notifier = Notifier(config(tmp_path, ROUTES), [])
    assert notifier.destinations(findings, severity) == expected


def test_a_route_needs_one_finding_meeting_all_of_its_finding_conditions(tmp_path):
    (_, tagged, *_) = config(tmp_path, ROUTES).routes
    # the tag is on an open_admin_ports finding, the check is another finding's: no match
    mixed = [found("open_admin_ports", tags={"team": "ml"}), found(fid=2)]
    assert not route_matches(tagged, mixed, Severity.HIGH)
    assert route_matches(tagged, [*mixed, found(tags={"team": "ml"}, fid=3)], Severity.HIGH)
    assert not route_matches(tagged, [found(tags={"team": "ml"})], Severity.CRITICAL)


# -- what the message says ---------------------------------------------------------------------


def test_remediation_is_the_playbook_one_step_per_check_in_response_order(tmp_path):
    cfg = config(tmp_path, "")
    notifier = Notifier(cfg, load_policies(cfg.policy_paths, REGISTRY))
    findings = [
        found("made_up_check", fid=1, title="something odd on r-1"),
        instance_finding(2, "i-0aaa"),
        instance_finding(3, "i-0bbb"),
        root_key_finding(4),
    ]
    steps = notifier.remediation(findings).steps
    # contain the key, then the instances, then what the playbook does not know, then verify
    assert [s.check for s in steps] == [
        "root_access_key", "instance_types", "made_up_check", "verify"]
    # one finding: its own title; several: the check's title and how many
    assert steps[2].title == "something odd on r-1"
    assert steps[1].title == "Instance is not an approved type (2 findings)"
    assert "made_up_check (high): r-1" in steps[2].body  # the _default template
    assert "--instance-ids i-0aaa i-0bbb" in steps[1].body
    assert steps[-1].body.startswith("costguard verifies every step itself")


def test_the_playbook_order_is_each_checks_phase_then_rank():
    order = [c.id for c in sorted(REGISTRY, key=lambda c: c.playbook_position())]

    assert order == [
        # contain the credentials (the keys that made the calls), then stop the spend
        "root_activity", "root_access_key", "iam_admin_grant", "suspicious_api", "sigma",
        "access_denied", "remote_command",
        "guardduty", "instance_types", "instance_surge", "hourly_spend",
        # close the network and remove persistence, then the posture, then the bill
        "open_admin_ports", "external_access",
        "root_mfa", "user_mfa", "cloudtrail_logging", "guardduty_enabled", "account_access",
        "costguard_health", "daily_spend", "monthly_forecast",
    ]


class FirstResponder(Check):
    """A check from outside the shipped set whose class puts its step before every other."""

    id = "first_responder"
    title = "First things first"
    phase, playbook_rank = Phase.CONTAIN, 0

    def evaluate(self, snapshot, ctx):
        return ()


def test_a_new_checks_class_alone_places_its_step(tmp_path):
    cfg = config(tmp_path, "")
    registry = Registry([*CHECKS, FirstResponder])
    notifier = Notifier(cfg, [], registry=registry)
    findings = [instance_finding(1, "i-0aaa"), found("first_responder", fid=2, title="now")]

    assert [s.check for s in notifier.remediation(findings).steps] == [
        "first_responder", "instance_types", "verify"]


def test_a_single_step_needs_no_separate_verify_step(tmp_path):
    cfg = config(tmp_path, "")
    notifier = Notifier(cfg, load_policies(cfg.policy_paths, REGISTRY))
    assert [s.check for s in notifier.remediation([instance_finding(2, "i-0aaa")]).steps] == [
        "instance_types"]


def root_key_finding(fid: int) -> AlertFinding:
    """The root_access_key finding of the sample incident, with its real details."""
    from costguard.checks.base import Context
    from costguard.checks.reference_snapshot import reference_snapshot

    check = REGISTRY.get("root_access_key")
    ctx = Context(policy="root-access-key", check=check.id, severity=check.severity,
                  params=check.Params(), now=NOW)
    [f] = check().evaluate(reference_snapshot(), ctx)
    return AlertFinding(id=fid, policy=f.policy, check=f.check, severity=f.severity,
                        status="open", account=f.account, region=f.region, resource=f.resource,
                        title=f.title, details=dict(f.details))


def instance_finding(fid: int, instance_id: str) -> AlertFinding:
    """An instance_types finding with the details its remediation template reads."""
    details = {"instance_id": instance_id, "instance_type": "c5.4xlarge", "reason": "not_allowed",
               "usd_per_hour": 0.68, "launch_time": "2026-11-22T11:58:00+00:00",
               "key_name": None, "tags": {}}
    return AlertFinding(id=fid, policy="unapproved-instance-types", check="instance_types",
                        severity=Severity.HIGH, status="open", account=ACCOUNT,
                        region="us-east-1", resource=instance_id, title=f"c5.4xlarge {instance_id}",
                        details=details)


def test_a_stored_finding_keeps_its_ids_times_and_its_policys_references():
    stored = StoredFinding(
        id=4, fingerprint="f" * 64, policy="open-admin-ports", check="open_admin_ports",
        severity=Severity.HIGH, status=Status.OPEN, account=ACCOUNT, region="us-east-1",
        resource="sg-1", title="t", details={"ports": [22]}, first_seen=NOW, last_seen=NOW,
    )

    class Ref:
        references = ("CIS 5.2",)

    shown = alert_finding(stored, Ref())
    assert (shown.id, shown.status, shown.references, shown.details) == (
        4, "open", ("CIS 5.2",), {"ports": [22]})
    assert alert_finding(stored, None).references == ()


# -- the outbox hand-off -----------------------------------------------------------------------


def alert(key: str = "incident-1-new") -> Alert:
    """A new-incident alert as the incident keeper builds it."""
    return Alert(kind=AlertKind.NEW, key=key, title="10 unapproved instances",
                 severity=Severity.HIGH, created_at=NOW, findings=(found(),), incident_id=1,
                 accounts=(ACCOUNT,))


def test_enqueue_stores_one_message_per_channel_once(tmp_path, store):
    notifier = Notifier(config(tmp_path, TWO_MAILBOXES), [])
    assert notifier.enqueue(store, alert(), ["security", "ops"], NOW) == 2
    assert notifier.enqueue(store, alert(), ["security", "ops"], NOW) == 0
    rows = store.notifications()
    assert [(r.key, r.channel, r.status) for r in rows] == [
        ("incident-1-new", "security", NotificationStatus.PENDING),
        ("incident-1-new", "ops", NotificationStatus.PENDING),
    ]
    assert rows[0].message.subject == rows[1].message.subject
    assert "10 unapproved instances" in rows[0].message.subject


def test_enqueue_to_no_channel_renders_and_stores_nothing(tmp_path, store):
    class Unusable:
        def __getattr__(self, name):
            raise AssertionError("nothing should be rendered")

    notifier = Notifier(config(tmp_path, TWO_MAILBOXES), [], renderer=Unusable())
    assert notifier.enqueue(store, alert(), [], NOW) == 0
    assert store.notifications() == []


def test_deliver_sends_what_is_due_through_the_configured_channel(tmp_path, store, caplog):
    notifier = Notifier(config(tmp_path, ""), [])
    notifier.enqueue(store, alert(), ["log"], NOW)
    with caplog.at_level(logging.INFO, logger="costguard.notifications"):
        report = notifier.deliver(store, NOW)
    assert (report.sent, report.failed) == (1, 0)
    assert [(d.key, d.channel, d.incident_id) for d in report.delivered] == [
        ("incident-1-new", "log", 1)]
    assert 'key="incident-1-new"' in caplog.text
    assert notifier.deliver(store, NOW).sent == 0
