"""Scan rows: started, finished with their outcome, listed newest first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.store import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_a_scan_records_how_it_ended(store: Store) -> None:
    scan_id = store.start_scan(T0)
    [running] = store.last_scans(1)
    assert (running.id, running.finished_at, running.complete) == (scan_id, None, False)
    finished = store.finish_scan(
        scan_id,
        finished_at=T0 + timedelta(seconds=42),
        complete=False,
        api_calls=318,
        errors=["guardduty eu-west-1: AccessDeniedException"],
        accounts=["111122223333"],
        regions=["eu-west-1", "us-east-1"],
    )
    assert store.last_scans(1) == [finished]
    assert finished.to_json() == {
        "started_at": "2024-05-01T12:00:00+00:00",
        "finished_at": "2024-05-01T12:00:42+00:00",
        "complete": False,
        "accounts": ["111122223333"],
        "regions": ["eu-west-1", "us-east-1"],
        "api_calls": 318,
        "errors": ["guardduty eu-west-1: AccessDeniedException"],
    }


def test_last_scans_are_newest_first(store: Store) -> None:
    ids = [store.start_scan(T0 + timedelta(minutes=m)) for m in (0, 10, 5)]
    assert [s.id for s in store.last_scans(2)] == [ids[1], ids[2]]


def test_finishing_an_unknown_scan_raises_lookup_error(store: Store) -> None:
    with pytest.raises(LookupError, match="no scan with id 9"):
        store.finish_scan(
            9, finished_at=T0, complete=True, api_calls=0, errors=[], accounts=[], regions=[]
        )
