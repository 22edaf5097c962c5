"""`findings ack|unack|mute|unmute`, `incidents list|show|ack`: every step keeps who and why.

The store is stocked through its own API (no AWS needed for triage): two findings in one
incident whose first message went out through `security` and whose second is still queued.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from costguard.cli.main import main
from costguard.model import AlertKind, Finding, Message, Severity
from costguard.store import IncidentTime, Store

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ACCOUNT = "111122223333"


def costguard(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def finding(resource: str) -> Finding:
    return Finding(check="instance_types", policy="unapproved-instance-types",
                   severity=Severity.HIGH, account=ACCOUNT, region="us-east-1",
                   resource=resource, title=f"{resource} is a c5.4xlarge",
                   entities=frozenset({f"instance:{resource}"}))


def message(key: str, kind: AlertKind) -> Message:
    return Message(key=key, kind=kind, severity=Severity.HIGH, subject=key, text="t",
                   html="<p>t</p>", incident_id=1)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A config on a stocked store: incident 1 with findings 1 and 2, told to `security`."""
    url = f"sqlite:///{tmp_path}/cg.db"
    with Store.open(url) as store:
        found = store.reconcile(scan_id=None, findings=[finding("i-1"), finding("i-2")],
                                scopes=(), now=T0).new
        store.create_incident(title="2 unapproved instances", severity=Severity.HIGH,
                              accounts=[ACCOUNT], entities=[], detected_at=T0,
                              finding_ids=[f.id for f in found],
                              scope={"instances": ["i-1", "i-2"]})
        first = store.enqueue(key="incident-1-new", channel="security",
                              message=message("incident-1-new", AlertKind.NEW), now=T0)
        store.mark_sent(first, at=T0 + timedelta(seconds=2), external_id="<1@test>")
        store.set_incident_time(1, IncidentTime.NOTIFIED, T0 + timedelta(seconds=2))
        store.enqueue(key="incident-1-escalation", channel="security",
                      message=message("incident-1-escalation", AlertKind.ESCALATION), now=T0)
    path = tmp_path / "costguard.yml"
    path.write_text(f"database: {{url: '{url}'}}\n")
    return path


def history(cfg: Path, finding_id: int) -> list[tuple[str, str, str, str]]:
    shown = costguard("findings", "show", finding_id, "-c", cfg)
    assert shown.exit_code == 0
    return [(t["from"], t["to"], t["by"], t["reason"])
            for t in json.loads(shown.stdout)["transitions"][1:]]


def test_every_finding_step_says_who_and_why_and_show_prints_them(cfg):
    steps = [
        ("ack", "--reason", "on it"),
        ("unack", "--reason", "wrong team"),
        ("mute", "--until", "7d", "--reason", "load test"),
        ("unmute", "--reason", "load test over"),
    ]
    said = [costguard("findings", *step[:1], 1, *step[1:], "--by", "alice", "-c", cfg)
            for step in steps]

    assert [r.exit_code for r in said] == [0, 0, 0, 0]
    assert said[0].stdout == "finding 1 acknowledged by alice\n"
    assert said[1].stdout == "finding 1 unacknowledged by alice: open again\n"
    assert said[3].stdout == "finding 1 unmuted by alice: open again\n"
    assert history(cfg, 1) == [
        ("open", "acknowledged", "alice", "on it"),
        ("acknowledged", "open", "alice", "wrong team"),
        ("open", "muted", "alice", "load test"),
        ("muted", "open", "alice", "load test over"),
    ]


def test_who_defaults_to_the_login_name(cfg, monkeypatch):
    monkeypatch.setenv("LOGNAME", "carol")

    acked = costguard("findings", "ack", 1, "-c", cfg)

    assert acked.stdout == "finding 1 acknowledged by carol\n"
    assert history(cfg, 1) == [("open", "acknowledged", "carol", "acknowledged")]


@pytest.mark.parametrize("by", ["", "two\nlines", "x" * 201])
def test_a_who_that_cannot_be_stored_exits_2(cfg, by):
    result = costguard("findings", "ack", 1, "--by", by, "-c", cfg)

    assert result.exit_code == 2
    assert "--by" in result.stderr and "one line of 1 to 200 characters" in result.stderr
    assert history(cfg, 1) == []


@pytest.mark.parametrize(("step", "message"), [
    ("unack", "finding 1 is open; only an acknowledged finding can be unacknowledged\n"),
    ("unmute", "finding 1 is open, not muted\n"),
])
def test_undoing_what_was_not_done_exits_2(cfg, step, message):
    result = costguard("findings", step, 1, "--by", "alice", "-c", cfg)

    assert (result.exit_code, result.stderr) == (2, message)


