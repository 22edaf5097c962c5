"""A small key/value table for what must survive a restart: collector cursors, budget marks."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from costguard.store.connection import SessionBase
from costguard.store.models import StateRow


class StateMixin(SessionBase):
    """`get_state`/`set_state`, upserted so concurrent writers never collide on the key."""

    def get_state(self, key: str) -> str | None:
        """The stored value, or None when the key was never set."""
        # Columns, not the row object: an upsert earlier in the same unit of work is a Core
        # statement that the session's identity map would not see.
        query = select(StateRow.value).where(StateRow.key == key)
        with self._read() as session:
            return session.execute(query).scalar_one_or_none()

    def states(self, prefix: str) -> dict[str, str]:
        """Every key starting with `prefix` and its value, in one read (all cursors at once)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = select(StateRow.key, StateRow.value).where(
            StateRow.key.like(f"{escaped}%", escape="\\"))
        with self._read() as session:
            return {key: value for key, value in session.execute(query)}

    def set_state(self, key: str, value: str) -> None:
        """Stores `value` under `key`, replacing any previous value."""
        self.set_states({key: value})

    def set_states(self, values: Mapping[str, str]) -> None:
        """Stores each value under its key, replacing previous values, in one statement."""
        if not values:
            return
        insert = self._insert()
        statement = insert(StateRow)
        statement = statement.on_conflict_do_update(
            index_elements=[StateRow.key], set_={"value": statement.excluded.value}
        )
        with self._write() as session:
            session.execute(statement, [{"key": k, "value": v} for k, v in values.items()])
