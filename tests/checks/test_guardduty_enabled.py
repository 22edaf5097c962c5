"""guardduty_enabled: a missing or suspended detector per region, and the regions param."""

from __future__ import annotations

from costguard.checks.guardduty_enabled import GuardDutyEnabled
from costguard.model import Severity

from .conftest import (
    ACCOUNT,
    DEV_ARN,
    DEV_KEY,
    HOSTILE,
    assert_only_quoted,
    detector,
    event,
    render,
    run,
    snapshot,
)


def test_only_regions_without_an_enabled_detector_are_findings():
    snap = snapshot(detectors=(
        detector("us-east-1"),
        detector("eu-west-1", enabled=False, detector_id="det-eu"),
        detector("ap-south-1", enabled=False, detector_id=None),
    ))

    findings = run(GuardDutyEnabled, snap)

    assert [(f.region, f.resource, f.title) for f in findings] == [
        ("ap-south-1", f"arn:aws:guardduty:ap-south-1:{ACCOUNT}:detector",
         f"Region ap-south-1 of account {ACCOUNT} has no GuardDuty detector"),
        ("eu-west-1", f"arn:aws:guardduty:eu-west-1:{ACCOUNT}:detector",
         f"Region eu-west-1 of account {ACCOUNT} has GuardDuty suspended"),
    ]
    assert {f.severity for f in findings} == {Severity.MEDIUM}
    assert findings[1].details == {"account": ACCOUNT, "region": "eu-west-1",
                                   "detector_id": "det-eu", "enabled": False,
                                   "caused_by": [], "callers": []}
    assert findings[1].entities == frozenset()


def test_the_call_that_switched_it_off_joins_the_finding_to_its_caller():
    deleted = event("DeleteDetector", region="ap-south-1", principal=DEV_ARN, key=DEV_KEY,
                    request={"detectorId": "det-ap"}, event_id="ev-del")
    refused = event("DeleteDetector", region="eu-west-1", error="AccessDenied",
                    request={"detectorId": "det-eu"})
    snap = snapshot(events=(deleted, refused), detectors=(
        detector("ap-south-1", enabled=False, detector_id=None),
        detector("eu-west-1", enabled=False, detector_id="det-eu")))

    south, west = run(GuardDutyEnabled, snap)

    assert {f"principal:{DEV_ARN}", f"caller_key:{DEV_KEY}"} <= south.entities
    assert [c["event_id"] for c in south.details["caused_by"]] == ["ev-del"]
    assert west.entities == frozenset()


def test_regions_limits_what_is_watched():
    snap = snapshot(detectors=(detector("eu-west-1", enabled=False),
                               detector("ap-south-1", detector_id=None, enabled=False)))

    assert [f.region for f in run(GuardDutyEnabled, snap, regions=["eu-west-1"])] == [
        "eu-west-1"]
    assert run(GuardDutyEnabled, snap, regions=["us-east-1"]) == []


def test_remediation_enables_a_suspended_detector_or_creates_one():
    snap = snapshot(detectors=(detector("eu-west-1", enabled=False, detector_id="det-eu"),
                               detector("ap-south-1", detector_id=None, enabled=False)))

    text = render("guardduty_enabled", run(GuardDutyEnabled, snap))

    assert text.startswith(f"GuardDuty is off in account {ACCOUNT} in ap-south-1, eu-west-1:")
    assert "aws guardduty create-detector --region ap-south-1 --enable\n" in text
    assert ("aws guardduty update-detector --region eu-west-1 --detector-id det-eu "
            "--enable\n") in text
    assert "each region's finding resolves once its detector is enabled" in text


def test_remediation_quotes_detector_ids():
    snap = snapshot(detectors=(detector(enabled=False, detector_id=HOSTILE),))

    assert_only_quoted(render("guardduty_enabled", run(GuardDutyEnabled, snap)), HOSTILE)
