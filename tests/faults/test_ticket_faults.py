"""Ticket APIs failing under the real cycle: Jira and GitHub answering 429 (with Retry-After),
500 and 503 for a span of simulated time, and the daemon killed while it files the ticket.

The scenario and the audit are tests/faults/harness.py's (one incident, its alert and its
resolution), with a ticket channel beside the SMTP one; AWS answers normally. The ticket systems
are the local stand-ins of tests/notifiers/ticket_vendors.py, which check every request against
the vendor's documented shape and keep the tickets they were asked to make. After each fault:
both emails delivered once, exactly one ticket, closed once, every request well formed, nothing
resolved before the fix, every row intact, and the failures in the outbox's delivery record
(what `/metrics` shows as `costguard_notification_failures_total`).
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from costguard.store import Store
from tests.notifiers.ticket_vendors import GitHub, Jira, Ticket, Vendor, serving

from .harness import Attack, Runs, audit, play, write_config
from .table import FAULTS, known, record_fault

pytestmark = pytest.mark.slow
SEED = 20261206
REFUSING = "ticket API answers 429/500/503 for 50 simulated minutes"
KILLED = "SIGKILL while the ticket is filed, restarted"
CLOSE_REFUSED = "ticket close refused once, after its comment"
known(FAULTS, *(f"{REFUSING} ({v})" for v in ("Jira", "GitHub")),
      *(f"{CLOSE_REFUSED} ({v})" for v in ("Jira", "GitHub")),
      *(f"{KILLED} ({v})" for v in ("Jira", "GitHub")), owner=__name__)
SHARE = 0.7
"""Of the requests made while the API is failing, the share refused (seeded per run)."""
WAITS = {429: {"Retry-After": "120"}, 503: {"Retry-After": "60"}, 500: {}}
STATUSES = (429, 503, 500)
"""The refusals, in turn."""
KILLED_STATUS = 999
"""In the request log: the cycle was killed as this request arrived (the vendor did nothing)."""


@dataclass(frozen=True)
class System:
    """One ticket system: its stand-in, the notifier's YAML, and its requests by purpose."""

    name: str
    vendor: Callable[[], Vendor]
    notifier: Callable[[str, Path], str]
    create: Callable[[str, str], bool]
    lookup: Callable[[str, str], bool]
    comment: Callable[[str, str], bool]
    close: Callable[[str, str], bool]


SYSTEMS = (
    System("Jira", lambda: Jira(version=3),
           lambda url, token: (f"  tickets: {{type: jira, url: '{url}', api_version: 3, "
                               f"project: SEC, user: bot@example.com, token_file: '{token}'}}\n"),
           lambda m, p: (m, p) == ("POST", "/rest/api/3/issue"),
           lambda m, p: (m, p) == ("POST", "/rest/api/3/search/jql"),
           lambda m, p: m == "POST" and p.endswith("/comment"),
           lambda m, p: m == "POST" and p.endswith("/transitions")),
    System("GitHub", GitHub,
           lambda url, token: (f"  tickets: {{type: github, repo: acme/security, "
                               f"api_url: '{url}', token_file: '{token}'}}\n"),
           lambda m, p: (m, p) == ("POST", "/repos/acme/security/issues"),
           lambda m, p: (m, p) == ("GET", "/repos/acme/security/issues"),
           lambda m, p: m == "POST" and p.endswith("/comments"),
           lambda m, p: m == "PATCH"),
)


