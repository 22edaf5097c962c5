"""The sample reference incident makes every check fire, so `validate` renders every remediation
template with findings (a template that breaks only on data can no longer pass)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from costguard.alerts.template_check import render_remediations, validate_templates
from costguard.checks import default_registry
from costguard.checks import reference_snapshot as samples
from costguard.checks.base import Context
from costguard.model import Finding
from costguard.runtime.bootstrap import read_config
from costguard.settings.config import Config
from costguard.settings.policies import Policy, load_policies
from costguard.settings.problems import InvalidInput

DEFAULT_POLICIES = Path(__file__).resolve().parents[2] / "policies" / "default.yml"
A = samples.ACCOUNT
EAST, WEST = samples.REGION, samples.UNWATCHED_REGION
MINER_ARNS = {f"arn:aws:ec2:{EAST}:{A}:instance/{i}" for i in samples.MINERS}

EXPECTED_RESOURCES = {
    "root_access_key": {samples.ROOT_ARN},
    "root_mfa": {samples.ROOT_ARN},
    "user_mfa": {f"arn:aws:iam::{A}:user/carol"},
    "instance_types": MINER_ARNS,
    "open_admin_ports": {samples.GROUP},
    "hourly_spend": {f"arn:aws:ec2:{EAST}:{A}:burn-rate", f"arn:aws:ce::{A}:cost/daily"},
    "root_activity": {samples.ROOT_ARN},
    "iam_admin_grant": {f"arn:aws:iam::{A}:user/{samples.BACKDOOR_USER}"},
    "suspicious_api": {
        f"arn:aws:ec2:{EAST}:{A}:key-pair/key-0f3a9c2e7b1d48a56",
        f"arn:aws:ec2:{EAST}:{A}:security-group/{samples.GROUP}",
        f"arn:aws:ec2:{EAST}:{A}:security-group/{samples.GROUP}#AuthorizeSecurityGroupIngress",
        f"arn:aws:ec2:{EAST}:{A}:instance/{samples.MINERS[0]}",
        f"arn:aws:iam::{A}:user/{samples.BACKDOOR_USER}",
        samples.BACKDOOR_KEY,
        f"{samples.TRAIL_ARN}#StopLogging",
    },
    "access_denied": {f"arn:aws:iam::{A}:user/{samples.BACKDOOR_USER}#access-denied"},
    "remote_command": {f"arn:aws:iam::{A}:user/{samples.BACKDOOR_USER}#ssm/{EAST}"},
    "external_access": {f"arn:aws:ec2:{EAST}:{A}:snapshot/{samples.SNAPSHOT}"},
    "sigma": {f"{samples.ROOT_ARN}#sigma/{samples.SIGMA_RULE_ID}"},
    "guardduty": {f"arn:aws:guardduty:{EAST}:{A}:detector/{samples.DETECTOR}"
                  f"/finding/{samples.GD_FINDING_ID}"},
    "instance_surge": {f"arn:aws:ec2:{EAST}:{A}:launch-surge"},
    "cloudtrail_logging": {samples.TRAIL_ARN, f"arn:aws:cloudtrail:{WEST}:{A}:trail-coverage"},
    "guardduty_enabled": {f"arn:aws:guardduty:{WEST}:{A}:detector"},
    "costguard_health": {f"costguard:health/inventory/{A}/{WEST}"},
    "account_access": {samples.MEMBER_ROLE},
    "daily_spend": {f"arn:aws:ce::{A}:daily/{samples.EC2_COMPUTE}", f"arn:aws:ce::{A}:daily/total"},
    "monthly_forecast": {f"arn:aws:ce::{A}:forecast/2026-11/{pct}" for pct in (80, 100, 120)},
}
"""What each check must find in the sample: the attack's resources, never the team's own."""

REGISTRY = default_registry()


@pytest.fixture(scope="module")
def policies() -> list[Policy]:
    return load_policies([DEFAULT_POLICIES], REGISTRY)


@pytest.fixture(scope="module")
def config() -> Config:
    return read_config(None, env={})


def evaluate(policy: Policy) -> list[Finding]:
    """The policy's findings on the sample, with the options validate passes."""
    check = REGISTRY.get(policy.check)
    assert check is not None
    snapshot = samples.reference_snapshot()
    ctx = Context(policy=policy.name, check=policy.check, severity=policy.severity,
                  params=policy.params, now=snapshot.now, options=samples.check_options())
    return list(check().evaluate(snapshot, ctx))


