"""The weekly email rendered: golden files of the known history, the same facts in both parts,
hostile names escaped, a week of 1,000 findings kept readable, stored figures render the same.

Golden files live in tests/reports/golden/. After a deliberate change, regenerate them with
`COSTGUARD_REGEN_GOLDEN=1 pytest tests/reports`, read the diff, and commit what you checked.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from costguard.alerts.render import Renderer
from costguard.model import Finding, Severity
from costguard.reports.figures import WeeklyFigures
from costguard.reports.weekly_email import build_weekly_message

from .history import EAST, A
from .test_weekly_figures import figures

GOLDEN = Path(__file__).parent / "golden"
HOSTILE = "<script>alert(1)</script>\r\nBcc: evil@x {{ 7*7 }}"


def golden(name: str, rendered: str) -> None:
    """Compare with (or, with COSTGUARD_REGEN_GOLDEN=1, write) tests/reports/golden/NAME."""
    path = GOLDEN / name
    if os.environ.get("COSTGUARD_REGEN_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered.encode("utf-8"))
        pytest.skip(f"wrote {path}: read the diff before committing it")
    if not path.exists():
        pytest.fail(f"{path} is missing: run with COSTGUARD_REGEN_GOLDEN=1 and check the output")
    assert rendered == path.read_bytes().decode("utf-8")


@pytest.fixture
def message(sqlite_history):
    return build_weekly_message(figures(sqlite_history), Renderer())


@pytest.mark.parametrize("part", ["subject", "text", "html"])
def test_the_known_week_matches_its_golden_files(message, part):
    suffix = {"subject": "subject.txt", "text": "txt", "html": "html"}[part]
    value = getattr(message, part) + ("\n" if part == "subject" else "")
    golden(f"weekly.{suffix}", value)


def test_both_parts_carry_the_same_facts(message):
    facts = ["93%", "+48 pts", "$1,260.00", "+64%", "$2,030.00", "$3,390.00", "$6.80/h",
             "1 of 2 (50%) within 30 min", "break-glass", "on it", "CIS 1.5, CIS 1.6, IAM.9",
             "11 of 12 pass", "2026-W47", "security-email", "6 request(s), $0.06"]
    html = re.sub(r"\s+", " ", message.html)
    for fact in facts:
        assert fact in message.text, fact
        assert fact in html, fact


def test_the_html_has_no_script_no_image_and_no_external_resource(message):
    html = message.html.lower()
    assert "<script" not in html and "<img" not in html and "<link" not in html
    assert "http://" not in html and "https://" not in html
    assert 'class="' in html and 'style="' in html  # classes kept, styles inlined
    assert "@media (max-width: 480px)" in html  # the reflow rules stay for clients that read them


def test_hostile_names_are_escaped_and_keep_the_subject_one_line(sqlite_store):
    bad = Finding(check="instance_types", policy="p", severity=Severity.HIGH, account=A,
                  region=EAST, resource=HOSTILE, title=HOSTILE)
    sqlite_store.reconcile(scan_id=None, findings=[bad], scopes=(),
                           now=datetime(2026, 11, 17, tzinfo=timezone.utc))
    m = build_weekly_message(figures(sqlite_store), Renderer())

    assert "<script>" not in m.html and "&lt;script&gt;" in m.html
    assert "\r" not in m.subject and "\n" not in m.subject
    assert "{{ 7*7 }}" in m.text and "49" not in m.text.split("NEW FINDINGS")[1][:200]


def test_a_week_of_a_thousand_findings_shows_the_top_and_the_command_for_the_rest(sqlite_store):
    many = [Finding(check="instance_types", policy="p", severity=Severity.HIGH, account=A,
                    region=EAST, resource=f"arn:aws:ec2:{EAST}:{A}:instance/i-{n:04d}",
                    title=f"Instance i-{n:04d} is not an approved type") for n in range(1000)]
    sqlite_store.reconcile(scan_id=None, findings=many, scopes=(),
                           now=datetime(2026, 11, 17, tzinfo=timezone.utc))
    f = figures(sqlite_store)
    m = build_weekly_message(f, Renderer())

    assert (f.changes.new.total, len(f.changes.new.items)) == (1000, 10)
    assert "and 990 more: costguard findings list --status open" in m.text
    assert "990 more" in m.html
    assert len(m.html) < 100_000 and len(m.text) < 20_000


def test_stored_figures_render_exactly_as_computed_ones(sqlite_history, message):
    computed = figures(sqlite_history)
    stored = WeeklyFigures.model_validate_json(computed.model_dump_json())

    assert stored == computed
    assert build_weekly_message(stored, Renderer()).html == message.html


def test_an_empty_week_says_so_rather_than_showing_zeros_as_facts(sqlite_store):
    m = build_weekly_message(figures(sqlite_store), Renderer())

    assert "POSTURE n/a" in m.text
    assert "No Cost Explorer data stored for this week." in m.text
    assert "No new finding this week." in m.html
