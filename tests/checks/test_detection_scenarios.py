"""Whole detections with the shipped policies and Sigma rules, through grouping and the playbook:
each attack below is one incident whose first remediation step takes away the key that made
the calls, and a day of routine work is no finding above low.

Pure: the snapshot is built by hand (tests/checks/conftest.py), the findings are grouped by
costguard.incidents.grouping and the playbook is what an alert would carry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from costguard.activity.callers import CALLER_KEY
from costguard.alerts.routing import Notifier
from costguard.checks import default_registry
from costguard.checks.evaluate import evaluate
from costguard.incidents.grouping import plan_groups
from costguard.model import Finding, Severity, Source
from costguard.runtime.bootstrap import load_sigma, read_config
from costguard.settings.paths import default_policy_file
from costguard.settings.policies import load_policies
from costguard.snapshot import ApiEvent, BurnSample

from .conftest import (
    ACCOUNT,
    BROWSER,
    DEV_ARN,
    DEV_KEY,
    NOW,
    OFFICE_IP,
    ago,
    alert_finding,
    detector,
    event,
    group,
    iam,
    instance,
    inventory,
    key,
    open_ingress,
    report,
    root,
    rule,
    run_instances,
    snapshot,
    trail,
    user,
)

REGISTRY = default_registry()
CONFIG = read_config(None)
POLICIES = load_policies([default_policy_file()], REGISTRY)
RULES = load_sigma(CONFIG)
THIEF_IP, THIEF_AGENT = "203.0.113.77", "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64"
SCALING = (f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling")
ADMIN = f"arn:aws:iam::{ACCOUNT}:user/admin"
ADMIN_KEY = "ASIAADMINCONSOLE0001"


@dataclass
class Stored:
    """A finding as grouping reads it from the store."""

    id: int
    finding: Finding
    incident_id: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.finding, name)

    @property
    def first_seen(self) -> datetime:
        return NOW


def findings(snap) -> list[Finding]:
    """Every shipped policy on the snapshot, as the engine evaluates them."""
    result = evaluate(POLICIES, snap, fresh=set(Source), complete=set(), registry=REGISTRY,
                      options={"sigma_rules": RULES, "monthly_budget_usd": None})
    assert result.errors == []
    return result.findings


def incidents(found: list[Finding]) -> list[list[Finding]]:
    stored = [Stored(n, f) for n, f in enumerate(found, 1)]
    by_id = {s.id: s.finding for s in stored}
    return [[by_id[i] for i in plan.finding_ids] for plan in plan_groups(stored, [], NOW)]


def playbook(group: list[Finding]):
    notifier = Notifier(CONFIG, POLICIES, registry=REGISTRY)
    shown = [replace(alert_finding(f, n), entities=f.entities) for n, f in enumerate(group, 1)]
    return notifier.remediation(shown)


def thief(name: str, **kw: Any) -> ApiEvent:
    """A call with the developer's leaked key, from the thief's host and CLI."""
    kw.setdefault("principal", DEV_ARN)
    kw.setdefault("key", DEV_KEY)
    kw.setdefault("ip", THIEF_IP)
    kw.setdefault("agent", THIEF_AGENT)
    return event(name, **kw)


def dev_history() -> tuple[ApiEvent, ...]:
    """The developer's own everyday calls (office, browser), so the thief's stand out."""
    return (event("ConsoleLogin", principal=DEV_ARN, key=None, ip=OFFICE_IP, agent=BROWSER,
                  at=ago(days=2), response={"ConsoleLogin": "Success"}),
            event("DescribeInstances", principal=DEV_ARN, key=DEV_KEY, ip=OFFICE_IP,
                  agent=BROWSER, at=ago(days=1), read_only=True))


def clean_account(*extra_inventory, detectors=None, burn=()) -> dict[str, Any]:
    """IAM, trails and GuardDuty as a well-kept account has them."""
    return dict(
        accounts=(ACCOUNT,),
        iam=(iam(report=report(root(mfa=True), user("dev", mfa=True, keys=[key()]),
                               user("admin", mfa=True)), keys=False, mfa=True),),
        trails=(trail(),), detectors=detectors or (detector(),),
        inventory=(inventory(*extra_inventory),), burn=burn,
    )


def only_incident(found: list[Finding]) -> list[Finding]:
    groups = incidents(found)
    assert len(groups) == 1, [[f.check for f in g] for g in groups]
    return groups[0]


def assert_first_step_contains_the_key(group: list[Finding]) -> None:
    """The alert's first action deactivates the key that made the calls, and no check's step
    says it again."""
    book = playbook(group)
    assert book.actions[0].command == ("aws", "iam", "update-access-key", "--user-name", "dev",
                                       "--access-key-id", DEV_KEY, "--status", "Inactive")
    assert all("update-access-key" not in step.body for step in book.steps)
    assert any(f"{CALLER_KEY}:{DEV_KEY}" in f.entities for f in group)


# --- three attacks ---------------------------------------------------------------------------


def test_a_refused_gpu_launch_is_one_incident_led_by_the_calling_key():
    probe = run_instances(["i-never"], "p3.2xlarge", error="Client.VcpuLimitExceeded",
                          principal=DEV_ARN, key=DEV_KEY, ip=THIEF_IP, agent=THIEF_AGENT,
                          event_id="ev-probe")

    found = findings(snapshot(events=(*dev_history(), probe), **clean_account()))

    group = only_incident(found)
    assert [f.check for f in group] == ["suspicious_api"]
    assert group[0].resource == "ev-probe"
    assert_first_step_contains_the_key(group)


def test_a_non_canonical_world_open_rule_is_one_incident_kept_open_until_revoked():
    opened = open_ingress("sg-web", port=22, cidr="0.0.0.0/00", principal=DEV_ARN,
                          key=DEV_KEY, ip=THIEF_IP, agent=THIEF_AGENT)
    # EC2 writes the rule back as 0.0.0.0/0.
    web = group("sg-web", rule("tcp", 22), rule("tcp", 443))

    found = findings(snapshot(events=(*dev_history(), opened), **clean_account(web)))

    group_ = only_incident(found)
    assert {f.check for f in group_} == {"suspicious_api", "open_admin_ports"}
    assert_first_step_contains_the_key(group_)
    closed = findings(snapshot(events=(*dev_history(), opened),
                               **clean_account(group("sg-web", rule("tcp", 443)))))
    assert [f.check for f in closed] == []


def test_deleting_the_detector_then_launching_gpus_is_one_incident():
    deleted = thief("DeleteDetector", at=ago(minutes=12), request={"detectorId": "det-1"})
    gpus = run_instances(["i-0gpu1"], "p3.2xlarge", principal=DEV_ARN, key=DEV_KEY,
                         ip=THIEF_IP, agent=THIEF_AGENT, key_name=None, groups=(),
                         at=ago(minutes=8))
    running = instance("i-0gpu1", "p3.2xlarge", launched=ago(minutes=8))
    off = (detector(enabled=False, detector_id=None),)

    found = findings(snapshot(events=(*dev_history(), deleted, gpus),
                              **clean_account(running, detectors=off)))

    group_ = only_incident(found)
    assert {"suspicious_api", "guardduty_enabled", "instance_types"} <= {f.check for f in group_}
    assert_first_step_contains_the_key(group_)


# --- a day of routine work -------------------------------------------------------------------


def scaling(name: str, at: datetime, ids: list[str], **kw: Any) -> ApiEvent:
    """The autoscaling service-linked role at work, as CloudTrail records it."""
    if name == "RunInstances":
        made = run_instances(ids, "t3.medium", principal=SCALING, key=None,
                             ip="autoscaling.amazonaws.com", agent="autoscaling.amazonaws.com",
                             key_name=None, groups=("sg-web",), at=at, **kw)
        return replace(made, principal_type="AssumedRole")
    return replace(event(name, principal=SCALING, key=None, ip="autoscaling.amazonaws.com",
                         agent="autoscaling.amazonaws.com", at=at, request={
                             "instancesSet": {"items": [{"instanceId": i} for i in ids]}}),
                   principal_type="AssumedRole")


def admin(name: str, at: datetime, **kw: Any) -> ApiEvent:
    """The administrator in the console: office address, browser, a console session."""
    kw.setdefault("key", ADMIN_KEY)
    made = event(name, principal=ADMIN, ip=OFFICE_IP, agent=BROWSER, at=at, **kw)
    return replace(made, extra={"sessionCredentialFromConsole": "true"})


def benign_day() -> tuple[list[ApiEvent], list[Any]]:
    """Eight hours of an autoscaling group scaling approved instances out and in (six at once
    at the morning peak), an administrator adding a web group open on 443 and a colleague who
    gets MFA in the same minute; with the history that makes both principals known."""
    events = [scaling("RunInstances", ago(days=2), ["i-0old"]),
              admin("ConsoleLogin", ago(days=1), key=None, response={"ConsoleLogin": "Success"}),
              admin("DescribeInstances", ago(days=1), read_only=True)]
    running = []
    for hour in range(8, 0, -1):
        ids = [f"i-0s{hour}{n}" for n in range(6 if hour == 6 else 2)]
        events.append(scaling("RunInstances", ago(hours=hour), ids))
        events.append(scaling("TerminateInstances", ago(hours=hour, minutes=-40), ids[:1]))
        running += [instance(i, "t3.medium", launched=ago(hours=hour), groups=["sg-web"])
                    for i in ids[1:]]
    events += [
        admin("ConsoleLogin", ago(hours=3), key=None, response={"ConsoleLogin": "Success"}),
        admin("CreateSecurityGroup", ago(hours=3), request={"groupName": "web-2",
              "groupDescription": "web", "vpcId": "vpc-0123"}, response={"groupId": "sg-web2"}),
        open_ingress("sg-web2", port=443, principal=ADMIN, key=ADMIN_KEY, ip=OFFICE_IP,
                     agent=BROWSER, at=ago(hours=3)),
        admin("CreateUser", ago(hours=2), request={"userName": "erin"},
              response={"user": {"userName": "erin",
                                 "arn": f"arn:aws:iam::{ACCOUNT}:user/erin"}}),
        admin("CreateLoginProfile", ago(hours=2), request={"userName": "erin",
                                                           "passwordResetRequired": True}),
        admin("EnableMFADevice", ago(hours=2), request={
            "userName": "erin", "serialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/erin"}),
    ]
    web = group("sg-web", rule("tcp", 443)), group("sg-web2", rule("tcp", 443))
    return events, [*running, *web]


def test_a_day_of_routine_work_is_no_finding_above_low():
    events, state = benign_day()
    burn = tuple(BurnSample(ACCOUNT, "us-east-1", ago(hours=h), 0.42, {"t3": 0.42})
                 for h in range(24))
    accounts = clean_account(*state, burn=burn[:1])
    accounts["iam"] = (iam(report=report(root(mfa=True), user("dev", mfa=True),
                                         user("admin", mfa=True), user("erin", mfa=True)),
                           keys=False, mfa=True),)

    found = findings(snapshot(events=tuple(events), burn_history=burn[1:], **accounts))

    assert [(f.check, f.title) for f in found if f.severity > Severity.LOW] == []


def test_the_same_day_with_the_admin_s_key_stolen_is_found():
    """The control: one call of the same kinds from a new address is a finding."""
    events, state = benign_day()
    stolen = replace(admin("CreateUser", ago(minutes=10),
                           request={"userName": "backup"}), source_ip=THIEF_IP,
                     user_agent=THIEF_AGENT, extra={})
    found = findings(snapshot(events=(*events, stolen), **clean_account(*state)))
    assert [f.check for f in found if f.severity > Severity.LOW] == ["suspicious_api"]