@dataclass
class Switch:
    """Sits in front of a stand-in's answers: refuses a share of requests while `failing`, and
    can SIGKILL the cycle's process at a request of a given purpose."""

    vendor: Vendor
    chance: random.Random = field(default_factory=lambda: random.Random(SEED))
    failing: bool = False
    refused: Counter[int] = field(default_factory=Counter)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path, status) of every request, as answered."""
    refuse: Callable[[str, str], int | None] | None = None
    """Given a request, a status to refuse it with (None: answer it)."""
    kill: Callable[[str, str], str | None] | None = None
    """Given a request, "before" or "after" (the vendor acted) to kill the cycle there."""
    pid: int | None = None
    kills: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.real = self.vendor.answer
        self.vendor.answer = self.answer  # type: ignore[method-assign]

    def answer(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        when = self.kill(method, path) if self.kill and self.pid else None
        if when == "before":  # the vendor never sees it; nobody reads this answer
            self._kill(when)
            self.log.append((method, path, KILLED_STATUS))
            return 503, {}, {"message": "killed"}
        chosen = self.refuse(method, path) if self.refuse else None
        if chosen or (self.failing and self.chance.random() < SHARE):
            status = chosen or STATUSES[sum(self.refused.values()) % len(STATUSES)]
            self.refused[status] += 1
            answer: tuple[int, dict[str, str], Any] = (status, WAITS[status],
                                                       {"message": f"injected {status}"})
        else:
            answer = self.real(method, path, query, headers, body)
        if when == "after":
            self._kill(when)
        self.log.append((method, path, answer[0]))
        return answer

    def _kill(self, when: str) -> None:
        """The cycle's process is waiting for this very answer, so it is alive and unreaped:
        its pid cannot have been reused."""
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        self.kills.append(when)
        self.pid = None


def repeated_comments(system: System, log: list[tuple[str, str, int]]) -> int:
    """Comments the vendor took whose send then failed at the next request (the transition or
    the close refused): the outbox retries the whole resolution, comment included."""
    return sum(1 for (m, p, status), (_, _, after) in pairwise(log)
               if system.comment(m, p) and status < 300 and after >= 400)


@pytest.fixture(params=SYSTEMS, ids=[s.name for s in SYSTEMS])
def system(request: pytest.FixtureRequest) -> System:
    return request.param


@pytest.fixture
def ticket_api(system: System) -> Iterator[tuple[Switch, str]]:
    vendor = system.vendor()
    with serving(vendor) as url:
        yield Switch(vendor), url


def setup(system: System, vendor: Vendor, url: str, db: str, smtp_port: int,
          folder: Path) -> Path:
    token = folder / "ticket-token"
    token.write_text(vendor.token)  # type: ignore[attr-defined]
    return write_config(folder, db, smtp_port, notifiers=system.notifier(url, token))


def the_ticket(vendor: Vendor) -> Ticket:
    tickets = list(vendor.issues.values())  # type: ignore[attr-defined]
    assert len(tickets) == 1, tickets
    return tickets[0]


def ticket_rows(url: str) -> tuple[int, int, list[str]]:
    """(failed sends, sent messages, last errors) of the ticket channel in the outbox."""
    with Store.open(url) as store:
        stats = {c.channel: c for c in store.channel_delivery()}["tickets"]
        rows = [n for n in store.notifications() if n.channel == "tickets"]
    return stats.failed, len([n for n in rows if n.sent_at]), [n.last_error or "" for n in rows]


def drain(runs: Runs, url: str, most: int = 6) -> None:
    """Clean cycles until the outbox holds nothing unsent (a message refused five times waits
    16 simulated minutes, more than a cycle's spacing)."""
    for _ in range(most):
        with Store.open(url) as store:
            if all(n.sent_at for n in store.notifications()):
                return
        runs.cycle()


CASES = [pytest.param(s, "SQLite", id=f"{s.name}-SQLite") for s in SYSTEMS] + [
    pytest.param(SYSTEMS[0], "PostgreSQL", id="Jira-PostgreSQL", marks=pytest.mark.postgres)]
"""Both systems on SQLite; on PostgreSQL once (the store's part is the same for both)."""


@pytest.mark.parametrize(("system", "name"), CASES)
def test_a_ticket_api_refusing_for_a_while_files_one_ticket_and_closes_it_once(
        system, name, ticket_api, endpoint, zygote, inbox, tmp_path, request):
    url = (f"sqlite:///{tmp_path}/cg.db" if name == "SQLite"
           else request.getfixturevalue("pg_url"))
    switch, api = ticket_api
    runs = Runs(setup(system, switch.vendor, api, url, inbox.port, tmp_path), zygote)

    def failing() -> int:
        switch.failing = True
        try:
            return runs.cycle()
        finally:
            switch.failing = False

    # Five cycles ten simulated minutes apart: the detection, two more, the fix, the first
    # after it. Then the API answers again.
    wrongly = play(runs, Attack(endpoint), url, before_fix=[failing] * 3,
                   after_fix=[failing] * 2, settle=1)
    drain(runs, url)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    failed, sent, errors = ticket_rows(url)
    ticket = the_ticket(switch.vendor)
    repeats = repeated_comments(system, switch.log)
    refusals = ", ".join(f"{n}x {s}" for s, n in sorted(switch.refused.items()))
    record_fault(f"{REFUSING} ({system.name})", name, runs=len(runs.codes),
                 expected=result.expected, delivered=result.delivered,
                 duplicated=result.duplicated, lost=result.lost,
                 wrongly_resolved=result.wrongly_resolved, intact=result.intact,
                 seen_as=f"{sum(switch.refused.values())} refusals ({refusals}): {failed} failed "
                         f"sends in the delivery metrics; 1 ticket, closed once; "
                         + (f"resolution comment repeated {repeats}x (the close after it "
                            "refused)" if repeats else "no comment repeated"))

    assert switch.vendor.problems == []
    assert runs.errors == [] and set(runs.codes) == {0}, runs.codes
    assert set(switch.refused) == {429, 500, 503} and failed == sum(switch.refused.values())
    assert sent == 2 and all("injected" in e for e in errors if e)
    assert len([1 for m, p, s in switch.log if system.create(m, p) and s < 300]) == 1
    assert ticket.state in ("done", "closed") and len(ticket.history) == 1
    assert len(ticket.comments) == 1 + repeats  # the resolution's; the create has no comment
    assert (result.delivered, result.duplicated, result.lost) == (2, 0, 0)
    assert result.wrongly_resolved == 0 and result.intact and result.open_findings == 0


KILLS = 8


def test_sigkill_while_the_ticket_is_filed_never_files_a_second(
        system, ticket_api, sqlite_only, endpoint, zygote, inbox, tmp_path):
    """Eight cycles in a row are killed at a create request or at the lookup of an unrecorded
    create, before or after the vendor acted on it (seeded): a kill after the vendor created the
    ticket leaves the record `pending`, and every restart must look for the ticket by its label
    and never file another; the ninth, not killed, finds it and records it. A kill also costs
    the in-flight message its lease (five minutes): the next cycle, ten simulated minutes
    later, sends it."""
    name, url = sqlite_only
    switch, api = ticket_api
    runs = Runs(setup(system, switch.vendor, api, url, inbox.port, tmp_path), zygote)
    runs.cycle()  # the store exists before the first kill, as a daemon's would
    chance = random.Random(SEED)

    def kill_at(method: str, path: str) -> str | None:
        """Every create is killed; a lookup is too once the vendor holds the ticket, and
        before that may pass, so that creates are tried (and killed) again."""
        if system.create(method, path):
            return chance.choice(("before", "after"))
        if not system.lookup(method, path):
            return None
        held = bool(switch.vendor.issues)  # type: ignore[attr-defined]
        return chance.choice(("before", "after") if held else ("before", "after", None))

    switch.kill = kill_at

    def killed() -> int:
        pid = runs.start()
        switch.pid = pid
        code = runs.finish(pid)
        switch.pid = None  # a cycle that made no such request was not killed
        return code

    wrongly = play(runs, Attack(endpoint), url, before_fix=[killed] * KILLS,
                   after_fix=[runs.cycle], settle=1)
    drain(runs, url)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    ticket = the_ticket(switch.vendor)
    created = len([1 for m, p, s in switch.log if system.create(m, p) and s < 300])
    tried = len([1 for m, p, _ in switch.log if system.create(m, p)])
    lookups = len([1 for m, p, _ in switch.log if system.lookup(m, p)])
    record_fault(f"{KILLED} ({system.name})", name, runs=len(runs.codes),
                 expected=result.expected, delivered=result.delivered,
                 duplicated=result.duplicated, lost=result.lost,
                 wrongly_resolved=result.wrongly_resolved, intact=result.intact,
                 seen_as=f"{len(switch.kills)} kills ({switch.kills.count('after')} after the "
                         f"vendor acted) at {tried} creates and {lookups} lookups by label; "
                         f"{created} ticket created, closed once")

    assert switch.vendor.problems == []
    assert len(switch.kills) == KILLS and set(runs.codes) <= {0, -9} and runs.errors == []
    assert runs.codes.count(-9) == len(switch.kills)
    assert created == 1 and len([1 for _, _, s in switch.log if s == KILLED_STATUS]) == len(
        [k for k in switch.kills if k == "before"])
    assert ticket.state in ("done", "closed") and len(ticket.history) == 1
    assert result.lost == 0 and result.delivered == 2
    assert result.duplicated <= len(switch.kills)
    assert result.wrongly_resolved == 0 and result.intact and result.open_findings == 0


def test_a_close_refused_after_its_comment_does_not_repeat_the_comment(
        system, ticket_api, sqlite_only, endpoint, zygote, inbox, tmp_path):
    """The one resolution step that is two requests (comment, then the transition or the
    close): the vendor takes the comment and answers the close 503 once. The channel records
    the comment as taken before asking for the close, so the retry only closes. The row is
    written whatever the outcome, before the assertions."""
    name, url = sqlite_only
    switch, api = ticket_api
    runs = Runs(setup(system, switch.vendor, api, url, inbox.port, tmp_path), zygote)
    closes: list[str] = []

    def refuse_first_close(method: str, path: str) -> int | None:
        if system.close(method, path) and not closes:
            closes.append(path)
            return 503
        return None

    def close_refused() -> int:
        switch.refuse = refuse_first_close
        try:
            return runs.cycle()
        finally:
            switch.refuse = None

    wrongly = play(runs, Attack(endpoint), url, before_fix=[runs.cycle],
                   after_fix=[close_refused], settle=1)
    drain(runs, url)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    failed, sent, _ = ticket_rows(url)
    ticket = the_ticket(switch.vendor)
    record_fault(f"{CLOSE_REFUSED} ({system.name})", name, runs=len(runs.codes),
                 expected=result.expected, delivered=result.delivered,
                 duplicated=result.duplicated, lost=result.lost,
                 wrongly_resolved=result.wrongly_resolved, intact=result.intact,
                 seen_as=f"{failed} failed send in the delivery metrics; 1 ticket, closed once; "
                         f"{len(ticket.comments)} resolution comments (**the comment repeats**)"
                         if len(ticket.comments) > 1 else
                         f"{failed} failed send; 1 ticket, closed once; 1 resolution comment")

    assert switch.vendor.problems == [] and runs.errors == [] and closes
    assert failed == 1 and sent == 2
    assert ticket.state in ("done", "closed") and len(ticket.history) == 1
    assert (result.delivered, result.duplicated, result.lost) == (2, 0, 0)
    assert result.wrongly_resolved == 0 and result.intact
    assert len(ticket.comments) == 1, ticket.comments
