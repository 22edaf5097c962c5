"""A whole Organization in one cycle (moto): every member scanned through its role, a member
whose role is missing reported on its own, Cost Explorer asked once, from the payer, and
account x region units bounded by runtime.concurrency."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.cli.main import main
from costguard.collectors.accounts import member_role_arn
from costguard.collectors.session import Aws
from costguard.runtime.bootstrap import load_setup
from costguard.runtime.cycle import Engine
from costguard.store import Store
from tests.collectors.test_accounts import ROLE, member_client, refuse_assume_role

REGIONS = ("us-east-1", "eu-west-1")
POLICIES = """\
policies:
  - {name: account-access, check: account_access, severity: high}
  - {name: unapproved-instance-types, check: instance_types, severity: high,
     params: {allowed: ["t3.*"]}}
  - {name: daily-spend, check: daily_spend, severity: high}
"""


@pytest.fixture
def org() -> Iterator[list[str]]:
    """An Organization (in moto) with three members; the second runs a c5.4xlarge."""
    with mock_aws():
        client = boto3.client("organizations", region_name=REGIONS[0])
        client.create_organization(FeatureSet="ALL")
        members = [client.create_account(AccountName=f"member-{i}", Email=f"m{i}@example.com")
                   ["CreateAccountStatus"]["AccountId"] for i in range(3)]
        member_client(members[1], "ec2").run_instances(
            ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="c5.4xlarge")
        yield members


def write_config(tmp_path: Path, concurrency: int = 8) -> Path:
    (tmp_path / "policies.yml").write_text(POLICIES)
    path = tmp_path / "costguard.yml"
    path.write_text(
        f"aws:\n  regions: [{', '.join(REGIONS)}]\n  organization: {{role_name: {ROLE}}}\n"
        f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\npolicies: [policies.yml]\n"
        f"runtime: {{concurrency: {concurrency}}}\n")
    return path


def test_scan_json_lists_every_account_and_a_member_s_instance_is_its_finding(org, tmp_path):
    result = CliRunner().invoke(main, ["scan", "--format", "json", "--no-notify",
                                       "-c", str(write_config(tmp_path))])

    doc = json.loads(result.stdout)
    assert sorted(doc["scan"]["accounts"]) == sorted([DEFAULT_ACCOUNT_ID, *org])
    assert doc["scan"]["complete"], doc["scan"]["errors"]
    [finding] = [f for f in doc["findings"] if f["check"] == "instance_types"]
    assert (finding["account"], finding["region"]) == (org[1], "us-east-1")


def engine_for(tmp_path: Path, base: Aws, concurrency: int = 8) -> Engine:
    setup = load_setup(write_config(tmp_path, concurrency))
    return Engine(setup.config, setup.policies, Store.open(setup.config.database_url),
                  aws=base, registry=setup.registry)


def test_a_member_whose_role_is_missing_is_a_finding_and_the_others_are_still_scanned(
        org, tmp_path):
    base = Aws.from_environment(region=REGIONS[0])
    missing = member_role_arn("aws", org[0], ROLE)
    base._session.events.register("before-call.sts.AssumeRole", refuse_assume_role(missing))
    engine = engine_for(tmp_path, base)

    result = engine.run_cycle(notify=False)

    [access] = [f for f in result.evaluation.findings if f.check == "account_access"]
    assert (access.account, access.resource) == (org[0], missing)
    assert "AccessDenied" in access.details["error"]
    assert access.details["trusted_account"] == DEFAULT_ACCOUNT_ID
    assert [f.account for f in result.evaluation.findings if f.check == "instance_types"] \
        == [org[1]]
    assert not result.complete
    engine.store.close()


def test_cost_explorer_is_asked_once_per_payer_not_per_member(org, tmp_path):
    base = Aws.from_environment(region=REGIONS[0])
    from_payer: list[str] = []
    base._session.events.register("before-call.ce.*",
                                  lambda model, **_: from_payer.append(model.name))
    engine = engine_for(tmp_path, base)

    engine.run_cycle(notify=False)

    ce_calls = sum(n for action, n in base.calls.items() if action.startswith("ce:"))
    assert from_payer and ce_calls == len(from_payer)  # every request came from the payer
    assert "GetCostAndUsage" in from_payer
    engine.store.close()


def test_no_more_units_run_at_once_than_runtime_concurrency(org, tmp_path):
    """Counted at DescribeInstances: each account x region unit makes one."""
    base = Aws.from_environment(region=REGIONS[0])
    engine = engine_for(tmp_path, base, concurrency=2)
    engine.run_cycle(notify=False)  # roles assumed, clients made: the next cycle is units only
    active, peak, lock = [0], [0], threading.Lock()

    def enter(**_: Any) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)  # long enough for a third unit to show up if it could

    def leave(**_: Any) -> None:
        with lock:
            active[0] -= 1

    for target in engine._targets or []:
        target.aws._session.events.register("before-call.ec2.DescribeInstances", enter)
        target.aws._session.events.register("after-call.ec2.DescribeInstances", leave)
        target.aws.release_clients()  # clients copy the session's handlers when made

    engine.run_cycle(notify=False)

    assert peak[0] == 2
    engine.store.close()
