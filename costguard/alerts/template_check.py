"""`costguard validate`: every template compiles and renders with realistic data.

Each policy's check runs on the sample snapshot of the reference incident
(costguard.checks.reference_snapshot), in which every shipped check fires, and its remediation
template is rendered with those findings; the email templates are rendered with an alert built
from all of them. Problems come back as `TEMPLATE:LINE:COL: ...`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.evidence import phase_lookup
from costguard.alerts.playbook import build_actions
from costguard.alerts.render import Renderer
from costguard.checks import Registry, default_registry
from costguard.checks.base import Context
from costguard.model import AlertKind, Severity, Status
from costguard.settings.config import Config
from costguard.settings.policies import Policy
from costguard.settings.problems import InvalidInput, Problem
from costguard.snapshot import Snapshot


def _problem(renderer: Renderer, name: str, exc: TemplateError) -> Problem:
    line = exc.lineno if isinstance(exc, TemplateSyntaxError) and exc.lineno else 1
    where = next((str(d / name) for d in renderer.dirs if (Path(d) / name).is_file()), name)
    kind = "syntax error" if isinstance(exc, TemplateSyntaxError) else "fails with sample data"
    return Problem(where, (line, 1), f"template {kind}: {exc.message or exc}")


def _sample_findings(
    policy: Policy, snapshot: Snapshot, options: Mapping[str, Any], registry: Registry
) -> list[AlertFinding]:
    """The policy's findings on the sample snapshot, as the store would hand them to a message,
    so templates are rendered with what a real alert carries."""
    ctx = Context(policy=policy.name, check=policy.check, severity=policy.severity,
                  params=policy.params, now=snapshot.now, options=dict(options))
    check = registry.get(policy.check)
    found = list(check().evaluate(snapshot, ctx)) if check else []
    return [
        AlertFinding(id=n + 1, policy=f.policy, check=f.check, severity=f.severity,
                     status=Status.OPEN.value, account=f.account, region=f.region,
                     resource=f.resource, title=f.title, details=dict(f.details),
                     first_seen=snapshot.now, last_seen=snapshot.now,
                     references=policy.references, entities=f.entities)
        for n, f in enumerate(found)
    ]


@dataclass
class Remediations:
    """Every policy's remediation rendered with its sample findings, by policy name; what
    failed to render is in `problems` instead of `texts`."""

    texts: dict[str, str] = field(default_factory=dict)
    findings: dict[str, list[AlertFinding]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def render_remediations(
    config: Config, policies: Sequence[Policy], renderer: Renderer | None = None,
    registry: Registry | None = None,
) -> Remediations:
    """Render each policy's remediation template with its findings on the sample snapshot."""
    from costguard.checks.reference_snapshot import ACCOUNT, check_options, reference_snapshot

    renderer = renderer or Renderer(config.template_dirs)
    registry = registry or default_registry()
    snapshot, options = reference_snapshot(), check_options()
    out = Remediations()
    for policy in policies:
        findings = _sample_findings(policy, snapshot, options, registry)
        out.findings[policy.name] = findings
        name = policy.remediation or renderer.pick("remediation", policy.check, ".md.j2")
        try:
            out.texts[policy.name] = renderer.render(
                name, {"findings": findings, "account": ACCOUNT})
        except TemplateError as exc:
            out.problems.append(_problem(renderer, name, exc))
    return out


def validate_templates(
    config: Config, policies: Sequence[Policy], registry: Registry | None = None
) -> int:
    """Render every template in use; raises InvalidInput with every problem, else the count."""
    from costguard.alerts.compose import build_message
    from costguard.alerts.ticket_text import ticket_fields
    from costguard.checks.reference_snapshot import ACCOUNT, NOW
    from costguard.notifiers.ticket_channel import TicketChannel

    ticket_types = sorted({cls.type for cls, _ in config.notifiers.values()
                           if issubclass(cls, TicketChannel)})
    renderer = Renderer(config.template_dirs)
    remediations = render_remediations(config, policies, renderer, registry)
    problems = list(remediations.problems)
    everything = [f for found in remediations.findings.values() for f in found]
    rendered = len(policies)
    actions = build_actions(everything, phase_lookup(registry or default_registry()), NOW)
    for kind in (AlertKind.NEW, AlertKind.UPDATE, AlertKind.RESOLVED, AlertKind.ESCALATION):
        alert = Alert(kind=kind, key=f"validate-{kind}", title="Sample incident",
                      severity=Severity.highest(f.severity for f in everything),
                      created_at=NOW, findings=tuple(everything), incident_id=1,
                      accounts=(ACCOUNT,), actions=actions)
        try:
            build_message(alert, renderer)
            rendered += 3
            for channel_type in ticket_types:
                ticket_fields(alert, renderer, channel_type)
                rendered += 3
        except TemplateError as exc:
            problems.append(_problem(renderer, getattr(exc, "name", None) or "email", exc))
    problems += channel_problems(config)
    if problems:
        raise InvalidInput(problems)
    return rendered


def channel_problems(config: Config, env: Mapping[str, str] | None = None) -> list[Problem]:
    """Build every channel as the daemon would, so an unset `password_env` or a missing
    `password_file` fails `validate` instead of the first alert."""
    from costguard.notifiers import SecretError
    from costguard.settings.yaml_loader import load_file, position_of

    problems = []
    raw = load_file(config.path) if config.path else {}
    for name, (cls, params) in config.notifiers.items():
        try:
            cls(name, params, os.environ if env is None else env)
        except SecretError as exc:
            pos = position_of(raw, ["notifiers", name])
            problems.append(Problem(str(config.path), pos, str(exc)))
    return problems
