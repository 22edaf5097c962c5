"""What the CLI prints: the scan JSON of docs/output.md, plain tables, and terminal progress."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from costguard.model import Severity, Status
from costguard.text import table

OPEN_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED, Status.MUTED)


def scan_json(scan: Any, findings: Sequence[Any], incidents: Sequence[Any],
              cost_explorer: dict[str, Any] | None = None) -> str:
    """The one JSON object `costguard scan --format json` prints (the contract in docs/output.md).

    `scan.cost_explorer` (an addition to the contract, see docs/output.md) says what costguard
    itself spent on Cost Explorer today and this month: every request costs $0.01.
    """
    shown = {f.id for f in findings}
    head = scan.to_json()
    if cost_explorer is not None:
        head["cost_explorer"] = cost_explorer
    doc = {
        "scan": head,
        "findings": [f.to_json() for f in findings],
        "incidents": [
            {
                "id": i.id,
                "title": i.title,
                "severity": i.severity.value,
                "findings": [fid for fid in i.finding_ids if fid in shown],
                "resources": sorted({f.resource for f in findings if f.incident_id == i.id}),
            }
            for i in incidents
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=False, default=str)


def terminal_width() -> int | None:
    """The terminal's columns when stdout is one; None when piped, so nothing is ever cut."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def findings_table(findings: Sequence[Any], width: int | None = None) -> str:
    """The findings as `scan` and `findings list` show them, worst first."""
    ordered = sorted(findings, key=lambda f: (-f.severity.rank, f.check, f.resource))
    rows = [
        (f.id, f.severity.value, f.status.value, f.check, f.region, f.resource, f.title)
        for f in ordered
    ]
    headers = ("id", "severity", "status", "check", "region", "resource", "title")
    return table(rows, headers, width, whole=("resource",))


def outbox_table(notifications: Sequence[Any], width: int | None = None) -> str:
    """`outbox list`: per channel, oldest first, what state each message is in and why."""
    from costguard.store.delivery_stats import delivery_state

    ordered = sorted(notifications, key=lambda n: (n.channel, n.id))
    rows = [
        (n.id, n.channel, n.key, n.message.kind.value, delivery_state(n).value, n.attempts,
         n.last_error or "", _next(n))
        for n in ordered
    ]
    headers = ("id", "channel", "key", "kind", "status", "attempts", "last error", "next attempt")
    return table(rows, headers, width, whole=("key",))


def _next(notification: Any) -> str:
    at = notification.next_attempt_at
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at and notification.sent_at is None else "-"


def failing(findings: Iterable[Any], threshold: Severity) -> list[Any]:
    """Findings that make `scan --fail-on` fail: open or acknowledged (not muted) at/above it."""
    active = (Status.OPEN, Status.ACKNOWLEDGED)
    return [f for f in findings if f.status in active and f.severity >= threshold]


class Progress:
    """One updating line on a terminal's stderr; silent when stderr is piped or a file."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.count = 0

    def __call__(self, what: str) -> None:
        if self.enabled:
            self.count += 1
            self.stream.write(f"\r\x1b[2Kscanned {what} ({self.count})")
            self.stream.flush()

    def done(self) -> None:
        """Clear the progress line so the results start on a clean line."""
        if self.enabled and self.count:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
