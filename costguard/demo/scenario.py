"""The reference incident as calls against an (embedded) AWS account.

`seed()` builds a clean account; `attack()` replays what the attacker did with the leaked root
key, returning each step so the demo can show a timeline (and publish the CloudTrail records of
those calls). Both use plain boto3 clients: they play AWS users, not costguard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from costguard.clock import utcnow

REGION = "us-east-1"
AMI = "ami-0abcdef1234567890"
ATTACKER_IP = "203.0.113.45"
"""A documentation address standing in for the cloud-hosting IP of the reference incident."""
ATTACKER_AGENT = "aws-sdk-go/1.44.109 (go1.19.3; linux; amd64)"
ROOT_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
MINER_KEY = "xmrig-deploy"
MINER_TYPE = "c5.4xlarge"
MINER_COUNT = 10
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7yBaaH025oKWlF67UbYPWaRMHJjb3helf/MwLBFmL2 x@y"


@dataclass(frozen=True)
class Step:
    """One attacker call: what, when, with which request and what it created."""

    at: datetime
    service: str
    name: str
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


@dataclass
class Account:
    """What `seed` built, so the attack and the fix can refer to it."""

    web_group: str = ""
    instances: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)



def seed(session: Any) -> Account:
    """A clean account: approved instances behind a web-only group, console users with MFA."""
    ec2, iam = session.client("ec2", region_name=REGION), session.client("iam")
    account = Account()
    account.web_group = ec2.create_security_group(
        GroupName="web", Description="HTTPS from anywhere, SSH from the office VPN"
    )["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=account.web_group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "10.20.0.0/16"}]},
    ])
    for itype, count, role in (("t3.medium", 2, "web"), ("m6i.large", 1, "worker")):
        answer = ec2.run_instances(
            ImageId=AMI, MinCount=count, MaxCount=count, InstanceType=itype,
            SecurityGroupIds=[account.web_group],
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "Name", "Value": role}]}],
        )
        account.instances += [i["InstanceId"] for i in answer["Instances"]]
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
        iam.create_login_profile(UserName=user, Password="Demo-Passw0rd!")
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"][
            "SerialNumber"]
        iam.enable_mfa_device(UserName=user, SerialNumber=serial,
                              AuthenticationCode1="123456", AuthenticationCode2="654321")
        account.users.append(user)
    iam.create_user(UserName="ci-deploy")
    _backdate(account.instances, days=30)
    _watch(session)
    return account


def _watch(session: Any) -> None:
    """What a well-run account has: a multi-region trail that is logging, and GuardDuty on."""
    s3 = session.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="demo-org-cloudtrail-logs")
    trail = session.client("cloudtrail", region_name=REGION)
    trail.create_trail(Name="org-trail", S3BucketName="demo-org-cloudtrail-logs",
                       IsMultiRegionTrail=True)
    trail.start_logging(Name="org-trail")
    session.client("guardduty", region_name=REGION).create_detector(Enable=True)


def _backdate(instance_ids: list[str], days: int) -> None:
    """Make the approved instances weeks old, as in a real account (moto stamps "now")."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    then = utcnow().replace(tzinfo=None) - timedelta(days=days)
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if instance.id in instance_ids:
                instance.launch_time = then


def attack(session: Any, root: Any) -> list[Step]:
    """Replay the leaked-root-key attack; `root` is the RootState moto reports."""
    ec2 = session.client("ec2", region_name=REGION)
    steps = []
    root.key_active, root.key_last_used = (True, None), utcnow()
    steps.append(Step(utcnow(), "iam", "RootAccessKeyActive", {"AccessKeyId": ROOT_KEY_ID},
                      summary=f"a root access key ({ROOT_KEY_ID}) is active and in use"))
    key = ec2.import_key_pair(KeyName=MINER_KEY, PublicKeyMaterial=PUBLIC_KEY.encode())
    steps.append(Step(utcnow(), "ec2", "ImportKeyPair", {"keyName": MINER_KEY},
                      {"keyPairId": key["KeyPairId"], "keyName": MINER_KEY},
                      f"ImportKeyPair {MINER_KEY}"))
    group = ec2.create_security_group(GroupName="launch-wizard-7", Description="launch-wizard-7")
    steps.append(Step(utcnow(), "ec2", "CreateSecurityGroup", {"groupName": "launch-wizard-7"},
                      {"groupId": group["GroupId"]}, f"CreateSecurityGroup {group['GroupId']}"))
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
           "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[ssh])
    steps.append(Step(utcnow(), "ec2", "AuthorizeSecurityGroupIngress",
                      {"groupId": group["GroupId"], "ipPermissions": [ssh]},
                      summary=f"AuthorizeSecurityGroupIngress {group['GroupId']} tcp/22 from "
                              "0.0.0.0/0"))
    answer = ec2.run_instances(
        ImageId=AMI, MinCount=MINER_COUNT, MaxCount=MINER_COUNT, InstanceType=MINER_TYPE,
        KeyName=MINER_KEY, SecurityGroupIds=[group["GroupId"]],
    )
    ids = [i["InstanceId"] for i in answer["Instances"]]
    steps.append(Step(utcnow(), "ec2", "RunInstances",
                      {"instanceType": MINER_TYPE, "minCount": MINER_COUNT,
                       "maxCount": MINER_COUNT, "keyName": MINER_KEY,
                       "securityGroupIds": [group["GroupId"]]},
                      {"instanceIds": ids},
                      f"RunInstances {MINER_COUNT} x {MINER_TYPE}"))
    return steps


def fix(session: Any, root: Any, steps: list[Step]) -> list[str]:
    """What the responder does, following the alert's playbook; returns what was done."""
    ec2 = session.client("ec2", region_name=REGION)
    made = {s.name: s for s in steps}
    ids = made["RunInstances"].response["instanceIds"]
    group = made["CreateSecurityGroup"].response["groupId"]
    ec2.terminate_instances(InstanceIds=ids)
    ec2.revoke_security_group_ingress(
        GroupId=group, IpPermissions=made["AuthorizeSecurityGroupIngress"].request["ipPermissions"]
    )
    ec2.delete_key_pair(KeyName=MINER_KEY)
    root.key_active = (None, None)
    return [
        f"terminated {len(ids)} instances", f"revoked SSH from 0.0.0.0/0 on {group}",
        f"deleted key pair {MINER_KEY}", f"deleted root access key {ROOT_KEY_ID} (console)",
    ]
