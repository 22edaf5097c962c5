"""The neutral ticket markup into each vendor's format, and the ticket texts' keys: pure."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from costguard.notifiers.ticket_channel import label, retry_after
from costguard.notifiers.ticket_markup import (
    blocks,
    cut,
    md_escape,
    to_adf,
    to_markdown,
    to_plain,
    to_wiki,
    wiki_escape,
)

TEXT = ("Lead line\nsecond\n\n## Resources (2)\n- HIGH arn:a\n- LOW b\n\n"
        "```\naws x 'y'\n```\nafter\n")


def test_blocks_are_paragraphs_headings_bullets_and_fences() -> None:
    assert [(b.kind, b.lines) for b in blocks(TEXT)] == [
        ("paragraph", ("Lead line", "second")), ("heading", ("Resources (2)",)),
        ("bullets", ("HIGH arn:a", "LOW b")), ("code", ("aws x 'y'",)),
        ("paragraph", ("after",)),
    ]


def test_adf_is_a_version_1_doc_of_the_documented_nodes() -> None:
    doc = to_adf(TEXT)
    assert doc["type"] == "doc" and doc["version"] == 1
    assert [n["type"] for n in doc["content"]] == [
        "paragraph", "heading", "bulletList", "codeBlock", "paragraph"]
    assert doc["content"][0]["content"][1] == {"type": "hardBreak"}
    assert doc["content"][3]["content"] == [{"type": "text", "text": "aws x 'y'"}]


def test_each_format_shows_a_fence_inside_a_value_as_text() -> None:
    text = "```\nrm -rf {noformat} ```` [code]\n```\n"
    assert "{noformat}\nrm -rf { noformat} ```` [code]\n{noformat}" in to_wiki(text)
    assert to_markdown(text).startswith("`````sh\n")
    assert "[code]" not in to_plain(text)


@given(st.text(max_size=200))
def test_escaped_values_never_hold_unescaped_markup(value: str) -> None:
    wiki, md = wiki_escape(value), md_escape(value)
    assert wiki.replace("\\\\", "").count("\\") >= sum(c in "{}[]*_|!^~+-?#" for c in value)
    assert all(md[i - 1] == "\\" for i, c in enumerate(md) if c in "<>[]`*@" and i)
    assert not md.startswith(("<", "[", "`", "*", "@"))


def test_a_cut_text_says_so_and_keeps_the_limit() -> None:
    assert cut("abc", 10) == "abc"
    long = cut("x" * 1000, 200)
    assert len(long) == 200 and long.endswith("outbox)\n")


def test_labels_are_words_within_githubs_limit() -> None:
    assert label("incident-12-20261201T100000-new") == "costguard-incident-12-20261201T100000"
    assert label("notify test/ü" + "x" * 80) == ("costguard-notify-test--" + "x" * 80)[:50]


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120
    assert retry_after("Tue, 01 Dec 2026 10:01:00 GMT", now) == 60
    assert retry_after("soon", now) is None and retry_after(None, now) is None
