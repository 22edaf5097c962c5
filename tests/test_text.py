"""Tables for terminals and pipes: fit the terminal's width, never cut when piped; and names an
attacker chose: one line and capped where shown, quoted whole where run."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from costguard.text import MIN_COLUMN, SHORT, money, oneline, sh, short, table

ARN = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0123456789abcdef0"
TITLE = "Security group open to the internet on port 22 (SSH) and 3389 (RDP) from 0.0.0.0/0"
ROWS = [(1, "high", ARN, TITLE), (2, "low", "i-0abc", "short")]
HEADERS = ("id", "severity", "resource", "title")


def test_piped_tables_are_never_cut():
    text = table(ROWS, HEADERS)

    assert ARN in text and TITLE in text
    assert "\u2026" not in text


def test_a_terminal_table_fits_its_width_and_keeps_whole_columns():
    text = table(ROWS, HEADERS, width=120, whole=("resource",))

    assert all(len(line) <= 120 for line in text.splitlines())
    assert ARN in text  # ids a reader copies are never shortened
    assert "\u2026" in text  # the title gave way


def test_a_narrow_terminal_shortens_but_keeps_something_of_each_column():
    text = table(ROWS, HEADERS, width=20)

    header = text.splitlines()[0]
    assert header.startswith("ID  SEVERITY  RESOURCE")
    widths = [len(cell) for cell in text.splitlines()[1].split("  ") if cell]
    assert min(widths) >= 1 and max(widths) >= MIN_COLUMN


def test_cells_are_one_line_whatever_they_hold():
    text = table([(1, "evil\r\nINJECTED: yes")], ("id", "name"))

    assert len(text.splitlines()) == 2


def test_money_has_one_spelling():
    assert money(4896) == "$4,896.00"
    assert money(None) == "unknown"


# --- untrusted names: one line, capped, quoted whole ------------------------------------------

BIDI = "evil\u202egpj.exe"
NAMES = ["plain", "x'; rm -rf / #", "a\r\nBcc: evil@x", BIDI, "tab\there", "{{ 7*7 }}",
         "caf\u00e9 \u2028 line", "\x00nul", "back\\slash 'q'", "k" * 10_000]


def test_bidirectional_controls_are_shown_not_obeyed():
    assert oneline(BIDI) == "evil<U+202E>gpj.exe"
    assert "\u202e" not in short(BIDI)


def test_short_keeps_one_line_and_at_most_200_characters():
    long = short("k" * 10_000)

    assert len(long) == SHORT and long.endswith("\u2026")
    assert short("a\r\nb") == "a b"


@pytest.mark.parametrize("name", NAMES)
def test_sh_is_printable_on_one_line(name):
    quoted = sh(name)

    assert quoted.isprintable()  # line breaks and controls become visible escapes
    assert "\n" not in quoted and "\r" not in quoted and "\u202e" not in quoted


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to run the quoted word")
@pytest.mark.parametrize("name", [n for n in NAMES if "\x00" not in n])
def test_sh_gives_bash_back_exactly_the_value(name):
    """Quoted whole: the shell hands the command the very name, byte for byte (a NUL can be
    no command's argument at all, so it is left out)."""
    script = f"printf '%s' {sh(name)}"
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout

    assert out.decode("utf-8") == name


def test_bounded_cuts_every_string_and_makes_nul_and_bad_utf8_visible():
    from costguard.text import bounded

    value = {"k" * 50: ["a" * 50, {"n": "x\x00y", "s": "p\ud800q", "i": 7}], "t": ("ok",)}
    assert bounded(value, limit=10) == {
        "kkkkkkkkk\u2026": ["aaaaaaaaa\u2026", {"n": "x<U+0000>y", "s": "p\\ud800q", "i": 7}],
        "t": ["ok"]}
    assert bounded("\u202e\U0001F600<b>") == "\u202e\U0001F600<b>"  # the data; display escapes
