"""`costguard setup events`: the SQS queue, its access policy and the EventBridge rules that
feed it, per region, created or corrected idempotently.

`plan` only reads (so `--dry-run` changes nothing) and returns one Action per thing it checked,
each with a one-line description; `apply` carries out the changing ones. Run again, a plan
finds everything in place and `apply` makes no write call.

Why these choices:
- The API rule matches every "AWS API Call via CloudTrail" event and does not filter on
  `detail.readOnly`. A rule in the ENABLED state already receives no read-only management
  events (those need the state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS), and `readOnly`
  is an optional field of a CloudTrail record: a pattern `{"readOnly": [false]}` would drop any
  write recorded without it. The few read-only calls EventBridge does deliver (names outside
  Get/List/Describe) are told apart by ApiEvent.read_only.
- Calls to global services (IAM, and STS's global endpoint) and root console sign-ins are
  recorded in us-east-1, so only a us-east-1 rule sees CreateUser, CreateAccessKey or a root
  ConsoleLogin. IAM users signing in through the global endpoint may be recorded in us-east-1,
  us-east-2, eu-north-1 or ap-southeast-2, so the sign-in rule goes to every region. The plan
  says so when us-east-1 is not among the regions.
- SSE-SQS (SQS-managed keys) encrypts the queue and, unlike the AWS-managed KMS key for SQS,
  lets EventBridge send to it with no key policy to write. A queue already encrypted with a
  customer KMS key is left so.
- The queue policy lets events.amazonaws.com send only on behalf of the three costguard rules
  (aws:SourceArn), so no other rule or account can write into the queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from costguard.activity.event_records import DetailType
from costguard.collectors.session import Aws, error_code
from costguard.model import StrEnum

GLOBAL_EVENTS_REGION = "us-east-1"
TARGET_ID = "costguard-queue"
RULE_STATE = "ENABLED"

QUEUE_ATTRIBUTES: dict[str, str] = {
    # 4 days: a daemon down over a long weekend loses nothing (the SQS default), as text
    # because SQS answers attributes as strings.
    "MessageRetentionPeriod": str(4 * 24 * 3600),
    "SqsManagedSseEnabled": "true",
    # Time to store a one-shot scan's whole drain before the first messages reappear.
    "VisibilityTimeout": "300",
}


@dataclass(frozen=True)
class RuleSpec:
    """One EventBridge rule costguard owns."""

    name: str
    pattern: dict[str, Any]
    description: str


RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "costguard-cloudtrail-api",
        {"detail-type": [DetailType.API_CALL.value]},
        "costguard: CloudTrail management write calls to the costguard queue",
    ),
    RuleSpec(
        "costguard-console-signin",
        {"detail-type": [DetailType.CONSOLE_SIGN_IN.value]},
        "costguard: console sign-ins to the costguard queue",
    ),
    RuleSpec(
        "costguard-guardduty",
        {"source": ["aws.guardduty"], "detail-type": [DetailType.GUARDDUTY_FINDING.value]},
        "costguard: GuardDuty findings to the costguard queue",
    ),
)


class Change(StrEnum):
    """What an Action does to AWS."""

    CREATE = "create"
    UPDATE = "update"
    NONE = "none"
    NOTE = "note"


@dataclass(frozen=True)
class Action:
    """One step of the setup: `description` says what a dry run would do, `result` what was
    done; both are one line. Actions with change NONE or NOTE have no `run`."""

    region: str
    change: Change
    description: str
    result: str
    run: Callable[[], Any] | None = field(default=None, compare=False, repr=False)

    @property
    def changes(self) -> bool:
        """Whether applying this action writes to AWS."""
        return self.run is not None


def plan(aws: Aws, account: str, regions: Iterable[str], queue_name: str) -> list[Action]:
    """What `apply` would do in each region, found by read calls only."""
    regions = list(regions)
    actions = [a for region in regions for a in _region_plan(aws, account, region, queue_name)]
    if regions and GLOBAL_EVENTS_REGION not in regions:
        note = (
            f"note: {GLOBAL_EVENTS_REGION} is not among the regions; IAM calls (CreateUser, "
            "CreateAccessKey...) and root console sign-ins are only delivered there"
        )
        actions.append(Action("", Change.NOTE, note, note))
    return actions


def apply(actions: Iterable[Action]) -> list[str]:
    """Carries out a plan's changing actions in order; one line per action and a summary.

    Apply a plan once: a second run should plan again (and will find nothing to change).
    """
    actions = list(actions)
    lines = []
    for action in actions:
        if action.run is not None:
            action.run()
        lines.append(action.result)
    lines.append(summary(actions, applied=True))
    return lines


def summary(actions: Iterable[Action], *, applied: bool) -> str:
    """The last line of the output: how many changes were (or would be) made."""
    count = sum(1 for a in actions if a.changes)
    if count == 0:
        return "no changes: the event pipeline is already set up"
    noun = "change" if count == 1 else "changes"
    return f"{count} {noun} made" if applied else f"{count} {noun} to make (dry run)"


def queue_policy(queue_arn: str, rule_arns: Iterable[str]) -> dict[str, Any]:
    """The queue's access policy: EventBridge may send, on behalf of costguard's rules only."""
    return {
        "Version": "2012-10-17",
        "Id": "costguard-events",
        "Statement": [{
            "Sid": "CostguardEventBridgeRules",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
        }],
    }


def partition(region: str) -> str:
    """The ARN partition of a region (aws, aws-cn, aws-us-gov)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# --- One region -------------------------------------------------------------------------------


