"""Tables for terminals and pipes: fit the terminal's width, never cut when piped."""

from __future__ import annotations

from costguard.text import MIN_COLUMN, money, table

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
