"""The compliance report as one HTML page: counts per check, then every row; the stylesheet
inlined like the weekly email's, so it reads the same pasted into a mail or a ticket."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from costguard.alerts.compose import SEVERITY_COLORS
from costguard.alerts.render import Renderer
from costguard.reports.compliance import FAIL, MUTED, PASS, ComplianceRow
from costguard.reports.weekly_email import inline_css

STATUS_COLORS = {PASS: "#12b76a", FAIL: "#d92d20", MUTED: "#93670a"}


def compliance_html(rows: Sequence[ComplianceRow], generated_at: datetime,
                    renderer: Renderer) -> str:
    """The page, rendered from `report/compliance.html.j2`."""
    summary: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = summary.setdefault(row.control.id, {PASS: 0, FAIL: 0, MUTED: 0})
        counts[row.status] += 1
    context = {
        "rows": rows, "summary": sorted(summary.items()), "generated_at": generated_at,
        "status_colors": STATUS_COLORS, "severity_colors": SEVERITY_COLORS,
        "totals": {s: sum(1 for r in rows if r.status == s) for s in (PASS, FAIL, MUTED)},
    }
    return inline_css(renderer.render("report/compliance.html.j2", context, as_html=True))
