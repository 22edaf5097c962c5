"""The demo's incident as data, and the messages costguard builds from it.

`tests/fixtures/demo_incident.json` holds the incident and the 20 findings one run of
`make demo` stored (ids, details and entities exactly as the checks wrote them; instance ids as
the embedded AWS made them). The alerts below are assembled the way the announcer does it
(`alert_finding`, `scope_from`, `incident_money`, `Notifier.remediation`), without a store, so
golden files and the Chromium test see the demo's own alert, byte for byte repeatable.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from costguard.alerts.alert import Alert
from costguard.alerts.money import incident_money
from costguard.alerts.render import Renderer
from costguard.alerts.routing import Notifier, alert_finding
from costguard.checks import default_registry
from costguard.incidents.announcer import incident_key
from costguard.incidents.keeper import scope_from
from costguard.model import AlertKind, Severity, Status
from costguard.runtime.bootstrap import read_config
from costguard.settings.policies import load_policies
from costguard.store import StoredFinding

FIXTURE = Path(__file__).parents[1] / "fixtures" / "demo_incident.json"
REGISTRY = default_registry()
FIX_TAKES = timedelta(minutes=37)
"""The golden resolution comes this long after detection, so its cost up to the fix differs
from the alert's cost so far (in the demo itself the fix takes a fraction of a second)."""
UPDATE_AFTER = timedelta(minutes=6)
MORE = ("i-0c1d2e3f4a5b6c7d8", "i-0d2e3f4a5b6c7d8e9")
"""Two more miners the update adds, in a second region."""


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@cache
def _raw() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def _stored(raw: dict[str, Any], status: Status = Status.OPEN) -> StoredFinding:
    return StoredFinding(
        id=raw["id"], fingerprint=f"{raw['id']:064x}", policy=raw["policy"], check=raw["check"],
        severity=Severity(raw["severity"]), status=status, account=raw["account"],
        region=raw["region"], resource=raw["resource"], title=raw["title"],
        details=raw["details"], entities=frozenset(raw["entities"]),
        first_seen=_time(raw["first_seen"]), last_seen=_time(raw["last_seen"]), incident_id=1)


def stored(status: Status = Status.OPEN) -> list[StoredFinding]:
    """The demo's findings as the store hands them to the keeper."""
    return [_stored(f, status) for f in _raw()["findings"]]


def incident() -> SimpleNamespace:
    """The demo's incident record."""
    raw = _raw()["incident"]
    return SimpleNamespace(
        id=raw["id"], title=raw["title"], severity=Severity(raw["severity"]),
        accounts=tuple(raw["accounts"]), scope=raw["scope"],
        detected_at=_time(raw["detected_at"]), notified_at=_time(raw["notified_at"]))


@cache
def notifier() -> Notifier:
    """The notifier of the demo's configuration: the shipped policies and templates."""
    config = read_config(None, env={})
    return Notifier(config, load_policies(config.policy_paths, REGISTRY), renderer=Renderer(),
                    registry=REGISTRY)


def alert(kind: AlertKind, now: datetime, findings: list[StoredFinding], **facts: Any) -> Alert:
    """The alert the announcer builds for the incident at `now` (see Announcer.alert)."""
    record, note = incident(), notifier()
    shown = tuple(alert_finding(f, note.policies.get(f.policy)) for f in findings)
    playbook = note.remediation(shown) if kind is not AlertKind.RESOLVED else None
    return Alert(
        kind=kind, key=incident_key(record, kind), title=record.title, severity=record.severity,
        created_at=now, findings=shown, remediation=playbook.steps if playbook else (),
        actions=playbook.actions if playbook else (), incident_id=record.id,
        accounts=record.accounts, scope=scope_from(findings),
        facts={**incident_money(findings, REGISTRY, now), **facts})


def new_alert() -> Alert:
    """The demo's one alert, at detection."""
    return alert(AlertKind.NEW, incident().detected_at, stored())


def update_alert() -> Alert:
    """Six minutes on, the same key started two more miners in eu-west-1."""
    record, findings = incident(), stored()
    template = next(f for f in findings if f.check == "instance_types")
    more = [_more_miner(template, n, instance_id) for n, instance_id in enumerate(MORE, 21)]
    facts = {"thread_key": incident_key(record, AlertKind.NEW), "new": {
        "instances": list(MORE), "regions": ["eu-west-1"],
        "findings": [f.title for f in more]}}
    return alert(AlertKind.UPDATE, record.detected_at + UPDATE_AFTER, findings + more, **facts)


def _more_miner(template: StoredFinding, finding_id: int, instance_id: str) -> StoredFinding:
    old = template.details["instance_id"]
    details = {**template.details, "instance_id": instance_id, "region": "eu-west-1",
               "launch_time": "2026-12-06T12:26:40+00:00"}
    return replace(
        template, id=finding_id, fingerprint=f"{finding_id:064x}", region="eu-west-1",
        resource=template.resource.replace(old, instance_id).replace("us-east-1", "eu-west-1"),
        title=template.title.replace(old, instance_id).replace("us-east-1", "eu-west-1"),
        details=details, entities=frozenset(
            e.replace(old, instance_id).replace("us-east-1", "eu-west-1")
            for e in template.entities))


def resolved_alert() -> Alert:
    """The resolution, 37 minutes after detection: the cost up to the fix, not the alert's."""
    record = incident()
    now = record.detected_at + FIX_TAKES
    facts = {"thread_key": incident_key(record, AlertKind.NEW),
             "time_to_fix": now - record.notified_at}
    return alert(AlertKind.RESOLVED, now, stored(Status.RESOLVED), **facts)
