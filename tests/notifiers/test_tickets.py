"""Ticket channels end to end: the outbox, the store and a local stand-in of each vendor.

Every step runs in a fresh process's objects (a new Store on the same database, a new channel),
so nothing that makes "one ticket per incident" work lives in memory.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from costguard.model import AlertKind, Message, Severity
from costguard.notifiers.channel import DeliveryError
from costguard.notifiers.delivery import DeliveryReport, deliver_due
from costguard.notifiers.ticket_channel import TicketChannel
from costguard.store import Store
from costguard.store.tickets import TicketState
from tests.notifiers.ticket_vendors import Vendor, serving
from tests.notifiers.tickets_setup import FLAVOURS, T0, Flavour, channel, finding, message

IDS = [f.name for f in FLAVOURS]
SG = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0abc"
I1 = "arn:aws:ec2:us-east-1:111122223333:instance/i-0aaa"
I2 = "arn:aws:ec2:us-east-1:111122223333:instance/i-0bbb"


def tickets_of(vendor: Any) -> dict[str, Any]:
    return getattr(vendor, "issues", None) or getattr(vendor, "records", {})


def shown(value: Any) -> str:
    """What a reader sees of a body, near enough: escapes dropped (ADF has none)."""
    return str(value).replace("\\", "")


def closed(ticket: Any) -> bool:
    return ticket.state in {"done", "closed", "6"}


class Step:
    """Queue one message and deliver it, each time as a freshly started process."""

    def __init__(self, flavour: Flavour, vendor: Vendor, url: str, db: str) -> None:
        self.flavour, self.vendor, self.url, self.db = flavour, vendor, url, db
        self.channel: TicketChannel | None = None

    def __call__(self, msg: Message, at: Any = T0) -> DeliveryReport:
        with Store.open(self.db) as store:
            store.enqueue(key=msg.key, channel="tickets", message=msg, now=at)
            self.channel = channel(self.flavour, self.vendor, self.url, clock=lambda: at)
            return deliver_due(store, {"tickets": self.channel}, now=at)


@pytest.mark.parametrize("flavour", FLAVOURS, ids=IDS)
def test_one_ticket_lives_as_long_as_the_incident(flavour: Flavour, tmp_path: Path) -> None:
    """Create, update comment, resolve, reopen within the window, resolve, new after it."""
    vendor = flavour.vendor()
    kind = flavour.channel_type
    first = (finding(SG), finding(I1, check="instance_types", fid=2))
    with serving(vendor) as url:
        step = Step(flavour, vendor, url, f"sqlite:///{tmp_path}/cg.db")
        assert step(message(AlertKind.NEW, 1, first, kind)).sent == 1
        assert len(tickets_of(vendor)) == 1
        created = vendor.count()
        grown = (*first, finding(I2, check="instance_types", fid=3))
        later = T0 + timedelta(minutes=10)
        assert step(message(AlertKind.UPDATE, 1, grown, kind, at=later,
                            new={"instances": ["i-0bbb"]}), at=later).sent == 1
        updated = vendor.count() - created
        fixed = T0 + timedelta(hours=1)
        assert step(message(AlertKind.RESOLVED, 1, grown, kind, at=fixed), at=fixed).sent == 1
        resolved = vendor.count() - created - updated
        (ticket,) = tickets_of(vendor).values()
        assert closed(ticket)
        assert "i-0bbb" in shown(ticket.comments[0])  # the update names what is new
        assert "no longer sees" in shown(ticket.comments[-1])  # the verification

        back = T0 + timedelta(days=2)
        again = (finding(SG, fid=4),)
        step(message(AlertKind.NEW, 2, again, kind, at=back, detected=back), at=back)
        assert len(tickets_of(vendor)) == 1 and not closed(ticket)
        assert "back" in shown(ticket.comments[-1]).lower()
        fixed_again = back + timedelta(hours=1)
        step(message(AlertKind.RESOLVED, 2, again, kind, at=fixed_again, detected=back),
             at=fixed_again)
        assert closed(ticket)

        much_later = fixed_again + timedelta(days=8)
        step(message(AlertKind.NEW, 3, again, kind, at=much_later, detected=much_later),
             at=much_later)
    assert len(tickets_of(vendor)) == 2
    assert vendor.problems == []
    print(f"\n{flavour.name}: requests create={created} update={updated} resolve={resolved}")
    assert (created, updated) == (1, 1)
    assert resolved == (3 if kind == "jira" else 1 if kind == "servicenow" else 2)
    with Store.open(f"sqlite:///{tmp_path}/cg.db") as store:
        assert store.ticket("tickets", "incident-2-20261203T100000-new").state is (
            TicketState.RESOLVED)


class CrashAfterAnswer(Exception):
    """Stands for the process dying after the vendor answered, before the record committed."""


class CrashingBook:
    """The store, except that recording the vendor's answer never happens (the process died)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def record_ticket(self, *args: Any, **kwargs: Any) -> Any:
        raise CrashAfterAnswer


