"""Collectors: one module per AWS source, returning snapshot dataclasses, never boto3 objects.

They take a `costguard.collectors.session.Aws` in their constructor and do nothing at import time.
"""

from __future__ import annotations

from costguard.model import Source


class CollectorIncomplete(RuntimeError):
    """A source could not be collected this cycle but is expected to be next cycle.

    The engine records the source as incomplete (so none of its findings are resolved) and
    carries on with the other sources; it is not a failure to alert on.
    """

    def __init__(self, source: Source, account: str, reason: str) -> None:
        self.source = source
        self.account = account
        self.reason = reason
        super().__init__(f"{source} for account {account} is incomplete this cycle: {reason}")