def test_acking_a_finding_leaves_its_incident_to_be_acked_on_its_own(cfg):
    costguard("findings", "ack", 1, "--by", "alice", "-c", cfg)
    before = json.loads(costguard("incidents", "show", 1, "--format", "json", "-c", cfg).stdout)

    acked = costguard("incidents", "ack", 1, "--by", "bob", "--reason", "paging", "-c", cfg)
    after = json.loads(costguard("incidents", "show", 1, "--format", "json", "-c", cfg).stdout)

    assert before["acknowledged"] == {"at": None, "by": None, "reason": None}
    assert (acked.exit_code, acked.stdout) == (0, "incident 1 acknowledged by bob\n")
    assert (after["acknowledged"]["by"], after["acknowledged"]["reason"]) == ("bob", "paging")
    again = costguard("incidents", "ack", 1, "--by", "carol", "-c", cfg)
    assert again.exit_code == 2
    assert again.stderr.startswith("incident 1 was already acknowledged by bob at ")


def test_incidents_show_tells_times_with_who_findings_scope_and_messages(cfg):
    costguard("incidents", "ack", 1, "--by", "bob", "--reason", "paging", "-c", cfg)

    doc = json.loads(costguard("incidents", "show", 1, "--format", "json", "-c", cfg).stdout)
    text = costguard("incidents", "show", 1, "-c", cfg).stdout

    assert doc["detected"] == {"at": "2026-11-22T12:00:00+00:00", "by": "costguard"}
    assert doc["notified"] == {"at": "2026-11-22T12:00:02+00:00", "via": ["security"]}
    assert doc["resolved"] == {"at": None, "by": None}
    assert [f["resource"] for f in doc["findings"]] == ["i-1", "i-2"]
    assert doc["scope"] == {"instances": ["i-1", "i-2"]}
    assert [(m["channel"], m["kind"], m["state"]) for m in doc["messages"]] == [
        ("security", "new", "sent"), ("security", "escalation", "queued")]
    assert doc["sent_per_channel"] == {"security": 1}
    lines = text.splitlines()
    assert lines[0] == "incident 1 [high] open: 2 unapproved instances"
    assert "  notified      2026-11-22 12:00:02 UTC via security" in lines
    assert any(line.startswith("  acknowledged  ") and line.endswith(" by bob: paging")
               for line in lines)
    assert "  instances     i-1, i-2" in lines
    assert "messages (sent per channel: security 1)" in lines


def test_incidents_list_by_status(cfg, tmp_path):
    costguard("incidents", "ack", 1, "--by", "bob", "-c", cfg)

    listed = costguard("incidents", "list", "-c", cfg)
    resolved = costguard("incidents", "list", "--status", "resolved", "-c", cfg)

    assert listed.exit_code == 0
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "SEVERITY", "STATUS", "DETECTED", "ACKNOWLEDGED", "FINDINGS",
                              "TITLE"]
    assert row.split() == ["1", "high", "open", "2026-11-22", "12:00", "bob", "2", "2",
                           "unapproved", "instances"]
    assert resolved.stdout == "no incidents\n"
    assert costguard("incidents", "list", "--status", "all", "-c", cfg).stdout == listed.stdout


@pytest.mark.parametrize("command", [["show"], ["ack", "--by", "bob"]])
def test_an_unknown_incident_exits_2(cfg, command):
    result = costguard("incidents", command[0], 9, *command[1:], "-c", cfg)

    assert (result.exit_code, result.stderr) == (2, "no incident with id 9\n")


def test_mute_by_pattern_adds_a_rule_lists_it_and_ends_it(cfg):
    added = costguard("findings", "mute", "--check", "instance_types", "--resource", "i-*",
                      "--tag", "team=ml", "--until", "30d", "--reason", "capacity test",
                      "--by", "alice", "-c", cfg)
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("mute rule 1 (check=instance_types, resource=i-*, "
                                   "tag team=ml) until ")
    listed = costguard("findings", "mutes", "-c", cfg)
    assert "capacity test" in listed.stdout and "alice" in listed.stdout
    ended = costguard("findings", "unmute", "--rule", 1, "--by", "bob", "-c", cfg)
    assert ended.exit_code == 0 and ended.stdout == "mute rule 1 ended by bob\n"
    assert costguard("findings", "mutes", "-c", cfg).stdout == "no mute rules in force\n"
    again = costguard("findings", "unmute", "--rule", 1, "--by", "bob", "-c", cfg)
    assert again.exit_code == 2 and "already ended" in again.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--until", "7d", "--reason", "r"], "a mute needs at least one of account, check"),
    (["1", "--check", "x", "--until", "7d", "--reason", "r"], "not both"),
    (["--account", "12", "--until", "7d", "--reason", "r"], "--account: expected a 12-digit"),
    (["--tag", "novalue", "--until", "7d", "--reason", "r"], "expected KEY=VALUE"),
])
def test_a_bad_mute_rule_is_one_line_and_exit_2(cfg, args, says):
    result = CliRunner().invoke(main, ["findings", "mute", *args, "--by", "a", "-c", str(cfg)])
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
