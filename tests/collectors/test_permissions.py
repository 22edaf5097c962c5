"""Every call a collector makes is in costguard.permissions, and every listed action is used.

sts:GetCallerIdentity needs no permission and is not listed, so it is left out of the comparison.
"""

from __future__ import annotations

import requests

from costguard.collectors.cost import CostCollector
from costguard.collectors.ec2 import InventoryCollector
from costguard.collectors.iam import IamCollector
from costguard.model import Source
from costguard.permissions import READ_PERMISSIONS

from .conftest import ACCOUNT, FIXED_NOW

NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}

# Listed for a source but called only by code that later work adds: the cost forecast and the
# on-demand price look-up. Remove an entry here when its caller lands, so this test covers it.
NOT_YET_CALLED = {
    Source.COST: {"ce:GetCostForecast", "pricing:GetProducts"},
}


def used(aws) -> set[str]:
    return set(aws.calls) - NEEDS_NO_PERMISSION


def assert_matches(source: Source, actions: set[str]) -> None:
    listed = set(READ_PERMISSIONS[source])
    assert actions <= listed, f"called but not listed for {source}: {sorted(actions - listed)}"
    unused = listed - actions - NOT_YET_CALLED.get(source, set())
    assert not unused, f"listed for {source} but never called: {sorted(unused)}"


def test_inventory_calls_are_listed(aws, setup_client):
    setup_client("ec2", "eu-west-1").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    collector = InventoryCollector(aws, ACCOUNT)

    collector.regions()
    collector.collect("eu-west-1")
    collector.instance_vcpus(["t3.micro"])

    assert_matches(Source.INVENTORY, used(aws))


def test_credential_report_calls_are_listed(aws, iam_root):
    iam_root.key_active = (True, None)

    IamCollector(aws, ACCOUNT, sleep=lambda _: None, clock=lambda: FIXED_NOW).collect()

    assert_matches(Source.CREDENTIAL_REPORT, used(aws))


def test_cost_calls_are_listed(aws):
    seed = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"
    assert requests.post(seed, json={"results": [{"ResultsByTime": []}]}, timeout=5).ok
    collector = CostCollector(aws, ACCOUNT, clock=lambda: FIXED_NOW)

    collector.daily()
    collector.hourly()

    assert_matches(Source.COST, used(aws))
