"""`costguard scan` reports what costguard itself spent on Cost Explorer, and a second scan
within the data's minimum age asks Cost Explorer nothing."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from moto import mock_aws

from costguard.cli.main import main

CONFIG = """\
aws: {regions: [us-east-1]}
policies: [policies.yml]
database: {url: 'sqlite:///%s/cg.db'}
cost: {max_calls_per_day: 12}
"""
POLICIES = """\
policies:
  - {name: hourly-spend, check: hourly_spend}
"""


def test_scan_reports_cost_explorer_spend_and_does_not_ask_twice(tmp_path: Path) -> None:
    (tmp_path / "policies.yml").write_text(POLICIES)
    config = tmp_path / "costguard.yml"
    config.write_text(CONFIG % tmp_path)
    with mock_aws():
        first = CliRunner().invoke(main, ["scan", "--format", "json", "-c", str(config)])
        second = CliRunner().invoke(main, ["scan", "--format", "json", "-c", str(config)])
    spent = [json.loads(r.stdout)["scan"]["cost_explorer"] for r in (first, second)]
    assert spent[0]["calls_today"] >= 2  # hourly and daily (the forecast may be refused)
    assert spent[0]["usd_today"] == round(spent[0]["calls_today"] * 0.01, 2)
    assert spent[0]["max_calls_per_day"] == 12
    assert spent[1]["calls_today"] == spent[0]["calls_today"]  # answered from the store
    assert spent[1]["calls_month"] == spent[0]["calls_month"]


def test_table_output_says_it_too(tmp_path: Path) -> None:
    (tmp_path / "policies.yml").write_text(POLICIES)
    config = tmp_path / "costguard.yml"
    config.write_text(CONFIG % tmp_path)
    with mock_aws():
        result = CliRunner().invoke(main, ["scan", "-c", str(config)])
    line = next(x for x in result.stdout.splitlines() if x.startswith("Cost Explorer"))
    assert "request(s) today" in line and "budget 12/day" in line
