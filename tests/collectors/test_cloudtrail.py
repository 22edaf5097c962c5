"""CloudTrail: LookupEvents under its rate limit (Stubber), trail status (moto).

moto has no LookupEvents, so botocore's Stubber serves pages shaped as AWS documents them:
the fixture page is AWS's wire JSON, parsed by botocore's own parser (EventTime becomes a
datetime exactly as it would from AWS).
"""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.stub import Stubber

from costguard.activity.event_records import parse_envelope
from costguard.collectors import CollectorIncomplete
from costguard.collectors.cloudtrail import LookupCollector, TrailCollector, lookup_limiter
from costguard.collectors.rate_limit import RateLimiter
from costguard.model import Source

from .conftest import ACCOUNT, FIXED_NOW, REGION

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
WRITES_ONLY = [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def as_botocore(body: dict) -> dict:
    """A LookupEvents answer as botocore hands it to the caller after parsing AWS's JSON."""
    model = botocore.session.get_session().get_service_model("cloudtrail")
    shape = model.operation_model("LookupEvents").output_shape
    parsed = create_parser(model.metadata["protocol"]).parse(
        {"body": json.dumps(body).encode(), "headers": {}, "status_code": 200}, shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def entry(name: str, epoch: int) -> dict:
    """A LookupEvents entry (wire form) for one of the EventBridge fixtures' records."""
    record = fixture(name)["detail"]
    return {
        "EventId": record["eventID"], "EventName": record["eventName"],
        "ReadOnly": "false", "AccessKeyId": record["userIdentity"].get("accessKeyId", ""),
        "EventTime": epoch, "EventSource": record["eventSource"], "Username": "root",
        "Resources": [], "CloudTrailEvent": json.dumps(record),
    }


class FakeTime:
    """Fake monotonic time shared by the limiter's clock and sleep."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def limiter(time: FakeTime) -> RateLimiter:
    return RateLimiter(rate_per_s=2.0, burst=1, clock=time.clock, sleep=time.sleep)


def request(start, **extra) -> dict:
    return {"LookupAttributes": WRITES_ONLY, "StartTime": start, "EndTime": FIXED_NOW,
            "MaxResults": 50, **extra}


def test_reads_every_page_and_returns_writes_oldest_first(aws, limiter):
    page = fixture("lookup_events_page")
    token = page["NextToken"]
    collector = LookupCollector(aws, ACCOUNT, REGION, limiter)

    with Stubber(aws.client("cloudtrail", REGION)) as stub:
        stub.add_response("lookup_events", as_botocore(page),
                          request(FIXED_NOW - timedelta(hours=1)))
        stub.add_response("lookup_events",
                          as_botocore({"Events": [entry("import_key_pair", 1715680872)]}),
                          request(FIXED_NOW - timedelta(hours=1), NextToken=token))
        events, cursor = collector.events_since(None, FIXED_NOW)
        stub.assert_no_pending_responses()

    assert [e.name for e in events] == [
        "ImportKeyPair", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances",
    ]
    assert cursor == FIXED_NOW
    assert events[-1] == parse_envelope(fixture("run_instances"))
    assert events[0] == parse_envelope(fixture("import_key_pair"))
    assert aws.calls["cloudtrail:LookupEvents"] == 2


def test_a_cursor_is_read_again_from_a_few_minutes_before(aws, limiter):
    cursor = FIXED_NOW - timedelta(minutes=1)
    collector = LookupCollector(aws, ACCOUNT, REGION, limiter)

    with Stubber(aws.client("cloudtrail", REGION)) as stub:
        stub.add_response("lookup_events", {"Events": []},
                          request(cursor - timedelta(minutes=5)))
        events, new_cursor = collector.events_since(cursor, FIXED_NOW)
        stub.assert_no_pending_responses()

    assert (events, new_cursor) == ([], FIXED_NOW)


def test_an_event_on_two_pages_is_returned_once(aws, limiter):
    run = entry("run_instances", 1715680935)
    collector = LookupCollector(aws, ACCOUNT, REGION, limiter)

    with Stubber(aws.client("cloudtrail", REGION)) as stub:
        stub.add_response("lookup_events", as_botocore({"Events": [run], "NextToken": "t"}))
        stub.add_response("lookup_events", as_botocore({"Events": [run]}))
        events, _ = collector.events_since(None, FIXED_NOW)

    assert [e.event_id for e in events] == ["3b2f6d9e-6c1a-4d0b-9f3e-2a7c5e8b1d04"]


def test_pages_are_requested_at_most_twice_a_second(aws, time, limiter):
    """Five pages on fake time: each request at least 0.5 s after the one before."""
    client = aws.client("cloudtrail", REGION)
    sent_at: list[float] = []
    # First among the wildcard handlers (as Aws's call counter), so it sees each call before
    # the Stubber answers it.
    client.meta.events.register_first(
        "before-call.*.*", lambda model, **_: sent_at.append(time.now)
    )
    collector = LookupCollector(aws, ACCOUNT, REGION, limiter)

    with Stubber(client) as stub:
        for n in range(4):
            stub.add_response("lookup_events", {"Events": [], "NextToken": f"t{n}"})
        stub.add_response("lookup_events", {"Events": []})
        collector.events_since(None, FIXED_NOW)
        stub.assert_no_pending_responses()

    assert len(sent_at) == 5
    assert all(later - earlier >= 0.5 for earlier, later in pairwise(sent_at))
    assert aws.calls["cloudtrail:LookupEvents"] == 5


def test_the_default_limiter_spaces_requests_by_half_a_second():
    limiter = lookup_limiter()

    assert (limiter.rate_per_s, limiter.burst) == (2.0, 1)


def test_throttling_backs_off_and_retries(aws, limiter):
    backoffs: list[float] = []
    collector = LookupCollector(aws, ACCOUNT, REGION, limiter, sleep=backoffs.append)

    with Stubber(aws.client("cloudtrail", REGION)) as stub:
        stub.add_client_error("lookup_events", "ThrottlingException", "Rate exceeded", 400)
        stub.add_response("lookup_events",
                          as_botocore({"Events": [entry("create_user", 1715680962)]}))
        events, _ = collector.events_since(None, FIXED_NOW)

    assert [e.name for e in events] == ["CreateUser"]
    assert backoffs == [2.0]


def test_throttling_that_persists_leaves_the_source_incomplete(aws, limiter):
    backoffs: list[float] = []
    collector = LookupCollector(aws, ACCOUNT, REGION, limiter, sleep=backoffs.append)

    with Stubber(aws.client("cloudtrail", REGION)) as stub:
        for _ in range(4):
            stub.add_client_error("lookup_events", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(CollectorIncomplete) as caught:
            collector.events_since(None, FIXED_NOW)

    assert backoffs == [2.0, 4.0, 8.0]
    assert caught.value.source is Source.CLOUDTRAIL
    assert "LookupEvents in us-east-1 stayed throttled: Rate exceeded" in caught.value.reason


def test_other_errors_are_not_retried(aws, limiter):
    backoffs: list[float] = []
    collector = LookupCollector(aws, ACCOUNT, REGION, limiter, sleep=backoffs.append)

    with Stubber(aws.client("cloudtrail", REGION)) as stub:
        stub.add_client_error("lookup_events", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(Exception, match="not authorized"):
            collector.events_since(None, FIXED_NOW)

    assert backoffs == []


# --- Trails (moto) ----------------------------------------------------------------------------


@pytest.fixture
def trails(setup_client):
    """A multi-region trail homed in us-east-1 (logging) and one eu-west-1 trail (stopped)."""
    setup_client("s3").create_bucket(Bucket="trail-logs")
    east, west = setup_client("cloudtrail"), setup_client("cloudtrail", "eu-west-1")
    east.create_trail(Name="management-events", S3BucketName="trail-logs",
                      IsMultiRegionTrail=True)
    east.start_logging(Name="management-events")
    west.create_trail(Name="eu-only", S3BucketName="trail-logs")
    west.start_logging(Name="eu-only")
    west.stop_logging(Name="eu-only")
    return east, west


def test_each_region_lists_every_trail_covering_it(aws, trails):
    statuses = TrailCollector(aws, ACCOUNT).status(["us-east-1", "eu-west-1"])

    seen = {(s.region, s.name): s for s in statuses}
    assert set(seen) == {
        ("us-east-1", "management-events"),
        ("eu-west-1", "management-events"),
        ("eu-west-1", "eu-only"),
    }
    shadow = seen["eu-west-1", "management-events"]
    assert shadow.home_region == "us-east-1"
    assert shadow.multi_region is True and shadow.is_logging is True
    assert shadow.stopped_at is None
    assert shadow.arn == f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management-events"
    stopped = seen["eu-west-1", "eu-only"]
    assert (stopped.is_logging, stopped.multi_region, stopped.home_region) == (
        False, False, "eu-west-1",
    )
    assert stopped.stopped_at is not None and stopped.stopped_at.utcoffset() == timedelta(0)
    assert all(s.account == ACCOUNT for s in statuses)
    # one status call per trail, however many regions it covers
    assert aws.calls["cloudtrail:DescribeTrails"] == 2
    assert aws.calls["cloudtrail:GetTrailStatus"] == 2


def test_a_restarted_trail_has_no_stop_time(aws, trails):
    _, west = trails
    west.start_logging(Name="eu-only")

    [status] = [s for s in TrailCollector(aws, ACCOUNT).status(["eu-west-1"])
                if s.name == "eu-only"]

    assert status.is_logging is True
    assert status.stopped_at is None


def test_a_region_without_trails_has_no_status(aws):
    assert TrailCollector(aws, ACCOUNT).status(["ap-southeast-2"]) == []


def organization_trail(account: str) -> dict:
    return {"trailList": [{
        "Name": "org-trail", "S3BucketName": "org-logs", "IsMultiRegionTrail": True,
        "HomeRegion": "us-east-1", "IsOrganizationTrail": True,
        "TrailARN": f"arn:aws:cloudtrail:us-east-1:{account}:trail/org-trail",
    }]}


def test_an_organization_trail_this_account_cannot_read_is_left_out(aws):
    """moto has no organization trails: Stubber answers as AWS does to a member account."""
    with Stubber(aws.client("cloudtrail", "us-east-1")) as stub:
        stub.add_response("describe_trails", organization_trail("111122223333"))
        stub.add_client_error("get_trail_status", "TrailNotFoundException", "Unknown trail", 400)
        assert TrailCollector(aws, ACCOUNT).status(["us-east-1"]) == []


def test_an_own_trail_whose_status_fails_is_an_error(aws):
    with Stubber(aws.client("cloudtrail", "us-east-1")) as stub:
        stub.add_response("describe_trails", organization_trail(ACCOUNT))
        stub.add_client_error("get_trail_status", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(Exception, match="not authorized"):
            TrailCollector(aws, ACCOUNT).status(["us-east-1"])
