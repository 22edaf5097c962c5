"""costguard.yml -> typed settings, validated with every problem reported at once.

No config at all is a valid setup (DESIGN.md): the current credentials' account, every enabled
region, the shipped policies, SQLite in the state directory and notifications to the log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from costguard.model import Severity, Source
from costguard.settings.paths import default_database_url, default_policy_file, state_dir
from costguard.settings.problems import InvalidInput, Problem, from_validation_error, matching
from costguard.settings.yaml_loader import Located, YamlError, load_file, position_of

SEARCH_PATH = (Path("costguard.yml"), Path("/etc/costguard/costguard.yml"))

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `"90s"`, `"5m"`, `"4h"` or `"1d"`; anything else is a clear error."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 60s, 5m or 4h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 60s, 5m or 4h, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_ROLE_ARN = "a role ARN such as arn:aws:iam::123456789012:role/costguard"


class AccountConfig(_Strict):
    """An account to scan; `role_arn` is assumed from the daemon's own credentials."""

    id: Annotated[str, matching(r"\d{12}", "a 12-digit account id")] = Field(
        description="12-digit AWS account id"
    )
    name: str | None = Field(None, description="a label shown in alerts")
    role_arn: (
        Annotated[str, matching(r"arn:aws[\w-]*:iam::\d{12}:role/.+", _ROLE_ARN)] | None
    ) = Field(None, description="the role to assume in that account")

    @field_validator("id", mode="before")
    @classmethod
    def _quoted_id(cls, value: Any) -> Any:
        # YAML reads unquoted digits as a number and drops leading zeros (or reads them as octal).
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError('write the account id in quotes, e.g. "012345678901"')
        return value


class OrganizationConfig(_Strict):
    """Scan every active account of the AWS Organization through a role of this name."""

    role_name: str = "OrganizationAccountAccessRole"
    exclude: list[str] = Field(default_factory=list)


class AwsConfig(_Strict):
    """Which accounts and regions to scan and with which credentials."""

    profile: str | None = Field(None, description="a named profile; default: the standard chain")
    regions: list[str] | None = Field(None, description="exactly these; default: every enabled")
    accounts: list[AccountConfig] = Field(default_factory=list)
    organization: OrganizationConfig | None = None


class DatabaseConfig(_Strict):
    """Where findings, samples and the outbox live."""

    url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the state dir")
    url_env: str | None = Field(None, description="environment variable holding the URL")

    @field_validator("url")
    @classmethod
    def _no_password(cls, url: str | None) -> str | None:
        # A field validator, so the problem points at the `url:` line rather than `database:`.
        if url and re.search(r"://[^/@]*:[^/@]+@", url):
            raise ValueError("the URL holds a password: put the URL in an environment "
                             "variable and name it in url_env")
        return url

    @model_validator(mode="after")
    def _one_source(self) -> DatabaseConfig:
        if self.url and self.url_env:
            raise ValueError("give url or url_env, not both")
        return self


_WEEKLY = r"(mon|tue|wed|thu|fri|sat|sun) \d\d:\d\d"


class ScheduleConfig(_Strict):
    """How often each source is polled."""

    inventory: Duration = 60.0
    cloudtrail: Duration = 60.0
    guardduty: Duration = 300.0
    credential_report: Duration = 4 * 3600.0
    cost: Duration = 6 * 3600.0
    weekly_report: Annotated[str, matching(_WEEKLY, "a day and time such as 'mon 08:00'")] = (
        "mon 08:00"
    )

    def interval(self, source: Source) -> float:
        """The poll interval of a source, in seconds."""
        return float(getattr(self, source.value))


class RouteMatch(_Strict):
    """Which findings a route takes; every given condition must hold."""

    severity: list[Severity] | None = None
    check: list[str] | None = None
    account: list[str] | None = None
    tag: dict[str, str] | None = None


class Route(_Strict):
    """Sends matching incidents to notifiers, now or in a digest."""

    match: RouteMatch = Field(default_factory=RouteMatch)
    notify: list[str] = Field(min_length=1)
    digest: Literal["daily", "weekly"] | None = None


