"""Compliance rows and findings as OCSF 1.4.0 Compliance Findings (class 2003, category 2):
one event per check x resource, the JSON that Security Lake, SIEMs and other OCSF consumers
read. Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from costguard.model import GLOBAL_REGION, Severity
from costguard.reports.compliance import FAIL, MUTED, PASS, ComplianceRow, Control

OCSF_VERSION = "1.4.0"
CLASS_UID, CATEGORY_UID = 2003, 2
ACTIVITY_CREATE, ACTIVITY_CLOSE = 1, 3
SEVERITY_IDS = {Severity.INFO: 1, Severity.LOW: 2, Severity.MEDIUM: 3, Severity.HIGH: 4,
                Severity.CRITICAL: 5}
COMPLIANCE_STATUS = {PASS: (1, "Pass"), FAIL: (3, "Fail"), MUTED: (3, "Fail")}
FINDING_STATUS = {FAIL: (1, "New"), MUTED: (3, "Suppressed")}
CIS_STANDARD = "CIS AWS Foundations Benchmark v3.0.0"
FSBP_STANDARD = "AWS Foundational Security Best Practices"
OWN_STANDARD = "costguard policies"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _compliance(control: Control, status: str) -> dict[str, Any]:
    standards = [s for s, ids in ((CIS_STANDARD, control.cis),
                                  (FSBP_STANDARD, control.security_hub)) if ids]
    status_id, caption = COMPLIANCE_STATUS[status]
    return {
        "standards": standards or [OWN_STANDARD],
        "requirements": [f"CIS {c}" for c in control.cis] + list(control.security_hub),
        "control": control.id, "status": caption, "status_id": status_id,
    }


def event(row: ComplianceRow, generated_at: datetime, version: str) -> dict[str, Any]:
    """One OCSF Compliance Finding for one row."""
    c = row.control
    region = None if row.region == GLOBAL_REGION else row.region
    doc: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE, "activity_name": "Create",
        "category_uid": CATEGORY_UID, "category_name": "Findings",
        "class_uid": CLASS_UID, "class_name": "Compliance Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "time": _ms(generated_at),
        "severity_id": SEVERITY_IDS[row.severity], "severity": row.severity.value.capitalize(),
        "message": f"{row.status}: {c.title}: {row.resource}",
        "metadata": {"version": OCSF_VERSION, "product": {
            "name": "costguard", "vendor_name": "costguard", "version": version}},
        "finding_info": {"uid": f"{c.id}:{row.account}:{row.region}:{row.resource}",
                         "title": c.title, "types": [c.id]},
        "compliance": _compliance(c, row.status),
        "remediation": {"desc": c.fix},
        "cloud": {"provider": "AWS", "region": region, "account": {"uid": row.account}},
        "resources": [{"uid": row.resource, "region": region,
                       "owner": {"account": {"uid": row.account}}}],
    }
    if row.first_seen is not None:
        doc["finding_info"]["first_seen_time"] = _ms(row.first_seen)
    if row.status in FINDING_STATUS:
        doc["status_id"], doc["status"] = FINDING_STATUS[row.status]
    return _without_none(doc)


def _without_none(value: Any) -> Any:
    """OCSF leaves absent attributes out rather than null."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def as_ocsf(rows: Sequence[ComplianceRow], generated_at: datetime, version: str) -> str:
    """A JSON array of Compliance Findings."""
    return json.dumps([event(r, generated_at, version) for r in rows], indent=2)


def findings_as_ocsf(findings: Iterable[Any], controls: dict[str, Control],
                     generated_at: datetime, version: str) -> str:
    """`scan --format ocsf`: the scan's findings as Compliance Findings. A finding this scan
    resolved is a pass, closed; a muted one fails, suppressed."""
    events = []
    for f in findings:
        control = controls.get(f.check) or Control(f.check, f.title, f.severity, (), (), "")
        status = {"resolved": PASS, "muted": MUTED}.get(f.status.value, FAIL)
        row = ComplianceRow(control, status, f.severity, f.account, f.region, f.resource,
                            f.first_seen, f.id)
        doc = event(row, generated_at, version)
        doc["finding_info"]["title"] = f.title
        if status == PASS:
            doc.update(activity_id=ACTIVITY_CLOSE, activity_name="Close",
                       type_uid=CLASS_UID * 100 + ACTIVITY_CLOSE,
                       type_name="Compliance Finding: Close", status_id=4, status="Resolved")
        events.append(doc)
    return json.dumps(events, indent=2)
