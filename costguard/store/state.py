"""A small key/value table for what must survive a restart: collector cursors, budget marks."""

from __future__ import annotations

from costguard.store.connection import SessionBase
from costguard.store.models import StateRow


class StateMixin(SessionBase):
    """`get_state`/`set_state`, upserted so concurrent writers never collide on the key."""

    def get_state(self, key: str) -> str | None:
        """The stored value, or None when the key was never set."""
        with self._read() as session:
            row = session.get(StateRow, key)
            return row.value if row is not None else None

    def set_state(self, key: str, value: str) -> None:
        """Stores `value` under `key`, replacing any previous value."""
        insert = self._insert()
        statement = insert(StateRow).values(key=key, value=value)
        statement = statement.on_conflict_do_update(
            index_elements=[StateRow.key], set_={"value": statement.excluded.value}
        )
        with self._write() as session:
            session.execute(statement)
