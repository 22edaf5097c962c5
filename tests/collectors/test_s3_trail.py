"""The S3 trail source against moto: the trail bucket notifies SQS of each new log file
(moto sends S3's own notification), the collector reads the gzipped file and yields its
records, read-only ones and every region's included."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from costguard.collectors.s3_trail import TrailFileQueue, created_objects, object_key

from .conftest import ACCOUNT, REGION

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
BUCKET = "org-trail-logs"
QUEUE = "costguard-trail-objects"


def record(name: str, **changes) -> dict:
    detail = json.loads((FIXTURES / f"{name}.json").read_text())["detail"]
    return {**detail, **changes}


def log_key(region: str, name: str) -> str:
    return (f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/2024/05/14/"
            f"{ACCOUNT}_CloudTrail_{region}_20240514T1005Z_{name}.json.gz")


@pytest.fixture
def trail_bucket(setup_client):
    """A trail bucket whose ObjectCreated notifications go to the queue."""
    s3, sqs = setup_client("s3"), setup_client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    sqs.purge_queue(QueueUrl=url)  # S3's own test event on configuring the notification
    return s3, sqs, url


def put_log(s3, key: str, *records: dict) -> None:
    body = gzip.compress(json.dumps({"Records": list(records)}).encode())
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def test_each_new_log_file_s_records_are_read_from_every_region(aws, trail_bucket):
    s3, _, _ = trail_bucket
    put_log(s3, log_key("ap-south-1", "a1"),
            record("run_instances", awsRegion="ap-south-1", eventID="ev-south"),
            record("get_caller_identity", eventID="ev-read"))
    put_log(s3, log_key("us-east-1", "b2"), record("stop_logging", eventID="ev-stop"))
    queue = TrailFileQueue(aws, ACCOUNT, REGION, QUEUE)

    received = queue.drain(10, wait_s=0)

    events = sorted((e for r in received for e in r.events), key=lambda e: e.event_id)
    assert [(e.event_id, e.region) for e in events] == [
        ("ev-read", "us-east-1"), ("ev-south", "ap-south-1"), ("ev-stop", "us-east-1")]
    assert events[0].read_only is True
    assert aws.calls["s3:GetObject"] == 2
    assert queue.delete(received) == []
    assert queue.drain(10, wait_s=0) == []


def test_digests_test_events_and_other_objects_carry_nothing(aws, trail_bucket):
    s3, sqs, url = trail_bucket
    digest = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/05/14/x.json.gz"
    s3.put_object(Bucket=BUCKET, Key=digest, Body=b"{}")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}))
    queue = TrailFileQueue(aws, ACCOUNT, REGION, QUEUE)

    received = queue.drain(10, wait_s=0)

    assert len(received) == 2
    assert [e for r in received for e in r.events] == []
    assert aws.calls["s3:GetObject"] == 0


def test_a_file_that_cannot_be_read_fails_the_drain_and_its_message_stays(aws, trail_bucket):
    _, sqs, url = trail_bucket
    notice = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": BUCKET}, "object": {"key": log_key("us-east-1", "gone")}}}]}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(notice))
    queue = TrailFileQueue(aws, ACCOUNT, REGION, QUEUE, visibility_timeout_s=0)

    with pytest.raises(Exception, match="NoSuchKey"):
        queue.drain(1, wait_s=0)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    in_queue = int(attributes["ApproximateNumberOfMessages"])
    hidden = int(attributes["ApproximateNumberOfMessagesNotVisible"])
    assert in_queue + hidden == 1


def test_keys_are_url_decoded_and_sns_envelopes_unwrapped():
    key = log_key("eu-west-1", "with space").replace(" ", "+")
    s3 = {"bucket": {"name": BUCKET}, "object": {"key": key.replace(":", "%3A")}}
    sns = {"Type": "Notification", "Message": json.dumps(
        {"Records": [{"eventName": "ObjectCreated:CompleteMultipartUpload", "s3": s3}]})}

    assert list(created_objects(json.dumps(sns))) == [
        (BUCKET, log_key("eu-west-1", "with space"))]
    assert object_key("a%2Fb+c") == "a/b c"
    assert list(created_objects("not json")) == []