class SigmaConfig(_Strict):
    """Sigma rules evaluated on every CloudTrail event (the `sigma` check)."""

    rules: list[str] | None = Field(None, description="rule files or folders (recursive); "
                                    "default: the rules costguard ships")
    exclude: list[str] = Field(default_factory=list, description="rule ids (or titles) to skip")
    levels: dict[Literal["informational", "low", "medium", "high", "critical"], Severity] = (
        Field(default_factory=dict, description="a rule level -> the severity of its findings"))


class S3TrailConfig(_Strict):
    """The trail's log files, announced by S3 event notifications on an SQS queue."""

    queue_name: str = Field(description="the SQS queue the trail bucket notifies")
    region: str | None = Field(None, description="the queue's region; default: the first "
                               "event region")


class EventsConfig(_Strict):
    """The EventBridge -> SQS pipeline, its polling fallback, the trail's files, Sigma rules."""

    queue_name: str = "costguard-events"
    regions: list[str] | None = None
    lookup_fallback: bool = True
    sigma: SigmaConfig = Field(default_factory=SigmaConfig)
    s3_trail: S3TrailConfig | None = None


class CostConfig(_Strict):
    """Cost Explorer usage: every request costs $0.01."""

    max_calls_per_day: int = Field(12, ge=0)
    monthly_budget_usd: float | None = Field(None, gt=0)


class IncidentsConfig(_Strict):
    """Alert-to-fix targets and escalation."""

    target_minutes: int = Field(30, gt=0)
    escalate_to: list[str] = Field(default_factory=list)
    reports_dir: str | None = Field(None, description="where after-action reviews are written")


class MetricsConfig(_Strict):
    """The daemon's /metrics and /healthz endpoint."""

    listen: str | None = Field("127.0.0.1:9465", pattern=r"^[\w.:\[\]-]*:\d{1,5}$",
                               description="host:port; null turns the endpoint off")


