"""Reading Sigma rule files: every problem as FILE:LINE:COL with the rule's title, rules for
other log sources left out, exclusions, and where relative paths point."""

from __future__ import annotations

import textwrap
from pathlib import Path

from costguard.activity.sigma_rules import compile_rules, severities
from costguard.model import Severity
from costguard.settings.paths import shipped_dir
from costguard.settings.sigma_files import read_rules, rule_paths

GOOD = """\
title: Trail stopped
id: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventName: StopLogging
    condition: selection
level: high
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_rules_are_found_recursively_and_other_log_sources_are_left_out(tmp_path: Path):
    write(tmp_path, "aws/trail.yml", GOOD)
    write(tmp_path, "windows/proc.yml", GOOD.replace("product: aws", "product: windows")
          .replace("9a8b", "1a8b"))
    found = read_rules([tmp_path])
    assert [r.title for r in found.rules] == ["Trail stopped"]
    assert found.other_logsources == 1
    assert found.problems == ()


def test_every_problem_points_at_its_line(tmp_path: Path):
    bad_modifier = write(tmp_path, "a.yml", GOOD.replace("eventName:", "eventName|nope:"))
    bad_condition = write(tmp_path, "b.yml", GOOD.replace("condition: selection",
                                                          "condition: selection and"))
    bad_level = write(tmp_path, "c.yml", GOOD.replace("level: high", "level: severe"))
    not_yaml = write(tmp_path, "d.yml", "title: [unclosed\n")
    problems = [str(p) for p in read_rules([tmp_path]).problems]
    assert problems[0] == f"{bad_modifier}:8:9: rule 'Trail stopped': Unknown modifier 'nope'"
    assert problems[1].startswith(f"{bad_condition}:9:5: rule 'Trail stopped': Expected")
    assert problems[2].startswith(f"{bad_level}:10:1: rule 'Trail stopped': ")
    assert problems[3].startswith(f"{not_yaml}:")
    assert len(problems) == 4


def test_a_missing_path_and_a_duplicate_id_are_problems(tmp_path: Path):
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "b.yml", GOOD)
    found = read_rules([tmp_path, tmp_path / "nope"])
    _, problems = compile_rules(found.rules)
    assert str(found.problems[0]) == f"{tmp_path / 'nope'}:1:1: no such Sigma rule file or folder"
    assert "is also the id of" in str(problems[0])


def test_excluded_rules_are_left_out(tmp_path: Path):
    write(tmp_path, "a.yml", GOOD)
    assert read_rules([tmp_path], ["9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"]).rules == ()
    assert read_rules([tmp_path], ["Trail stopped"]).rules == ()


def test_levels_map_to_severities(tmp_path: Path):
    write(tmp_path, "a.yml", GOOD)
    rules, _ = compile_rules(read_rules([tmp_path]).rules, severities({"high": Severity.LOW}))
    assert rules.rules[0].severity is Severity.LOW


def test_paths_resolve_against_the_config_then_the_shipped_files(tmp_path: Path):
    (tmp_path / "mine").mkdir()
    assert rule_paths(tmp_path, ["mine"]) == [tmp_path / "mine"]
    assert rule_paths(tmp_path, ["policies/sigma"]) == [shipped_dir("policies") / "sigma"]
    assert rule_paths(None, None) == [shipped_dir("policies") / "sigma"]


def test_the_shipped_rules_load_without_problems():
    found = read_rules(rule_paths(None, None))
    rules, problems = compile_rules(found.rules)
    assert found.problems == () and problems == []
    assert len(rules) >= 10