@pytest.mark.parametrize("flavour", FLAVOURS, ids=IDS)
def test_a_crash_between_the_answer_and_the_record_still_leaves_one_ticket(
        flavour: Flavour, tmp_path: Path) -> None:
    """The pending record makes the retry search the vendor by label or correlation id."""
    vendor = flavour.vendor()
    db = f"sqlite:///{tmp_path}/cg.db"
    new = message(AlertKind.NEW, 1, (finding(SG),), flavour.channel_type)
    with serving(vendor) as url:
        with Store.open(db) as store:
            store.enqueue(key=new.key, channel="tickets", message=new, now=T0)
            crashing = channel(flavour, vendor, url)
            (row,) = store.claim_due(now=T0, lease_s=300)
            crashing.use_book(CrashingBook(store))  # type: ignore[arg-type]
            with pytest.raises(CrashAfterAnswer):
                crashing.send(row.message)
        assert len(tickets_of(vendor)) == 1
        with Store.open(db) as store:
            assert store.ticket("tickets", new.key).state is TicketState.PENDING
            after_lease = T0 + timedelta(minutes=6)
            restarted = channel(flavour, vendor, url)
            report = deliver_due(store, {"tickets": restarted}, now=after_lease)
            assert report.sent == 1 and restarted.requests == 1  # the search, no create
            assert store.ticket("tickets", new.key).state is TicketState.OPEN
            resolved = message(AlertKind.RESOLVED, 1, (finding(SG),), flavour.channel_type)
            store.enqueue(key=resolved.key, channel="tickets", message=resolved, now=after_lease)
            assert deliver_due(store, {"tickets": restarted}, now=after_lease).sent == 1
    assert len(tickets_of(vendor)) == 1
    assert closed(next(iter(tickets_of(vendor).values())))
    assert vendor.problems == []


@pytest.mark.parametrize("flavour", FLAVOURS, ids=IDS)
def test_a_new_message_delivered_twice_files_nothing_twice(flavour: Flavour,
                                                           tmp_path: Path) -> None:
    """A NEW whose ticket is recorded (a retry after the outbox lost its own record) is a no-op."""
    vendor = flavour.vendor()
    new = message(AlertKind.NEW, 1, (finding(SG),), flavour.channel_type)
    with serving(vendor) as url, Store.open(f"sqlite:///{tmp_path}/cg.db") as store:
        chan = channel(flavour, vendor, url)
        chan.use_book(store)
        assert chan.send(new) == chan.send(new)
    assert len(tickets_of(vendor)) == 1 and vendor.count() == 1


@pytest.mark.parametrize("flavour", FLAVOURS, ids=IDS)
def test_an_escalation_comments_and_raises_the_priority(flavour: Flavour, tmp_path: Path) -> None:
    vendor = flavour.vendor()
    kind = flavour.channel_type
    with serving(vendor) as url:
        step = Step(flavour, vendor, url, f"sqlite:///{tmp_path}/cg.db")
        step(message(AlertKind.NEW, 1, (finding(SG),), kind))
        worse = (finding(SG), finding(I1, check="root_access_key", fid=2,
                                      severity=Severity.CRITICAL))
        later = T0 + timedelta(minutes=5)
        assert step(message(AlertKind.ESCALATION, 1, worse, kind, at=later,
                            severity=Severity.CRITICAL, previous_severity="high"),
                    at=later).sent == 1
    (ticket,) = tickets_of(vendor).values()
    assert "CRITICAL" in shown(ticket.comments[-1])
    raised = {"jira": ticket.fields.get("priority"), "github": ticket.fields.get("labels"),
              "servicenow": (ticket.fields.get("urgency"), ticket.fields.get("impact"))}[kind]
    assert raised in ({"name": "Highest"}, ("1", "1")) or "severity:critical" in raised
    assert vendor.problems == []


