"""Engine behaviour every table relies on: UTC round trips, naive times refused, JSON encoding."""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from costguard.model import Finding
from costguard.snapshot import BurnSample
from costguard.store import Store
from costguard.store.connection import dumps

PLUS_TWO = timezone(timedelta(hours=2))


def test_times_are_stored_as_utc_and_read_back_aware(store: Store, make_finding) -> None:
    local_noon = datetime(2024, 5, 1, 12, 0, tzinfo=PLUS_TWO)
    scan = store.start_scan(local_noon)
    stored = store.reconcile(scan_id=scan, findings=[make_finding()], scopes=(), now=local_noon)
    finding = store.get_finding(stored.new[0].id)
    assert finding.first_seen == local_noon
    assert finding.first_seen.utcoffset() == timedelta(0)
    assert finding.first_seen.hour == 10
    with store.engine.connect() as connection:
        raw = connection.exec_driver_sql("SELECT first_seen FROM findings").scalar()
    if store.dialect == "sqlite":
        # SQLite has no time zones: the text must already be UTC for comparisons to work.
        assert raw == "2024-05-01 10:00:00.000000"
    else:
        assert raw == local_noon
        assert raw.tzinfo is not None


def test_comparisons_use_utc_whatever_zone_the_caller_uses(store: Store) -> None:
    """A bound time in +02:00 compares as the same instant as the stored UTC values."""
    ten = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    store.add_burn_samples(
        BurnSample(account="1", region="r", at=at, usd_per_hour=1.0)
        for at in (ten, ten + timedelta(hours=1))
    )
    since = datetime(2024, 5, 1, 12, 30, tzinfo=PLUS_TWO)  # 10:30 UTC
    assert [s.at for s in store.burn_samples(since=since)] == [ten + timedelta(hours=1)]


def test_a_naive_datetime_is_refused_with_value_error(store: Store) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        store.start_scan(datetime(2024, 5, 1, 12, 0))
    assert store.last_scans(5) == []


def test_details_keep_json_values_and_encode_times_enums_and_sets(
    store: Store, make_finding
) -> None:
    class Colour(enum.Enum):
        RED = "red"

    details = {
        "n": 3,
        "nested": {"list": [1, "two", None], "ok": True},
        "when": datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        "day": date(2024, 5, 1),
        "colour": Colour.RED,
        "ports": {22, 3389},
    }
    now = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    finding: Finding = make_finding(details=details)
    stored = store.reconcile(scan_id=None, findings=[finding], scopes=(), now=now)
    assert store.get_finding(stored.new[0].id).details == {
        "n": 3,
        "nested": {"list": [1, "two", None], "ok": True},
        "when": "2024-05-01T12:00:00+00:00",
        "day": "2024-05-01",
        "colour": "red",
        "ports": [22, 3389],
    }


def test_dumps_refuses_what_it_cannot_represent() -> None:
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        dumps({"bad": object()})
    assert json.loads(dumps({"a": frozenset({"b", "a"})})) == {"a": ["a", "b"]}
