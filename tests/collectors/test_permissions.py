"""Every call a collector makes is in collectors.permissions, and every listed action is used.

sts:GetCallerIdentity needs no permission and is not listed, so it is left out of the comparison.
"""

from __future__ import annotations

import json

import requests
from botocore.stub import Stubber

from costguard.collectors.cloudtrail import LookupCollector, TrailCollector
from costguard.collectors.cost_explorer import CostCollector
from costguard.collectors.ec2 import InventoryCollector
from costguard.collectors.event_queue import EventQueue
from costguard.collectors.guardduty_detectors import GuardDutyCollector
from costguard.collectors.iam import IamCollector
from costguard.collectors.permissions import READ_PERMISSIONS, authorizing_action
from costguard.collectors.price_list import PriceListCollector
from costguard.collectors.rate_limit import RateLimiter
from costguard.model import Source

from .conftest import ACCOUNT, FIXED_NOW, REGION

NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}

# Listed for a source but called only by code that later work adds. Empty: every listed action
# is called by a collector below (moto lacks GetCostForecast and GetProducts, but a refused call
# is still counted, so both are exercised).
NOT_YET_CALLED: dict[Source, set[str]] = {}


def used(aws) -> set[str]:
    """The IAM actions behind the counted calls (DeleteMessageBatch needs sqs:DeleteMessage)."""
    return {authorizing_action(c) for c in aws.calls} - NEEDS_NO_PERMISSION


def assert_matches(source: Source, actions: set[str]) -> None:
    listed = set(READ_PERMISSIONS[source])
    assert actions <= listed, f"called but not listed for {source}: {sorted(actions - listed)}"
    unused = listed - actions - NOT_YET_CALLED.get(source, set())
    assert not unused, f"listed for {source} but never called: {sorted(unused)}"


def test_inventory_calls_are_listed(aws, setup_client):
    setup_client("ec2", "eu-west-1").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    collector = InventoryCollector(aws, ACCOUNT)

    collector.regions()
    collector.collect("eu-west-1")
    collector.instance_vcpus(["t3.micro"])

    assert_matches(Source.INVENTORY, used(aws))


def test_credential_report_calls_are_listed(aws, iam_root):
    iam_root.key_active = (True, None)

    IamCollector(aws, ACCOUNT, sleep=lambda _: None, clock=lambda: FIXED_NOW).collect()

    assert_matches(Source.CREDENTIAL_REPORT, used(aws))


def test_cost_calls_are_listed(aws, tmp_path):
    seed = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"
    assert requests.post(seed, json={"results": [{"ResultsByTime": []}]}, timeout=5).ok
    collector = CostCollector(aws, ACCOUNT, clock=lambda: FIXED_NOW)

    collector.daily()
    collector.hourly()
    collector.forecast()
    PriceListCollector(aws, tmp_path / "prices").price("us-east-1", "c5.4xlarge")

    assert_matches(Source.COST, used(aws))


def test_cloudtrail_calls_are_listed(aws, setup_client):
    """LookupEvents is not in moto: Stubber answers it (the call is counted all the same)."""
    setup_client("s3").create_bucket(Bucket="trail-bucket")
    setup_client("cloudtrail").create_trail(Name="trail", S3BucketName="trail-bucket")
    sqs = setup_client("sqs")
    url = sqs.create_queue(QueueName="costguard-events")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"detail-type": "other"}))
    limiter = RateLimiter(rate_per_s=1e9, burst=1)

    TrailCollector(aws, ACCOUNT).status([REGION])
    queue = EventQueue(aws, ACCOUNT, REGION, "costguard-events")
    queue.delete(queue.receive(wait_s=0))
    with Stubber(aws.client("cloudtrail", REGION)) as stub:
        stub.add_response("lookup_events", {"Events": []})
        LookupCollector(aws, ACCOUNT, REGION, limiter).events_since(None, FIXED_NOW)

    assert_matches(Source.CLOUDTRAIL, used(aws))


def test_guardduty_calls_are_listed(aws, setup_client):
    """ListFindings and GetFindings are not in moto: Stubber answers them."""
    detector = setup_client("guardduty").create_detector(Enable=True)["DetectorId"]
    collector = GuardDutyCollector(aws, ACCOUNT, REGION)

    collector.detector()
    with Stubber(aws.client("guardduty", REGION)) as stub:
        stub.add_response("list_findings", {"FindingIds": ["f1"]})
        stub.add_response("get_findings", {"Findings": []},
                          {"DetectorId": detector, "FindingIds": ["f1"]})
        collector.findings_since(FIXED_NOW)

    assert_matches(Source.GUARDDUTY, used(aws))
