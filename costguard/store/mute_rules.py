"""Mute rules kept in the store: what `costguard findings mute --check/--account/--resource/
--tag` adds, read back by the notifier beside the config's `mutes:`.

A rule is never deleted: ending one early stamps `ended_at`, so what was muted, by whom and why
stays on record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from costguard.store.connection import SessionBase
from costguard.store.models import MuteRuleRow


@dataclass(frozen=True)
class StoredMute:
    """One mute rule; the fields a rule does not give are None (they match anything)."""

    id: int
    until: datetime
    reason: str
    created_at: datetime
    account: str | None = None
    check: str | None = None
    resource: str | None = None
    tag: Mapping[str, str] | None = field(default=None)
    created_by: str | None = None
    ended_at: datetime | None = None


def _record(row: MuteRuleRow) -> StoredMute:
    return StoredMute(
        id=row.id, until=row.until, reason=row.reason, created_at=row.created_at,
        account=row.account, check=row.check, resource=row.resource,
        tag=dict(row.tag) if row.tag else None, created_by=row.created_by,
        ended_at=row.ended_at,
    )


class MuteRulesMixin(SessionBase):
    """`add_mute_rule`, `active_mute_rules`, `end_mute_rule`."""

    def add_mute_rule(
        self, *, until: datetime, reason: str, now: datetime, by: str | None = None,
        account: str | None = None, check: str | None = None, resource: str | None = None,
        tag: Mapping[str, str] | None = None,
    ) -> StoredMute:
        """Stores a rule; ValueError when it names nothing or has already expired."""
        if not (account or check or resource or tag):
            raise ValueError("a mute rule needs at least one of account, check, resource or tag")
        if until <= now:
            raise ValueError(f"--until {until.isoformat()} is not in the future")
        row = MuteRuleRow(account=account, check=check, resource=resource,
                          tag=dict(tag) if tag else None, until=until, reason=reason,
                          created_at=now, created_by=by)
        with self._write() as session:
            session.add(row)
            session.flush()
            return _record(row)

    def active_mute_rules(self, now: datetime) -> list[StoredMute]:
        """The rules in force at `now`, oldest first."""
        query = (select(MuteRuleRow)
                 .where(MuteRuleRow.until > now, MuteRuleRow.ended_at.is_(None))
                 .order_by(MuteRuleRow.id))
        with self._read() as session:
            return [_record(row) for row in session.scalars(query)]

    def end_mute_rule(self, rule_id: int, now: datetime) -> StoredMute:
        """Ends a rule now; LookupError for an unknown id, ValueError if already over."""
        with self._write() as session:
            row = session.get(MuteRuleRow, rule_id)
            if row is None:
                raise LookupError(f"no mute rule with id {rule_id}")
            if row.ended_at is not None or row.until <= now:
                raise ValueError(f"mute rule {rule_id} has already ended")
            row.ended_at = now
            return _record(row)
