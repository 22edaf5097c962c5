"""costguard's own week: cycles run and failed per source, messages per channel, and what it
spent on Cost Explorer (every request is billed $0.01). Pure."""

from __future__ import annotations

from costguard.reports.figures import ChannelCounts, SourceCycles, Upkeep
from costguard.reports.history import History
from costguard.spend.ce_budget import usd


def upkeep(history: History) -> Upkeep:
    """The figures of costguard's own health in `history`'s week."""
    runs: dict[str, list[int]] = {}
    for scan in history.scans:
        for source in scan.sources or ():
            runs.setdefault(source, [0, 0])[0] += 1
        for source in scan.failed_sources or ():
            runs.setdefault(source, [0, 0])[1] += 1
    calls = sum(history.ce_calls.values())
    return Upkeep(
        cycles=len(history.scans),
        incomplete=sum(1 for s in history.scans if not s.complete),
        unrecorded=sum(1 for s in history.scans if s.sources is None),
        sources=tuple(SourceCycles(source=s, runs=r, failed=f)
                      for s, (r, f) in sorted(runs.items())),
        channels=tuple(ChannelCounts(channel=c.channel, sent=c.sent, failed=c.failed,
                                     dead=c.given_up) for c in history.channels),
        ce_requests=calls,
        ce_usd=usd(calls),
    )
