"""Quiet hours and mutes with an injected clock: the pure rules, then the notifier putting
held messages in a real SQLite outbox due at the window's end, and skipping muted incidents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.quiet import all_muted, held_until, mute_matches, quiet_until
from costguard.alerts.render import Renderer
from costguard.alerts.routing import Notifier
from costguard.model import AlertKind, Severity
from costguard.runtime.bootstrap import read_config
from costguard.settings.muting import MuteRule, QuietHours
from costguard.settings.problems import InvalidInput
from costguard.store import Store

UTC = timezone.utc
NIGHT = QuietHours(start="22:00", end="07:00", timezone="Europe/Berlin")
ACCOUNT = "111122223333"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(("now", "until"), [
    ("2026-01-15T21:59:59+01:00", None),
    ("2026-01-15T22:00:00+01:00", "2026-01-16T07:00:00+01:00"),
    ("2026-01-16T03:30:00+01:00", "2026-01-16T07:00:00+01:00"),
    ("2026-01-16T07:00:00+01:00", None),
    ("2026-01-16T12:00:00+01:00", None),
    # the night daylight saving starts: 07:00 is at +02:00, one hour less of UTC time
    ("2026-03-29T01:30:00+01:00", "2026-03-29T07:00:00+02:00"),
])
def test_quiet_window_over_midnight_in_its_own_zone(now: str, until: str | None) -> None:
    assert quiet_until(NIGHT, at(now)) == (at(until) if until else None)


def test_a_daytime_window_does_not_wrap() -> None:
    lunch = QuietHours(start="12:00", end="13:00")
    assert quiet_until(lunch, at("2026-01-15T12:30:00+00:00")) == at("2026-01-15T13:00:00+00:00")
    assert quiet_until(lunch, at("2026-01-15T23:30:00+00:00")) is None


def test_critical_is_never_held() -> None:
    night = at("2026-01-16T03:00:00+01:00")
    assert held_until(NIGHT, Severity.CRITICAL, night) is None
    assert held_until(NIGHT, Severity.HIGH, night) == at("2026-01-16T07:00:00+01:00")
    assert held_until(None, Severity.LOW, night) is None


def test_quiet_hours_refuse_an_empty_window_and_unknown_zones() -> None:
    with pytest.raises(ValidationError, match="two different times"):
        QuietHours(start="07:00", end="07:00")
    with pytest.raises(ValidationError, match="unknown time zone"):
        QuietHours(start="22:00", end="07:00", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="a time of day"):
        QuietHours(start="25:00", end="07:00")


def finding(fid: int = 1, *, check: str = "instance_types", resource: str = "i-1",
            tags: dict[str, str] | None = None, status: str = "open") -> AlertFinding:
    return AlertFinding(id=fid, policy=check, check=check, severity=Severity.HIGH,
                        status=status, account=ACCOUNT, region="us-east-1", resource=resource,
                        title=f"finding {fid}", details={"tags": tags or {}})


NOW = at("2026-01-15T12:00:00+00:00")


@pytest.mark.parametrize(("rule", "matches"), [
    (dict(account=ACCOUNT), True),
    (dict(account="999999999999"), False),
    (dict(check="instance_types"), True),
    (dict(check="root_mfa"), False),
    (dict(resource="arn:aws:s3:::logs-*"), True),
    (dict(resource="arn:aws:s3:::LOGS-*"), False),
    (dict(tag={"team": "ml"}), True),
    (dict(tag={"team": "ml", "env": "prod"}), False),
    (dict(check="instance_types", resource="arn:aws:s3:::other"), False),
])
def test_a_mute_rule_needs_every_condition_it_gives(rule: dict, matches: bool) -> None:
    mute = MuteRule(**rule, until="2026-02-01", reason="load test")
    subject = finding(resource="arn:aws:s3:::logs-2026", tags={"team": "ml"})
    assert mute_matches(mute, subject, NOW) is matches


def test_a_mute_ends_at_its_until_in_utc() -> None:
    mute = MuteRule(check="instance_types", until="2026-01-15", reason="known")
    assert mute.until == at("2026-01-15T00:00:00+00:00")
    assert mute_matches(mute, finding(), at("2026-01-14T23:59:59+00:00"))
    assert not mute_matches(mute, finding(), at("2026-01-15T00:00:00+00:00"))


def test_an_incident_is_muted_only_when_every_finding_is() -> None:
    mute = MuteRule(resource="i-1", until="2026-02-01", reason="batch job")
    assert all_muted([finding()], [mute], NOW)
    assert not all_muted([finding(), finding(2, resource="i-2")], [mute], NOW)
    assert all_muted([finding(), finding(2, resource="i-2", status="muted")], [mute], NOW)
    assert not all_muted([], [mute], NOW)


CONFIG = """\
notifiers:
  pager: {type: log}
  mail: {type: log}
