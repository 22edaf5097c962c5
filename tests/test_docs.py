"""Docs that are generated or promised must match the code."""

from __future__ import annotations

import re
from pathlib import Path

from costguard.checks import default_registry
from costguard.checks.catalog import checks_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_checks_md_is_current() -> None:
    """docs/checks.md is generated; regenerate with `costguard checks --format markdown`."""
    committed = (ROOT / "docs" / "checks.md").read_text()
    assert committed == checks_markdown(default_registry()) + "\n", (
        "docs/checks.md is stale: run `costguard checks --format markdown > docs/checks.md`"
    )


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_ci_runs_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_walk_of_one_finding_names_modules_that_exist_in_at_most_twelve_hops() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    walk = text.split("## The walk of one finding", 1)[1].split("\n## ", 1)[0]
    hops = re.findall(r"^\d+\. ", walk, flags=re.MULTILINE)
    named = set(re.findall(r"`([a-z_/]+\.py)`", walk))
    assert 0 < len(hops) <= 12
    assert named and sorted(p for p in named if not (ROOT / "costguard" / p).is_file()) == []