@pytest.mark.parametrize("flavour", [f for f in FLAVOURS if f.channel_type != "servicenow"],
                         ids=[f.name for f in FLAVOURS if f.channel_type != "servicenow"])
@pytest.mark.parametrize("kind", [AlertKind.ESCALATION, AlertKind.RESOLVED])
def test_a_second_step_refused_after_its_comment_does_not_comment_twice(
        flavour: Flavour, kind: AlertKind, tmp_path: Path) -> None:
    """Jira and GitHub take an escalation or a resolution in two requests: the comment, then
    the priority, label or close. When the second is refused (503) the retry must only redo
    it: the comment was recorded as taken."""
    vendor = flavour.vendor()
    worse = (finding(SG), finding(I1, check="root_access_key", fid=2, severity=Severity.CRITICAL))
    follow_up = message(kind, 1, worse, flavour.channel_type, severity=Severity.CRITICAL,
                        previous_severity="high")
    with serving(vendor) as url, Store.open(f"sqlite:///{tmp_path}/cg.db") as store:
        first = channel(flavour, vendor, url)
        first.use_book(store)
        first.send(message(AlertKind.NEW, 1, (finding(SG),), flavour.channel_type))
        step = first.close if kind is AlertKind.RESOLVED else first.raise_severity

        def refused(*args: Any) -> None:
            vendor.fail_next(503)
            step(*args)

        setattr(first, step.__name__, refused)
        with pytest.raises(DeliveryError, match="503"):
            first.send(follow_up)
        retry = channel(flavour, vendor, url)  # as the next process builds it
        retry.use_book(store)
        retry.send(follow_up)
        stored = store.ticket("tickets", str(follow_up.fields["thread_key"]))
    (ticket,) = tickets_of(vendor).values()
    assert len(ticket.comments) == 1, ticket.comments
    done = TicketState.RESOLVED if kind is AlertKind.RESOLVED else TicketState.OPEN
    assert stored is not None and stored.state is done
    if kind is AlertKind.RESOLVED:
        assert ticket.state in ("done", "closed")
    assert vendor.problems == []


KILLED_AFTER_ANSWER = """\
import os, signal, sys
from costguard.model import AlertKind
from costguard.notifiers.delivery import deliver_due
from costguard.store import Store
from tests.notifiers.tickets_setup import FLAVOURS, T0, channel, finding, message
from tests.notifiers.ticket_vendors import {vendor_class}

db, name, url = sys.argv[1:4]
flavour = next(f for f in FLAVOURS if f.name == name)
vendor = {vendor_class}(**({extra}))
store = Store.open(db)
new = message(AlertKind.NEW, 1, (finding({sg!r}),), flavour.channel_type)
store.enqueue(key=new.key, channel="tickets", message=new, now=T0)
chan = channel(flavour, vendor, url)

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the vendor answered; nothing is recorded

store.record_ticket = die
deliver_due(store, {{"tickets": chan}}, now=T0)
"""


@pytest.mark.parametrize("flavour", FLAVOURS, ids=IDS)
def test_a_process_killed_after_the_vendor_answered_leaves_one_ticket(
        flavour: Flavour, tmp_path: Path) -> None:
    """A real SIGKILL of another process between the vendor's 201 and the record's commit."""
    vendor = flavour.vendor()
    extra = repr({"version": vendor.version} if hasattr(vendor, "version") else {})
    code = KILLED_AFTER_ANSWER.format(vendor_class=type(vendor).__name__, extra=extra, sg=SG)
    db = f"sqlite:///{tmp_path}/cg.db"
    root = Path(__file__).resolve().parents[2]
    with serving(vendor) as url:
        killed = subprocess.run([sys.executable, "-c", code, db, flavour.name, url], cwd=root,
                                capture_output=True, text=True, timeout=120, check=False)
        assert killed.returncode == -9, killed.stderr
        assert len(tickets_of(vendor)) == 1
        with Store.open(db) as store:
            restarted = channel(flavour, vendor, url)
            after_lease = T0 + timedelta(minutes=6)
            assert deliver_due(store, {"tickets": restarted}, now=after_lease).sent == 1
            assert store.ticket("tickets", "incident-1-20261201T100000-new").external_key
    assert len(tickets_of(vendor)) == 1 and vendor.problems == []
