"""The mail server failing: refusing for ten simulated minutes, dropping the connection in the
middle of DATA, and dropping it after DATA (the message stored, the 250 never heard).

The scenario and the audit are tests/faults/harness.py's (one incident, its alert and its
resolution, through the real cycle); AWS answers normally. The failures are seen in the store's
delivery record, which is what `/metrics` (`costguard_notification_failures_total`) and
`costguard outbox list` show. The refusal and the cut run on SQLite; the drop after DATA, where
the store's record of the send is what decides the duplicate, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from costguard.store import Store

from .harness import Attack, Runs, audit, play, write_config
from .mail import DROP_AFTER_DATA, REFUSE, CuttingRelay, FlakyInbox
from .table import FAULTS, known, record_fault

pytestmark = pytest.mark.slow
REFUSING = "SMTP refuses (451) for 10 simulated minutes"
MID_DATA = "SMTP connection dropped mid-DATA"
AFTER_DATA = "SMTP connection dropped after DATA"
known(FAULTS, REFUSING, MID_DATA, AFTER_DATA, owner=__name__)


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[FlakyInbox]:
    with FlakyInbox(tmp_path / "mail") as server:
        yield server


def failed_sends(url: str) -> int:
    with Store.open(url) as store:
        return sum(c.failed for c in store.channel_delivery())


def finish(name: str, fault: str, runs: Runs, url: str, mail: FlakyInbox, wrongly: int,
           seen: str) -> tuple:
    result = audit(url, mail.messages(), wrongly)
    record_fault(fault, name, runs=len(runs.codes), expected=result.expected,
                 delivered=result.delivered, duplicated=result.duplicated, lost=result.lost,
                 wrongly_resolved=result.wrongly_resolved, intact=result.intact, seen_as=seen)
    assert runs.errors == [] and set(runs.codes) == {0}, (runs.codes, runs.errors)
    assert result.lost == 0 and result.delivered == result.expected
    assert result.wrongly_resolved == 0 and result.intact
    return result


def test_a_server_refusing_for_ten_minutes_gets_every_message_once_after(
        sqlite_only, endpoint, zygote, mail, tmp_path):
    name, url = sqlite_only
    runs = Runs(write_config(tmp_path, url, mail.port), zygote, spacing=120)

    def at_minute() -> int:
        mail.mode = REFUSE if len(runs.codes) * runs.spacing < 600 else "accept"
        return runs.cycle()

    wrongly = play(runs, Attack(endpoint), url, before_fix=[at_minute] * 6,
                   after_fix=[runs.cycle], settle=1)
    failures = failed_sends(url)
    result = finish(name, REFUSING, runs, url, mail, wrongly,
                    f"{mail.handler.refused} refusals; {failures} failed sends in the "
                    "delivery metrics, then sent")
    assert result.duplicated == 0
    assert failures == mail.handler.refused >= 4  # tried at 0, 2, 4 and 6 minutes at least


def test_a_connection_cut_mid_data_is_sent_again_and_arrives_once(
        sqlite_only, endpoint, zygote, mail, tmp_path):
    name, url = sqlite_only
    relay = CuttingRelay(mail.port)
    runs = Runs(write_config(tmp_path, url, relay.port), zygote)

    def cut() -> int:
        relay.cut = True
        code = runs.cycle()
        relay.cut = False
        return code

    try:
        wrongly = play(runs, Attack(endpoint), url, before_fix=[cut], after_fix=[cut])
    finally:
        relay.close()
    failures = failed_sends(url)
    result = finish(name, MID_DATA, runs, url, mail, wrongly,
                    f"{relay.cuts} cuts; {failures} failed sends in the delivery metrics, "
                    "then sent")
    assert relay.cuts == failures >= 2 and result.duplicated == 0


def test_a_connection_dropped_after_data_duplicates_with_the_same_message_id(
        database, endpoint, zygote, mail, tmp_path):
    """The one duplicate the design accepts: the server has the message, costguard cannot know
    it and sends it again; both copies carry the same Message-ID (docs/reliability.md)."""
    name, url = database
    runs = Runs(write_config(tmp_path, url, mail.port), zygote)

    def drop() -> int:
        mail.mode = DROP_AFTER_DATA
        code = runs.cycle()
        mail.mode = "accept"
        return code

    wrongly = play(runs, Attack(endpoint), url, before_fix=[drop], after_fix=[drop])
    result = finish(name, AFTER_DATA, runs, url, mail, wrongly,
                    f"{mail.handler.dropped} drops; {failed_sends(url)} failed sends in the "
                    "delivery metrics; each copy has the first one's Message-ID")
    # each drop leaves one extra copy: the alert's first send was due again in the second cycle
    assert mail.handler.dropped == result.duplicated >= 2
