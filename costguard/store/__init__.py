"""Persistence: the only package that touches SQLAlchemy. Callers get frozen records back.

The names below are loaded on first use (PEP 562), so importing a light submodule (the records,
the crash points) or catching `StoreUnavailable` does not load SQLAlchemy and the table
definitions: a one-shot scan imports them only once AWS has been read and its memory released.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from costguard.store.db import Store, Unit
    from costguard.store.lifecycle import Reason
    from costguard.store.migrate import HEAD
    from costguard.store.records import (
        DeliveryAttempt,
        IncidentStatus,
        IncidentTime,
        NotificationStatus,
        Reconciled,
        ScanRecord,
        StoredFinding,
        StoredIncident,
        StoredNotification,
        Transition,
    )
    from costguard.store.unavailable import StoreUnavailable

_HOMES = {
    "HEAD": "migrate",
    "StoreUnavailable": "unavailable",
    "Store": "db",
    "Unit": "db",
    "Reason": "lifecycle",
    **dict.fromkeys(
        ["DeliveryAttempt", "IncidentStatus", "IncidentTime", "NotificationStatus", "Reconciled",
         "ScanRecord", "StoredFinding", "StoredIncident", "StoredNotification", "Transition"],
        "records",
    ),
}

__all__ = [
    "HEAD",
    "DeliveryAttempt",
    "IncidentStatus",
    "IncidentTime",
    "NotificationStatus",
    "Reason",
    "Reconciled",
    "ScanRecord",
    "Store",
    "StoreUnavailable",
    "StoredFinding",
    "StoredIncident",
    "StoredNotification",
    "Transition",
    "Unit",
]


def __getattr__(name: str) -> Any:
    """The exported name, importing its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
