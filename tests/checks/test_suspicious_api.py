"""suspicious_api: which calls, raised severity, and each finding cleared only by a verified fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from costguard.alerts.render import text_to_html
from costguard.checks.suspicious_api import SuspiciousApi
from costguard.model import GLOBAL_REGION, Finding, Severity
from costguard.snapshot import AccessKey

from .conftest import (
    ACCOUNT,
    ATTACK_GROUP,
    ATTACK_KEY_PAIR,
    ATTACKER_IP,
    BROWSER,
    DEV_ARN,
    DEV_KEY,
    GO_SDK,
    HOSTILE,
    MINERS,
    OFFICE_IP,
    ROOT_ARN,
    ROOT_KEY,
    SCRIPT,
    ago,
    assert_only_quoted,
    attack_events,
    attack_inventory,
    create_group,
    detector,
    event,
    group,
    iam,
    import_key_pair,
    instance,
    inventory,
    key,
    open_ingress,
    render,
    report,
    rule,
    run,
    run_instances,
    snapshot,
    trail,
    user,
)

EC2 = f"arn:aws:ec2:us-east-1:{ACCOUNT}"


def found(*events, **snap: Any) -> list[Finding]:
    """Findings for `events` over the state in `snap`; params go in `params`."""
    params = snap.pop("params", {})
    return run(SuspiciousApi, snapshot(events=events, **snap), **params)


def by_dev(name: str, **kw: Any):
    """A call by the dev user from the office, in a browser: nothing raises its severity."""
    kw.setdefault("at", ago(minutes=10))
    kw.setdefault("ip", OFFICE_IP)
    kw.setdefault("agent", BROWSER)
    return event(name, principal=DEV_ARN, key=DEV_KEY, **kw)


def office_history():
    """Dev used the office address yesterday, so it is known."""
    return by_dev("DescribeInstances", at=ago(days=1))


# --- the reference incident ------------------------------------------------------------------


def test_the_reference_incident_gives_one_raised_finding_per_created_resource():
    findings = found(*attack_events(), inventory=(attack_inventory(),))

    assert [(f.details["call"], f.resource) for f in findings] == [
        ("ImportKeyPair", f"{EC2}:key-pair/key-0attack"),
        ("CreateSecurityGroup", f"{EC2}:security-group/{ATTACK_GROUP}"),
        ("AuthorizeSecurityGroupIngress",
         f"{EC2}:security-group/{ATTACK_GROUP}#AuthorizeSecurityGroupIngress"),
        ("RunInstances", f"{EC2}:instance/{MINERS[0]}"),
    ]
    assert {f.severity for f in findings} == {Severity.HIGH}
    assert {f.region for f in findings} == {"us-east-1"}
    for f in findings:
        assert f.details["raised_because"] == ["root", "new_source_ip"]
        assert (f.details["caller"], f.details["principal_type"]) == (ROOT_ARN, "Root")
        assert (f.details["access_key_id"], f.details["source_ip"]) == (ROOT_KEY, ATTACKER_IP)
        assert f.details["user_agent"] == GO_SDK
        assert {f"principal:{ROOT_ARN}", f"access_key:{ROOT_KEY}"} <= f.entities
        assert f.details["api_calls"] == ["ImportKeyPair", "CreateSecurityGroup",
                                          "AuthorizeSecurityGroupIngress", "RunInstances"]


def test_the_launch_finding_names_every_instance_and_links_the_group_and_key_pair():
    run_call = found(*attack_events(), inventory=(attack_inventory(),))[-1]

    assert run_call.title == f"RunInstances by root from {ATTACKER_IP} in us-east-1"
    assert run_call.entities == {
        f"principal:{ROOT_ARN}", f"access_key:{ROOT_KEY}", f"caller_key:{ROOT_KEY}",
        f"sg:{ATTACK_GROUP}",
        f"keypair:{ACCOUNT}:us-east-1:{ATTACK_KEY_PAIR}", *(f"instance:{i}" for i in MINERS)}
    assert run_call.details["event_id"] == "ev-run"
    assert run_call.details["time"] == "2026-11-22T11:51:00+00:00"
    created = run_call.details["created"]
    assert [i["instance_id"] for i in created["instances"]] == list(MINERS)
    assert (created["count"], created["instance_types"]) == (10, ["c5.4xlarge"])
    assert (created["reasons"], created["not_allowed_types"]) == (["count_above_max"], [])
    assert run_call.details["verified_by"] == "state"
    assert run_call.at == ago(minutes=9)


def test_the_ingress_finding_carries_the_exact_rule_to_revoke():
    opened = group(ATTACK_GROUP, rule("tcp", 22, cidrs=["::/0"]))
    [ingress] = found(open_ingress(port=22, cidr="::/0"), inventory=(inventory(opened),))

    assert ingress.details["created"] == {
        "group_id": ATTACK_GROUP, "group_name": None,
        "rules": [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "::/0",
                   "cidr_as_written": "::/0", "ip_permission": {
                       "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                       "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}}]}
    assert ingress.entities >= {f"sg:{ATTACK_GROUP}"}


# --- severity --------------------------------------------------------------------------------


def test_routine_work_from_a_known_address_and_a_browser_is_no_finding():
    call = by_dev("CreateSecurityGroup", response={"groupId": "sg-1"})

    assert found(office_history(), call) == []
    [finding] = found(office_history(), call, params={"require_signal": False})
    assert finding.severity is Severity.MEDIUM
    assert finding.details["raised_because"] == []
    assert finding.title == f"CreateSecurityGroup by user/dev from {OFFICE_IP} in us-east-1"


def test_a_new_address_raises_one_level_and_says_so():
    call = by_dev("CreateSecurityGroup", ip="192.0.2.80", response={"groupId": "sg-1"})

    [finding] = found(office_history(), call)

    assert finding.severity is Severity.HIGH
    assert finding.details["raised_because"] == ["new_source_ip"]


def test_an_sdk_agent_is_a_signal_only_for_a_principal_that_works_in_the_console():
    boto = "Boto3/1.34.0 Python/3.11 Botocore/1.34.0"
    scripted = by_dev("DescribeInstances", at=ago(days=1), agent=boto)
    console = by_dev("ConsoleLogin", at=ago(days=1))
    call = by_dev("CreateSecurityGroup", agent=boto, response={"groupId": "sg-1"})

    assert found(office_history(), scripted, call) == []  # a script's principal: routine
    [finding] = found(office_history(), scripted, console, call)
    assert finding.details["raised_because"] == ["sdk_user_agent"]
    assert finding.severity is Severity.HIGH
    custom = found(office_history(), scripted, console, call,
                   params={"sdk_agent_patterns": ["terraform*"]})
    assert custom == []


def test_a_new_user_agent_is_a_signal_once_the_principal_has_a_history():
    call = by_dev("CreateSecurityGroup", agent="curl/8.5", response={"groupId": "sg-1"})
    upgraded = by_dev("CreateSecurityGroup", response={"groupId": "sg-2"},
                      agent=BROWSER.replace("120.0", "121.0"))

    [finding] = found(office_history(), call)
    assert finding.details["raised_because"] == ["new_user_agent"]
    assert found(office_history(), upgraded) == []  # a new version of the same browser


def test_raising_stops_at_critical():
    [finding] = run(SuspiciousApi, snapshot(events=(import_key_pair(),)),
                    severity=Severity.CRITICAL)

    assert finding.severity is Severity.CRITICAL


# --- which calls -----------------------------------------------------------------------------


def test_failed_calls_are_ignored_unless_asked_for_and_then_clear_after_the_window():
    failed = run_instances(error="Client.VcpuLimitExceeded", event_id="ev-failed",
                           at=ago(minutes=30))

    assert found(failed) == []
    [finding] = found(failed, params={"include_failed": True})
    assert finding.resource == "ev-failed"
    assert (finding.details["error_code"], finding.details["verified_by"]) == (
        "Client.VcpuLimitExceeded", "window")
    assert finding.details["created"]["instances"] == []
    assert found(failed, params={"include_failed": True, "window_minutes": 20}) == []


def test_read_calls_and_other_services_are_ignored():
    names = ("DescribeKeyPairs", "DescribeSecurityGroups", "DescribeInstances")
    reads = [event(n) for n in names]
    reads += [event("GetUser", read_only=True), event("ListUsers", read_only=True)]
    # Amazon MQ has a CreateUser too.
    other_service = replace(event("CreateUser", request={"userName": "mq"}),
                            service="mq.amazonaws.com")

    assert found(*reads, other_service) == []


def test_small_launches_pass_and_unapproved_types_do_not():
    small = run_instances(["i-1", "i-2"], "c5.4xlarge", event_id="ev-small")

    assert found(small) == []
    [finding] = found(small, params={"allowed_types": ["t3.*"]})
    assert finding.details["created"]["reasons"] == ["type_not_allowed"]
    assert finding.details["created"]["not_allowed_types"] == ["c5.4xlarge"]
    assert found(small, params={"allowed_types": ["c5.*"]}) == []


def test_only_admin_policies_and_public_bucket_policies_count():
    admin = by_dev("AttachUserPolicy", request={
        "userName": "ci", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    readonly = by_dev("AttachUserPolicy", request={
        "userName": "ci", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
    public = by_dev("PutBucketPolicy", request={"bucketName": "data", "bucketPolicy": {
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}})
    scoped = by_dev("PutBucketPolicy", request={"bucketName": "data", "bucketPolicy": {
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}})

    findings = found(admin, readonly, public, scoped)

    assert [(f.region, f.resource) for f in findings] == [
        (GLOBAL_REGION, f"arn:aws:iam::{ACCOUNT}:user/ci#AttachUserPolicy"),
        ("us-east-1", "arn:aws:s3:::data#PutBucketPolicy"),
    ]
    assert found(admin, params={"admin_policies": ["PowerUserAccess"]}) == []
    assert len(found(admin, params={"admin_policies": [
        "arn:aws:iam::aws:policy/AdministratorAccess"]})) == 1


def test_watch_limits_the_calls_reported():
    findings = found(*attack_events(), params={"watch": ["RunInstances", "ImportKeyPair"]})

    assert [f.details["call"] for f in findings] == ["ImportKeyPair", "RunInstances"]


def test_two_calls_opening_one_group_are_one_finding_with_both_rules():
    findings = found(open_ingress(port=22, at=ago(minutes=9)),
                     open_ingress(port=3389, at=ago(minutes=8)))

    [finding] = findings
    assert [r["from_port"] for r in finding.details["created"]["rules"]] == [22, 3389]
    assert len(finding.details["events"]) == 2


# --- verification: gone when the fix shows, kept until then ----------------------------------


def _still(events, *states) -> list[bool]:
    """For each state (a snapshot's keyword arguments), whether the finding is still there."""
    return [bool(found(*events, **state)) for state in states]


def test_key_pair_clears_once_the_inventory_no_longer_lists_it():
    assert _still(
        [import_key_pair()],
        {"inventory": (inventory(key_pairs=[ATTACK_KEY_PAIR]),)},
        {"inventory": (inventory(key_pairs=["team"]),)},
        {"inventory": (inventory(key_pairs=[], region="eu-west-1"),)},  # us-east-1 not seen
    ) == [True, False, True]


def test_an_inventory_read_before_the_call_cannot_clear_it():
    """The daemon sees an event seconds after the call, long before the next inventory poll:
    a key pair missing from an older inventory was simply not there yet."""
    call = import_key_pair()
    older = replace(inventory(key_pairs=[]), collected_at=call.time - timedelta(seconds=30))
    newer = replace(inventory(key_pairs=[]), collected_at=call.time + timedelta(seconds=30))
    assert _still([call], {"inventory": (older,)}, {"inventory": (newer,)}) == [True, False]


def test_created_group_clears_when_deleted_or_closed_and_unused():
    closed = group(ATTACK_GROUP, rule("tcp", 22, cidrs=["10.0.0.0/8"]))
    miner = instance("i-1", groups=[ATTACK_GROUP])
    stopped = instance("i-1", groups=[ATTACK_GROUP], state="stopped")
    assert _still(
        [create_group()],
        {"inventory": (inventory(group(ATTACK_GROUP, rule("tcp", 22))),)},
        {"inventory": (inventory(closed, miner),)},
        {"inventory": (inventory(closed, stopped),)},
        {"inventory": (inventory(),)},
        {},
    ) == [True, True, False, False, True]


def test_world_ingress_clears_once_that_rule_is_revoked_or_the_group_is_gone():
    other_open = group(ATTACK_GROUP, rule("tcp", 3389))
    assert _still(
        [open_ingress(port=22)],
        {"inventory": (inventory(group(ATTACK_GROUP, rule("tcp", 22))),)},
        {"inventory": (inventory(group(ATTACK_GROUP, rule("tcp", 22, 23))),)},
        {"inventory": (inventory(other_open),)},
        {"inventory": (inventory(),)},
    ) == [True, False, False, False]


def test_instances_clear_once_none_runs():
    event_call = run_instances(MINERS[:6], at=ago(minutes=30))
    old_call = run_instances(MINERS[:6], at=ago(hours=3))
    dead = [instance(i, state="terminated") for i in MINERS[:6]]
    one_left = [instance(MINERS[0]), *dead[1:]]
    assert _still(
        [event_call],
        {"inventory": (inventory(*dead),)},
        {"inventory": (inventory(*one_left),)},
        # Not listed yet, launched half an hour ago: the inventory may predate the launch.
        {"inventory": (inventory(),)},
        {},
    ) == [False, True, True, True]
    # Not listed three hours after the launch: terminated and gone from DescribeInstances.
    assert _still([old_call], {"inventory": (inventory(),)}) == [False]


def test_created_user_clears_once_a_newer_credential_report_lacks_it():
    call = by_dev("CreateUser", at=ago(hours=3), request={"userName": "backup"},
                   response={"user": {"userName": "backup",
                                      "arn": f"arn:aws:iam::{ACCOUNT}:user/backup"}})
    [finding] = found(call)
    assert (finding.region, finding.resource) == (GLOBAL_REGION,
                                                  f"arn:aws:iam::{ACCOUNT}:user/backup")
    assert _still(
        [call],
        {"iam": (iam(report=report(user("dev"))),)},
        {"iam": (iam(report=report(user("dev"), user("backup"))),)},
    ) == [False, True]
    # A report generated before the call knows nothing about it.
    recent = by_dev("CreateUser", at=ago(minutes=30), request={"userName": "backup"})
    assert _still([recent], {"iam": (iam(report=report(user("dev"))),)}) == [True]


def test_access_key_clears_once_no_active_key_of_the_user_dates_from_the_call():
    at = ago(hours=3)
    call = by_dev("CreateAccessKey", at=at, request={"userName": "ci"},
                   response={"accessKey": {"accessKeyId": "AKIANEWKEY", "userName": "ci"}})
    made_then = user("ci", keys=[_key_rotated(at + timedelta(seconds=40))])
    made_then_inactive = user("ci", keys=[_key_rotated(at, active=False)])
    older_key_only = user("ci", keys=[key(1)])

    [finding] = found(call)
    assert finding.resource == "AKIANEWKEY"
    ci = f"arn:aws:iam::{ACCOUNT}:user/ci"
    assert finding.entities >= {"access_key:AKIANEWKEY", f"principal:{ci}"}
    assert _still(
        [call],
        {"iam": (iam(report=report(made_then)),)},
        {"iam": (iam(report=report(made_then_inactive)),)},
        {"iam": (iam(report=report(older_key_only)),)},
        {"iam": (iam(report=report()),)},
    ) == [True, False, False, False]


def _key_rotated(at, *, active: bool = True) -> AccessKey:
    """A key slot created at `at` (the conftest's key() dates keys 30 days back)."""
    return AccessKey(slot=2, active=active, last_rotated=at)


def test_login_profile_clears_once_the_password_is_gone():
    call = by_dev("CreateLoginProfile", at=ago(hours=3), request={"userName": "ci"})

    assert _still(
        [call],
        {"iam": (iam(report=report(user("ci", password=True))),)},
        {"iam": (iam(report=report(user("ci", password=False))),)},
        {"iam": (iam(report=report()),)},
    ) == [True, False, False]


def test_stopped_or_deleted_trail_clears_once_it_logs_again():
    stop = by_dev("StopLogging", request={"name": "main"})
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"
    delete = by_dev("DeleteTrail", request={"name": arn})
    for call in (stop, delete):
        assert _still(
            [call],
            {"trails": (trail("main", logging=False),)},
            {"trails": (trail("main"),)},
            {"trails": (trail("other"),)},
            {},
        ) == [True, False, True, True]


def test_deleted_detector_clears_once_guardduty_is_enabled_again():
    call = by_dev("DeleteDetector", request={"detectorId": "det-1"})

    assert _still(
        [call],
        {"detectors": (detector(detector_id=None, enabled=False),)},
        {"detectors": (detector(detector_id="det-2"),)},
        {"detectors": (detector(region="eu-west-1"),)},
    ) == [True, False, True]


def test_unverifiable_calls_clear_when_they_leave_the_window():
    admin = by_dev("AttachUserPolicy", at=ago(hours=2), request={
        "userName": "ci", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})

    [finding] = found(admin)
    assert finding.details["verified_by"] == "window"
    assert found(admin, params={"window_minutes": 60}) == []


# --- remediation -----------------------------------------------------------------------------


def test_remediation_gives_the_command_that_undoes_each_call():
    calls = [
        *attack_events(),
        by_dev("CreateUser", request={"userName": "backup"}),
        by_dev("CreateAccessKey", request={"userName": "backup"},
                response={"accessKey": {"accessKeyId": "AKIANEWKEY"}}),
        by_dev("CreateLoginProfile", request={"userName": "backup"}),
        by_dev("AttachUserPolicy", request={
            "userName": "backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        by_dev("StopLogging", request={"name": "main"}),
        by_dev("DeleteDetector", region="eu-west-1", request={"detectorId": "det-9"}),
        by_dev("PutBucketPolicy", request={"bucketName": "data", "bucketPolicy": {
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}}),
    ]

    text = render("suspicious_api", found(*calls))

    ids = " ".join(MINERS)
    for command in (
        f"aws ec2 delete-key-pair --region us-east-1 --key-name {ATTACK_KEY_PAIR}",
        f"aws ec2 delete-security-group --region us-east-1 --group-id {ATTACK_GROUP}",
        f"aws ec2 revoke-security-group-ingress --region us-east-1 --group-id {ATTACK_GROUP} "
        "--ip-permissions '[{\"FromPort\": 22, \"IpProtocol\": \"tcp\", \"IpRanges\": "
        "[{\"CidrIp\": \"0.0.0.0/0\"}], \"ToPort\": 22}]'",
        f"aws ec2 stop-instances --region us-east-1 --instance-ids {ids}",
        f"aws ec2 terminate-instances --region us-east-1 --instance-ids {ids}",
        "aws iam delete-user --user-name backup",
        "aws iam update-access-key --user-name backup --access-key-id AKIANEWKEY "
        "--status Inactive",
        "aws iam delete-access-key --user-name backup --access-key-id AKIANEWKEY",
        "aws iam delete-login-profile --user-name backup",
        "aws iam detach-user-policy --user-name backup --policy-arn "
        "arn:aws:iam::aws:policy/AdministratorAccess",
        f"aws cloudtrail start-logging --region us-east-1 --name "
        f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main",
        "aws guardduty create-detector --region eu-west-1 --enable",
        "aws s3api delete-bucket-policy --bucket data",
    ):
        assert command + "\n" in text
    assert text.count("How costguard verifies it: ") == len(found(*calls))
    assert ("costguard does not read policy attachments, so this finding clears on its own "
            "1440 minutes after the call") in text


def test_remediation_for_a_root_key_made_by_root_points_to_the_console():
    call = event("CreateAccessKey", response={"accessKey": {"accessKeyId": "AKIAROOT2"}})

    text = render("suspicious_api", found(call))

    assert "That is a root access key: only the root user can delete it" in text
    assert "aws iam delete-access-key" not in text


def test_remediation_quotes_names_the_caller_chose():
    calls = [import_key_pair(HOSTILE), create_group("sg-1", name=SCRIPT),
             event("RunInstances", agent=HOSTILE, error="Blocked", request={
                 "instanceType": "c5.large", "instancesSet": {"items": [{"maxCount": 9}]}})]

    text = render("suspicious_api", found(*calls, params={"include_failed": True}))

    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
    assert "The call failed, so it created nothing" in text


def test_iam_calls_without_a_user_name_name_the_caller_or_nothing():
    # CreateLoginProfile without userName is the caller's own; CreateUser always names one.
    [own] = found(by_dev("CreateLoginProfile", request={}))

    assert own.details["created"]["user_name"] == "dev"
    assert own.resource == f"{DEV_ARN}#CreateLoginProfile"
    assert found(by_dev("CreateUser", request={})) == []


# --- precision -------------------------------------------------------------------------------


def test_opening_443_is_routine_and_an_admin_port_is_not():
    web = open_ingress("sg-web", port=443, ip=OFFICE_IP, agent=BROWSER, principal=DEV_ARN,
                       key=DEV_KEY)
    ssh = open_ingress("sg-web", port=22, ip=OFFICE_IP, agent=BROWSER, principal=DEV_ARN,
                       key=DEV_KEY)
    history = office_history()

    assert found(history, web) == []
    [finding] = found(history, ssh)
    assert finding.severity is Severity.MEDIUM


def test_a_user_given_mfa_within_the_hour_is_routine_but_not_when_root_does_it():
    mfa = by_dev("EnableMFADevice", at=ago(minutes=9), request={
        "userName": "carol", "serialNumber": "arn:aws:iam::111122223333:mfa/carol"})
    new_ip = {"ip": "192.0.2.80"}
    create = by_dev("CreateUser", request={"userName": "carol"}, **new_ip)
    password = by_dev("CreateLoginProfile", request={"userName": "carol"}, **new_ip)

    assert found(office_history(), create, password, mfa) == []
    assert len(found(office_history(), create, password)) == 2
    by_root = event("CreateUser", request={"userName": "carol"})
    assert len(found(by_root, mfa)) == 1


def test_a_refused_launch_of_a_gpu_type_is_a_finding_without_include_failed():
    probe = run_instances(["i-x"], "p3.2xlarge", error="Client.VcpuLimitExceeded",
                          event_id="ev-probe", principal=DEV_ARN, key=DEV_KEY, ip=OFFICE_IP,
                          agent=BROWSER)
    small = run_instances(["i-y"], "t3.micro", error="Client.VcpuLimitExceeded",
                          event_id="ev-small")

    [finding] = found(office_history(), probe, small)
    assert finding.resource == "ev-probe"
    assert finding.details["created"]["not_allowed_types"] == ["p3.2xlarge"]
    assert f"caller_key:{DEV_KEY}" in finding.entities
    text = render("suspicious_api", [finding])
    first = text.split("```\n", 2)[1]
    assert first.startswith(f"aws iam update-access-key --user-name dev --access-key-id {DEV_KEY}")


def test_a_world_open_rule_written_oddly_is_found_and_kept_until_revoked():
    odd = open_ingress(ATTACK_GROUP, port=22, cidr="0.0.0.0/00")
    odd6 = open_ingress(ATTACK_GROUP, port=3389, cidr="::0/0")
    # EC2 writes the rules back canonically.
    still_open = group(ATTACK_GROUP, rule("tcp", 22), rule("tcp", 3389, cidrs=["::/0"]))

    findings = found(odd, odd6, inventory=(inventory(still_open),))
    assert len(findings) == 1
    rules = findings[0].details["created"]["rules"]
    assert [(r["cidr"], r["cidr_as_written"]) for r in rules] == [
        ("0.0.0.0/0", "0.0.0.0/00"), ("::/0", "::0/0")]
    assert found(odd, odd6, inventory=(inventory(group(ATTACK_GROUP)),)) == []
