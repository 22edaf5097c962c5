"""Incremental event evaluation: each stored event is read once, and the findings are the same
as reading the whole look-back again at every evaluation.

The stream is the reference incident's events (every event check fires on them) over eight
days of everyday work by the same principals and others: writes and reads from their usual
addresses and agents, so "new address / new agent for this principal" has a history to be
judged on, and part of the history has left the detail window (kept as summaries).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from costguard.checks.reference_snapshot import NOW, ROOT_ARN
from costguard.checks.reference_snapshot import events as reference_events
from costguard.runtime.bootstrap import load_setup, open_store
from costguard.runtime.cycle import Engine
from costguard.runtime.event_history import EventHistory, summary
from costguard.snapshot import ApiEvent

ACCOUNT = "123456789012"
PEOPLE = [ROOT_ARN, *(f"arn:aws:iam::{ACCOUNT}:user/{n}" for n in ("alice", "bob", "ci"))]
ADDRESSES = ["198.51.100.7", "198.51.100.8", "192.0.2.44"]
AGENTS = ["aws-cli/2.15.0 Python/3.11", "console.amazonaws.com", "Boto3/1.34.0"]
CALLS = [("DescribeInstances", True), ("ListBuckets", True), ("CreateTags", False),
         ("PutObject", False), ("StopInstances", False), ("GetUser", True)]


def everyday(start: datetime, hours: int, seed: int = 7) -> list[ApiEvent]:
    """Ordinary work: a few calls an hour by the known principals from their usual places."""
    rng, ids = random.Random(seed), itertools.count(1)
    out = []
    for hour in range(hours):
        for _ in range(rng.randint(1, 4)):
            name, read = rng.choice(CALLS)
            who = rng.choice(PEOPLE)
            out.append(ApiEvent(
                event_id=f"day-{next(ids)}", time=start + timedelta(hours=hour,
                                                                   minutes=rng.randint(0, 59)),
                account=ACCOUNT, region="us-east-1", service="ec2.amazonaws.com", name=name,
                principal_type="Root" if who == ROOT_ARN else "IAMUser", principal_arn=who,
                access_key_id="AKIAEVERYDAY", source_ip=rng.choice(ADDRESSES),
                user_agent=rng.choice(AGENTS), read_only=read,
                request={"instanceId": "i-0everyday"}, response={"ok": True},
                extra={"sessionCredentialFromConsole": "true"} if rng.random() < 0.2 else {}))
    return out


def stream() -> list[tuple[datetime, list[ApiEvent]]]:
    """(evaluation time, events received just before it): eight days, then the incident."""
    start = NOW - timedelta(days=8)
    history = everyday(start, hours=8 * 24)
    steps = []
    for hours in range(6, 8 * 24, 6):
        at = start + timedelta(hours=hours)
        steps.append((at, [e for e in history if at - timedelta(hours=6) <= e.time < at]))
    attack = sorted(reference_events(), key=lambda e: e.time)
    for i in range(0, len(attack), 3):
        batch = attack[i:i + 3]
        steps.append((max(e.time for e in batch) + timedelta(minutes=1), batch))
    for minutes in (30, 120, 60 * 26):  # the windows close: findings resolve alike
        steps.append((NOW + timedelta(minutes=minutes), []))
    return steps


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def setup_in(folder: Path) -> Any:
    folder.mkdir()
    config = folder / "costguard.yml"
    config.write_text(f"aws: {{regions: [us-east-1]}}\ndatabase: {{url: 'sqlite:///{folder}/cg.db'}}\n")
    return load_setup(config)


def findings_of(result: Any) -> list[tuple[str, str, str]]:
    return sorted((f.check, f.resource, repr(sorted(f.details.items())))
                  for f in result.evaluation.findings)


@pytest.fixture
def engines(tmp_path: Path) -> Any:
    """Two stores fed the same stream: one engine kept (incremental), and one made afresh for
    every evaluation (a cold engine reads the whole look-back: the old behaviour)."""
    kept, fresh = setup_in(tmp_path / "kept"), setup_in(tmp_path / "fresh")
    stores = [open_store(kept.config), open_store(fresh.config)]
    clock = Clock()
    engine = Engine(kept.config, kept.policies, stores[0], clock=clock,
                    registry=kept.registry, sigma_rules=kept.sigma_rules)

    def cold() -> Engine:
        return Engine(fresh.config, fresh.policies, stores[1], clock=clock,
                      registry=fresh.registry, sigma_rules=fresh.sigma_rules)

    yield engine, cold, clock, stores
    for store in stores:
        store.close()


def test_incremental_evaluation_finds_what_a_full_read_finds_reading_each_event_once(engines):
    engine, cold, clock, stores = engines
    between_full_reads = 0
    fired = set()
    for at, batch in stream():
        clock.now = at
        for store in stores:
            store.record_events(batch, received_at=at)
        incremental = engine.evaluate_events(notify=False)
        full = cold().evaluate_events(notify=False)
        assert findings_of(incremental) == findings_of(full), at
        fired |= {f.check for f in incremental.evaluation.findings}
        if engine.latest.events.full_read_at != at:  # not the hourly full read
            assert engine.latest.events.last_read == len(batch)  # only what just arrived
            between_full_reads += 1
    assert {"suspicious_api", "root_activity", "iam_admin_grant"} <= fired
    assert between_full_reads >= 3  # the incident's batches, minutes apart


def test_between_full_reads_an_evaluation_reads_only_the_new_rows(engines):
    engine, _, clock, stores = engines
    old = everyday(NOW - timedelta(days=3), hours=72)
    clock.now = NOW
    stores[0].record_events(old, received_at=NOW)
    engine.evaluate_events(notify=False)
    assert engine.latest.events.last_read == len(old)
    for minute in range(1, 6):
        clock.now = NOW + timedelta(minutes=minute)
        new = [replace(e, event_id=f"new-{minute}-{e.event_id}", time=clock.now)
               for e in old[:10]]
        stores[0].record_events(new, received_at=clock.now)
        engine.evaluate_events(notify=False)
        assert engine.latest.events.last_read == len(new)


def test_history_past_the_detail_window_is_kept_as_summaries():
    history = EventHistory()
    old = everyday(NOW - timedelta(days=5), hours=24)
    recent = [replace(e, event_id=f"recent-{e.event_id}")
              for e in everyday(NOW - timedelta(hours=5), hours=4, seed=8)]

    class Unit:
        def events_received(self, *, since: datetime, **_: Any) -> list[Any]:
            from costguard.store.event_log import StoredEvent

            return [StoredEvent(e, e.time, NOW, e.event_id) for e in [*old, *recent]
                    if e.time >= since]

    api, _ = history.read(Unit(), since=NOW - timedelta(days=7),
                          detail_since=NOW - timedelta(days=1), now=NOW)
    by_id = {e.event_id: e for e in api}
    assert all(by_id[e.event_id] == summary(e) for e in old)
    assert all(by_id[e.event_id] == e for e in recent)
    assert all(not by_id[e.event_id].request for e in old)
    assert any(by_id[e.event_id].extra for e in old)  # the console-session flag survives


def test_the_pacer_evaluates_at_once_when_quiet_and_linearly_in_a_burst():
    from costguard.runtime.pollers import Pacer

    ticks = iter(range(1000))
    pacer = Pacer(clock=lambda: 0.0 * next(ticks))  # time never passes: counts decide
    assert pacer.evaluate_now(3, look_back=50_000)  # a quiet queue: judged at once
    decisions = []
    look_back = 0
    for _ in range(1000):  # 10,000 events in full receives
        look_back += 10
        now = pacer.evaluate_now(10, look_back)
        decisions.append(now)
        if now:
            pacer.evaluated()
    # each evaluation reads the look-back: the total stays a small multiple of the burst
    evaluated_at = [10 * (i + 1) for i, now in enumerate(decisions) if now]
    assert sum(evaluated_at) <= 6 * 10_000
    assert len(evaluated_at) < 30


def test_a_deferred_receive_is_judged_by_the_next_evaluation(engines):
    """Store-only ingests (mid-burst) leave their events to the next evaluation, even when
    the receive that triggers it brings nothing new."""
    from costguard.collectors.event_queue import Received

    engine, _, clock, _ = engines
    clock.now = NOW

    class Queue:
        account, region = ACCOUNT, "us-east-1"

        def delete(self, received: Any) -> list:
            return []

    attack = sorted(reference_events(), key=lambda e: e.time)
    received = [Received(message_id=e.event_id, receipt_handle=e.event_id, event=e, body="")
                for e in attack]
    assert engine.ingest(Queue(), received, evaluate=False) is None
    assert engine.latest.events.unevaluated
    result = engine.ingest(Queue(), received)  # the same messages again: nothing new
    assert result is not None and result.evaluation.findings
    assert not engine.latest.events.unevaluated


def test_the_history_keeps_one_copy_of_each_repeated_string_and_the_same_events():
    """Decoded row by row, every event carried its own copy of its principal, address, agent
    (half of its memory); the history keeps one of each, and equal events."""
    def copied(text: str) -> str:
        return "".join(list(text))  # a new string object with the same value

    events = [replace(e, event_id=f"copy-{n}", principal_arn=copied(e.principal_arn or ""),
                      source_ip=copied(e.source_ip or ""), user_agent=copied(e.user_agent or ""))
              for n, e in enumerate(everyday(NOW - timedelta(hours=6), hours=5, seed=9))]
    assert events[0].principal_arn is not events[1].principal_arn

    class Unit:
        def events_received(self, *, since: datetime, **_: Any) -> list[Any]:
            from costguard.store.event_log import StoredEvent

            return [StoredEvent(e, e.time, NOW, e.event_id) for e in events]

    api, _ = EventHistory().read(Unit(), since=NOW - timedelta(days=7),
                                 detail_since=NOW - timedelta(days=1), now=NOW)
    assert api == sorted(events, key=lambda e: (e.time, e.event_id))
    for field in ("principal_arn", "source_ip", "user_agent", "account", "name"):
        values = {getattr(e, field) for e in api}
        assert len({id(getattr(e, field)) for e in api}) == len(values)
