"""guardduty_enabled: a missing or suspended detector per region, and the regions param."""

from __future__ import annotations

from costguard.checks.guardduty_enabled import GuardDutyEnabled
from costguard.model import Severity

from .conftest import ACCOUNT, HOSTILE, assert_only_quoted, detector, render, run, snapshot


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
                                   "detector_id": "det-eu", "enabled": False}


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
