"""instance_types: allowed/denied globs, per-region overrides, running instances only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costguard.alerts.render import text_to_html
from costguard.checks.instance_types import InstanceTypes, InstanceTypesParams, Reason, verdict
from costguard.model import Severity

from .conftest import (
    ACCOUNT,
    HOSTILE,
    OTHER_ACCOUNT,
    SCRIPT,
    ago,
    assert_only_quoted,
    instance,
    inventory,
    render,
    run,
    snapshot,
)


def _types(findings):
    return [(f.region, f.details["instance_id"], f.details["reason"]) for f in findings]


def test_an_unapproved_running_instance_is_one_finding_with_everything_an_alert_needs():
    big = instance(
        "i-0abc",
        "c5.4xlarge",
        launched=ago(minutes=7),
        key_name="ops",
        groups=["sg-1", "sg-2"],
        tags={"Name": "miner"},
    )
    snap = snapshot(
        inventory=(inventory(big, instance("i-0ok", "t3.micro")),),
        instance_prices={("us-east-1", "c5.4xlarge"): 0.68},
    )

    [finding] = run(InstanceTypes, snap, allowed=["t3.*"])

    assert finding.title == "Instance i-0abc (c5.4xlarge) is not an approved type in us-east-1"
    assert finding.resource == f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0abc"
    assert (finding.account, finding.region) == (ACCOUNT, "us-east-1")
    assert finding.severity is Severity.HIGH
    assert finding.entities == {
        "instance:i-0abc",
        "sg:sg-1",
        "sg:sg-2",
        f"keypair:{ACCOUNT}:us-east-1:ops",
    }
    assert finding.details == {
        "account": ACCOUNT,
        "region": "us-east-1",
        "instance_id": "i-0abc",
        "instance_type": "c5.4xlarge",
        "state": "running",
        "launch_time": "2026-11-22T11:53:00+00:00",
        "key_name": "ops",
        "security_groups": ["sg-1", "sg-2"],
        "iam_instance_profile": None,
        "tags": {"Name": "miner"},
        "reason": "not_allowed",
        "matched_pattern": None,
        "allowed": ["t3.*"],
        "denied": None,
        "usd_per_hour": 0.68,
    }


def test_stopped_and_terminated_instances_are_ignored_but_pending_counts():
    snap = snapshot(
        inventory=(
            inventory(
                instance("i-stopped", "p5.48xlarge", state="stopped"),
                instance("i-gone", "p5.48xlarge", state="terminated"),
                instance("i-starting", "p5.48xlarge", state="pending"),
            ),
        )
    )

    findings = run(InstanceTypes, snap, denied=["p*"])

    assert _types(findings) == [("us-east-1", "i-starting", "denied")]
    assert findings[0].details["usd_per_hour"] is None


def test_denied_wins_over_allowed():
    snap = snapshot(
        inventory=(inventory(instance("i-gpu", "p5.48xlarge"), instance("i-web", "t3.large")),)
    )

    [finding] = run(InstanceTypes, snap, allowed=["*"], denied=["g*", "p*"])

    assert finding.title == "Instance i-gpu (p5.48xlarge) is a denied type in us-east-1"
    assert finding.details["reason"] == "denied"
    assert finding.details["matched_pattern"] == "p*"


def test_denied_alone_flags_only_denied_types():
    snap = snapshot(
        inventory=(inventory(instance("i-gpu", "g5.xlarge"), instance("i-big", "m7i.48xlarge")),)
    )

    assert _types(run(InstanceTypes, snap, denied=["g*"])) == [("us-east-1", "i-gpu", "denied")]


def test_region_lists_replace_the_global_list_of_the_same_name_only():
    snap = snapshot(
        inventory=(
            inventory(instance("i-use1-m5", "m5.large"), instance("i-use1-t3", "t3.micro")),
            inventory(
                instance("i-euw1-m5", "m5.large", region="eu-west-1"),
                instance("i-euw1-t3", "t3.micro", region="eu-west-1"),
                region="eu-west-1",
            ),
            inventory(
                instance("i-usw2-t3big", "t3.2xlarge", region="us-west-2"),
                instance("i-usw2-c5", "c5.large", region="us-west-2"),
                instance("i-usw2-t3", "t3.micro", region="us-west-2"),
                region="us-west-2",
            ),
        )
    )

    findings = run(
        InstanceTypes,
        snap,
        allowed=["t3.*"],
        regions={"eu-west-1": {"allowed": ["m5.*"]}, "us-west-2": {"denied": ["t3.2xlarge"]}},
    )

    assert _types(findings) == [
        ("us-east-1", "i-use1-m5", "not_allowed"),
        ("eu-west-1", "i-euw1-t3", "not_allowed"),
        ("us-west-2", "i-usw2-t3big", "denied"),
        ("us-west-2", "i-usw2-c5", "not_allowed"),  # the global allowed list still applies
    ]
    assert findings[1].details["allowed"] == ["m5.*"]
    assert findings[2].details["denied"] == ["t3.2xlarge"]


def test_matching_ignores_case_in_patterns():
    assert verdict("t3.micro", ["T3.*"], None) is None
    assert verdict("p4d.24xlarge", None, ["P4?.*"]) == (Reason.DENIED, "P4?.*")


def test_params_need_at_least_one_list():
    with pytest.raises(ValidationError, match="give `allowed`, `denied` or both"):
        InstanceTypesParams.model_validate({})
    with pytest.raises(ValidationError, match=r"regions\.eu-west-1"):
        InstanceTypesParams.model_validate({"regions": {"eu-west-1": {}}})
    assert InstanceTypesParams.model_validate({"regions": {"eu-west-1": {"denied": ["p*"]}}})


def test_params_reject_unknown_keys_and_a_bare_string():
    with pytest.raises(ValidationError, match="allow"):
        InstanceTypesParams.model_validate({"allow": ["t3.*"]})
    with pytest.raises(ValidationError, match="allowed"):
        InstanceTypesParams.model_validate({"allowed": "t3.*"})


def test_remediation_stops_exactly_the_flagged_instances_per_account_and_region():
    snap = snapshot(
        inventory=(
            inventory(
                instance("i-1", "c5.4xlarge", key_name="ops"),
                instance("i-2", "p5.48xlarge", key_name="ops"),
            ),
            inventory(
                instance("i-3", "g5.xlarge", region="eu-west-1", account=OTHER_ACCOUNT),
                region="eu-west-1",
                account=OTHER_ACCOUNT,
            ),
        ),
        instance_prices={("us-east-1", "c5.4xlarge"): 0.68},
    )

    text = render("instance_types", run(InstanceTypes, snap, allowed=["t3.*"], denied=["p*"]))

    assert f"In account {ACCOUNT}, region us-east-1, these instances" in text
    assert "- i-1: c5.4xlarge, not in the allowed list, $0.68/h; launched 2026-11-21T12:00" in text
    assert "- i-2: p5.48xlarge, denied by 'p*'; launched" in text
    assert "aws ec2 stop-instances --region us-east-1 --instance-ids i-1 i-2\n" in text
    assert "aws ec2 terminate-instances --region us-east-1 --instance-ids i-1 i-2\n" in text
    assert text.count("aws ec2 delete-key-pair --region us-east-1 --key-name ops\n") == 1
    assert f"In account {OTHER_ACCOUNT}, region eu-west-1, these instances" in text
    assert "aws ec2 stop-instances --region eu-west-1 --instance-ids i-3\n" in text
    assert (
        "aws cloudtrail lookup-events --region eu-west-1 --lookup-attributes "
        "AttributeKey=EventName,AttributeValue=RunInstances --max-results 50\n"
    ) in text
    assert "the next inventory poll no longer sees these instances running" in text


def test_remediation_quotes_hostile_key_names_and_tags():
    evil = instance("i-1", "c5.4xlarge", key_name=HOSTILE, tags={"Name": SCRIPT})

    findings = run(InstanceTypes, snapshot(inventory=(inventory(evil),)), allowed=["t3.*"])

    text = render("instance_types", findings)

    assert "aws ec2 delete-key-pair --region us-east-1 --key-name 'x'\"'\"'; rm -rf / #'\n" in text
    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
