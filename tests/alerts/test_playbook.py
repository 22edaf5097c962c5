"""The merged first actions (costguard/alerts/playbook.py and evidence.py), from plain findings:
one stop per account and region with only the incident's instances, one revoke per group, the
calling key first, whoever owns it, then key pairs and persistence."""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from typing import Any

from costguard.alerts.alert import AlertFinding
from costguard.alerts.evidence import Owner, OwnerKind, access_keys, owner_of, phase_lookup
from costguard.alerts.playbook import DENY_ALL, ActionKind, build_actions, covered
from costguard.checks import default_registry
from costguard.model import Severity

ACCOUNT, OTHER = "111122223333", "444455556666"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
DEV = f"arn:aws:iam::{ACCOUNT}:user/dev"
PHASES = phase_lookup(default_registry())
SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
RDP = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389,
       "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def finding(check: str, *entities: str, region: str = "us-east-1", account: str = ACCOUNT,
            fid: int = 1, **details: Any) -> AlertFinding:
    """A finding of `check` naming `entities`, with `details`."""
    return AlertFinding(id=fid, policy=check, check=check, severity=Severity.HIGH, status="open",
                        account=account, region=region, resource=f"r-{fid}", title=check,
                        details=details, entities=frozenset(entities), last_seen=NOW)


def rule(permission: dict[str, Any], port: int) -> dict[str, Any]:
    """A world-open rule as open_admin_ports and suspicious_api put it in their details."""
    return {"protocol": "tcp", "from_port": port, "to_port": port, "cidr": "0.0.0.0/0",
            "ip_permission": permission}


def commands(findings: list[AlertFinding]) -> list[str]:
    """The first actions' commands as a shell reads them."""
    return [shlex.join(a.command) for a in build_actions(findings, PHASES, NOW) if a.command]


def test_one_stop_per_account_and_region_with_every_instance_of_every_check():
    findings = [
        finding("instance_types", "instance:i-2", "sg:sg-1", fid=1),
        finding("instance_types", "instance:i-1", fid=2),
        finding("instance_surge", "instance:i-1", "instance:i-2", fid=3),
        finding("guardduty", "instance:i-2", fid=4),
        finding("hourly_spend", "instance:i-3", region="eu-west-1", fid=5),
        finding("instance_types", "instance:i-4", account=OTHER, fid=6),
    ]

    assert commands(findings) == [  # by account, then region
        "aws ec2 stop-instances --region eu-west-1 --instance-ids i-3",
        "aws ec2 stop-instances --region us-east-1 --instance-ids i-1 i-2",
        "aws ec2 stop-instances --region us-east-1 --instance-ids i-4",
    ]


def test_bystanders_of_an_open_group_are_never_stopped_but_launched_instances_are():
    findings = [
        # the group is open; the web server of the team uses it too
        finding("open_admin_ports", "sg:sg-1", "instance:i-web", "instance:i-miner",
                group_id="sg-1", rules=[rule(SSH, 22)]),
        finding("instance_types", "instance:i-miner", fid=2),
        # a call of the incident launched i-new (an approved type: no other check names it)
        finding("suspicious_api", "instance:i-new", fid=3, call="RunInstances",
                created={"instances": [{"instance_id": "i-new"}]}),
    ]

    [stop] = [c for c in commands(findings) if "stop-instances" in c]
    assert stop == "aws ec2 stop-instances --region us-east-1 --instance-ids i-miner i-new"


def test_a_failed_launch_stops_nothing():
    call = finding("suspicious_api", fid=3, call="RunInstances", error_code="Blocked",
                   created={"instances": [{"instance_id": "i-never"}]})

    assert commands([call]) == []


def test_one_revoke_per_group_with_each_world_open_rule_once():
    findings = [
        finding("open_admin_ports", "sg:sg-1", group_id="sg-1", group_name="web",
                rules=[rule(SSH, 22), rule(RDP, 3389)]),
        finding("suspicious_api", "sg:sg-1", fid=2, call="AuthorizeSecurityGroupIngress",
                created={"group_id": "sg-1", "rules": [rule(SSH, 22)]}),
    ]

    [action] = build_actions(findings, PHASES, NOW)
    assert action.kind is ActionKind.REVOKE_INGRESS
    assert "sg-1 (web) in us-east-1: revoke tcp 22 from 0.0.0.0/0; tcp 3389 from 0.0.0.0/0" in (
        action.text)
    assert action.command[:6] == ("aws", "ec2", "revoke-security-group-ingress", "--region",
                                  "us-east-1", "--group-id")
    assert json.loads(action.command[-1]) == [SSH, RDP]


def test_a_group_without_world_open_rules_is_not_revoked():
    assert commands([finding("instance_types", "instance:i-1", "sg:sg-default")]) == [
        "aws ec2 stop-instances --region us-east-1 --instance-ids i-1"]


def test_the_calling_key_comes_first_and_is_switched_off_the_way_its_owner_allows():
    findings = [
        finding("instance_types", "instance:i-1", "keypair:111122223333:us-east-1:miner"),
        finding("suspicious_api", f"principal:{DEV}", "access_key:AKIADEV", fid=2,
                call="ImportKeyPair", caller=DEV, access_key_id="AKIADEV",
                created={"key_name": "miner"}),
    ]

    actions = build_actions(findings, PHASES, NOW)

    assert [a.kind for a in actions] == [
        ActionKind.DEACTIVATE_KEY, ActionKind.STOP_INSTANCES, ActionKind.DELETE_KEY_PAIR]
    assert shlex.join(actions[0].command) == (
        "aws iam update-access-key --user-name dev --access-key-id AKIADEV --status Inactive")
    assert shlex.join(actions[2].command) == (
        "aws ec2 delete-key-pair --region us-east-1 --key-name miner")


