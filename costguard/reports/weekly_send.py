"""A week's report from the store: its figures (frozen once the week is over), and sending it
through the outbox once per ISO week, whatever restarts in between.

The daemon asks `send_due` at the scheduled time and when it starts: the week due is the one
before the latest scheduled time; its row in `weekly_reports` is claimed in the same unit of
work that queues the message, so two replicas, or a restart after the send, never send twice,
and a daemon that was down at 08:00 sends when it comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from costguard.alerts.routing import LOG_CHANNEL
from costguard.reports.figures import VERSION, WeeklyFigures
from costguard.reports.history import check_infos, read_history
from costguard.reports.week import IsoWeek
from costguard.reports.weekly import weekly_figures
from costguard.reports.weekly_email import build_weekly_message, weekly_key

if TYPE_CHECKING:
    from costguard.alerts.routing import Notifier
    from costguard.checks import Registry
    from costguard.settings.config import Config, ScheduleConfig
    from costguard.settings.policies import Policy
    from costguard.store import Store

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def week_figures(store: Store, week: IsoWeek, config: Config, registry: Registry,
                 policies: Sequence[Policy], now: datetime) -> WeeklyFigures:
    """The week's stored figures when it has them, else computed (and stored, once the week
    is over, so the week reads the same ever after)."""
    stored = store.weekly_report(str(week))
    if stored is not None and stored.figures.get("version") == VERSION:
        return WeeklyFigures.model_validate(stored.figures)
    history = read_history(store, week, config, check_infos(registry, policies), now)
    figures = weekly_figures(history)
    if figures.complete:
        kept = store.freeze_weekly_figures(str(week), figures.model_dump(mode="json"), now,
                                           replace=stored is not None)
        return WeeklyFigures.model_validate(kept.figures)
    return figures


def report_channels(config: Config) -> list[str]:
    """`reports.weekly`, else every notifier, else the log."""
    if config.reports.weekly is not None:
        return list(config.reports.weekly)
    return list(config.notifiers) or [LOG_CHANNEL]


def last_scheduled(schedule: ScheduleConfig, now: datetime) -> datetime:
    """The latest scheduled send time at or before `now` (local wall time in the zone, so
    08:00 stays 08:00 across daylight saving changes)."""
    day, hour, minute = schedule.weekly_at()
    local = now.astimezone(schedule.zone)
    date = local.date() - timedelta(days=(local.weekday() - DAYS.index(day)) % 7)
    moment = datetime.combine(date, time(hour, minute), schedule.zone)
    return moment if moment <= now else datetime.combine(
        date - timedelta(days=7), time(hour, minute), schedule.zone)


def weekly_trigger(schedule: ScheduleConfig) -> Any:
    """APScheduler's cron trigger for `weekly_report` in the schedule's zone: local wall time,
    so the report leaves at 08:00 in winter and in summer."""
    from apscheduler.triggers.cron import CronTrigger

    day, hour, minute = schedule.weekly_at()
    return CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=schedule.zone)


def due_week(schedule: ScheduleConfig, now: datetime) -> IsoWeek:
    """The week the latest scheduled send is about: the last one over by then."""
    return IsoWeek.last_complete(last_scheduled(schedule, now), schedule.zone)


def send_due(store: Store, notifier: Notifier, registry: Registry, policies: Sequence[Policy],
             now: datetime) -> int:
    """Queue the due week's report unless it was queued already; returns messages queued.
    A week in which costguard ran no cycle gets no report (a new install starts quiet)."""
    config = notifier.config
    week = due_week(config.schedule, now)
    start, end = week.bounds(config.schedule.zone)
    stored = store.weekly_report(str(week))
    if (stored and stored.sent_at) or not store.scan_outcomes(start, end):
        return 0
    with store.unit() as unit:
        figures = week_figures(unit, week, config, registry, policies, now)
        if not unit.claim_weekly_send(str(week), now):
            return 0
        queued = queue(unit, notifier, figures, weekly_key(str(week)), now)
    log.info("weekly report %s queued for %d channel(s)", week, queued)
    return queued


def send_now(store: Store, notifier: Notifier, figures: WeeklyFigures, now: datetime) -> int:
    """`report weekly --send`: a fresh copy through the outbox now (the week then counts as
    sent, so the schedule does not send it again)."""
    with store.unit() as unit:
        if figures.complete:
            unit.claim_weekly_send(figures.week, now)
        return queue(unit, notifier, figures, f"{weekly_key(figures.week)}:{now:%Y%m%dT%H%M%S}",
                     now)


def queue(store: Store, notifier: Notifier, figures: WeeklyFigures, key: str,
          now: datetime) -> int:
    """Store the rendered report once per channel of `reports.weekly`."""
    message = build_weekly_message(figures, notifier.renderer, key)
    added = [store.enqueue(key=key, channel=name, message=message, now=now)
             for name in report_channels(notifier.config)]
    return sum(1 for row in added if row is not None)
