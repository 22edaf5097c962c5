"""A ledger of the store's transactions, to prove how often a cycle opens the store and that
its conclusion commits once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event

from costguard.store import Store
from costguard.store.connection import WRITE_OPTION

_WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', re.IGNORECASE)


@dataclass
class Transaction:
    """One transaction: whether it was a writer's, and the (verb, table) of each write in it."""

    writer: bool
    writes: list[tuple[str, str]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    """Every SELECT statement, as sent."""

    def wrote(self, *tables: str) -> bool:
        """Whether it wrote to any of `tables`."""
        return any(table in tables for _, table in self.writes)


@dataclass
class Ledger:
    """Every transaction begun on a store's engine while the ledger was open, in order."""

    transactions: list[Transaction] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.transactions)

    def writing(self, *tables: str) -> list[Transaction]:
        """The transactions that wrote to any of `tables`."""
        return [t for t in self.transactions if t.wrote(*tables)]


@contextmanager
def ledger_of(store: Store) -> Iterator[Ledger]:
    """Record the transactions `store` begins inside the block (one connection at a time)."""
    ledger = Ledger()

    def begin(connection) -> None:
        writer = bool(connection.get_execution_options().get(WRITE_OPTION))
        ledger.transactions.append(Transaction(writer))

    def execute(_connection, _cursor, statement: str, *_: object) -> None:
        if not ledger.transactions:
            return
        current = ledger.transactions[-1]
        if statement.lstrip().upper().startswith("SELECT"):
            current.reads.append(statement)
        elif match := _WRITE.match(statement):
            current.writes.append((match.group(1).split()[0].upper(), match.group(2).lower()))

    event.listen(store.engine, "begin", begin)
    event.listen(store.engine, "before_cursor_execute", execute)
    try:
        yield ledger
    finally:
        event.remove(store.engine, "begin", begin)
        event.remove(store.engine, "before_cursor_execute", execute)


@pytest.fixture
def ledger() -> Callable[[Store], AbstractContextManager[Ledger]]:
    """`with ledger(store) as seen:` records the store's transactions in the block."""
    return ledger_of
