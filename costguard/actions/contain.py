"""Optional automatic containment: stop (never terminate) an incident's instances and
deactivate a non-root access key, recording each action; or, in dry-run, only describe them.

Off by default and enabled per policy (`auto_contain: true` or `auto_contain: dry_run`), because
stopping a production instance on a false positive is worse than a page. The root access key is
never touched: only the root user can deactivate it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from costguard.collectors.session import Aws
    from costguard.settings.policies import Policy

log = logging.getLogger(__name__)

STOP_INSTANCES = "stop_instances"
DEACTIVATE_KEY = "deactivate_access_key"
_USER_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):user/(?:.*/)?([^/]+)$")


class FindingFacts(Protocol):
    """What planning reads of a finding (a StoredFinding has it; tests pass plain objects)."""

    policy: str
    account: str
    region: str
    entities: frozenset[str]
    details: dict[str, Any]


class Containing(Protocol):
    """What planning reads of a policy: whether it contains, and how."""

    auto_contain: bool | str


@dataclass(frozen=True)
class Step:
    """One containment action on one target, derived from an incident's findings."""

    action: str
    account: str
    region: str
    targets: tuple[str, ...]
    user: str | None = None

    def describe(self) -> str:
        """What the step does, in words a responder reads in the alert and the log."""
        if self.action == STOP_INSTANCES:
            return (f"stop {len(self.targets)} instance(s) in {self.account}/{self.region}: "
                    f"{' '.join(self.targets)}")
        return f"deactivate access key {self.targets[0]} of IAM user {self.user} in {self.account}"


def _mode(policy: Containing | None) -> str | None:
    value = getattr(policy, "auto_contain", False)
    return "dry_run" if value == "dry_run" else ("on" if value is True else None)


def plan(findings: Iterable[FindingFacts],
         policies: Mapping[str, Containing]) -> tuple[list[Step], bool]:
    """Steps for the findings whose policy enables containment; and whether it is a dry run
    (any dry-run policy makes the whole plan a dry run: the cautious reading)."""
    chosen = [f for f in findings if _mode(policies.get(f.policy))]
    dry = any(_mode(policies.get(f.policy)) == "dry_run" for f in chosen)
    instances: dict[tuple[str, str], set[str]] = {}
    keys: dict[str, Step] = {}
    for f in chosen:
        for entity in f.entities:
            if entity.startswith("instance:"):
                instances.setdefault((f.account, f.region), set()).add(entity[9:])
        for step in _key_steps(f):
            keys.setdefault(step.targets[0], step)
    steps = [Step(STOP_INSTANCES, account, region, tuple(sorted(ids)))
             for (account, region), ids in sorted(instances.items()) if region != "global"]
    return steps + list(keys.values()), dry


def _key_steps(finding: FindingFacts) -> list[Step]:
    """A non-root key named by the finding, with the IAM user it belongs to."""
    details = finding.details if isinstance(finding.details, dict) else {}
    match = _USER_ARN.match(str(details.get("principal_arn") or details.get("caller") or ""))
    key = details.get("access_key_id")
    if not match or not key or str(key).startswith("ASIA"):  # ASIA: temporary, nothing to revoke
        return []
    return [Step(DEACTIVATE_KEY, match.group(1), "global", (str(key),), user=match.group(2))]


def execute(
    steps: Sequence[Step], aws_for: Callable[[str], Aws], *, dry_run: bool,
    record: Callable[..., Any], incident_id: int | None, now: datetime,
) -> list[str]:
    """Carry out (or, in dry-run, describe) each step; every step is recorded, failed or not."""
    lines = []
    for step in steps:
        text = step.describe()
        if dry_run:
            record(incident_id=incident_id, at=now, action=step.action,
                   target=" ".join(step.targets), dry_run=True, ok=True, result="would " + text)
            lines.append(f"dry run: would {text}")
            continue
        try:
            _do(step, aws_for(step.account))
            ok, result = True, "done"
        except Exception as exc:  # recorded and shown; the responder finishes by hand
            ok, result = False, f"{type(exc).__name__}: {exc}"
        record(incident_id=incident_id, at=now, action=step.action,
               target=" ".join(step.targets), dry_run=False, ok=ok, result=result)
        lines.append(f"{'done' if ok else 'FAILED'}: {text}" + ("" if ok else f" ({result})"))
        log.warning("auto-contain incident %s: %s", incident_id, lines[-1])
    return lines


def _do(step: Step, aws: Aws) -> None:
    if step.action == STOP_INSTANCES:
        aws.client("ec2", step.region).stop_instances(InstanceIds=list(step.targets))
    elif step.action == DEACTIVATE_KEY:
        aws.client("iam").update_access_key(
            UserName=step.user, AccessKeyId=step.targets[0], Status="Inactive")
    else:
        raise ValueError(f"unknown containment action {step.action!r}")


@dataclass(frozen=True)
class ActionTaken:
    """One containment step's record, for the caller to store with the incident."""

    incident_id: int | None
    at: datetime
    action: str
    target: str
    dry_run: bool
    ok: bool
    result: str | None = None


@dataclass(frozen=True)
class ContainmentResult:
    """What containment did (or, in dry-run, would do): one line per step for each incident's
    first message, and the action rows to record."""

    lines: Mapping[int, list[str]] = field(default_factory=dict)
    actions: tuple[ActionTaken, ...] = ()


def contain(
    incidents_created: Sequence[int], findings_by_incident: Mapping[int, Sequence[FindingFacts]],
    policies: Sequence[Policy], aws_for: Callable[[str], Aws], now: datetime,
) -> ContainmentResult:
    """Contain each new incident as its findings' policies ask; AWS is touched only when some
    policy enables containment and an incident's findings name something to stop."""
    by_name = {p.name: p for p in policies}
    lines: dict[int, list[str]] = {}
    actions: list[ActionTaken] = []

    def record(**row: Any) -> None:
        actions.append(ActionTaken(**row))

    for incident_id in incidents_created:
        steps, dry = plan(findings_by_incident.get(incident_id, ()), by_name)
        if steps:
            lines[incident_id] = execute(steps, aws_for, dry_run=dry, record=record,
                                         incident_id=incident_id, now=now)
    return ContainmentResult(lines, tuple(actions))


CONTAIN_PERMISSIONS = ("ec2:StopInstances", "iam:UpdateAccessKey")
"""What `auto_contain` needs beyond the read-only policy; `iam-policy` adds them when used."""