def test_the_root_key_gets_console_steps_not_a_command():
    used = finding("root_activity", f"principal:{ROOT}", "access_key:AKIAROOT", region="global",
                   principal=ROOT, access_key_ids=["AKIAROOT"])

    [action] = build_actions([used], PHASES, NOW)

    assert action.kind is ActionKind.ROOT_KEY and action.command == ()
    assert any("Security credentials" in step and "AKIAROOT" in step for step in action.console)
    assert covered([action]) == {"access_key:AKIAROOT", f"root_key:{ACCOUNT}"}


def test_a_temporary_key_ends_the_roles_sessions_issued_until_the_last_activity():
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/i-0abc"
    call = finding("suspicious_api", f"principal:{session}", "access_key:ASIATEMP",
                   call="CreateKeyPair", caller=session, access_key_id="ASIATEMP")

    [action] = build_actions([call], PHASES, NOW)

    assert action.kind is ActionKind.ROLE_SESSIONS
    assert action.command[:5] == ("aws", "iam", "put-role-policy", "--role-name", "ci-deploy")
    policy = json.loads(action.command[-1])
    assert policy["Statement"][0]["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2026-11-22T12:00:00Z"}}


def test_a_key_whose_owner_no_finding_names_is_looked_up_first():
    [action] = build_actions([finding("guardduty", "access_key:AKIAWHO")], PHASES, NOW)

    assert action.kind is ActionKind.FIND_KEY_OWNER
    assert shlex.join(action.command) == (
        "aws iam get-access-key-last-used --access-key-id AKIAWHO")


def test_the_owner_of_a_key_is_the_one_principal_every_finding_of_it_names():
    findings = [finding("instance_surge", f"principal:{DEV}", "access_key:AKIADEV"),
                finding("root_activity", f"principal:{DEV}", f"principal:{ROOT}",
                        "access_key:AKIADEV", fid=2)]

    assert access_keys(findings)[0].owner == Owner(OwnerKind.USER, "dev")


def test_principals_name_their_owner_kind():
    assert owner_of(ROOT) == Owner(OwnerKind.ROOT)
    assert owner_of("<root_account>") == Owner(OwnerKind.ROOT)
    user = f"arn:aws:iam::{ACCOUNT}:user/team/ops/alice"
    role = f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/s"
    assert owner_of(user) == Owner(OwnerKind.USER, "alice")
    assert owner_of(role) == Owner(OwnerKind.ROLE, "admin")
    assert owner_of("backup") == Owner(OwnerKind.USER, "backup")
    assert owner_of(None).kind is OwnerKind.UNKNOWN


def test_persistence_comes_last_users_keys_passwords_policies_then_roles():
    backup = f"arn:aws:iam::{ACCOUNT}:user/backup"

    def call(name: str, fid: int, *entities: str, **created: Any) -> AlertFinding:
        return finding("suspicious_api", f"principal:{DEV}", "access_key:AKIADEV", *entities,
                       region="global", fid=fid, call=name, caller=DEV,
                       access_key_id="AKIADEV", created=created)

    findings = [
        call("CreateRole", 5, role_name="backdoor-role"),
        call("AttachUserPolicy", 4, user_name="backup",
             policy_arns=["arn:aws:iam::aws:policy/X"]),
        call("CreateLoginProfile", 3, user_name="backup"),
        call("CreateAccessKey", 2, "access_key:AKIANEW", f"principal:{backup}",
             access_key_id="AKIANEW", user_name="backup", user_arn=backup),
        call("CreateUser", 1, f"principal:{backup}", user_name="backup", user_arn=backup),
    ]

    assert commands(findings) == [
        "aws iam update-access-key --user-name dev --access-key-id AKIADEV --status Inactive",
        f"aws iam attach-user-policy --user-name backup --policy-arn {DENY_ALL}",
        "aws iam update-access-key --user-name backup --access-key-id AKIANEW --status Inactive",
        "aws iam delete-login-profile --user-name backup",
        "aws iam detach-user-policy --user-name backup --policy-arn arn:aws:iam::aws:policy/X",
        f"aws iam attach-role-policy --role-name backdoor-role --policy-arn {DENY_ALL}",
    ]


def test_an_admin_grant_is_taken_back_whatever_the_grantee():
    grant = finding(
        "iam_admin_grant", region="global", grantee_kind="role", grantee_name="ops",
        grants=[{"policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                {"policy_name": "everything"}])

    assert commands([grant]) == [
        "aws iam detach-role-policy --role-name ops --policy-arn "
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "aws iam delete-role-policy --role-name ops --policy-name everything",
    ]


def test_an_attackers_name_is_whole_in_the_command_and_short_in_the_text():
    name = "x'; rm -rf / #\r\n" + "k" * 10_000
    pair = finding("instance_types", f"keypair:{ACCOUNT}:us-east-1:{name}")

    [action] = build_actions([pair], PHASES, NOW)

    assert action.command[-1] == name
    assert len(action.text) < 400 and "\n" not in action.text and "\r" not in action.text


def test_findings_that_name_nothing_to_act_on_give_no_first_action():
    assert build_actions([finding("root_mfa", region="global")], PHASES, NOW) == ()
