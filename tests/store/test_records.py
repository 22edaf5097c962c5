"""The JSON shapes docs/output.md promises for `costguard scan --format json`."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from costguard.model import Severity, Status
from costguard.store import ScanRecord, StoredFinding

AT = datetime(2024, 5, 1, 12, 0, 5, tzinfo=timezone.utc)


def test_finding_json_has_exactly_the_documented_keys() -> None:
    finding = StoredFinding(
        id=4,
        fingerprint="ab" * 32,
        policy="no-gpu",
        check="instance_types",
        severity=Severity.CRITICAL,
        status=Status.MUTED,
        account="111122223333",
        region="us-east-1",
        resource="arn:aws:ec2:us-east-1:111122223333:instance/i-0abc",
        title="p5.48xlarge is not allowed",
        details={"instance_type": "p5.48xlarge"},
        entities=frozenset({"instance:i-0abc"}),
        first_seen=AT,
        last_seen=AT,
        muted_until=AT,
        mute_reason="load test",
        incident_id=9,
    )
    assert finding.to_json() == {
        "id": 4,
        "fingerprint": "ab" * 32,
        "policy": "no-gpu",
        "check": "instance_types",
        "severity": "critical",
        "status": "muted",
        "account": "111122223333",
        "region": "us-east-1",
        "resource": "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc",
        "title": "p5.48xlarge is not allowed",
        "details": {"instance_type": "p5.48xlarge"},
        "first_seen": "2024-05-01T12:00:05+00:00",
        "last_seen": "2024-05-01T12:00:05+00:00",
        "incident": 9,
    }
    assert json.loads(json.dumps(finding.to_json())) == finding.to_json()


def test_scan_json_has_exactly_the_documented_keys() -> None:
    scan = ScanRecord(
        id=1,
        started_at=AT,
        finished_at=None,
        complete=False,
        api_calls=17,
        errors=("ec2 us-west-2: AccessDenied",),
        accounts=("111122223333",),
        regions=("us-east-1", "us-west-2"),
    )
    assert scan.to_json() == {
        "started_at": "2024-05-01T12:00:05+00:00",
        "finished_at": None,
        "complete": False,
        "accounts": ["111122223333"],
        "regions": ["us-east-1", "us-west-2"],
        "api_calls": 17,
        "errors": ["ec2 us-west-2: AccessDenied"],
    }
