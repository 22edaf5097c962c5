"""GuardDuty: the detector on moto; findings through Stubber.

moto has ListDetectors and GetDetector but neither ListFindings nor GetFindings, so those are
answered by botocore's Stubber (which checks each response against GuardDuty's output shapes)
with the finding of tests/fixtures/events/guardduty_bitcoin_dns.json as GetFindings returns
it: the same document with PascalCase keys.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.stub import Stubber

from costguard.activity.event_records import parse_envelope
from costguard.collectors.guardduty_detectors import GuardDutyCollector
from costguard.snapshot import DetectorStatus

from .conftest import ACCOUNT, FIXED_NOW, REGION

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"


def api_finding(finding_id: str, updated: str) -> dict:
    """The fixture's finding as GetFindings answers it, with another id and update time."""
    detail = json.loads((FIXTURES / "guardduty_bitcoin_dns.json").read_text())["detail"]
    detail.update(id=finding_id, updatedAt=updated)
    return pascal(detail)


def pascal(value):
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: pascal(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pascal(v) for v in value]
    return value


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def criteria(since: datetime) -> dict:
    return {"Criterion": {
        "updatedAt": {"GreaterThan": millis(since)},
        "service.archived": {"Equals": ["false"]},
    }}


@pytest.fixture
def detector_id(setup_client) -> str:
    return setup_client("guardduty").create_detector(Enable=True)["DetectorId"]


def test_no_detector_means_not_enabled_and_no_findings(aws):
    collector = GuardDutyCollector(aws, ACCOUNT, REGION)

    assert collector.detector() == DetectorStatus(ACCOUNT, REGION, None, False)
    cursor = FIXED_NOW - timedelta(hours=1)
    assert collector.findings_since(cursor) == ([], cursor)
    assert aws.calls["guardduty:ListFindings"] == 0


def test_an_enabled_detector(aws, detector_id):
    status = GuardDutyCollector(aws, ACCOUNT, REGION).detector()

    assert status == DetectorStatus(ACCOUNT, REGION, detector_id, True)


def test_a_disabled_detector_is_not_enabled(aws, setup_client):
    detector = setup_client("guardduty").create_detector(Enable=False)["DetectorId"]

    status = GuardDutyCollector(aws, ACCOUNT, REGION).detector()

    assert (status.detector_id, status.enabled) == (detector, False)


def test_findings_are_listed_by_page_and_fetched_fifty_at_a_time(aws, detector_id):
    collector = GuardDutyCollector(aws, ACCOUNT, REGION)
    collector.detector()  # on moto, before the Stubber takes the client over
    cursor = FIXED_NOW - timedelta(minutes=10)
    ids = [f"{n:032x}" for n in range(60)]
    updated = {i: f"2024-05-14T10:{20 + n % 10:02d}:00.000Z" for n, i in enumerate(ids)}
    list_request = {"DetectorId": detector_id, "FindingCriteria": criteria(cursor),
                    "MaxResults": 50}

    with Stubber(aws.client("guardduty", REGION)) as stub:
        stub.add_response("list_findings", {"FindingIds": ids[:50], "NextToken": "p2"},
                          list_request)
        stub.add_response("list_findings", {"FindingIds": ids[50:]},
                          {**list_request, "NextToken": "p2"})
        for batch in (ids[:50], ids[50:]):
            stub.add_response(
                "get_findings",
                {"Findings": [api_finding(i, updated[i]) for i in batch]},
                {"DetectorId": detector_id, "FindingIds": batch},
            )
        findings, new_cursor = collector.findings_since(cursor)
        stub.assert_no_pending_responses()

    assert len(findings) == 60
    assert {f.finding_id for f in findings} == set(ids)
    times = [f.updated_at for f in findings]
    assert times == sorted(times)  # oldest update first
    assert new_cursor == datetime(2024, 5, 14, 10, 29, tzinfo=timezone.utc)
    assert aws.calls["guardduty:GetFindings"] == 2


def test_a_fetched_finding_reads_like_the_eventbridge_one(aws, detector_id):
    collector = GuardDutyCollector(aws, ACCOUNT, REGION)
    collector.detector()
    envelope = json.loads((FIXTURES / "guardduty_bitcoin_dns.json").read_text())
    detail = envelope["detail"]

    with Stubber(aws.client("guardduty", REGION)) as stub:
        stub.add_response("list_findings", {"FindingIds": [detail["id"]]})
        stub.add_response("get_findings",
                          {"Findings": [api_finding(detail["id"], detail["updatedAt"])]})
        [finding], cursor = collector.findings_since(FIXED_NOW - timedelta(hours=1))

    from_event = parse_envelope(envelope)
    assert finding.finding_id == from_event.finding_id
    assert finding.type == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert finding.severity == 8.0
    assert finding.updated_at == from_event.updated_at == cursor
    assert finding.resource["instanceDetails"]["instanceId"] == "i-0a4c3e2f1b9d80000"
    assert finding.service["action"]["dnsRequestAction"]["domain"] == "xmr-eu1.nanopool.org"


def test_without_a_cursor_the_initial_lookback_is_read(aws, detector_id):
    collector = GuardDutyCollector(
        aws, ACCOUNT, REGION, initial_lookback=timedelta(hours=6), clock=lambda: FIXED_NOW
    )

    with Stubber(aws.client("guardduty", REGION)) as stub:
        stub.add_response("list_detectors", {"DetectorIds": [detector_id]})
        stub.add_response("get_detector", {"Status": "ENABLED", "ServiceRole": "r"})
        stub.add_response(
            "list_findings", {"FindingIds": []},
            {"DetectorId": detector_id,
             "FindingCriteria": criteria(FIXED_NOW - timedelta(hours=6)), "MaxResults": 50},
        )
        findings, cursor = collector.findings_since(None)
        stub.assert_no_pending_responses()

    # nothing new: the cursor stays where it was (none yet)
    assert (findings, cursor) == ([], None)
    assert aws.calls["guardduty:GetFindings"] == 0
