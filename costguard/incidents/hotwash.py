"""The after-action ("hot wash") document written when an incident resolves.

Markdown, rendered from `templates/report/hotwash.md.j2`, so a team can paste it into its own
review: the timeline, the scope, what was found and fixed, what costguard did, how fast against
the target, and the review questions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costguard.incidents.stats import duration, time_to_fix, time_to_notify
from costguard.store.records import StoredFinding, StoredIncident

if TYPE_CHECKING:
    from costguard.alerts.render import Renderer
    from costguard.store.event_log import ActionRecord

SCOPE_NAMES = (
    ("principals", "Principals"), ("access_keys", "Access keys"), ("source_ips", "Source IPs"),
    ("user_agents", "User agents"), ("key_pairs", "Key pairs"),
    ("security_groups", "Security groups"), ("instances", "Instances"),
    ("api_calls", "API calls"),
)


def _milestones(incident: StoredIncident) -> list[tuple[str, datetime, str]]:
    start = incident.detected_at
    rows = [("detected", incident.detected_at), ("notified", incident.notified_at),
            ("acknowledged", incident.acknowledged_at), ("escalated", incident.escalated_at),
            ("resolved", incident.resolved_at)]
    return [(label, at, duration((at - start).total_seconds()))
            for label, at in rows if at is not None]


def hotwash_context(
    incident: StoredIncident, findings: list[StoredFinding], actions: list[ActionRecord],
    target: timedelta,
    timeline: list[tuple[datetime, str]],
) -> dict[str, Any]:
    """What the template shows; pure, so it is tested without a store."""
    fix = time_to_fix(incident)
    notify = time_to_notify(incident)
    scope = [(label, list(incident.scope.get(key, ())))
             for key, label in SCOPE_NAMES if incident.scope.get(key)]
    return {
        "incident": incident,
        "milestones": _milestones(incident),
        "notify": duration(notify.total_seconds()) if notify else "-",
        "fix": duration(fix.total_seconds()) if fix else "-",
        "target": duration(target.total_seconds()),
        "within_target": fix is not None and fix <= target,
        "timeline": sorted(timeline),
        "scope": scope,
        "findings": sorted(findings, key=lambda f: (f.first_seen, f.id)),
        "actions": actions,
    }


def incident_timeline(incident: StoredIncident,
                      findings: list[StoredFinding]) -> list[tuple[datetime, str]]:
    """Milestones and each finding's first sighting and resolution."""
    events = [(at, f"incident {label}") for label, at, _ in _milestones(incident)]
    for f in findings:
        if f.first_seen:
            events.append((f.first_seen, f"seen: {f.title}"))
        if f.resolved_at:
            events.append((f.resolved_at, f"fixed: {f.title}"))
    for f in findings:
        for call in (f.details.get("activity") or {}).get("calls", []) if isinstance(
                f.details, dict) else []:
            if isinstance(call, dict) and call.get("first"):
                events.append((datetime.fromisoformat(call["first"]),
                               f"API call {call.get('name')} x{call.get('count', 1)}"))
    return sorted(set(events))


def write_hotwash(incident: StoredIncident, findings: list[StoredFinding],
                  actions: list[ActionRecord], renderer: Renderer, folder: Path,
                  target: timedelta) -> Path:
    """Render the review for one resolved incident to `folder/incident-<id>.md`."""
    context = hotwash_context(incident, findings, actions, target,
                              incident_timeline(incident, findings))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"incident-{incident.id}.md"
    path.write_text(renderer.render("report/hotwash.md.j2", context))
    return path