routes:
  - match: {severity: [critical, high, medium]}
    notify: [pager]
    quiet_hours: {start: "22:00", end: "07:00", timezone: Europe/Berlin}
  - match: {severity: [critical]}
    notify: [mail]
mutes:
  - {check: open_admin_ports, until: "2026-06-01", reason: "bastion rebuilt this week"}
"""


def notifier(tmp_path: Path) -> tuple[Notifier, Store]:
    path = tmp_path / "costguard.yml"
    path.write_text(CONFIG + f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n")
    config = read_config(path, env={})
    return Notifier(config, [], renderer=Renderer()), Store.open(config.database_url)


def alert(severity: Severity, *findings: AlertFinding, key: str = "incident-1-new") -> Alert:
    return Alert(kind=AlertKind.NEW, key=key, title="t", severity=severity, created_at=NOW,
                 findings=findings or (finding(),), incident_id=1, accounts=(ACCOUNT,))


def test_a_message_queued_in_quiet_hours_is_due_when_they_end(tmp_path: Path) -> None:
    note, store = notifier(tmp_path)
    night = at("2026-01-16T02:00:00+01:00")
    with store:
        assert note.enqueue(store, alert(Severity.HIGH), ["pager"], night) == 1
        (held,) = store.notifications()
        assert held.next_attempt_at == at("2026-01-16T07:00:00+01:00")
        assert store.claim_due(now=night) == []
        assert [r.key for r in store.claim_due(now=held.next_attempt_at)] == ["incident-1-new"]


def test_critical_goes_at_once_even_at_night(tmp_path: Path) -> None:
    note, store = notifier(tmp_path)
    night = at("2026-01-16T02:00:00+01:00")
    with store:
        note.enqueue(store, alert(Severity.CRITICAL), ["pager", "mail"], night)
        assert {r.next_attempt_at for r in store.notifications()} == {night}


def test_muted_incidents_are_not_queued_until_the_mute_ends(tmp_path: Path) -> None:
    note, store = notifier(tmp_path)
    ports = finding(check="open_admin_ports")
    with store:
        assert note.enqueue(store, alert(Severity.HIGH, ports), ["pager"], NOW) == 0
        assert store.notifications() == []
        later = at("2026-06-01T00:00:00+00:00")
        assert note.enqueue(store, alert(Severity.HIGH, ports), ["pager"], later) == 1


def test_a_resolution_is_never_muted(tmp_path: Path) -> None:
    from dataclasses import replace

    note, store = notifier(tmp_path)
    resolved = replace(alert(Severity.HIGH, finding(check="open_admin_ports")),
                       kind=AlertKind.RESOLVED, key="incident-1-resolved")
    with store:
        assert note.enqueue(store, resolved, ["pager"], NOW) == 1


BAD_MUTES = """\
mutes:
  - check: root_mfa
    reason: migrating
  - until: 2026-05-01
    reason: nothing named
  - {account: "12", until: 2026-05-01, reason: x}
routes:
  - notify: [log]
    quiet_hours: {start: "7pm", end: "07:00"}
notifiers:
  log: {type: log}
"""


def test_bad_mutes_and_quiet_hours_are_reported_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "costguard.yml"
    path.write_text(BAD_MUTES)
    with pytest.raises(InvalidInput) as caught:
        read_config(path, env={})
    lines = [str(p) for p in caught.value.problems]
    assert [line.split(": ")[0] for line in lines] == [
        f"{path}:2:5", f"{path}:4:5", f"{path}:6:6", f"{path}:9:19"], lines
    assert "mutes[0].until: required key is missing" in lines[0]
    assert "at least one of account, check, resource or tag" in lines[1]
    assert "12-digit" in lines[2] and "a time of day" in lines[3]


def test_a_rule_added_from_the_command_line_mutes_like_a_config_rule(tmp_path: Path) -> None:
    note, store = notifier(tmp_path)
    tagged = finding(tags={"env": "sandbox"})
    with store:
        rule = store.add_mute_rule(tag={"env": "sandbox"}, until=NOW + timedelta(days=1),
                                   reason="load test", now=NOW, by="alice")
        assert note.enqueue(store, alert(Severity.HIGH, tagged), ["pager"], NOW) == 0
        store.end_mute_rule(rule.id, NOW + timedelta(hours=1))
        later = NOW + timedelta(hours=2)
        assert note.enqueue(store, alert(Severity.HIGH, tagged), ["pager"], later) == 1
