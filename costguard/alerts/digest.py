"""Digest routes: incidents a `digest: daily|weekly` route takes, gathered into one message
per route and period instead of one message each.

Stateless apart from one store key per route (when its last digest covered up to), so a
restart neither repeats nor skips a digest, and replicas share it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from costguard.alerts.alert import Alert, AlertFinding
from costguard.model import AlertKind, Severity
from costguard.settings.config import Route

if TYPE_CHECKING:
    from costguard.alerts.routing import Notifier
    from costguard.store import Store

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def _route_id(route: Route) -> str:
    """A stable name for a route (its content), so reordering routes keeps their state."""
    return hashlib.sha256(route.model_dump_json().encode()).hexdigest()[:12]


def send_digests(store: Store, notifier: Notifier, routes: Sequence[Route], now: datetime) -> int:
    """Queue each digest route's message when its period has passed; returns how many."""
    from costguard.alerts.routing import alert_finding, is_posture, route_matches

    queued = 0
    for route in routes:
        if route.digest is None:
            continue
        key = f"digest:{_route_id(route)}"
        last = store.get_state(key)
        since = datetime.fromisoformat(last) if last else now - PERIODS[route.digest]
        if now - since < PERIODS[route.digest]:
            continue
        findings, incidents = [], 0
        for incident in store.list_incidents(since=since):
            stored = store.list_findings(incident_id=incident.id)
            shown = [alert_finding(f, notifier.policies.get(f.policy)) for f in stored]
            posture = is_posture(shown, notifier.registry)
            if route_matches(route, shown, incident.severity, posture):
                findings += shown
                incidents += 1
        if findings:
            alert = _digest(route, findings, incidents, since, now)
            queued += notifier.enqueue(store, alert, route.notify, now)
        store.set_state(key, now.isoformat())
    return queued


def _digest(route: Route, findings: list[AlertFinding], incidents: int, since: datetime,
            now: datetime) -> Alert:
    period = route.digest
    title = (f"{period.capitalize()} digest: {incidents} incident{'s' if incidents != 1 else ''}"
             f", {len(findings)} finding{'s' if len(findings) != 1 else ''}")
    return Alert(
        kind=AlertKind.DIGEST, key=f"digest:{_route_id(route)}:{now:%Y%m%dT%H%M}", title=title,
        severity=Severity.highest(f.severity for f in findings), created_at=now,
        findings=tuple(findings), accounts=tuple(sorted({f.account for f in findings})),
        facts={"summary": f"{title} since {since:%Y-%m-%d %H:%M} UTC, as the route "
                          f"'{period}' digest collects them."},
    )
