"""The inventory collector against moto: pagination, normalisation, regions, vCPU look-ups."""

from __future__ import annotations

from collections import Counter
from datetime import timezone

import pytest
from botocore.stub import Stubber
from moto.ec2.models.instance_types import INSTANCE_TYPES

from costguard.collectors.ec2 import InventoryCollector, _rejected_types, normalize_rule
from costguard.snapshot import IngressRule, Instance, RegionInventory, SecurityGroup

from .conftest import ACCOUNT

REGION = "eu-west-1"


@pytest.fixture
def ec2(setup_client):
    return setup_client("ec2", REGION)


@pytest.fixture
def ami() -> str:
    """Any id: moto does not validate AMIs unless MOTO_ENABLE_AMI_VALIDATION is set."""
    return "ami-12c6146b"


def test_regions_are_the_enabled_ones_sorted(aws):
    regions = InventoryCollector(aws, ACCOUNT).regions()

    assert "us-east-1" in regions and "eu-west-1" in regions
    assert "ap-east-1" not in regions  # moto lists it as not-opted-in
    assert regions == sorted(regions)
    assert aws.calls == Counter({"ec2:DescribeRegions": 1})


def test_many_reservations_are_read_across_pages(aws, ec2, ami):
    """moto's MaxResults counts reservations: 12 one-instance reservations at 5 a page = 3 pages."""
    launched = {
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        for _ in range(12)
    }

    inventory = InventoryCollector(aws, ACCOUNT, page_size=5).collect(REGION)

    assert {i.instance_id for i in inventory.instances} == launched
    assert aws.calls["ec2:DescribeInstances"] == 3


def test_one_reservation_with_ten_instances_is_read_whole(aws, ec2, ami):
    """A page holds whole reservations, so 10 instances in one reservation arrive in one page."""
    reservation = ec2.run_instances(ImageId=ami, MinCount=10, MaxCount=10)
    launched = {i["InstanceId"] for i in reservation["Instances"]}

    inventory = InventoryCollector(aws, ACCOUNT, page_size=5).collect(REGION)

    assert {i.instance_id for i in inventory.instances} == launched
    assert len(inventory.instances) == 10
    assert aws.calls["ec2:DescribeInstances"] == 1


def test_instance_is_normalised(aws, ec2, ami, setup_client):
    setup_client("iam").create_instance_profile(InstanceProfileName="web")
    ec2.create_key_pair(KeyName="deploy")
    sg = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    raw = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        KeyName="deploy",
        SecurityGroupIds=[sg],
        IamInstanceProfile={"Name": "web"},
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": "web-1"},
                    {"Key": "owner", "Value": "$(rm -rf /)"},
                ],
            }
        ],
    )["Instances"][0]
    stopped = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped])

    inventory = InventoryCollector(aws, ACCOUNT).collect(REGION)
    by_id = {i.instance_id: i for i in inventory.instances}
    web = by_id[raw["InstanceId"]]

    assert isinstance(web, Instance)
    assert (web.account, web.region, web.instance_type, web.state) == (
        ACCOUNT,
        REGION,
        "t3.micro",
        "running",
    )
    assert web.key_name == "deploy"
    assert web.security_groups == (sg,)
    assert web.tags == {"Name": "web-1", "owner": "$(rm -rf /)"}
    assert type(web.tags) is dict
    assert web.iam_instance_profile == f"arn:aws:iam::{ACCOUNT}:instance-profile/web"
    assert web.launch_time == raw["LaunchTime"]
    assert web.launch_time.tzinfo is timezone.utc
    assert by_id[stopped].state == "stopped"
    assert by_id[stopped].key_name is None
    assert by_id[stopped].tags == {}


def test_security_group_rules_are_flattened(aws, ec2):
    source = ec2.create_security_group(GroupName="lb", Description="lb")["GroupId"]
    sg = ec2.create_security_group(
        GroupName="web",
        Description="web",
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": "a<b>"}]}
        ],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": source}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            },
            {
                "IpProtocol": "icmp",
                "FromPort": -1,
                "ToPort": -1,
                "IpRanges": [{"CidrIp": "192.0.2.0/24"}],
            },
            {
                "IpProtocol": "udp",
                "FromPort": 53,
                "ToPort": 60,
                "IpRanges": [{"CidrIp": "198.51.100.7/32"}],
            },
        ],
    )

    inventory = InventoryCollector(aws, ACCOUNT).collect(REGION)
    group = next(g for g in inventory.security_groups if g.group_id == sg)

    assert isinstance(group, SecurityGroup)
    assert (group.name, group.account, group.region) == ("web", ACCOUNT, REGION)
    assert group.vpc_id is not None and group.vpc_id.startswith("vpc-")
    assert group.tags == {"team": "a<b>"}
    assert set(group.ingress) == {
        IngressRule("tcp", 22, 22, cidrs=("0.0.0.0/0", "::/0")),
        IngressRule("-1", None, None, source_groups=(source,)),
        IngressRule("tcp", None, None, cidrs=("10.0.0.0/8",)),
        IngressRule("icmp", None, None, cidrs=("192.0.2.0/24",)),
        IngressRule("udp", 53, 60, cidrs=("198.51.100.7/32",)),
    }
    assert len(group.ingress) == 5


