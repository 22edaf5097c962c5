"""The PagerDuty channel against a local Events API v2 that checks every event's schema.

The server checks what PagerDuty's Events API v2 documents for POST /v2/enqueue: a JSON body
with a 32-character routing_key, event_action trigger|acknowledge|resolve, a dedup_key of at
most 255 characters (required to resolve), and for a trigger a payload with summary (at most
1,024 characters), source and severity critical|error|warning|info; it answers 202 with
status, message and dedup_key as PagerDuty does.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from costguard.model import AlertKind
from costguard.notifiers.delivery import deliver_due
from costguard.notifiers.pagerduty import PagerDutyChannel, PagerDutyParams, dedup_key
from costguard.store import NotificationStatus, Store
from costguard.store.delivery_stats import DEAD_STATUSES
from tests.notifiers.channel_messages import hostile_message, messages
from tests.notifiers.vendor_http import Answer, Request, common_problems, vendor_server

ROUTING_KEY = "R0ut1ngKeyS3cretR0ut1ngKeyS3cr3t"
ENV = {"PD_ROUTING_KEY": ROUTING_KEY}
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[2]


def events_v2(request: Request) -> list[str]:
    """What the Events API v2 refuses, by its documentation."""
    problems = common_problems(request, "/v2/enqueue")
    if problems:
        return problems
    event = request.json()
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        problems.append("routing_key must be a 32-character string")
    if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        problems.append(f"event_action {event.get('event_action')!r}")
    dedup = event.get("dedup_key")
    if not isinstance(dedup, str) or not 0 < len(dedup) <= 255:
        problems.append("dedup_key must be 1 to 255 characters")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        summary = payload.get("summary")
        if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
            problems.append("payload.summary must be 1 to 1024 characters")
        if not payload.get("source"):
            problems.append("payload.source is required")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            problems.append(f"payload.severity {payload.get('severity')!r}")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            problems.append("payload.custom_details must be an object")
    return problems


SUCCESS = Answer(202, json.dumps({"status": "success", "message": "Event processed"}).encode(),
                 {"Content-Type": "application/json"})


def channel(url: str) -> PagerDutyChannel:
    params = PagerDutyParams(routing_key_env="PD_ROUTING_KEY", events_url=url)
    return PagerDutyChannel("pager", params, ENV, clock=lambda: T0)


def test_trigger_update_then_resolve_share_the_incident_dedup_key() -> None:
    sent = messages()
    with vendor_server(events_v2, SUCCESS, "/v2/enqueue") as server:
        pager = channel(server.url)
        for kind in (AlertKind.NEW, AlertKind.UPDATE, AlertKind.RESOLVED):
            assert pager.send(sent[kind]) == dedup_key(sent[kind])
    assert server.problems == []
    events = [r.json() for r in server.requests]
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "resolve"]
    assert len({e["dedup_key"] for e in events}) == 1
    assert events[0]["dedup_key"] == sent[AlertKind.NEW].key
    trigger = events[0]["payload"]
    assert trigger["severity"] == "critical"
    assert trigger["source"] == "aws:" + ",".join(trigger["custom_details"]["accounts"])
    assert trigger["custom_details"]["resources"], "the scope's resources travel with the page"


def test_digests_do_not_page() -> None:
    from dataclasses import replace

    digest = replace(messages()[AlertKind.NEW], kind=AlertKind.DIGEST, key="digest:x")
    with vendor_server(events_v2, SUCCESS, "/v2/enqueue") as server:
        assert channel(server.url).send(digest) is None
    assert server.requests == []


_SECOND_PROCESS = """
import sys
from datetime import datetime, timezone
from costguard.notifiers.delivery import deliver_due
from costguard.notifiers.pagerduty import PagerDutyChannel, PagerDutyParams
from costguard.store import Store
url, db = sys.argv[1], sys.argv[2]
now = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
params = PagerDutyParams(routing_key_env="PD_ROUTING_KEY", events_url=url)
pager = PagerDutyChannel("pager", params, {"PD_ROUTING_KEY": sys.argv[3]})
with Store.open(db) as store:
    report = deliver_due(store, {"pager": pager}, now=now)
