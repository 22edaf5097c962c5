"""The sections of costguard.yml as pydantic models: every key, its type and its default.

`config.py` reads the file and validates the whole document with `_Document`; docs/configuration
.md has a reference row for every field here (a test keeps the two in step).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from costguard.model import Severity, Source
from costguard.settings.addresses import check_database_url, parse_listen
from costguard.settings.muting import MuteRule, QuietHours
from costguard.settings.problems import matching
from costguard.settings.regions import Region
from costguard.settings.yaml_loader import shown

NOT_IMPLEMENTED_YET: dict[str, str] = {}
"""Keys the schema describes but no code acts on yet. Setting one is an error rather than a
silent no-op; whoever implements one removes its line here (and the note in its docs row)."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
MAX_DURATION_S = 100 * 365 * 86400.0
"""Longer is a typo (and past what a date can hold once added to now)."""


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `"90s"`, `"5m"`, `"4h"` or `"1d"`; anything else is a clear error."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 60s, 5m or 4h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 60s, 5m or 4h, got {shown(value)}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if math.isnan(seconds):
        raise ValueError("expected a duration such as 60s, 5m or 4h, got .nan")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        raise ValueError("a duration must be under 100 years")
    return seconds


MIN_INTERVAL_S, MAX_INTERVAL_S = 1.0, 7 * 86400.0
"""A poll interval's bounds: below a second is a busy loop, above a week a typo."""


def _interval(seconds: float) -> float:
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise ValueError("an interval must be between 1s and 7d")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_interval)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_ROLE_ARN = "a role ARN such as arn:aws:iam::123456789012:role/costguard"
AccountId = Annotated[str, matching(r"\d{12}", "a 12-digit account id")]
EnvName = Annotated[str, matching(r"[A-Za-z_][A-Za-z0-9_]*",
                                  "an environment variable name such as COSTGUARD_DATABASE_URL")]


class AccountConfig(_Strict):
    """An account to scan; `role_arn` is assumed from the daemon's own credentials."""

    id: AccountId = Field(description="12-digit AWS account id")
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

    role_name: Annotated[str, matching(r"[\w+=,.@/-]{1,512}", "an IAM role name such as "
                                       "OrganizationAccountAccessRole")] = Field(
        "OrganizationAccountAccessRole", description="the role assumed in each member")
    external_id_env: EnvName | None = Field(
        None, description="environment variable holding the role's sts:ExternalId")
    exclude: list[AccountId] = Field(default_factory=list,
                                     description="member account ids not to scan")


class AwsConfig(_Strict):
    """Which accounts and regions to scan and with which credentials."""

    profile: str | None = Field(None, description="a named profile; default: the standard chain")
    regions: list[Region] | None = Field(None, description="exactly these; default: every enabled")
    accounts: list[AccountConfig] = Field(default_factory=list)
    organization: OrganizationConfig | None = None
    # botocore's read timeout is 60 s and it retries a timed-out call, so the read timeout
    # bounds how long an endpoint that stopped answering holds up a source's collection.
    connect_timeout_s: float = Field(10.0, gt=0, le=300,
                                     description="seconds to open a connection to AWS")
    read_timeout_s: float = Field(60.0, gt=0, le=900,
                                  description="seconds to wait for each answer from AWS")


class DatabaseConfig(_Strict):
    """Where findings, samples and the outbox live."""

    url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the state dir")
    url_env: EnvName | None = Field(None, description="environment variable holding the URL")

    @field_validator("url")
    @classmethod
    def _no_password(cls, url: str | None) -> str | None:
        # A field validator, so the problem points at the `url:` line rather than `database:`.
        if url and re.search(r"://[^/@]*:[^/@]+@", url):
            raise ValueError("the URL holds a password: put the URL in an environment "
                             "variable and name it in url_env")
        return check_database_url(url) if url is not None else None

    @model_validator(mode="after")
    def _one_source(self) -> DatabaseConfig:
        if self.url and self.url_env:
            raise ValueError("give url or url_env, not both")
        return self


_WEEKLY = r"(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):[0-5]\d"


