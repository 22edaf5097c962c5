"""Many instances launched within minutes in one account."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import Field

from costguard.activity.api_calls import failed, launched_instances, unique
from costguard.activity.principals import by_principal, principal_details
from costguard.activity.watched_calls import routine_launch
from costguard.checks.base import Check, Context, Params, Phase
from costguard.checks.instance_types import instance_entities
from costguard.model import Finding, Severity, Source
from costguard.snapshot import ApiEvent, Instance, RegionInventory, Snapshot

TERMINATED_VISIBLE = timedelta(hours=1)
"""How long DescribeInstances keeps listing an instance after it terminated (about an hour)."""


class InstanceStates:
    """Whether instances still run, by the inventory, for checks that verify a fix with it.

    An instance the inventory lists has its state. One it does not list is gone (terminated
    longer than `TERMINATED_VISIBLE` ago), unless it was seen less than that long ago: then the
    inventory may predate it (events arrive faster than inventory polls), so it counts as
    running. A region without inventory is unknown (None): nothing there can be verified.
    """

    def __init__(self, inventory: Iterable[RegionInventory]) -> None:
        self._regions = {
            (inv.account, inv.region): {i.instance_id: i for i in inv.instances}
            for inv in inventory
        }

    def known(self, account: str, region: str) -> bool:
        """Whether the inventory covers this account and region."""
        return (account, region) in self._regions

    def instance(self, account: str, region: str, instance_id: str) -> Instance | None:
        """The inventory's instance, or None when it is not listed."""
        return self._regions.get((account, region), {}).get(instance_id)

    def running(
        self, account: str, region: str, instance_id: str, seen_at: datetime, now: datetime
    ) -> bool | None:
        """True or False when the inventory can tell, None when it does not cover the region."""
        if not self.known(account, region):
            return None
        listed = self.instance(account, region, instance_id)
        if listed is not None:
            return listed.running
        return now - seen_at < TERMINATED_VISIBLE


@dataclass(frozen=True)
class Launch:
    """One instance launch, from a RunInstances event, the inventory, or both."""

    account: str
    region: str
    instance_id: str
    instance_type: str | None
    at: datetime
    event: ApiEvent | None = None
    instance: Instance | None = None

    @property
    def launcher(self) -> str | None:
        """The principal that launched it, when a RunInstances event says so."""
        return self.event.principal_arn if self.event else None


class InstanceSurgeParams(Params):
    """Parameters of `instance_surge`."""

    max_launches: int = Field(
        default=5, ge=1, description="More launches than this within `within_minutes` is a surge."
    )
    within_minutes: float = Field(
        default=15, gt=0, description="Length of the sliding window launches are counted in."
    )
    routine_days: float = Field(
        default=7, gt=0, description="A launch by a principal that launched instances in these "
        "days before (an hour or more earlier), with no new address or agent and no GPU type, "
        "is everyday work (an autoscaling group) and does not count.")


