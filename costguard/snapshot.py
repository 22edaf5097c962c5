"""Plain, frozen data that collectors return and checks read.

Nothing here knows about boto3: collectors normalize AWS's shapes into these types ("N/A"
becomes None, "true" becomes True, timestamps become aware datetimes), so checks are tested by
building these by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --- EC2 inventory ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IngressRule:
    """One ingress permission of a security group, flattened to what checks need.

    `protocol` is AWS's IpProtocol ("tcp", "udp", "icmp", or "-1" for all traffic); ports are None
    when the rule covers every port. `cidrs` holds both IPv4 and IPv6 ranges.
    """

    protocol: str
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...] = ()
    source_groups: tuple[str, ...] = ()

    def covers_port(self, port: int) -> bool:
        """True when traffic to `port` over TCP is allowed by this rule's protocol and range."""
        if self.protocol not in ("-1", "tcp", "6"):
            return False
        if self.from_port is None or self.to_port is None or self.protocol == "-1":
            return True
        if self.from_port == -1 and self.to_port == -1:
            return True
        return self.from_port <= port <= self.to_port


@dataclass(frozen=True)
class SecurityGroup:
    """A security group with its ingress rules."""

    account: str
    region: str
    group_id: str
    name: str
    vpc_id: str | None = None
    ingress: tuple[IngressRule, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Instance:
    """An EC2 instance as the checks see it."""

    account: str
    region: str
    instance_id: str
    instance_type: str
    state: str
    launch_time: datetime | None = None
    key_name: str | None = None
    security_groups: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    iam_instance_profile: str | None = None

    @property
    def running(self) -> bool:
        """Whether the instance bills (pending and running do; stopped and terminated do not)."""
        return self.state in ("pending", "running")

    @property
    def arn(self) -> str:
        """The instance's ARN, the `resource` of findings about it."""
        return f"arn:aws:ec2:{self.region}:{self.account}:instance/{self.instance_id}"


@dataclass(frozen=True)
class RegionInventory:
    """Everything the inventory collector saw in one account and region.

    `collected_at` says how old the picture is: state read before an API call cannot show
    whether that call's effect was undone.
    """

    account: str
    region: str
    instances: tuple[Instance, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    key_pairs: tuple[str, ...] = ()
    collected_at: datetime | None = None


# --- IAM -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessKey:
    """One of a principal's two access-key slots in the credential report."""

    slot: int
    active: bool
    last_rotated: datetime | None = None
    last_used_date: datetime | None = None
    last_used_region: str | None = None
    last_used_service: str | None = None


@dataclass(frozen=True)
class CredentialUser:
    """A row of the IAM credential report; the `<root_account>` row has `is_root=True`."""

    user: str
    arn: str
    is_root: bool = False
    created: datetime | None = None
    password_enabled: bool | None = None
    password_last_used: datetime | None = None
    mfa_active: bool = False
    access_keys: tuple[AccessKey, ...] = ()

    @property
    def active_keys(self) -> tuple[AccessKey, ...]:
        """The slots holding an active key."""
        return tuple(k for k in self.access_keys if k.active)


@dataclass(frozen=True)
class CredentialReport:
    """A parsed credential report; AWS regenerates it at most every 4 hours."""

    account: str
    generated_at: datetime
    users: tuple[CredentialUser, ...] = ()

    @property
    def root(self) -> CredentialUser | None:
        """The root principal's row, or None when the report has none."""
        return next((u for u in self.users if u.is_root), None)


@dataclass(frozen=True)
class AccountSummary:
    """Root state from GetAccountSummary: fresher than the credential report, so it wins."""

    account: str
    access_keys_present: bool
    mfa_enabled: bool


@dataclass(frozen=True)
class IamSnapshot:
    """What the IAM collector returns for one account.

    `root_virtual_mfa` is True when the root user's MFA is a virtual device (so not hardware),
    None when unknown.
    """

    account: str
    report: CredentialReport | None = None
    summary: AccountSummary | None = None
    root_virtual_mfa: bool | None = None


# --- Cost ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostPoint:
    """Cost of one service (and linked account, when grouped so) over one period."""

    start: datetime
    end: datetime
    service: str
    amount: float
    unit: str = "USD"
    linked_account: str | None = None
    estimated: bool = False


@dataclass(frozen=True)
class CostData:
    """Cost Explorer's answer for one account at one granularity ("HOURLY" or "DAILY")."""

    account: str
    granularity: str
    points: tuple[CostPoint, ...] = ()
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class BurnSample:
    """Estimated on-demand spend rate of running instances in one account and region.

    `recent_usd_per_hour` is the part from instances launched in the hour before `at`;
    `estimated_types` lists instance types priced by a vCPU estimate rather than a list price.
    """

    account: str
    region: str
    at: datetime
    usd_per_hour: float
    by_family: Mapping[str, float] = field(default_factory=dict)
    recent_usd_per_hour: float = 0.0
    instance_count: int = 0
    estimated_types: tuple[str, ...] = ()


# --- Events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiEvent:
    """A CloudTrail management event, normalized from EventBridge or LookupEvents."""

    event_id: str
    time: datetime
    account: str
    region: str
    service: str
    name: str
    principal_type: str | None = None
    principal_arn: str | None = None
    access_key_id: str | None = None
    user_name: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    read_only: bool | None = None
    error_code: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    response: Mapping[str, Any] = field(default_factory=dict)
    console_login: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    """The rest of the CloudTrail record as CloudTrail wrote it (userIdentity in full,
    additionalEventData, errorMessage, ...): what Sigma rules may name beyond the fields above."""


@dataclass(frozen=True)
class GuardDutyFinding:
    """A GuardDuty finding, as delivered by EventBridge or GetFindings."""

    finding_id: str
    type: str
    severity: float
    account: str
    region: str
    title: str = ""
    description: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    resource: Mapping[str, Any] = field(default_factory=dict)
    service: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrailStatus:
    """A CloudTrail trail and whether it is logging (DescribeTrails + GetTrailStatus)."""

    account: str
    region: str
    name: str
    arn: str
    home_region: str
    is_logging: bool
    multi_region: bool = False
    latest_delivery_error: str | None = None
    stopped_at: datetime | None = None


@dataclass(frozen=True)
class DetectorStatus:
    """GuardDuty in one account and region: the detector (None when there is none) and status."""

    account: str
    region: str
    detector_id: str | None
    enabled: bool


@dataclass(frozen=True)
class CostForecast:
    """Cost Explorer's (or costguard's own) forecast of the month's total."""

    account: str
    month_start: datetime
    month_end: datetime
    forecast_usd: float
    actual_to_date_usd: float
    source: str = "cost_explorer"
    lower_usd: float | None = None
    upper_usd: float | None = None


@dataclass(frozen=True)
class SourceHealth:
    """How a source has been doing: consecutive failed cycles and when data last arrived.

    `last_event_at` is for the event queue: when the last message arrived (None: never).
    """

    source: str
    account: str
    region: str
    consecutive_failures: int = 0
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_event_at: datetime | None = None
    cycles: int = 0
    """Collections attempted, ever (for the per-account metrics)."""
    failed_cycles: int = 0
    """Of which failed."""


# --- The whole picture -----------------------------------------------------------------------


@dataclass(frozen=True)
class AccountAccess:
    """An account costguard could not get into on its last attempt: the role it assumes there
    (None: its own credentials' account) and AWS's refusal, one line."""

    account: str
    role_arn: str | None
    error: str
    name: str | None = None
    trusted_account: str | None = None
    """The account whose credentials costguard runs with: the one the role must trust."""


@dataclass(frozen=True)
class Snapshot:
    """Everything one evaluation sees; built by the engine from collectors and the store.

    `events` and `guardduty` hold everything within the event checks' lookback window (from
    the store, not only this cycle's arrivals), so a finding stays visible until its fix is
    verified; `trails` and `detectors` are the self-watch state; `health` is costguard's own.
    `burn_history` holds stored samples from before this cycle (the baseline), `burn` this
    cycle's; `instance_vcpus` carries DescribeInstanceTypes answers for types the price table
    does not list; `instance_prices` maps (region, instance type) to the on-demand $/hour the
    burn samples were computed with, so alerts can say what each instance costs.
    """

    now: datetime
    accounts: tuple[str, ...] = ()
    inventory: tuple[RegionInventory, ...] = ()
    iam: tuple[IamSnapshot, ...] = ()
    cost: tuple[CostData, ...] = ()
    events: tuple[ApiEvent, ...] = ()
    guardduty: tuple[GuardDutyFinding, ...] = ()
    burn: tuple[BurnSample, ...] = ()
    burn_history: tuple[BurnSample, ...] = ()
    instance_vcpus: Mapping[str, int] = field(default_factory=dict)
    instance_prices: Mapping[tuple[str, str], float] = field(default_factory=dict)
    trails: tuple[TrailStatus, ...] = ()
    detectors: tuple[DetectorStatus, ...] = ()
    forecasts: tuple[CostForecast, ...] = ()
    health: tuple[SourceHealth, ...] = ()
    access: tuple[AccountAccess, ...] = ()

    def instances(self) -> list[Instance]:
        """Every instance in every account and region."""
        return [i for inv in self.inventory for i in inv.instances]

    def security_groups(self) -> list[SecurityGroup]:
        """Every security group in every account and region."""
        return [g for inv in self.inventory for g in inv.security_groups]
