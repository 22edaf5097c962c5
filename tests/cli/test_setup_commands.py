"""`costguard setup events` and the setup statement of `costguard iam-policy`, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from click.testing import CliRunner
from moto import mock_aws

from costguard.cli.main import main
from costguard.collectors.permissions import SETUP_PERMISSIONS


def test_dry_run_then_apply_then_nothing_to_do(tmp_path: Path) -> None:
    config = tmp_path / "costguard.yml"
    config.write_text("events:\n  queue_name: cg-events\n  regions: [us-east-1]\n")
    runner = CliRunner()
    with mock_aws():
        dry = runner.invoke(main, ["setup", "events", "-c", str(config), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert dry.output.rstrip().endswith("(dry run)")
        sqs = boto3.client("sqs", region_name="us-east-1")
        assert sqs.list_queues().get("QueueUrls", []) == []
        applied = runner.invoke(main, ["setup", "events", "-c", str(config)])
        assert applied.exit_code == 0, applied.output
        assert "changes made" in applied.output.splitlines()[-1]
        assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]] == ["cg-events"]
        rules = boto3.client("events", region_name="us-east-1").list_rules(
            NamePrefix="costguard-")["Rules"]
        assert len(rules) == 3
        again = runner.invoke(main, ["setup", "events", "-c", str(config)])
        assert again.output.splitlines()[-1] == "no changes: the event pipeline is already set up"


def test_regions_option_overrides_config(tmp_path: Path) -> None:
    runner = CliRunner()
    with mock_aws():
        result = runner.invoke(main, ["setup", "events", "--regions", "eu-west-1,us-east-1"])
        assert result.exit_code == 0, result.output
        for region in ("eu-west-1", "us-east-1"):
            urls = boto3.client("sqs", region_name=region).list_queues()["QueueUrls"]
            assert [u.rsplit("/", 1)[-1] for u in urls] == ["costguard-events"]


def test_without_regions_every_enabled_region_is_set_up(tmp_path: Path) -> None:
    runner = CliRunner()
    with mock_aws():
        enabled = [r["RegionName"] for r in boto3.client("ec2", region_name="us-east-1")
                   .describe_regions()["Regions"] if r.get("OptInStatus") != "not-opted-in"]
        result = runner.invoke(main, ["setup", "events", "--dry-run"])
        assert result.exit_code == 0, result.output
        planned = {line.split(" in ")[-1].split(" ")[0] for line in result.output.splitlines()
                   if line.startswith("create queue")}
        assert planned == set(enabled)
        assert "ap-south-1" in planned


def test_the_s3_trail_source_adds_reading_the_trail_s_log_files(tmp_path: Path) -> None:
    config = tmp_path / "costguard.yml"
    config.write_text("events:\n  s3_trail: {queue_name: trail-objects}\n")
    doc = json.loads(CliRunner().invoke(main, ["iam-policy", "-c", str(config)]).output)
    statements = {s["Sid"]: s for s in doc["Statement"]}
    assert statements["CostguardTrailFiles"]["Action"] == ["s3:GetObject"]


def test_iam_policy_has_a_separate_setup_statement_only_with_setup() -> None:
    result = CliRunner().invoke(main, ["iam-policy", "--setup"])
    doc = json.loads(result.output)
    statements = {s["Sid"]: s for s in doc["Statement"]}
    assert statements["CostguardSetupEvents"]["Action"] == sorted(SETUP_PERMISSIONS)
    assert "arn:aws:sqs:*:*:costguard-events" in statements["CostguardSetupEvents"]["Resource"]
    read = statements["CostguardRead"]["Action"]
    assert not set(read) & set(SETUP_PERMISSIONS)
    assert statements["CostguardSetupRegions"]["Action"] == ["ec2:DescribeRegions"]
    assert "CostguardTrailFiles" not in statements
    writes = ("Create", "Put", "Set", "Delete", "Update", "Stop", "Attach")
    assert [a for a in read if a.split(":")[1].startswith(writes)] == []
    assert statements["CostguardEventQueue"]["Action"] == [
        "sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
    assert "CostguardContainInstances" not in statements

    plain = json.loads(CliRunner().invoke(main, ["iam-policy"]).output)
    assert {s["Sid"] for s in plain["Statement"]} == {"CostguardRead", "CostguardEventQueue"}


def test_auto_contain_without_contain_is_a_note_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "p.yml").write_text(
        "policies:\n  - {name: types, check: instance_types, severity: high,\n"
        "     params: {allowed: [t3.micro]}, auto_contain: true}\n")
    config = tmp_path / "costguard.yml"
    config.write_text("policies: [p.yml]\n")
    result = CliRunner().invoke(main, ["iam-policy", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "policies types enable auto_contain" in result.stderr
    doc = json.loads(result.stdout)
    assert "CostguardContainInstances" not in {s["Sid"] for s in doc["Statement"]}
    contained = json.loads(CliRunner().invoke(
        main, ["iam-policy", "-c", str(config), "--contain"]).stdout)
    statements = {s["Sid"]: s for s in contained["Statement"]}
    assert statements["CostguardContainInstances"]["Action"] == ["ec2:StopInstances"]
    assert statements["CostguardContainAccessKeys"]["Resource"] == "arn:aws:iam::*:user/*"
