"""Reading a vendor's answer: Retry-After in both forms, and secrets blanked out. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.notifiers.http_post import MAX_RETRY_AFTER_S, redact, retry_after

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("header", "expected"), [
    ("120", NOW + timedelta(seconds=120)),
    (" 0 ", NOW),
    ("Fri, 20 Nov 2026 09:30:00 GMT", NOW + timedelta(minutes=30)),
    ("Fri, 20 Nov 2026 08:00:00 GMT", NOW),  # in the past: now
    ("99999999", NOW + timedelta(seconds=MAX_RETRY_AFTER_S)),
    ("Sat, 20 Nov 2027 09:30:00 GMT", NOW + timedelta(seconds=MAX_RETRY_AFTER_S)),
    ("-5", None), ("soon", None), ("", None), (None, None),
])
def test_retry_after_reads_seconds_or_an_http_date(header: str | None,
                                                    expected: datetime | None) -> None:
    assert retry_after(header, NOW) == expected


def test_redact_blanks_the_longest_secret_first() -> None:
    url = "https://hooks.slack.com/services/T1/B2/tok3n"
    text = f"POST {url} failed; token tok3n"
    assert redact(text, [None, "tok3n", url]) == "POST <redacted> failed; token <redacted>"
