"""What every ticket channel shares: one ticket per incident for its whole life.

A new incident creates the ticket, an update or escalation comments on it, the resolution
comments with the verification and closes it, and a new incident that shares a finding with a
ticket resolved within `incidents.reopen_window` reopens that ticket instead of filing another.

The vendor's id is recorded in the store (`costguard.store.tickets`) the moment the vendor
answers. Before a create, a `pending` record is committed; a retry that finds it pending (the
process died between the vendor's answer and the record) asks the vendor for a ticket carrying
the incident's label first, so a restart never files a second ticket.

HTTP goes through httpx with a timeout on every request. Nothing here retries: a failure is a
`DeliveryError` (with the Retry-After seconds when the vendor gave some) and the outbox's back-off
is the one retry mechanism. Secrets never reach an error message: every reason is scrubbed.
"""

from __future__ import annotations

import abc
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from pydantic import Field

from costguard.model import AlertKind, Message, Severity
from costguard.notifiers.channel import Channel, ChannelParams, DeliveryError, utcnow
from costguard.notifiers.http_post import PERMANENT
from costguard.notifiers.http_post import retry_after as read_retry_after
from costguard.store.records import StoredTicket, TicketState
from costguard.text import oneline, short

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

TICKET = "ticket"
"""`Message.fields` entry with what a ticket channel files (`costguard.alerts.ticket_text`)."""
REOPEN_WINDOW = timedelta(days=7)
TICKET_KINDS = frozenset({AlertKind.NEW, AlertKind.UPDATE, AlertKind.ESCALATION,
                          AlertKind.RESOLVED})
"""What a ticket follows; digests and reports are not about one incident and are skipped."""

_NOTED = {AlertKind.RESOLVED: TicketState.NOTED_RESOLVED,
          AlertKind.ESCALATION: TicketState.NOTED_ESCALATION}
"""Kinds whose comment comes before a second request, and the state recording it was taken."""
REDACTED = "<redacted>"
_ERROR_CHARS = 300


