"""Persistence: the only package that touches SQLAlchemy. Callers get frozen records back."""

from costguard.store.access import StoreUnavailable
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
