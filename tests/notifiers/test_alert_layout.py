"""The demo's own messages (tests/notifiers/demo_incident.py): golden files for the alert, an
update and the resolution, the first-screen figures the layout promises, and one money
vocabulary.

Regenerate the golden files after a deliberate change with
`COSTGUARD_REGEN_GOLDEN=1 pytest tests/notifiers/test_alert_layout.py`, read the diff, commit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from costguard.alerts.alert import Alert
from costguard.alerts.compose import build_message
from costguard.alerts.render import Renderer
from costguard.model import AlertKind, Message
from costguard.spend.incident_cost import MONEY_WORDS

from .demo_incident import new_alert, resolved_alert, update_alert

GOLDEN = Path(__file__).parent / "golden"
REGEN = "COSTGUARD_REGEN_GOLDEN"
ALERTS = {"demo_new": new_alert, "demo_update": update_alert, "demo_resolved": resolved_alert}
MAX_LINES = 150
FIRST_COMMAND_BY = 40


def message(name: str) -> Message:
    """One of the demo's messages, rendered with the shipped templates."""
    return build_message(ALERTS[name](), Renderer())


@pytest.mark.parametrize("suffix", ["txt", "html"])
@pytest.mark.parametrize("name", ALERTS)
def test_the_demos_messages_match_their_golden_files(name, suffix):
    rendered = getattr(message(name), "text" if suffix == "txt" else "html")
    golden = GOLDEN / f"{name}.{suffix}"
    if os.environ.get(REGEN) == "1":
        golden.write_bytes(rendered.encode("utf-8"))
        pytest.skip(f"wrote {golden}: read the diff before committing it")
    if not golden.exists():
        pytest.fail(f"{golden} is missing: run with {REGEN}=1 and check the output")
    assert rendered == golden.read_bytes().decode("utf-8")


def first_command_line(text: str) -> int:
    """The 1-based line of the first `aws` command."""
    return next(n for n, line in enumerate(text.splitlines(), 1)
                if line.lstrip().startswith("aws "))


def test_the_demo_alert_is_short_and_leads_with_a_command():
    text = message("demo_new").text

    assert len(text.splitlines()) <= MAX_LINES
    assert first_command_line(text) <= FIRST_COMMAND_BY
    head = "\n".join(text.splitlines()[:FIRST_COMMAND_BY])
    # what happened, where, the burn rate, before the first command
    assert "Root credentials in use" in head and "account 123456789012" in head
    assert "us-east-1" in head and "Burn rate now: $6.98/h" in head


def test_each_region_is_stopped_once_with_exactly_the_incidents_instances():
    for alert, regions in ((new_alert(), 1), (update_alert(), 2)):
        text = build_message(alert, Renderer()).text
        stops = [line.split() for line in text.splitlines() if "stop-instances" in line]

        assert len(stops) == regions
        stopped = {word for stop in stops for word in stop if word.startswith("i-")}
        assert stopped == {v[9:] for f in alert.findings for v in f.entities
                           if v.startswith("instance:")}


def test_the_findings_list_comes_after_the_first_actions_one_line_each():
    text = message("demo_new").text
    lines = text.splitlines()

    assert text.index("FIRST ACTIONS") < text.index("FINDINGS (20: 3 critical, 17 high)")
    for f in new_alert().findings:
        assert sum(f"#{f.id} {str(f.severity).upper()} " in line for line in lines) == 1
    assert "  unapproved-instance-types (10)" in lines


def money_values(text: str) -> dict[str, set[str]]:
    """Each money word with every figure that follows it in a message."""
    return {word: set(re.findall(re.escape(word) + r"[^$]{0,60}(\$[\d,]+\.\d\d)", text))
            for word in MONEY_WORDS}


@pytest.mark.parametrize("make", [new_alert, update_alert])
def test_one_money_vocabulary_each_figure_once(make: type[Alert]):
    shown = build_message(make(), Renderer())
    text, html = shown.text, re.sub(r"<[^>]+>", " ", shown.html)

    for word, values in money_values(text).items():
        assert len(values) <= 1, (word, values)  # the same word never names two figures
        assert money_values(html)[word] == values
    for old in ("Burn rate added", "At this rate", "so far)", "by the end of the month"):
        assert old not in text


def test_the_resolution_says_the_cost_up_to_the_fix_not_the_alerts_figure():
    alert, fixed = message("demo_new").text, message("demo_resolved").text

    [so_far] = money_values(alert)["Cost so far"]
    [to_fix] = money_values(fixed)["Cost up to the fix"]
    # ten c5.4xlarge at $0.68/h from launch to the resolution, 37 minutes after detection
    assert (so_far, to_fix) == ("$0.11", "$4.20")
    assert "Cost so far" not in fixed and "Projected" not in fixed
    assert f"to {resolved_alert().created_at:%Y-%m-%d %H:%M:%S} UTC)" in fixed


def test_an_update_leads_with_what_is_new():
    text = message("demo_update").text

    assert text.startswith("UPDATE CRITICAL: ")
    assert ("  Instances: i-0c1d2e3f4a5b6c7d8, i-0d2e3f4a5b6c7d8e9\n"
            "  Regions: eu-west-1\n") in text
    assert text.index("NEW SINCE THE LAST MESSAGE") < text.index("FIRST ACTIONS")


@pytest.mark.parametrize("new", [None, "oops", 42, ["i-1", "i-2"], {"instances": "i-1"},
                                 {"weird_key": [{"nested": 1}]}, {"instances": []}])
def test_an_update_reads_whatever_is_new_defensively(new):
    alert = update_alert()
    facts = {**alert.facts, "new": new}

    text = build_message(Alert(**{**alert.__dict__, "facts": facts}), Renderer()).text

    assert text.startswith("UPDATE CRITICAL: ")


def test_the_html_is_email_safe():
    for name in ALERTS:
        html = message(name).html
        for forbidden in ("<script", "<style", "<link", "<img", "src=", "javascript:"):
            assert forbidden not in html.lower(), (name, forbidden)
        assert "max-width:600px" in html
    assert "overflow-wrap:anywhere" in message("demo_new").html.split("<pre", 1)[1][:400]


def test_the_subject_says_which_kind_of_message():
    subjects = {name: message(name).subject for name in ALERTS}

    assert subjects["demo_new"].startswith("[costguard] CRITICAL: Root credentials in use")
    assert subjects["demo_update"].startswith("[costguard] UPDATE CRITICAL: ")
    assert subjects["demo_resolved"].startswith("[costguard] RESOLVED: ")
    assert message("demo_update").kind is AlertKind.UPDATE
