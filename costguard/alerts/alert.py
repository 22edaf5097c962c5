"""What one notification is about, as plain data the templates render.

The engine builds an `Alert` per incident event (new, update, escalated, resolved);
`compose.py` turns it into a `Message`; the outbox stores the message before any channel sends
it, so a retry sends exactly what was first rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from costguard.alerts.playbook import Action
from costguard.model import AlertKind, Severity


@dataclass(frozen=True)
class AlertFinding:
    """A finding as a message shows it (ids and times from the store, the rest from the check)."""

    id: int | None
    policy: str
    check: str
    severity: Severity
    status: str
    account: str
    region: str
    resource: str
    title: str
    details: Mapping[str, Any] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    references: tuple[str, ...] = ()
    entities: frozenset[str] = frozenset()
    """What ties the finding to its incident (`instance:i-...`, `sg:...`): the merged playbook
    reads these, never the check id."""


@dataclass(frozen=True)
class RemediationStep:
    """One check's remediation for the findings of that check in the alert.

    `body` is the rendered remediation template: plain text with `- ` bullets and fenced
    ``` blocks for commands, which `render.text_to_html` turns into safe HTML.
    """

    check: str
    title: str
    body: str


@dataclass(frozen=True)
class Playbook:
    """What a responder does: the merged first actions, then one step per check with the
    details (and the commands no first action gives), in response order."""

    actions: tuple[Action, ...] = ()
    steps: tuple[RemediationStep, ...] = ()


@dataclass(frozen=True)
class Alert:
    """Everything a message about one incident (or one digest) says."""

    kind: AlertKind
    key: str
    title: str
    severity: Severity
    created_at: datetime
    findings: tuple[AlertFinding, ...] = ()
    remediation: tuple[RemediationStep, ...] = ()
    actions: tuple[Action, ...] = ()
    """The merged first actions (`costguard.alerts.playbook`), shown before everything else."""
    incident_id: int | None = None
    accounts: tuple[str, ...] = ()
    scope: Mapping[str, Any] = field(default_factory=dict)
    timeline: tuple[tuple[datetime, str], ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
