"""Key/value state survives reopening and overwrites in place."""

from __future__ import annotations

from costguard.store import Store


def test_state_is_none_until_set_and_then_overwritten(store: Store, db_url: str) -> None:
    assert store.get_state("cloudtrail.cursor.us-east-1") is None
    store.set_state("cloudtrail.cursor.us-east-1", "2024-05-01T12:00:00Z")
    store.set_state("budget.month", "2024-05")
    store.set_state("cloudtrail.cursor.us-east-1", "2024-05-01T12:05:00Z")
    with Store.open(db_url) as reopened:
        assert reopened.get_state("cloudtrail.cursor.us-east-1") == "2024-05-01T12:05:00Z"
        assert reopened.get_state("budget.month") == "2024-05"
