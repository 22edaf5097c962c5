"""The compliance report: every resource each posture check judges now, PASS, FAIL or MUTED,
with its severity, account, region, CIS and Security Hub ids, first seen and the fix; as a
table, CSV, JSON or HTML (`ocsf.py` adds OCSF). Built from the store alone.

PASS rows are the resources the check's latest complete cycle judged (stored, not inferred);
a resource with an open or acknowledged finding is FAIL, with a muted one MUTED. A failing
finding is listed even if its resource is missing from the judged set.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from costguard.model import Severity, Status
from costguard.store.check_counts import JudgedResource
from costguard.store.records import StoredFinding, iso
from costguard.text import table

if TYPE_CHECKING:
    from costguard.checks import Registry
    from costguard.settings.policies import Policy

PASS, FAIL, MUTED = "PASS", "FAIL", "MUTED"
COLUMNS = ("check", "title", "status", "severity", "account", "region", "resource", "cis",
           "security_hub", "first_seen", "remediation", "finding")
"""The keys of a JSON row and the CSV header, in order."""


@dataclass(frozen=True)
class Control:
    """A posture check as the report names it."""

    id: str
    title: str
    severity: Severity
    cis: tuple[str, ...]
    security_hub: tuple[str, ...]
    fix: str


@dataclass(frozen=True)
class ComplianceRow:
    """One check x resource."""

    control: Control
    status: str
    severity: Severity
    account: str
    region: str
    resource: str
    first_seen: datetime | None
    finding: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as the JSON output and the CSV give it."""
        c = self.control
        return {"check": c.id, "title": c.title, "status": self.status,
                "severity": self.severity.value, "account": self.account, "region": self.region,
                "resource": self.resource, "cis": list(c.cis), "security_hub": list(c.security_hub),
                "first_seen": iso(self.first_seen), "remediation": c.fix, "finding": self.finding}


def control_of(cls: Any, severity: Severity | None = None) -> Control:
    """How the report names a check class, at `severity` (default: the check's own)."""
    return Control(cls.id, cls.title, severity or cls.severity, tuple(cls.cis),
                   tuple(cls.security_hub), cls.fix_summary or cls.title)


def controls(registry: Registry, policies: Iterable[Policy]) -> list[Control]:
    """The enabled checks that name their resources (pass/fail applies), at policy severity."""
    from costguard.checks.base import Check

    found: dict[str, Control] = {}
    for policy in policies:
        cls = registry.get(policy.check)
        if cls is None or cls.resources is Check.resources:
            continue
        known = found.get(cls.id)
        severity = max(policy.severity, known.severity) if known else policy.severity
        found[cls.id] = control_of(cls, severity)
    return [found[k] for k in sorted(found)]


def compliance_rows(checks: Sequence[Control], judged: Iterable[JudgedResource],
                    findings: Iterable[StoredFinding]) -> list[ComplianceRow]:
    """Every judged resource and every active finding of those checks, worst first."""
    by_id = {c.id: c for c in checks}
    active = {f.fingerprint: f for f in findings
              if f.check in by_id and f.status is not Status.RESOLVED}
    rows = [_row(by_id[r.check], r.account, r.region, r.resource, r.first_seen,
                 active.pop(r.fingerprint, None)) for r in judged if r.check in by_id]
    rows += [_row(by_id[f.check], f.account, f.region, f.resource, f.first_seen, f)
             for f in active.values()]
    order = {FAIL: 0, MUTED: 1, PASS: 2}
    return sorted(rows, key=lambda r: (order[r.status], -r.severity.rank, r.control.id,
                                       r.account, r.region, r.resource))


def _row(control: Control, account: str, region: str, resource: str,
         first_seen: datetime | None, finding: StoredFinding | None) -> ComplianceRow:
    if finding is None:
        return ComplianceRow(control, PASS, control.severity, account, region, resource,
                             first_seen)
    status = MUTED if finding.status is Status.MUTED else FAIL
    return ComplianceRow(control, status, finding.severity, account, region, resource,
                         finding.first_seen, finding.id)


def as_json(rows: Sequence[ComplianceRow], generated_at: datetime) -> str:
    """One JSON object: when, the counts, every row."""
    counts = {s: sum(1 for r in rows if r.status == s) for s in (PASS, FAIL, MUTED)}
    return json.dumps({"generated_at": iso(generated_at), "counts": counts,
                       "rows": [r.to_json() for r in rows]}, indent=2)


def as_csv(rows: Sequence[ComplianceRow]) -> str:
    """RFC 4180 CSV with a header; lists joined by ';'. Cells that a spreadsheet would run as
    a formula (a resource name an attacker chose) are prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = row.to_json()
        writer.writerow([_cell(values[c]) for c in COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = ";".join(value) if isinstance(value, list) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def findings_csv(findings: Iterable[Any]) -> str:
    """`scan --format csv`: the scan's findings with the keys of its JSON, details as JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = None
    for finding in findings:
        doc = finding.to_json()
        if columns is None:
            columns = list(doc)
            writer.writerow(columns)
        doc["details"] = json.dumps(doc["details"], sort_keys=True, default=str)
        writer.writerow([_cell(doc[c]) for c in columns])
    return out.getvalue()


def as_table(rows: Sequence[ComplianceRow], width: int | None = None) -> str:
    """The rows as a terminal table."""
    body = [(r.status, r.severity.value, r.control.id, r.account, r.region, r.resource,
             ", ".join(r.control.cis), ", ".join(r.control.security_hub)) for r in rows]
    headers = ("status", "severity", "check", "account", "region", "resource", "cis",
               "security hub")
    return table(body, headers, width, whole=("resource",))
