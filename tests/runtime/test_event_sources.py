"""Every region's events reach the engine: the S3 trail source (the trail bucket's
notifications on SQS) carries a refused GPU launch in a region without an event queue; reads
are stored as sightings only; a region with neither source is a costguard_health finding.

On moto, in process; the log files are gzipped `{"Records": [...]}` as CloudTrail writes them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.runtime.bootstrap import load_setup
from costguard.runtime.cycle import Engine
from costguard.store import Store

ACCOUNT = DEFAULT_ACCOUNT_ID
EAST, SOUTH = "us-east-1", "ap-south-1"
BUCKET, QUEUE = "trail-logs", "costguard-trail-objects"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
POLICIES = """\
policies:
  - {name: suspicious-api, check: suspicious_api, severity: medium}
  - {name: sigma, check: sigma, severity: medium}
  - {name: costguard-health, check: costguard_health, severity: high}
"""


def record(name: str, **changes) -> dict:
    return {**json.loads((FIXTURES / f"{name}.json").read_text())["detail"], **changes}


@pytest.fixture
def trail() -> Iterator[None]:
    """A multi-region trail writing to a bucket that notifies the queue."""
    with mock_aws():
        s3, sqs = boto3.client("s3", region_name=EAST), boto3.client("sqs", region_name=EAST)
        s3.create_bucket(Bucket=BUCKET)
        url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        cloudtrail = boto3.client("cloudtrail", region_name=EAST)
        cloudtrail.create_trail(Name="org", S3BucketName=BUCKET, IsMultiRegionTrail=True)
        cloudtrail.start_logging(Name="org")
        yield


def engine(tmp_path: Path, *, s3_trail: bool) -> Engine:
    (tmp_path / "policies.yml").write_text(POLICIES)
    lines = [f"aws: {{regions: [{EAST}, {SOUTH}]}}",
             f"database: {{url: 'sqlite:///{tmp_path}/costguard.db'}}",
             "policies: [policies.yml]", "events:", "  lookup_fallback: false"]
    lines += [f"  s3_trail: {{queue_name: {QUEUE}}}"] if s3_trail else []
    (tmp_path / "costguard.yml").write_text("\n".join(lines) + "\n")
    setup = load_setup(tmp_path / "costguard.yml")
    return Engine(setup.config, setup.policies, Store.open(setup.config.database_url),
                  registry=setup.registry, sigma_rules=setup.sigma_rules)


def put_log(region: str, *records: dict) -> None:
    key = (f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/2026/11/22/"
           f"{ACCOUNT}_CloudTrail_{region}_20261122T1155Z_x.json.gz")
    body = gzip.compress(json.dumps({"Records": list(records)}).encode())
    boto3.client("s3", region_name=EAST).put_object(Bucket=BUCKET, Key=key, Body=body)


def test_a_refused_gpu_launch_in_a_region_without_a_queue_arrives_through_the_trail(
    trail, tmp_path
):
    now = datetime.now(timezone.utc)
    probe = record("run_instances", awsRegion=SOUTH, eventID="ev-gpu",
                   eventTime=(now - timedelta(minutes=2)).isoformat(),
                   errorCode="Client.VcpuLimitExceeded", responseElements=None,
                   requestParameters={"instanceType": "p3.2xlarge", "instancesSet": {
                       "items": [{"imageId": "ami-1", "minCount": 1, "maxCount": 1}]}})
    read = record("get_caller_identity", eventID="ev-read",
                  eventTime=(now - timedelta(minutes=3)).isoformat())
    put_log(SOUTH, probe, read)
    cg = engine(tmp_path, s3_trail=True)

    result = cg.run_cycle()

    api = [f for f in result.evaluation.findings if f.check == "suspicious_api"]
    assert [(f.region, f.resource) for f in api] == [(SOUTH, "ev-gpu")]
    assert f"caller_key:{probe['userIdentity']['accessKeyId']}" in api[0].entities
    health = [f for f in result.evaluation.findings if f.check == "costguard_health"]
    assert health == []
    events, _ = cg.store.recent_events(since=now - timedelta(hours=1))
    stored = {e.event_id: e for e in events}
    assert stored["ev-gpu"].extra["errorCode"] == "Client.VcpuLimitExceeded"
    assert stored["ev-read"].request == {} and stored["ev-read"].extra == {}  # a sighting
    cg.store.close()


def test_regions_with_neither_a_queue_nor_the_trail_source_are_health_findings(
    trail, tmp_path
):
    cg = engine(tmp_path, s3_trail=False)

    result = cg.run_cycle()

    health = {f.region: f for f in result.evaluation.findings if f.check == "costguard_health"}
    uncovered = {r for r, f in health.items() if f.details["problems"] == ["uncovered"]}
    assert uncovered == {EAST, SOUTH}
    assert {f.severity.value for f in health.values()} == {"medium"}
    assert "costguard setup events --regions ap-south-1" in (
        cg.notifier.remediation([_alert_finding(health[SOUTH])]).steps[0].body)
    cg.store.close()


def _alert_finding(finding):
    from costguard.alerts.alert import AlertFinding

    return AlertFinding(id=1, policy=finding.policy, check=finding.check,
                        severity=finding.severity, status="open", account=finding.account,
                        region=finding.region, resource=finding.resource, title=finding.title,
                        details=finding.details, first_seen=None, last_seen=None)