print(report.sent)
"""


def test_the_resolve_sent_by_a_restarted_process_closes_the_same_alert(tmp_path: Path) -> None:
    """The trigger goes out from this process; the resolve from a new one, reading only the
    store, and still names the alert the trigger opened."""
    db = f"sqlite:///{tmp_path}/costguard.db"
    sent = messages()
    with vendor_server(events_v2, SUCCESS, "/v2/enqueue") as server:
        with Store.open(db) as store:
            new = sent[AlertKind.NEW]
            store.enqueue(key=new.key, channel="pager", message=new, now=T0)
            assert deliver_due(store, {"pager": channel(server.url)}, now=T0).sent == 1
            resolved = sent[AlertKind.RESOLVED]
            store.enqueue(key=resolved.key, channel="pager", message=resolved, now=T0)
        out = subprocess.run([sys.executable, "-c", _SECOND_PROCESS, server.url, db,
                              ROUTING_KEY], capture_output=True, text=True, cwd=ROOT,
                             check=True, timeout=120)
    assert out.stdout.strip() == "1"
    assert server.problems == []
    trigger, resolve = (r.json() for r in server.requests)
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"]


def _deliver_once(tmp_path: Path, status: int, body: str, headers: dict[str, str],
                  caplog: pytest.LogCaptureFixture) -> tuple[Store, int]:
    store = Store.open(f"sqlite:///{tmp_path}/costguard.db")
    new = messages()[AlertKind.NEW]
    notification_id = store.enqueue(key=new.key, channel="pager", message=new, now=T0)
    assert notification_id is not None
    with vendor_server(events_v2, SUCCESS, "/v2/enqueue") as server, caplog.at_level(
            logging.DEBUG):
        server.answer(status, body, headers)
        report = deliver_due(store, {"pager": channel(server.url)}, now=T0)
    assert report.sent == 0 and server.problems == []
    return store, notification_id


def test_429_with_retry_after_seconds_waits_at_least_that_long(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, _ = _deliver_once(tmp_path, 429, '{"status":"throttle event"}',
                               {"Retry-After": "7200"}, caplog)
    row = store.notifications()[0]
    assert row.status is NotificationStatus.PENDING
    assert row.next_attempt_at == T0 + timedelta(seconds=7200)  # the back-off alone says 30 s
    store.close()


def test_503_with_an_http_date_waits_until_that_date(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, _ = _deliver_once(tmp_path, 503, "busy",
                               {"Retry-After": "Fri, 20 Nov 2026 11:30:00 GMT"}, caplog)
    assert store.notifications()[0].next_attempt_at == datetime(2026, 11, 20, 11, 30,
                                                                tzinfo=timezone.utc)
    store.close()


def test_500_is_retried_with_the_outbox_back_off(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, _ = _deliver_once(tmp_path, 500, "oops", {}, caplog)
    row = store.notifications()[0]
    assert row.status is NotificationStatus.PENDING
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    store.close()


def test_an_invalid_event_goes_dead_at_once_and_no_secret_is_kept_anywhere(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"status": "invalid event", "message": "Event object is invalid",
                       "errors": [f"Invalid routing key {ROUTING_KEY}"]})
    store, nid = _deliver_once(tmp_path, 400, body, {}, caplog)
    dead = store.notifications(DEAD_STATUSES)
    assert [d.id for d in dead] == [nid]
    assert "HTTP 400" in (dead[0].last_error or "")
    stored = repr(store.notifications()) + repr(store.delivery_attempts(nid))
    assert ROUTING_KEY not in stored
    assert ROUTING_KEY not in caplog.text
    store.close()


def test_hostile_names_give_a_valid_event() -> None:
    with vendor_server(events_v2, SUCCESS, "/v2/enqueue") as server:
        channel(server.url).send(hostile_message())
    assert server.problems == []
    payload = server.requests[0].json()["payload"]
    assert "\n" not in payload["summary"] and "\r" not in payload["summary"]