def _time_zone(name: str) -> str:
    """An IANA time zone name the system's zone database knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {shown(name)}: give an IANA name such as "
                         "Europe/Berlin or UTC") from None
    return name


class ScheduleConfig(_Strict):
    """How often each source is polled, and when the weekly report goes out."""

    inventory: Duration = 60.0
    cloudtrail: Duration = 60.0
    guardduty: Duration = 300.0
    credential_report: Duration = 4 * 3600.0
    cost: Duration = 6 * 3600.0
    weekly_report: Annotated[str, matching(_WEEKLY, "a day and time such as 'mon 08:00'")] = (
        "mon 08:00"
    )
    timezone: Annotated[str, AfterValidator(_time_zone)] = "UTC"

    def weekly_at(self) -> tuple[str, int, int]:
        """`weekly_report` as (day of the week, hour, minute): ("mon", 8, 0)."""
        day, clock = self.weekly_report.split()
        hour, minute = clock.split(":")
        return day, int(hour), int(minute)

    @property
    def zone(self) -> ZoneInfo:
        """`timezone` as a ZoneInfo: the weekly report's clock and its weeks' boundaries."""
        return ZoneInfo(self.timezone)

    def interval(self, source: Source) -> float:
        """The poll interval of a source, in seconds."""
        return float(getattr(self, source.value))


class RouteMatch(_Strict):
    """Which findings a route takes; every given condition must hold."""

    posture: bool | None = Field(None, description="true: only incidents of posture findings "
                                 "with no attacker activity; false: only the others")
    severity: list[Severity] | None = None
    check: list[str] | None = None
    account: list[AccountId] | None = None
    tag: dict[str, str] | None = None


class Route(_Strict):
    """Sends matching incidents to notifiers, now or in a digest."""

    match: RouteMatch = Field(default_factory=RouteMatch)
    notify: list[str] = Field(min_length=1)
    digest: Literal["daily", "weekly"] | None = None
    max_per_hour: int = Field(20, ge=1, description="messages per channel and hour; the "
                              "overflow goes out as one summary")
    quiet_hours: QuietHours | None = None


_QUEUE_NAME = matching(r"[\w-]{1,80}", "an SQS queue name (letters, digits, - and _, at most 80)")


class SigmaConfig(_Strict):
    """Sigma rules evaluated on every CloudTrail event (the `sigma` check)."""

    rules: list[str] | None = Field(None, description="rule files or folders (recursive); "
                                    "default: the rules costguard ships")
    exclude: list[str] = Field(default_factory=list, description="rule ids (or titles) to skip")
    levels: dict[Literal["informational", "low", "medium", "high", "critical"], Severity] = (
        Field(default_factory=dict, description="a rule level -> the severity of its findings"))


class S3TrailConfig(_Strict):
    """The trail's log files, announced by S3 event notifications on an SQS queue."""

    queue_name: Annotated[str, _QUEUE_NAME] = Field(
        description="the SQS queue the trail bucket notifies")
    region: Region | None = Field(None, description="the queue's region; default: the first "
                                  "event region")


class EventsConfig(_Strict):
    """The EventBridge -> SQS pipeline, its polling fallback, the trail's files, Sigma rules."""

    queue_name: Annotated[str, _QUEUE_NAME] = "costguard-events"
    regions: list[Region] | None = None
    lookup_fallback: bool = True
    sigma: SigmaConfig = Field(default_factory=SigmaConfig)
    s3_trail: S3TrailConfig | None = None


class CostConfig(_Strict):
    """Cost Explorer usage: every request costs $0.01."""

    max_calls_per_day: int = Field(12, ge=0)
    monthly_budget_usd: float | None = Field(None, gt=0)


class ReportsConfig(_Strict):
    """Who gets the reports costguard sends on its own."""

    weekly: list[str] | None = Field(
        None, description="notifier names; default: every notifier (the log when none)")


class IncidentsConfig(_Strict):
    """Alert-to-fix targets and escalation."""

    target_minutes: int = Field(30, gt=0)
    escalate_to: list[str] = Field(default_factory=list)
    reopen_window: Annotated[float, BeforeValidator(parse_duration)] = Field(
        "7d", validate_default=True,
        description="how long a resolved incident's ticket is reopened by a recurrence")
    update_settle: Duration = Field(60.0, description="changes to an announced incident are "
                                    "gathered this long into one update")
    renotify: Duration | None = Field(4 * 3600.0, description="an unacknowledged open incident "
                                      "is sent again after this, then twice as long; null: "
                                      "never")
    renotify_max: Duration = Field(24 * 3600.0, description="the longest gap between reminders")
    reports_dir: str | None = Field(None, description="where after-action reviews are written")


Age = Annotated[float, BeforeValidator(parse_duration)]
"""A retention period in seconds (`7d`, `90d`)."""


class RetentionConfig(_Strict):
    """How long stored rows are kept (the daemon prunes on a schedule; see docs)."""

    events: Age = Field(8 * 86400.0, description="CloudTrail events and GuardDuty findings; "
                        "never less than the event checks' look-back")
    burn_samples: Age = Field(35 * 86400.0, description="burn-rate samples; never less than "
                              "the burn history the spend checks read")
    scans: Age = Field(90 * 86400.0, description="the record of each cycle (the newest kept)")
    resolved: Age = Field(180 * 86400.0, description="resolved findings and resolved "
                          "incidents, with their history")
    messages: Age = Field(30 * 86400.0, description="sent and dead outbox messages, with "
                          "their attempts (an open incident's are kept)")
    every: Duration = Field(3600.0, description="how often the daemon prunes")


class StoreConfig(_Strict):
    """What the store keeps."""

    retention: RetentionConfig = Field(default_factory=RetentionConfig)


class MetricsConfig(_Strict):
    """The daemon's /metrics and /healthz endpoint."""

    listen: str | None = Field("127.0.0.1:9465",
                               description="host:port; null turns the endpoint off")

    @field_validator("listen")
    @classmethod
    def _address(cls, listen: str | None) -> str | None:
        if listen is not None:
            parse_listen(listen)
        return listen


class RuntimeConfig(_Strict):
    """How `costguard run` schedules its work and how many account x region units it collects
    at once."""

    engine: Literal["embedded", "procrastinate"] = Field(
        "embedded", description="embedded: APScheduler in this one process; procrastinate: "
        "every `costguard run` is a worker of a job queue on database.url (PostgreSQL)")
    concurrency: int = Field(8, ge=1, le=64, description="account x region units collected "
                             "at once in one process")
    client_cache: int = Field(256, ge=1, le=100_000, description="AWS clients kept between "
                              "cycles, for all accounts and regions together")


class _Document(_Strict):
    """The whole file; notifiers are checked per channel type afterwards."""

    aws: AwsConfig = Field(default_factory=AwsConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    policies: list[str] | None = None
    templates: list[str] = Field(default_factory=list)
    notifiers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    routes: list[Route] | None = None
    mutes: list[MuteRule] = Field(default_factory=list)
    events: EventsConfig = Field(default_factory=EventsConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
