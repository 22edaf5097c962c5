"""`costguard sigma test`: matches printed, exit 0; bad rules or events, one line each, exit 2."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from click.testing import CliRunner

from costguard.activity.trail_files import log_file_events
from costguard.cli.main import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "sigma"
RULE = """\
title: Security group opened to the world
id: 2e7d1c4b-9a8f-4e6d-b5c3-1a2b3c4d5e6f
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: ec2.amazonaws.com
        eventName: AuthorizeSecurityGroupIngress
        requestParameters.ipPermissions.items.ipRanges.items.cidrIp|cidr: 0.0.0.0/0
    condition: selection
level: high
tags: [attack.t1562.007]
"""


def events_file(tmp_path: Path) -> Path:
    envelope = json.loads((FIXTURES / "authorize_security_group_ingress.json").read_text())
    stop = json.loads((FIXTURES / "stop_logging.json").read_text())
    lines = [json.dumps(envelope), "", json.dumps({"Records": [stop["detail"], {"x": 1}]})]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_matches_are_printed_one_per_line(tmp_path: Path):
    rule = tmp_path / "rule.yml"
    rule.write_text(RULE)
    result = CliRunner().invoke(main, ["sigma", "test", str(rule), "--events",
                                       str(events_file(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Security group opened to the world" in lines[0]
    assert "AuthorizeSecurityGroupIngress" in lines[0]
    assert lines[-1].startswith("1 match(es) of 1 rule(s) on 2 event(s); 1 record(s) unreadable")


def test_json_output_carries_the_rule(tmp_path: Path):
    rule = tmp_path / "rule.yml"
    rule.write_text(RULE)
    result = CliRunner().invoke(main, ["sigma", "test", str(rule), "--events",
                                       str(events_file(tmp_path)), "--format", "json"])
    (match,) = json.loads(result.output)
    assert match["rule"]["attack"] == ["T1562.007"]


def test_bad_rules_exit_2_with_one_line_each(tmp_path: Path):
    rule = tmp_path / "rule.yml"
    rule.write_text(RULE.replace("condition: selection", "condition: selection or"))
    result = CliRunner().invoke(main, ["sigma", "test", str(rule), "--events",
                                       str(events_file(tmp_path))])
    assert result.exit_code == 2
    assert result.output.startswith(f"{rule}:11:5: rule 'Security group opened to the world': ")
    assert "Traceback" not in result.output


def test_a_line_that_is_not_json_exits_2(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    events.write_text('{"Records": []}\n{not json\n')
    result = CliRunner().invoke(main, ["sigma", "test", str(SHIPPED), "--events", str(events)])
    assert result.exit_code == 2
    assert result.output.startswith(f"{events}:2:1: not JSON")


def test_log_files_are_read_gzipped_or_plain():
    stop = json.loads((FIXTURES / "stop_logging.json").read_text())["detail"]
    data = json.dumps({"Records": [stop]}).encode()
    assert [e.name for e in log_file_events(gzip.compress(data)).events] == ["StopLogging"]
    assert [e.name for e in log_file_events(data).events] == ["StopLogging"]
    assert log_file_events(b"\x1f\x8bnot gzip").skipped == 1


def test_validate_reports_a_bad_rule_of_the_config_and_exits_2(tmp_path: Path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "good.yml").write_text(RULE)
    bad = rules / "bad.yml"
    bad.write_text(RULE.replace("eventName:", "eventName|nope:").replace("2e7d", "3e7d"))
    config = tmp_path / "costguard.yml"
    config.write_text("events:\n  sigma:\n    rules: [rules, policies/sigma]\n")

    result = CliRunner().invoke(main, ["validate", "-c", str(config)])

    assert result.exit_code == 2
    assert result.output == f"{bad}:9:9: rule 'Security group opened to the world': " \
                            "Unknown modifier 'nope'\n"
    bad.unlink()
    assert CliRunner().invoke(main, ["validate", "-c", str(config)]).exit_code == 0