def label(key: str) -> str:
    """The vendor label naming the incident (searchable: Jira labels, GitHub labels): letters,
    digits, `-`, `_` and `.` only, at most 50 characters (GitHub's limit)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", key.removesuffix("-new"))
    return ("costguard-" + stem)[:50]


class TicketBook(Protocol):
    """The part of `costguard.store.Store` a ticket channel keeps its tickets in."""

    def ticket(self, channel: str, incident_key: str) -> StoredTicket | None: ...

    def resolved_tickets(self, channel: str, since: datetime) -> list[StoredTicket]: ...

    def begin_ticket(self, *, channel: str, incident_key: str, incident_id: int | None,
                     fingerprints: Iterable[str], at: datetime) -> StoredTicket: ...

    def record_ticket(self, ticket_id: int, *, at: datetime, state: TicketState,
                      external_id: str | None = None, external_key: str | None = None,
                      url: str | None = None, incident_key: str | None = None,
                      incident_id: int | None = None,
                      fingerprints: Iterable[str] = ()) -> StoredTicket: ...


@dataclass(frozen=True)
class Ref:
    """A ticket at the vendor: `id` for API calls, `key` for people (SEC-12, #12, INC0010001)."""

    id: str
    key: str
    url: str | None = None


@dataclass(frozen=True)
class Filing:
    """What one message asks of a ticket channel, read from the message's `ticket` field (or
    made from its subject and text when a message was rendered without one, such as
    `costguard notify test`)."""

    kind: AlertKind
    severity: Severity
    key: str
    label: str
    incident_id: int | None
    fingerprints: tuple[str, ...]
    checks: tuple[str, ...]
    title: str
    description: str
    comment: str

    @classmethod
    def of(cls, message: Message) -> Filing:
        """The filing a message carries."""
        given: Mapping[str, Any] = message.fields.get(TICKET) or {}
        key = str(given.get("key") or message.key)
        return cls(
            kind=message.kind, severity=message.severity, key=key,
            label=str(given.get("label") or label(key)),
            incident_id=message.incident_id,
            fingerprints=tuple(map(str, given.get("fingerprints") or ())),
            checks=tuple(map(str, given.get("checks") or ())),
            title=oneline(given.get("title") or message.subject),
            description=str(given.get("description") or message.text),
            comment=str(given.get("comment") or message.text),
        )


class TicketParams(ChannelParams):
    """Settings every ticket channel has."""

    timeout_s: float = Field(30, gt=0, description="Seconds to wait for each HTTP request.")
    ca_file: Path | None = Field(
        None, description="PEM file of CAs to trust instead of the system's, for a private CA.")


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent.
    Read by `costguard.notifiers.http_post.retry_after`, which every HTTP channel shares."""
    when = read_retry_after(value, now)
    return None if when is None else (when - now).total_seconds()


class TicketChannel(Channel):
    """A channel that keeps one ticket per incident. Subclasses talk to their vendor."""

    title_limit: int = 255
    body_limit: int = 32_000
    reopen_window: timedelta = REOPEN_WINDOW
    """Set from `incidents.reopen_window` by whoever builds the channel."""

    params: TicketParams

    def __init__(self, name: str, params: ChannelParams, env: Mapping[str, str] = os.environ,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        self.book: TicketBook | None = None
        self.requests = 0
        """HTTP requests sent so far (tests and benchmarks read it)."""
        self._secrets: list[str] = []
        self._http: httpx.Client | None = None

    # --- what each vendor implements ---------------------------------------------------------

    @abc.abstractmethod
    def headers(self) -> dict[str, str]:
        """Every request's headers, authorization included."""

    @abc.abstractmethod
    def find(self, filing: Filing) -> Ref | None:
        """The ticket carrying the incident's label or correlation field, if the vendor has one."""

    @abc.abstractmethod
    def create(self, filing: Filing) -> Ref:
        """File the ticket."""

    @abc.abstractmethod
    def comment(self, ref: Ref, text: Any) -> None:
        """Add a comment (a work note) to the ticket."""

    noted_apart = True
    """The comment of a resolution or escalation is a request of its own, before the close or
    the new priority (Jira, GitHub); ServiceNow carries both in one PATCH."""

    def raise_severity(self, ref: Ref, text: Any, severity: Severity) -> None:
        """After the escalation's comment: vendors with a priority field or label raise it."""

    @abc.abstractmethod
    def close(self, ref: Ref, text: Any) -> None:
        """Close the ticket, the verification already commented (unless `noted_apart` is off,
        when `text` goes with the close)."""

    @abc.abstractmethod
    def reopen(self, ref: Ref, text: Any) -> None:
        """Reopen a closed ticket with a comment saying why."""

    # --- the lifecycle -----------------------------------------------------------------------

    def use_book(self, book: TicketBook) -> None:
        """Keep tickets in `book` (the store delivery runs on)."""
        self.book = book

    def send(self, message: Message) -> str | None:
        """Create, comment on, resolve or reopen the incident's ticket; returns its key."""
        if message.kind not in TICKET_KINDS:
            log.info("notifier %s: %s messages are not ticketed", self.name, message.kind)
            return None
        filing = Filing.of(message)
        if self.book is None:  # `notify test`: nothing to keep a ticket in, so just file one
            return self.create(filing).key if filing.kind is AlertKind.NEW else None
        return self._follow(self.book, filing)

    def _follow(self, book: TicketBook, filing: Filing) -> str | None:
        now = self.clock()
        ticket = book.ticket(self.name, filing.key)
        if ticket is None and filing.kind is AlertKind.NEW:
            earlier = self._recurred(book, filing, now)
            if earlier is not None:
                return self._reopen(book, earlier, filing, now)
        if ticket is None and filing.kind is AlertKind.RESOLVED:
            log.info("notifier %s: no ticket for %s to resolve", self.name, filing.key)
            return None
        if ticket is None or ticket.state is TicketState.PENDING:
            ticket = self._file(book, filing, ticket, now)
            if filing.kind is not AlertKind.RESOLVED:
                return ticket.external_key  # the description already says all of it
        ref = _ref(ticket)
        if filing.kind in _NOTED:
            self._note_then_change(book, ticket, filing, now)
        elif filing.kind is not AlertKind.NEW:  # a NEW seen again (a retry) has its ticket
            self.comment(ref, self.body(filing.comment))
            book.record_ticket(ticket.id, at=now, state=TicketState.OPEN,
                               fingerprints=filing.fingerprints)
        return ref.key

    def _note_then_change(self, book: TicketBook, ticket: StoredTicket, filing: Filing,
                          now: datetime) -> None:
        """A resolution or escalation: the comment, recorded as accepted, then the close or the
        new priority. When the second request is refused (a 503 to the close) the retry finds
        the comment recorded and does not post it again; only a crash between the vendor's
        answer and the record can."""
        ref, text = _ref(ticket), self.body(filing.comment)
        noted = _NOTED[filing.kind]
        if self.noted_apart and ticket.state is not noted:
            self.comment(ref, text)
            book.record_ticket(ticket.id, at=now, state=noted)
        if filing.kind is AlertKind.RESOLVED:
            self.close(ref, text)
            book.record_ticket(ticket.id, at=now, state=TicketState.RESOLVED)
        else:
            self.raise_severity(ref, text, filing.severity)
            book.record_ticket(ticket.id, at=now, state=TicketState.OPEN,
                               fingerprints=filing.fingerprints)

    def _file(self, book: TicketBook, filing: Filing, ticket: StoredTicket | None,
              now: datetime) -> StoredTicket:
        """Create the ticket, recording `pending` first; a pending record means an earlier
        create may have reached the vendor, so look for it before creating another."""
        ref = None
        if ticket is None:
            ticket = book.begin_ticket(channel=self.name, incident_key=filing.key,
                                       incident_id=filing.incident_id,
                                       fingerprints=filing.fingerprints, at=now)
        else:
            ref = self.find(filing)
            if ref is not None:
                log.info("notifier %s: found %s for %s after an unrecorded create",
                         self.name, ref.key, filing.key)
        ref = ref or self.create(filing)
        return book.record_ticket(ticket.id, at=now, state=TicketState.OPEN, external_id=ref.id,
                                  external_key=ref.key, url=ref.url)

    def _recurred(self, book: TicketBook, filing: Filing, now: datetime) -> StoredTicket | None:
        """The newest ticket resolved within the reopen window sharing a finding with this
        incident: the same problem is back."""
        mine = set(filing.fingerprints)
        since = now - self.reopen_window
        return next((t for t in book.resolved_tickets(self.name, since)
                     if t.external_id and mine & set(t.fingerprints)), None)

    def _reopen(self, book: TicketBook, ticket: StoredTicket, filing: Filing,
                now: datetime) -> str | None:
        ref = _ref(ticket)
        self.reopen(ref, self.body(filing.comment))
        book.record_ticket(ticket.id, at=now, state=TicketState.OPEN, incident_key=filing.key,
                           incident_id=filing.incident_id, fingerprints=filing.fingerprints)
        return ref.key

    # --- HTTP --------------------------------------------------------------------------------

    def title(self, filing: Filing) -> str:
        """The title within the vendor's limit, control characters gone."""
        return short(" ".join(filing.title.split()), self.title_limit)

    def body(self, text: str) -> Any:
        """Neutral markup to the vendor's format (a string, or ADF); subclasses override."""
        return text

    def secret_values(self, *values: str | None) -> None:
        """Values no error message may show (tokens, and their encodings)."""
        self._secrets.extend(v for v in values if v)

    def scrub(self, text: str) -> str:
        """`text` with every secret value replaced."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def http_auth(self) -> Any:
        """httpx auth for every request; None where `headers` carries it."""
        return None

    def client(self) -> httpx.Client:
        """The channel's HTTP client, made on first use."""
        import httpx

        if self._http is None:
            verify: Any = str(self.params.ca_file) if self.params.ca_file else True
            self._http = httpx.Client(timeout=self.params.timeout_s, headers=self.headers(),
                                      auth=self.http_auth(), verify=verify, follow_redirects=False)
        return self._http

    def request(self, method: str, url: str, *, ok: Iterable[int] = (200, 201, 204),
                **kwargs: Any) -> httpx.Response:
        """One request; a DeliveryError naming what went wrong unless the status is `ok`."""
        import httpx

        host = urlsplit(url).netloc
        self.requests += 1
        try:
            response = self.client().request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise DeliveryError(f"{self.type} {host}: no answer within "
                                f"{self.params.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(self.scrub(f"{self.type} {host}: {type(exc).__name__}: "
                                           f"{exc}")) from None
        if response.status_code in set(ok):
            return response
        raise self.refused(response, f"{method} {urlsplit(url).path}")

    def refused(self, response: httpx.Response, what: str) -> DeliveryError:
        """The one-line error for a vendor's refusal, with its own words and Retry-After."""
        said = short(self.scrub(vendor_error(response)), _ERROR_CHARS)
        hint = {401: " (check the credentials)", 403: " (check the token's permissions)",
                404: " (check the URL, project or repository)"}.get(response.status_code, "")
        wait = retry_after(response.headers.get("Retry-After"), self.clock())
        reason = (f"{self.type} {what}: {response.status_code} {response.reason_phrase}{hint}"
                  + (f": {said}" if said else "")
                  + (f"; retry after {wait:g} s" if wait is not None else ""))
        return DeliveryError(self.scrub(reason), retry_after_s=wait,
                             permanent=response.status_code in PERMANENT)


def vendor_error(response: httpx.Response) -> str:
    """What the vendor said went wrong, from the error shapes Jira, GitHub and ServiceNow use."""
    try:
        body = response.json()
    except ValueError:
        return oneline(response.text[:_ERROR_CHARS])
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    parts += [str(m) for m in body.get("errorMessages") or ()]
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    elif isinstance(errors, list):
        parts += [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
    if isinstance(body.get("message"), str):
        parts.append(body["message"])
    error = body.get("error")
    if isinstance(error, dict):
        parts += [str(error[k]) for k in ("message", "detail") if error.get(k)]
    return oneline("; ".join(parts))


def _ref(ticket: StoredTicket) -> Ref:
    if not ticket.external_id:
        raise DeliveryError(f"ticket record {ticket.id} has no vendor id")
    return Ref(ticket.external_id, ticket.external_key or ticket.external_id, ticket.url)