class InstanceSurge(Check):
    """A stolen key is spent at once: tens of instances in a few minutes, often in regions the
    team never uses. Launches come from RunInstances events (each instance in the response)
    and from the inventory's launch times, merged by instance id so an instance seen both ways
    counts once; the event's time wins, since a stopped instance that starts again gets a new
    launch time. Only instances still running (or not yet in the inventory) count, so a burst
    clears once no more than `max_launches` of it still run. Launches that are a principal's
    everyday work (it launched before within `routine_days`, no new address or user agent, no
    GPU type: an autoscaling group scaling out) do not count, so neither the finding nor its
    stop commands name them.

    Launches are counted across the whole account (a burst split over three regions is still
    one burst), and the burst is reported with one finding per region it touches, named
    `arn:aws:ec2:REGION:ACCOUNT:launch-surge`: a surge is not an AWS resource, but the name must
    stay the same while instances come and go, and a region in it lets the finding resolve
    when that region's inventory shows its instances gone (findings resolve per collected
    region). The findings of one burst share their launchers and instances, so they form one
    incident. A long-running fleet started in one go stays a finding while it runs: mute it.

    ```yaml
    policies:
      - name: instance-surge
        check: instance_surge
        severity: high
        params: {max_launches: 5, within_minutes: 15}
    ```
    """

    id = "instance_surge"
    title = "Many instances launched within minutes"
    severity = Severity.HIGH
    sources = (Source.CLOUDTRAIL, Source.INVENTORY)
    remediation = "remediation/instance_surge.md.j2"
    Params = InstanceSurgeParams
    references = ("MITRE ATT&CK T1496 Resource Hijacking",)

    noun = "account"
    phrase_one = "a launch surge"
    phrase_many = "a launch surge"
    title_rank = 80
    phase = Phase.STOP_SPEND
    playbook_rank = 30
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "ec2:DescribeRegions",
        "ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:DescribeKeyPairs",
        "ec2:DescribeInstanceTypes",
    )

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per region of each account's burst of more than `max_launches` still
        running."""
        params = cast(InstanceSurgeParams, ctx.params)
        states = InstanceStates(snapshot.inventory)
        within = timedelta(minutes=params.within_minutes)
        per_account: dict[str, list[Launch]] = {}
        history = by_principal(snapshot.events)
        for launch in launches(snapshot.events, snapshot.instances()):
            routine = launch.event is not None and routine_launch(
                launch.event, history.get(launch.launcher or "", []), params.routine_days)
            if not routine and _still_running(launch, states, snapshot.now):
                per_account.setdefault(launch.account, []).append(launch)
        for account in sorted(per_account):
            burst = surge(per_account[account], params.max_launches, within)
            for region in sorted({launch.region for launch in burst}):
                yield _finding(ctx, snapshot, params, region, burst)


def launches(events: Iterable[ApiEvent], instances: Iterable[Instance]) -> list[Launch]:
    """Every launch once: successful RunInstances events, then the inventory, by instance id."""
    found: dict[tuple[str, str], Launch] = {}
    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        if event.name != "RunInstances" or failed(event):
            continue
        for item in launched_instances(event):
            key = (event.account, item.instance_id)
            found.setdefault(key, Launch(event.account, event.region, item.instance_id,
                                         item.instance_type, event.time, event=event))
    for instance in instances:
        key = (instance.account, instance.instance_id)
        if key in found:
            prior = found[key]
            found[key] = replace(prior, instance=instance,
                                 instance_type=prior.instance_type or instance.instance_type)
        elif instance.launch_time is not None:
            found[key] = Launch(instance.account, instance.region, instance.instance_id,
                                instance.instance_type, instance.launch_time, instance=instance)
    return list(found.values())


def _still_running(launch: Launch, states: InstanceStates, now: datetime) -> bool:
    if launch.instance is not None:
        return launch.instance.running
    # Unknown (region not inventoried) counts: a surge must not hide behind a failed poll.
    state = states.running(launch.account, launch.region, launch.instance_id, launch.at, now)
    return state is not False


def surge(items: Sequence[Launch], max_launches: int, within: timedelta) -> list[Launch]:
    """Every launch in some window of length `within` holding more than `max_launches`."""
    ordered = sorted(items, key=lambda launch: (launch.at, launch.instance_id))
    members: set[int] = set()
    start = 0
    for end, launch in enumerate(ordered):
        while launch.at - ordered[start].at > within:
            start += 1
        if end - start + 1 > max_launches:
            members.update(range(start, end + 1))
    return [ordered[i] for i in sorted(members)]


def _finding(
    ctx: Context, snapshot: Snapshot, params: InstanceSurgeParams, region: str,
    burst: list[Launch],
) -> Finding:
    here = [launch for launch in burst if launch.region == region]
    account, count, total = here[0].account, len(here), len(burst)
    events = [launch.event for launch in here if launch.event is not None]
    launchers = Counter(launch.launcher for launch in here if launch.launcher)
    main = launchers.most_common(1)[0][0] if launchers else None
    principal = principal_details(
        by_principal(snapshot.events).get(main or "", []), main,
        [e.time for e in events if e.principal_arn == main],
        source_ips=(e.source_ip for e in events), user_agents=(e.user_agent for e in events),
    )
    where = f"in account {account}" if count == total else f"of {total} in account {account}"
    return ctx.finding(
        account=account,
        region=region,
        resource=f"arn:aws:ec2:{region}:{account}:launch-surge",
        title=(f"{count} instances {where} launched within {params.within_minutes:g} minutes "
               f"in {region}"),
        details={
            "account": account,
            "region": region,
            "count": count,
            "account_count": total,
            "max_launches": params.max_launches,
            "within_minutes": params.within_minutes,
            "first_launch": here[0].at.isoformat(),
            "last_launch": here[-1].at.isoformat(),
            "instances": [_instance(launch) for launch in here],
            "instance_types": dict(Counter(launch.instance_type or "unknown" for launch in here)),
            "regions": dict(Counter(launch.region for launch in burst)),
            "launchers": [{"principal": p, "count": n} for p, n in launchers.most_common()],
            **principal,
        },
        entities=_entities(here),
        at=here[0].at,
    )


def _instance(launch: Launch) -> dict[str, Any]:
    event, instance = launch.event, launch.instance
    return {
        "instance_id": launch.instance_id,
        "instance_type": launch.instance_type,
        "region": launch.region,
        "launched_at": launch.at.isoformat(),
        "state": instance.state if instance else None,
        "launcher": launch.launcher,
        "access_key_id": event.access_key_id if event else None,
        "event_id": event.event_id if event else None,
    }


def _entities(burst: Sequence[Launch]) -> list[str]:
    entities: list[str] = []
    for launch in burst:
        if launch.instance is not None:
            entities += instance_entities(launch.instance)
        else:
            entities.append(f"instance:{launch.instance_id}")
        if launch.event is not None:
            entities += [f"principal:{launch.launcher}"] if launch.launcher else []
            key = launch.event.access_key_id
            entities += [f"access_key:{key}"] if key else []
    return unique(entities)