class _Document(_Strict):
    """The whole file; notifiers are checked per channel type afterwards."""

    aws: AwsConfig = Field(default_factory=AwsConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    policies: list[str] | None = None
    templates: list[str] = Field(default_factory=list)
    notifiers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    routes: list[Route] | None = None
    events: EventsConfig = Field(default_factory=EventsConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True)
class Config:
    """Validated settings, with paths resolved against the config file's folder."""

    path: Path | None
    aws: AwsConfig
    database_url: str
    schedule: ScheduleConfig
    policy_paths: tuple[Path, ...]
    template_dirs: tuple[Path, ...]
    notifiers: Mapping[str, Any]
    routes: tuple[Route, ...]
    events: EventsConfig
    cost: CostConfig
    incidents: IncidentsConfig
    log_level: str
    reports_dir: Path = Path("reports")
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


def find_config(explicit: str | Path | None, env: Mapping[str, str] = os.environ) -> Path | None:
    """The config file to use: -c, then $COSTGUARD_CONFIG, then the search path; None if none."""
    if explicit:
        return Path(explicit)
    if env.get("COSTGUARD_CONFIG"):
        return Path(env["COSTGUARD_CONFIG"])
    return next((p for p in SEARCH_PATH if p.is_file()), None)


class ChannelSpec(Protocol):
    """What validating a notifier section needs of its channel type: the settings model."""

    Params: ClassVar[type[BaseModel]]


ChannelTypes = Mapping[str, type[ChannelSpec]]
"""Config `type:` value -> channel class (`notifiers.CHANNEL_TYPES`, given by the caller)."""


def load_config(
    path: Path | None, env: Mapping[str, str] = os.environ, *, channel_types: ChannelTypes
) -> Config:
    """Read and validate a config file (None means all defaults); raises InvalidInput."""
    raw: Any = Located()
    if path is not None:
        if not path.is_file():
            raise InvalidInput([Problem(str(path), (1, 1), "config file not found")])
        try:
            raw = load_file(path)
        except YamlError as exc:
            raise InvalidInput([Problem(str(path), exc.pos, exc.message)]) from None
        raw = Located() if raw is None else raw
    return _build(path, raw, env, channel_types)


def _build(path: Path | None, raw: Any, env: Mapping[str, str], channel_types: ChannelTypes,
           ) -> Config:
    file = str(path) if path else "<defaults>"
    if not isinstance(raw, dict):
        raise InvalidInput([Problem(file, getattr(raw, "pos", (1, 1)), "expected a mapping")])
    problems: list[Problem] = []
    try:
        doc: _Document | None = _Document.model_validate(raw)
    except ValidationError as exc:
        problems.extend(from_validation_error(exc, file=file, root=raw))
        doc = None
    # Notifiers and the names routes give are read from the raw YAML even when the rest is
    # invalid, so every problem shows in one run.
    notifiers = _notifiers(file, raw, problems, channel_types)
    _check_routes(file, raw, problems)
    db_url = _database_url(file, raw, doc, env, problems) if doc is not None else ""
    if problems or doc is None:
        raise InvalidInput(problems)
    base = path.parent if path else Path.cwd()
    policy_paths = (
        tuple(base / p for p in doc.policies) if doc.policies is not None
        else (default_policy_file(),)
    )
    return Config(
        path=path, aws=doc.aws, database_url=db_url, schedule=doc.schedule,
        policy_paths=policy_paths, template_dirs=tuple(base / t for t in doc.templates),
        notifiers=notifiers, routes=tuple(doc.routes or ()), events=doc.events, cost=doc.cost,
        incidents=doc.incidents, log_level=doc.log_level, metrics=doc.metrics,
        reports_dir=base / doc.incidents.reports_dir if doc.incidents.reports_dir
        else state_dir() / "reports",
    )


def _notifiers(file: str, raw: Any, problems: list[Problem], channel_types: ChannelTypes,
               ) -> dict[str, Any]:
    """Each notifier validated by its channel type's own params model.

    Reads the raw sections: what is not a mapping of mappings is _Document's problem to report.
    """
    sections = raw.get("notifiers")
    built: dict[str, Any] = {}
    for name, section in sections.items() if isinstance(sections, dict) else ():
        if not isinstance(name, str) or not isinstance(section, dict):
            continue
        at, subject = ["notifiers", name], f"notifier {name!r}"
        kind = section.get("type")
        channel = channel_types.get(kind) if isinstance(kind, str) else None
        if channel is None:
            known = ", ".join(sorted(channel_types))
            loc = [*at, "type"] if "type" in section else at
            msg = (f"unknown notifier type {kind!r} (known: {known})" if "type" in section
                   else f"required key is missing (known types: {known})")
            problems.append(Problem(file, position_of(raw, loc), msg, subject, "type"))
            continue
        params = {k: v for k, v in section.items() if k != "type"}
        try:
            built[name] = (channel, channel.Params.model_validate(params))
        except ValidationError as exc:
            problems.extend(
                from_validation_error(exc, file=file, root=raw, subject=subject, at=at)
            )
    return built


def _check_routes(file: str, raw: Any, problems: list[Problem]) -> None:
    """Routes and escalation may only name notifiers that exist (read raw, like _notifiers)."""
    sections = raw.get("notifiers")
    declared = set(sections) if isinstance(sections, dict) else set()
    known = f"(known: {', '.join(sorted(map(str, declared))) or 'none'})"
    routes = [
        (f"routes[{i}].notify", item)
        for (_, i), _ in _listed(raw, "routes")
        for item in _listed(raw, "routes", i, "notify")
    ]
    escalation = [("incidents.escalate_to", i) for i in _listed(raw, "incidents", "escalate_to")]
    for key, (loc, name) in [*routes, *escalation]:
        if isinstance(name, str) and name not in declared:
            msg = f"no notifier named {name!r} {known}"
            problems.append(Problem(file, position_of(raw, loc), msg, "", key))


def _listed(raw: Any, *path: Any) -> list[tuple[list[Any], Any]]:
    """(location, item) for each item of the YAML list at `path`; none when it is not a list."""
    node = raw
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return []
    return [([*path, j], item) for j, item in enumerate(node)] if isinstance(node, list) else []


def _database_url(file, raw, doc: _Document, env, problems: list[Problem]) -> str:
    if doc.database.url_env:
        value = env.get(doc.database.url_env)
        if not value:
            pos = position_of(raw, ["database", "url_env"])
            msg = f"environment variable {doc.database.url_env} is not set"
            problems.append(Problem(file, pos, msg, "", "database.url_env"))
            return ""
        return value
    return doc.database.url or default_database_url()