def test_all_security_groups_and_key_pairs_are_collected(aws, ec2):
    """moto ignores MaxResults for security groups, so this checks completeness, not paging."""
    created = {
        ec2.create_security_group(GroupName=f"g{n}", Description="d")["GroupId"] for n in range(7)
    }
    for name in ("zeta", "alpha"):
        ec2.create_key_pair(KeyName=name)

    inventory = InventoryCollector(aws, ACCOUNT, page_size=5).collect(REGION)

    assert isinstance(inventory, RegionInventory)
    assert created <= {g.group_id for g in inventory.security_groups}
    assert inventory.key_pairs == ("alpha", "zeta")
    assert aws.calls == Counter(
        {
            "ec2:DescribeInstances": 1,
            "ec2:DescribeSecurityGroups": 1,
            "ec2:DescribeKeyPairs": 1,
        }
    )


def test_security_groups_follow_next_token(aws):
    """moto does not paginate DescribeSecurityGroups, so Stubber serves AWS-shaped pages."""
    ec2 = aws.client("ec2", REGION)
    page = {"GroupId": "sg-1", "GroupName": "a", "VpcId": "vpc-1", "IpPermissions": []}
    with Stubber(ec2) as stub:
        stub.add_response("describe_instances", {"Reservations": []})
        stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": [page], "NextToken": "t1"},
            {"MaxResults": 5},
        )
        stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": [{**page, "GroupId": "sg-2"}]},
            {"MaxResults": 5, "NextToken": "t1"},
        )
        stub.add_response("describe_key_pairs", {"KeyPairs": []})
        inventory = InventoryCollector(aws, ACCOUNT, page_size=5).collect(REGION)
        stub.assert_no_pending_responses()

    assert [g.group_id for g in inventory.security_groups] == ["sg-1", "sg-2"]
    assert aws.calls["ec2:DescribeSecurityGroups"] == 2


def test_rule_normalisation_of_numbers_and_missing_ports():
    assert normalize_rule({"IpProtocol": "6", "FromPort": 443, "ToPort": 443}) == IngressRule(
        "tcp", 443, 443
    )
    assert normalize_rule({"IpProtocol": "50"}) == IngressRule("50", None, None)


def test_vcpus_of_known_types_in_batches_of_100(aws):
    known = sorted(INSTANCE_TYPES)[:150]

    vcpus = InventoryCollector(aws, ACCOUNT).instance_vcpus(known)

    assert vcpus == {t: INSTANCE_TYPES[t]["VCpuInfo"]["DefaultVCpus"] for t in known}
    assert aws.calls == Counter({"ec2:DescribeInstanceTypes": 2})


def test_unknown_types_are_dropped_without_losing_the_batch(aws):
    wanted = ["t3.micro", "m5.large", "zz9.plural", "qq1.fake"]

    vcpus = InventoryCollector(aws, ACCOUNT).instance_vcpus(wanted)

    assert vcpus == {"t3.micro": 2, "m5.large": 2}
    # The rejected batch, then the retry without the two names AWS listed.
    assert aws.calls == Counter({"ec2:DescribeInstanceTypes": 2})


def test_no_types_means_no_call(aws):
    assert InventoryCollector(aws, ACCOUNT).instance_vcpus([]) == {}
    assert aws.total_calls == 0


def test_unreadable_rejection_falls_back_to_one_call_per_type(aws):
    """moto always names the bad types; Stubber returns an InvalidInstanceType we cannot parse."""
    ec2 = aws.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_client_error(
            "describe_instance_types",
            "InvalidInstanceType",
            "Invalid instance type",
            400,
            expected_params={"InstanceTypes": ["a1.fake", "t3.micro"]},
        )
        stub.add_client_error(
            "describe_instance_types",
            "InvalidInstanceType",
            "Invalid instance type",
            400,
            expected_params={"InstanceTypes": ["a1.fake"]},
        )
        stub.add_response(
            "describe_instance_types",
            {"InstanceTypes": [{"InstanceType": "t3.micro", "VCpuInfo": {"DefaultVCpus": 2}}]},
            {"InstanceTypes": ["t3.micro"]},
        )
        vcpus = InventoryCollector(aws, ACCOUNT).instance_vcpus(["t3.micro", "a1.fake"])
        stub.assert_no_pending_responses()

    assert vcpus == {"t3.micro": 2}


def test_other_errors_are_not_swallowed(aws):
    ec2 = aws.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_instance_types", "UnauthorizedOperation", "no", 403)
        with pytest.raises(Exception, match="UnauthorizedOperation"):
            InventoryCollector(aws, ACCOUNT).instance_vcpus(["t3.micro"])


def test_rejected_types_are_read_from_the_message():
    message = (
        "An error occurred (InvalidInstanceType) when calling the DescribeInstanceTypes "
        "operation: The following supplied instance types do not exist: [a.b, c.d]"
    )
    assert _rejected_types(message) == {"a.b", "c.d"}
    assert _rejected_types("no brackets here") == set()
