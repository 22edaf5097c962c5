"""From incidents to stored messages: routing, alert assembly and the outbox hand-off.

What to send is stored before any channel sends it (the outbox), keyed by incident and kind,
so an incident is announced once per channel however often a cycle runs; incident messages
are rendered when they are sent (`incidents.dispatch`), digests when they are queued.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from costguard.alerts.alert import Alert, AlertFinding, Playbook, RemediationStep
from costguard.alerts.evidence import phase_lookup
from costguard.alerts.playbook import build_actions, covered
from costguard.alerts.quiet import all_muted, held_until, latest_hold
from costguard.checks import Registry, default_registry
from costguard.checks.base import Phase
from costguard.model import AlertKind, Message, Severity
from costguard.settings.config import Config, Route
from costguard.settings.policies import Policy

if TYPE_CHECKING:
    from costguard.alerts.render import Renderer
    from costguard.notifiers.channel import Channel
    from costguard.notifiers.delivery import DeliveryReport, Outbox, Render
    from costguard.store import Store
    from costguard.store.records import StoredFinding

log = logging.getLogger(__name__)

DEFAULT_MIN_SEVERITY = Severity.MEDIUM
"""With notifiers but no routes, every notifier gets incidents of this severity and above."""

LOG_CHANNEL = "log"

MUTABLE = frozenset({AlertKind.NEW, AlertKind.UPDATE, AlertKind.ESCALATION, AlertKind.DIGEST})
"""What a mute silences; a resolution still reaches the channels told about the incident."""


def alert_finding(f: StoredFinding, policy: Policy | None) -> AlertFinding:
    """A stored finding as a message shows it."""
    return AlertFinding(
        id=f.id, policy=f.policy, check=f.check, severity=f.severity, status=str(f.status),
        account=f.account, region=f.region, resource=f.resource, title=f.title,
        details=dict(f.details), first_seen=f.first_seen, last_seen=f.last_seen,
        references=policy.references if policy else (),
        entities=frozenset(getattr(f, "entities", ()) or ()),
    )


def is_posture(findings: Sequence[AlertFinding], registry: Registry) -> bool:
    """Posture with no attacker activity: every finding is of a posture check (what let an
    attack happen: MFA, logging, GuardDuty off), none of something that was done."""
    phases = [cls.phase if (cls := registry.get(f.check)) else None for f in findings]
    return bool(phases) and all(p is Phase.POSTURE for p in phases)


def default_routes(notifiers: Sequence[str]) -> tuple[Route, ...]:
    """The routes when the config gives none: posture-only incidents in a daily digest,
    everything else of medium severity and above right away, to every notifier (with no
    notifiers, every severity to the log)."""
    names = list(notifiers) or [LOG_CHANNEL]
    floor = DEFAULT_MIN_SEVERITY if notifiers else Severity.INFO  # the log takes everything
    return (
        Route.model_validate({"match": {"posture": True}, "notify": names, "digest": "daily"}),
        Route.model_validate({"match": {"posture": False,
                                        "severity": [s for s in Severity if s >= floor]},
                              "notify": names}),
    )


def route_matches(route: Route, findings: Sequence[AlertFinding], severity: Severity,
                  posture: bool = False) -> bool:
    """Whether a route takes an incident: every condition it sets holds for some finding."""
    m = route.match
    if m.severity is not None and severity not in m.severity:
        return False
    if m.posture is not None and m.posture != posture:
        return False
    return any(
        (m.check is None or f.check in m.check)
        and (m.account is None or f.account in m.account)
        and (m.tag is None or _has_tags(f, m.tag))
        for f in findings
    )


def _has_tags(finding: AlertFinding, wanted: Mapping[str, str]) -> bool:
    tags = finding.details.get("tags") or {}
    return isinstance(tags, dict) and all(tags.get(k) == v for k, v in wanted.items())


class Notifier:
    """Decides who hears about an incident and puts the rendered message in the outbox."""

    def __init__(
        self,
        config: Config,
        policies: Sequence[Policy],
        *,
        env: Mapping[str, str] = os.environ,
        renderer: Renderer | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.config = config
        self.registry = registry or default_registry()
        self.policies = {p.name: p for p in policies}
        self.env = env
        self._renderer = renderer
        self._channels: dict[str, Channel] | None = None

    @property
    def renderer(self) -> Renderer:
        """Built on first use: a scan that sends nothing never imports Jinja."""
        if self._renderer is None:
            from costguard.alerts.render import Renderer

            self._renderer = Renderer(self.config.template_dirs)
        return self._renderer

    @property
    def channels(self) -> dict[str, Channel]:
        """Channel objects by notifier name; the log channel when none are configured."""
        if self._channels is None:
            self._channels = self._build_channels()
        return self._channels

    def _build_channels(self) -> dict[str, Channel]:
        from costguard.notifiers import CHANNEL_TYPES

        if not self.config.notifiers:
            log_type = CHANNEL_TYPES[LOG_CHANNEL]
            return {LOG_CHANNEL: log_type(LOG_CHANNEL, log_type.Params(), self.env)}
        channels = {
            name: cls(name, params, self.env)
            for name, (cls, params) in self.config.notifiers.items()
        }
        from costguard.notifiers.ticket_channel import TicketChannel

        window = timedelta(seconds=self.config.incidents.reopen_window)
        for channel in channels.values():
            if isinstance(channel, TicketChannel):
                channel.reopen_window = window
        return channels

    @property
    def routes(self) -> tuple[Route, ...]:
        """The configured routes, or `default_routes` when there are none."""
        return self.config.routes or default_routes(list(self.config.notifiers))

    def destinations(self, findings: Sequence[AlertFinding], severity: Severity) -> list[str]:
        """The channels an incident goes to right away (digest routes are sent later)."""
        posture = is_posture(findings, self.registry)
        names: list[str] = []
        for route in self.routes:
            if route.digest is None and route_matches(route, findings, severity, posture):
                names.extend(n for n in route.notify if n not in names)
        return names

    def hourly_cap(self, channel: str) -> int:
        """The most messages `channel` gets alone in an hour: the lowest cap of the routes
        that name it (each route's `max_per_hour`)."""
        caps = [r.max_per_hour for r in self.routes if channel in r.notify]
        return min(caps, default=Route.model_fields["max_per_hour"].default)

    def remediation(self, findings: Sequence[AlertFinding]) -> Playbook:
        """The playbook: the merged first actions (`costguard.alerts.playbook`), then one step
        per check in response order (each check's `phase` and `playbook_rank`; checks the
        registry does not know come last) with the details and the commands no first action
        gives, then verify."""
        as_of = max((t for f in findings for t in (f.last_seen, f.first_seen) if t), default=None)
        actions = build_actions(findings, phase_lookup(self.registry), as_of)
        steps = self._steps(findings, covered(actions))
        if len(steps) > 1:
            steps.append(RemediationStep(check="verify", title="Verify", body=VERIFY))
        return Playbook(actions=actions, steps=tuple(steps))

    def _steps(self, findings: Sequence[AlertFinding], done: frozenset[str],
               ) -> list[RemediationStep]:
        """One step per check (and policy template), each told what the actions cover."""
        by_check: dict[tuple[str, str | None], list[AlertFinding]] = {}
        for f in sorted(findings, key=lambda f: _playbook_position(self.registry, f.check)):
            policy = self.policies.get(f.policy)
            by_check.setdefault((f.check, policy.remediation if policy else None), []).append(f)
        steps = []
        for (check, template), group in by_check.items():
            context = {"findings": group, "account": group[0].account, "covered": done}
            body = self.renderer.remediation(check, context, template)
            steps.append(RemediationStep(check, _step_title(self.registry, check, group), body))
        return steps

    def message(self, alert: Alert) -> Message:
        """Render an alert into the message every channel sends."""
        from costguard.alerts.compose import build_message

        return build_message(alert, self.renderer)

    def enqueue(self, store: Store, alert: Alert, channels: Iterable[str], now: datetime) -> int:
        """Store the message once per channel; returns how many were new."""
        names = list(channels)
        if not names:
            return 0
        if alert.kind in MUTABLE and self.muted(store, alert, now):
            log.info("%s: every finding is muted; not announced", alert.key)
            return 0
        message = self.message(alert)
        added = [store.enqueue(key=alert.key, channel=n, now=now,
                               message=self.for_channel(n, message, alert),
                               not_before=self.hold(n, alert, now)) for n in names]
        return sum(1 for a in added if a is not None)

    def for_channel(self, name: str, message: Message, alert: Alert) -> Message:
        """The message for channel `name`: a ticket channel's also carries its ticket texts."""
        from costguard.alerts.ticket_text import with_ticket
        from costguard.notifiers.ticket_channel import TicketChannel

        cls = self.config.notifiers[name][0] if name in self.config.notifiers else None
        if cls is None or not issubclass(cls, TicketChannel):
            return message

        return with_ticket(message, alert, self.renderer, cls.type)

    def muted(self, store: Store, alert: Alert, now: datetime) -> bool:
        """Every finding of the alert is muted: by triage, a config rule or a stored rule."""
        if not alert.findings:
            return False
        rules = [*self.config.mutes, *store.active_mute_rules(now)]
        return all_muted(alert.findings, rules, now)

    def hold(self, channel: str, alert: Alert, now: datetime) -> datetime | None:
        """Until when quiet hours hold `alert` for `channel` (None: send now): held only when
        every route that takes it there is in its quiet window, and never when critical."""
        holds = [held_until(route.quiet_hours, alert.severity, now)
                 for route in self.routes
                 if channel in route.notify and route_matches(route, alert.findings,
                                                                alert.severity)]
        return latest_hold(holds)

    def deliver(self, store: Outbox, now: datetime, render: Render | None = None,
                key: str | None = None) -> DeliveryReport:
        """Send what is due through the outbox (retries, back-off, never twice); `render`
        produces deferred messages' text at send time; with `key`, only that message."""
        from costguard.notifiers.delivery import deliver_due

        return deliver_due(store, self.channels, now=now, render=render, key=key)


VERIFY = (
    "costguard verifies every step itself: each finding above is checked again on every scan "
    "(the inventory every minute, IAM and the bill on their schedules, events as they arrive) "
    "and resolves only when a complete scan no longer sees it. When none is left, the incident "
    "closes and you get one resolution message with the time it took.\n"
)


def _playbook_position(registry: Registry, check: str) -> tuple[int, int]:
    """Where a check's step goes: its class says; an unknown check goes after every phase."""
    cls = registry.get(check)
    return cls.playbook_position() if cls else (len(Phase), 0)


def _step_title(registry: Registry, check: str, findings: Sequence[AlertFinding]) -> str:
    """The finding's own title for one finding, else the check's title and how many."""
    if len(findings) == 1:
        return findings[0].title
    cls = registry.get(check)
    return f"{cls.title if cls else check} ({len(findings)} findings)"