def test_every_registered_check_is_covered_by_the_sample_and_the_default_policies(
    policies: list[Policy],
) -> None:
    # A new check must get sample data here, or validate renders its template with nothing.
    assert set(EXPECTED_RESOURCES) == set(REGISTRY.ids())
    assert sorted(p.check for p in policies) == REGISTRY.ids()


@pytest.mark.parametrize("check_id", sorted(EXPECTED_RESOURCES))
def test_check_finds_the_attack_with_default_params(check_id: str,
                                                    policies: list[Policy]) -> None:
    [policy] = [p for p in policies if p.check == check_id]
    findings = evaluate(policy)
    assert findings, f"{check_id} finds nothing in the sample"
    assert {f.resource for f in findings} == EXPECTED_RESOURCES[check_id]
    for finding in findings:
        # Details reach templates and the store as JSON: only JSON-native values.
        assert json.loads(json.dumps(finding.details)) == finding.details


def test_team_instances_are_in_the_sample_but_never_flagged(policies: list[Policy]) -> None:
    snapshot = samples.reference_snapshot()
    team = {i.instance_id for i in snapshot.instances()} - set(samples.MINERS)
    assert len(team) == 3
    flagged = json.dumps([f.details for p in policies if p.check in
                          ("instance_types", "instance_surge") for f in evaluate(p)])
    assert not any(i in flagged for i in team)


def test_monthly_forecast_uses_the_sample_budget(policies: list[Policy]) -> None:
    [policy] = [p for p in policies if p.check == "monthly_forecast"]
    details = [f.details for f in evaluate(policy)]
    assert [d["threshold_percent"] for d in details] == [80.0, 100.0, 120.0]
    assert {(d["budget_usd"], d["budget_from"]) for d in details} == {(250.0, "config")}
    # The month so far: 7 ordinary days before the fortnight of points, 13 more, the spike.
    assert details[0]["actual_to_date_usd"] == 2565.79


def test_every_remediation_renders_with_findings_naming_the_sample(
    config: Config, policies: list[Policy],
) -> None:
    out = render_remediations(config, policies)
    assert out.problems == []
    assert sorted(out.texts) == sorted(p.name for p in policies)
    assert all(out.findings[p.name] for p in policies)
    types = out.texts["unapproved-instance-types"]
    assert all(i in types for i in samples.MINERS)
    assert "i-0d4b1e7a9c2f30581" not in types  # a team instance
    guardduty = out.texts["guardduty"]
    assert samples.GD_TYPE in guardduty
    assert f"{samples.POOL_IP} on port {samples.POOL_PORT}" in guardduty
    assert f"--instance-ids {samples.MINERS[0]}" in guardduty
    api = out.texts["suspicious-api"]
    assert f"--access-key-id {samples.BACKDOOR_KEY} --status Inactive" in api
    assert f"delete-user --user-name {samples.BACKDOOR_USER}" in api
    assert f"start-logging --region us-east-1 --name {samples.TRAIL_ARN}" in api
    assert "create-detector --region eu-west-1 --enable" in out.texts["guardduty-enabled"]
    grant = out.texts["iam-admin-grant"]
    assert (f"delete-user-policy --user-name {samples.BACKDOOR_USER} --policy-name backup"
            in grant)
    assert f"--access-key-id {samples.BACKDOOR_KEY} --status Inactive" in grant
    assert "ec2:DescribeInstances" in out.texts["costguard-health"]
    assert "$250.00 budget" in out.texts["monthly-forecast"]


def test_validate_counts_every_template(config: Config, policies: list[Policy]) -> None:
    # One remediation per policy, then text, HTML and subject for new, update, resolved,
    # escalation and the still-open reminder.
    assert validate_templates(config, policies) == len(policies) + 15


@pytest.mark.parametrize("check_id", sorted(EXPECTED_RESOURCES))
def test_template_broken_only_on_findings_fails_validate(
    check_id: str, tmp_path: Path, config: Config, policies: list[Policy],
) -> None:
    """Before the sample covered every check, this passed for the seven checks it missed."""
    template = tmp_path / "remediation" / "typo.md.j2"
    template.parent.mkdir()
    template.write_text("Fix it.\n{% for f in findings %}{{ f.details.no_such_key }}{% endfor %}\n")
    [policy] = [replace(p, remediation="remediation/typo.md.j2") for p in policies
                if p.check == check_id]
    with pytest.raises(InvalidInput) as caught:
        validate_templates(replace(config, template_dirs=(tmp_path,)), [policy])
    [problem] = caught.value.problems
    assert problem.file == str(template)
    assert "template fails with sample data" in problem.message
    assert "no_such_key" in problem.message