@dataclass
class _Region:
    """What plan needs to know about one region, and the clients to act there."""

    account: str
    region: str
    queue_name: str
    sqs: Any
    events: Any
    url: str | None = None

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{partition(self.region)}:{service}:{self.region}:{self.account}:{resource}"

    @property
    def queue_arn(self) -> str:
        return self.arn("sqs", self.queue_name)

    @property
    def policy(self) -> dict[str, Any]:
        return queue_policy(
            self.queue_arn, [self.arn("events", f"rule/{r.name}") for r in RULES]
        )

    def queue_url(self) -> str:
        """The URL, looked up at apply time when the queue was only just created."""
        if self.url is None:
            self.url = self.sqs.get_queue_url(
                QueueName=self.queue_name, QueueOwnerAWSAccountId=self.account
            )["QueueUrl"]
        return self.url


def _region_plan(aws: Aws, account: str, region: str, queue_name: str) -> list[Action]:
    here = _Region(account, region, queue_name, aws.client("sqs", region),
                   aws.client("events", region))
    here.url = _existing_queue_url(here)
    attributes = (
        here.sqs.get_queue_attributes(QueueUrl=here.url, AttributeNames=["All"])["Attributes"]
        if here.url else None
    )
    actions = [_queue_action(here, attributes), _policy_action(here, attributes)]
    for rule in RULES:
        actions += _rule_actions(here, rule)
    return actions


def _existing_queue_url(here: _Region) -> str | None:
    try:
        return here.sqs.get_queue_url(
            QueueName=here.queue_name, QueueOwnerAWSAccountId=here.account
        )["QueueUrl"]
    except Exception as exc:
        if error_code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise


def _queue_action(here: _Region, attributes: dict[str, str] | None) -> Action:
    name, region = here.queue_name, here.region
    if attributes is None:
        text = f"queue {name} in {region} (4-day retention, SSE-SQS)"
        return Action(
            region, Change.CREATE, f"create {text}", f"created {text}",
            partial(here.sqs.create_queue, QueueName=name, Attributes=dict(QUEUE_ATTRIBUTES)),
        )
    drift = {k: v for k, v in QUEUE_ATTRIBUTES.items() if attributes.get(k) != v}
    if attributes.get("KmsMasterKeyId"):
        drift.pop("SqsManagedSseEnabled", None)  # already encrypted, with the owner's key
    if not drift:
        line = f"queue {name} already exists in {region}"
        return Action(region, Change.NONE, line, line)
    text = f"queue {name} in {region}: " + ", ".join(
        f"{k} {attributes.get(k, 'unset')} -> {v}" for k, v in drift.items()
    )
    # The policy goes along (it is what the policy step sets or found current): an emulator
    # that forgets the attributes a SetQueueAttributes does not name (moto does) then ends
    # in the state SQS would.
    update = {**drift, "Policy": json.dumps(here.policy)}
    return Action(
        region, Change.UPDATE, f"update {text}", f"updated {text}",
        partial(here.sqs.set_queue_attributes, QueueUrl=here.url, Attributes=update),
    )


def _policy_action(here: _Region, attributes: dict[str, str] | None) -> Action:
    policy = here.policy
    current = (attributes or {}).get("Policy")
    text = f"access policy of queue {here.queue_name} in {here.region}"
    if current and json.loads(current) == policy:
        line = f"{text} is current"
        return Action(here.region, Change.NONE, line, line)
    return Action(
        here.region, Change.UPDATE if current else Change.CREATE,
        f"set {text} (EventBridge, from costguard's rules only)",
        f"set {text}",
        lambda: here.sqs.set_queue_attributes(
            QueueUrl=here.queue_url(), Attributes={"Policy": json.dumps(policy)}
        ),
    )


def _rule_actions(here: _Region, rule: RuleSpec) -> list[Action]:
    current = _describe_rule(here, rule.name)
    where = f"rule {rule.name} in {here.region}"
    put = partial(
        here.events.put_rule, Name=rule.name, EventPattern=json.dumps(rule.pattern),
        State=RULE_STATE, Description=rule.description,
    )
    if current is None:
        action = Action(here.region, Change.CREATE, f"create {where}", f"created {where}", put)
    elif _rule_is_current(current, rule):
        action = Action(here.region, Change.NONE, f"{where} is current", f"{where} is current")
    else:
        action = Action(here.region, Change.UPDATE, f"update {where}", f"updated {where}", put)
    return [action, _target_action(here, rule, exists=current is not None)]


def _rule_is_current(current: dict[str, Any], rule: RuleSpec) -> bool:
    """Same pattern (as JSON, not text), enabled, same description."""
    return (
        json.loads(current.get("EventPattern") or "null") == rule.pattern
        and current.get("State") == RULE_STATE
        and current.get("Description") == rule.description
    )


def _target_action(here: _Region, rule: RuleSpec, *, exists: bool) -> Action:
    text = f"queue {here.queue_name} as the target of rule {rule.name} in {here.region}"
    if exists and _targets_queue(here, rule.name):
        line = f"{text} is current"
        return Action(here.region, Change.NONE, line, line)
    put = partial(
        here.events.put_targets, Rule=rule.name,
        Targets=[{"Id": TARGET_ID, "Arn": here.queue_arn}],
    )
    change = Change.UPDATE if exists else Change.CREATE
    return Action(here.region, change, f"set {text}", f"set {text}", put)


def _describe_rule(here: _Region, name: str) -> dict[str, Any] | None:
    try:
        return here.events.describe_rule(Name=name)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def _targets_queue(here: _Region, rule_name: str) -> bool:
    """Whether the rule already sends events, untransformed, to the queue under our id."""
    targets = here.events.list_targets_by_rule(Rule=rule_name).get("Targets", ())
    return any(
        t.get("Id") == TARGET_ID and t.get("Arn") == here.queue_arn
        and not ({"Input", "InputPath", "InputTransformer"} & set(t))
        for t in targets
    )
