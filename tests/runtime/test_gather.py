"""Collection for one cycle (costguard/gather.py) against moto: scopes, failures, stopping.

A region's failure is injected as AWS would answer it (an UnauthorizedOperation error, as a
service control policy that denies the region gives) through a botocore `before-call` hook,
so it travels through the real collector and botocore's real error parsing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.collectors.accounts import Target
from costguard.collectors.cost_explorer import MemoryStore
from costguard.collectors.session import Aws
from costguard.model import GLOBAL_REGION, Source
from costguard.runtime.gather import gather, gather_cost

ACCOUNT = DEFAULT_ACCOUNT_ID
EAST, WEST = "us-east-1", "us-west-2"
DENIED = "You are not authorized to perform this operation."


def refuse(region: str | None, code: str = "UnauthorizedOperation", message: str = DENIED):
    """A before-call hook answering calls made in `region` (None: anywhere) with an AWS error."""

    def hook(context: dict[str, Any], **_: Any) -> Any:
        if region is not None and context.get("client_region") != region:
            return None
        body = {"Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("https://aws.invalid/", 403, {}, None), body

    return hook


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    """A boto3 session inside moto, with two regions holding one instance each."""
    with mock_aws():
        for region, itype in ((EAST, "t3.micro"), (WEST, "c5.4xlarge")):
            boto3.client("ec2", region_name=region).run_instances(
                ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType=itype
            )
        # Generated ahead, so the collector never waits for moto's "STARTED" report.
        boto3.client("iam").generate_credential_report()
        yield boto3.Session(region_name=EAST)


def target(session: boto3.Session, regions=(EAST, WEST)) -> Target:
    """The moto account as the engine would resolve it."""
    return Target(account=ACCOUNT, aws=Aws(session), regions=list(regions))


def test_every_source_collected_is_a_complete_scope(session):
    seen: list[str] = []
    targets = [target(session)]
    result = gather(targets, set(Source), known_types={"t3.micro"}, progress=seen.append)
    # cost needs the store (its budget and cache), so it is its own phase
    gather_cost(result, targets, MemoryStore(), None)
    expected = {
        (Source.INVENTORY, ACCOUNT, EAST),
        (Source.INVENTORY, ACCOUNT, WEST),
        (Source.CREDENTIAL_REPORT, ACCOUNT, GLOBAL_REGION),
        (Source.COST, ACCOUNT, GLOBAL_REGION),
    }
    assert result.complete == expected
    assert result.attempted == expected
    assert result.is_complete
    assert result.errors == []
    assert seen == [EAST, WEST]
    by_region = {inv.region: [i.instance_type for i in inv.instances] for inv in result.inventory}
    assert by_region == {EAST: ["t3.micro"], WEST: ["c5.4xlarge"]}
    assert [iam.account for iam in result.iam] == [ACCOUNT]
    assert sorted(c.granularity for c in result.cost) == ["DAILY", "HOURLY"]
    assert [f.account for f in result.forecasts] == [ACCOUNT]
    # only the type the price table does not know is looked up
    assert result.vcpus == {"c5.4xlarge": 16}


def test_only_the_sources_asked_for_are_collected(session):
    aws = Aws(session)
    result = gather([Target(ACCOUNT, aws, regions=[EAST])], {Source.CREDENTIAL_REPORT})
    assert result.complete == {(Source.CREDENTIAL_REPORT, ACCOUNT, GLOBAL_REGION)}
    assert result.inventory == [] and result.cost == []
    assert all(action.startswith("iam:") for action in aws.calls)


def test_a_failing_region_is_recorded_and_the_other_regions_still_count(session):
    session.events.register("before-call.ec2.DescribeInstances", refuse(WEST))
    result = gather([target(session)], {Source.INVENTORY}, known_types={"t3.micro"})
    east, west = (Source.INVENTORY, ACCOUNT, EAST), (Source.INVENTORY, ACCOUNT, WEST)
    assert result.attempted == {east, west}
    assert result.complete == {east}
    assert not result.is_complete
    assert [inv.region for inv in result.inventory] == [EAST]
    (error,) = result.errors
    assert error.startswith(f"inventory {ACCOUNT}/{WEST}: ")
    assert "UnauthorizedOperation" in error and DENIED in error


def test_a_failing_account_wide_source_names_the_account_only(session):
    session.events.register("before-call.iam.GetCredentialReport",
                            refuse(None, "AccessDenied", "not allowed"))
    result = gather([target(session, regions=[EAST])], {Source.CREDENTIAL_REPORT})
    assert result.complete == set()
    assert result.iam == []
    (error,) = result.errors
    assert error.startswith(f"credential_report {ACCOUNT}: ")
    assert "not allowed" in error


def test_a_stop_request_leaves_the_rest_uncollected_without_calling_aws(session):
    aws = Aws(session)
    result = gather([Target(ACCOUNT, aws, regions=[EAST, WEST])], set(Source),
                    should_stop=lambda: True)
    assert aws.total_calls == 0
    assert result.complete == set()
    assert len(result.attempted) == 3  # two regions' inventory and IAM; cost is phase two
    assert all(e.endswith("not collected: costguard is stopping") for e in result.errors)
    assert len(result.errors) == 3


def test_a_stop_between_regions_keeps_what_was_collected(session):
    answers = iter([False, True])
    result = gather([target(session)], {Source.INVENTORY}, known_types={"t3.micro", "c5.4xlarge"},
                    should_stop=lambda: next(answers))
    assert result.complete == {(Source.INVENTORY, ACCOUNT, EAST)}
    assert result.errors == [f"inventory {ACCOUNT}/{WEST}: not collected: costguard is stopping"]


def test_describe_instance_types_failing_costs_only_the_vcpu_lookup(session, caplog):
    session.events.register("before-call.ec2.DescribeInstanceTypes",
                            refuse(EAST, "RequestLimitExceeded", "slow down"))
    with caplog.at_level(logging.WARNING, logger="costguard.runtime.gather"):
        result = gather([target(session)], {Source.INVENTORY}, known_types={"t3.micro"})
    assert result.is_complete
    assert result.vcpus == {}
    assert "DescribeInstanceTypes failed, estimating from names" in caplog.text


def test_collectors_are_kept_per_target_across_cycles(session):
    tgt = target(session, regions=[EAST])
    gather([tgt], {Source.INVENTORY, Source.CREDENTIAL_REPORT}, known_types={"t3.micro"})
    first = dict(tgt.collectors)
    gather([tgt], {Source.INVENTORY, Source.CREDENTIAL_REPORT}, known_types={"t3.micro"})
    assert set(first) == {"ec2", "iam"}
    assert all(tgt.collectors[kind] is first[kind] for kind in first)
