"""Sending the weekly report: at 08:00 local time across daylight saving changes, once per ISO
week whatever restarts, through the outbox to `reports.weekly`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from costguard.alerts.routing import Notifier
from costguard.checks import default_registry
from costguard.model import AlertKind
from costguard.reports.week import IsoWeek
from costguard.reports.weekly_send import due_week, last_scheduled, send_due, weekly_trigger
from costguard.runtime.bootstrap import read_config
from costguard.settings.sections import ScheduleConfig
from costguard.store import Store

from .history import build

BERLIN = ScheduleConfig(timezone="Europe/Berlin")
UTC = timezone.utc


def fire_times(schedule: ScheduleConfig, start: datetime, n: int) -> list[datetime]:
    """The trigger's next `n` fire times after `start`, as the scheduler would compute them."""
    trigger, times, previous = weekly_trigger(schedule), [], None
    moment = start
    for _ in range(n):
        moment = trigger.get_next_fire_time(previous, moment)
        times.append(moment)
        previous, moment = moment, moment + timedelta(seconds=1)
    return times


@pytest.mark.parametrize(("start", "utc_hours"), [
    (datetime(2026, 3, 20, tzinfo=UTC), [7, 6]),    # CET, then CEST from Sun 29 March
    (datetime(2026, 10, 16, tzinfo=UTC), [6, 7]),   # CEST, then CET from Sun 25 October
])
def test_the_report_leaves_at_eight_local_on_both_sides_of_a_dst_change(start, utc_hours):
    times = fire_times(BERLIN, start, 2)

    assert [t.astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %H:%M") for t in times] == [
        "Mon 08:00", "Mon 08:00"]
    assert [t.astimezone(UTC).hour for t in times] == utc_hours


def test_the_due_week_is_the_one_before_the_latest_scheduled_time():
    monday_summer = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # 08:00 CEST

    assert last_scheduled(BERLIN, monday_summer) == monday_summer
    assert str(due_week(BERLIN, monday_summer)) == "2026-W13"
    assert str(due_week(BERLIN, monday_summer - timedelta(minutes=1))) == "2026-W12"
    start, end = IsoWeek.parse("2026-W13").bounds(ZoneInfo("Europe/Berlin"))
    assert (end - start) == timedelta(hours=167)  # the week that lost an hour


def notifier(tmp_path: Path, weekly: str = "") -> Notifier:
    text = ("notifiers:\n  mail:\n    type: log\n  chat:\n    type: log\n" + weekly)
    (tmp_path / "c.yml").write_text(text)
    return Notifier(read_config(tmp_path / "c.yml"), [], registry=default_registry())


def test_sent_once_per_week_across_restarts(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/s.db"
    with Store.open(url) as store:
        build(store)
    monday = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    for when in (monday, monday + timedelta(minutes=5), monday + timedelta(days=2)):
        with Store.open(url) as store:  # a restart between each
            send_due(store, notifier(tmp_path), default_registry(), [], when)

    with Store.open(url) as store:
        sent = [n for n in store.notifications() if n.key.startswith("report:")]
        assert sorted((n.key, n.channel) for n in sent) == [
            ("report:weekly:2026-W47", "chat"), ("report:weekly:2026-W47", "mail")]
        assert {n.message.kind for n in sent} == {AlertKind.REPORT}
        assert store.weekly_report("2026-W47").sent_at == monday


def test_reports_weekly_names_the_channels(tmp_path: Path, history_store):
    chosen = notifier(tmp_path, "reports:\n  weekly: [chat]\n")

    queued = send_due(history_store, chosen, default_registry(), [],
                      datetime(2026, 11, 23, 8, tzinfo=UTC))

    assert queued == 1
    assert [n.channel for n in history_store.notifications()
            if n.key.startswith("report:")] == ["chat"]


def test_a_week_without_any_cycle_gets_no_report(tmp_path: Path, store):
    assert send_due(store, notifier(tmp_path), default_registry(), [],
                    datetime(2026, 11, 23, 8, tzinfo=UTC)) == 0
    assert store.notifications() == []
