"""instance_surge: launches from events and inventory counted once, windows, and clearing."""

from __future__ import annotations

from costguard.alerts.render import text_to_html
from costguard.checks.instance_surge import InstanceSurge
from costguard.model import Severity

from .conftest import (
    ACCOUNT,
    ATTACK_GROUP,
    ATTACK_KEY_PAIR,
    ATTACKER_IP,
    GO_SDK,
    HOSTILE,
    MINERS,
    OTHER_ACCOUNT,
    ROOT_ARN,
    ROOT_KEY,
    SCRIPT,
    ago,
    assert_only_quoted,
    attack_events,
    attack_inventory,
    event,
    instance,
    inventory,
    render,
    run,
    run_instances,
    snapshot,
)


def launched(*ids: str, minutes: float = 10, spacing: float = 0, **kw):
    """Instances in the inventory, launched `spacing` minutes apart from `minutes` ago."""
    return [instance(i, "c5.4xlarge", launched=ago(minutes=minutes - n * spacing), **kw)
            for n, i in enumerate(ids)]


def test_the_reference_incident_counts_each_instance_once_from_event_and_inventory():
    snap = snapshot(events=attack_events(), inventory=(attack_inventory(),))

    [finding] = run(InstanceSurge, snap)

    assert finding.title == (
        f"10 instances in account {ACCOUNT} launched within 15 minutes in us-east-1")
    assert (finding.account, finding.region) == (ACCOUNT, "us-east-1")
    assert finding.resource == f"arn:aws:ec2:us-east-1:{ACCOUNT}:launch-surge"
    assert finding.severity is Severity.HIGH
    assert finding.entities == {
        f"principal:{ROOT_ARN}", f"access_key:{ROOT_KEY}", f"sg:{ATTACK_GROUP}",
        f"keypair:{ACCOUNT}:us-east-1:{ATTACK_KEY_PAIR}", *(f"instance:{i}" for i in MINERS)}
    d = finding.details
    assert (d["count"], d["account_count"], d["max_launches"], d["within_minutes"]) == (
        10, 10, 5, 15)
    assert d["instance_types"] == {"c5.4xlarge": 10}
    assert d["regions"] == {"us-east-1": 10}
    assert d["launchers"] == [{"principal": ROOT_ARN, "count": 10}]
    # The event's time wins over the inventory's launch time (a restart resets the latter).
    assert d["first_launch"] == d["last_launch"] == "2026-11-22T11:51:00+00:00"
    assert d["instances"][0] == {
        "instance_id": MINERS[0], "instance_type": "c5.4xlarge", "region": "us-east-1",
        "launched_at": "2026-11-22T11:51:00+00:00", "state": "running", "launcher": ROOT_ARN,
        "access_key_id": ROOT_KEY, "event_id": "ev-run"}
    assert (d["source_ips"], d["user_agents"]) == ([ATTACKER_IP], [GO_SDK])
    assert d["api_calls"] == ["ImportKeyPair", "CreateSecurityGroup",
                              "AuthorizeSecurityGroupIngress", "RunInstances"]


def test_inventory_launch_times_alone_make_a_surge_only_above_the_limit_and_window():
    six = launched(*(f"i-{n}" for n in range(6)), spacing=2)  # within 10 minutes
    five = launched(*(f"i-{n}" for n in range(5)))
    spread = launched(*(f"i-{n}" for n in range(6)), minutes=100, spacing=4)  # 20 minutes

    [finding] = run(InstanceSurge, snapshot(inventory=(inventory(*six),)))

    assert finding.details["count"] == 6
    assert finding.details["launchers"] == []
    assert finding.details["activity"] is None
    assert run(InstanceSurge, snapshot(inventory=(inventory(*five),))) == []
    assert run(InstanceSurge, snapshot(inventory=(inventory(*spread),))) == []
    assert len(run(InstanceSurge, snapshot(inventory=(inventory(*spread),)),
                   within_minutes=25)) == 1
    assert run(InstanceSurge, snapshot(inventory=(inventory(*six),)), max_launches=6) == []


def test_only_the_launches_inside_a_busy_window_are_listed():
    burst = launched(*(f"i-b{n}" for n in range(6)), minutes=30)
    lonely = launched("i-early", minutes=300)

    [finding] = run(InstanceSurge, snapshot(inventory=(inventory(*burst, *lonely),)))

    assert [i["instance_id"] for i in finding.details["instances"]] == [
        f"i-b{n}" for n in range(6)]


def test_events_and_inventory_add_up_without_double_counting_across_regions():
    # Three instances only in the event (another region, not inventoried), three in both,
    # and two only in the inventory: eight, not eleven; one burst, a finding per region.
    far = run_instances(["i-far1", "i-far2", "i-far3"], region="eu-west-1",
                        at=ago(minutes=12), event_id="ev-far")
    here = run_instances(["i-1", "i-2", "i-3"], at=ago(minutes=11), event_id="ev-here")
    listed = launched("i-1", "i-2", "i-3", "i-4", "i-5", minutes=11)

    eu, us = run(InstanceSurge, snapshot(events=(far, here, here),
                                         inventory=(inventory(*listed),)))

    assert (eu.region, eu.resource) == (
        "eu-west-1", f"arn:aws:ec2:eu-west-1:{ACCOUNT}:launch-surge")
    assert eu.title == (
        f"3 instances of 8 in account {ACCOUNT} launched within 15 minutes in eu-west-1")
    assert [i["instance_id"] for i in eu.details["instances"]] == ["i-far1", "i-far2", "i-far3"]
    assert sorted(i["instance_id"] for i in us.details["instances"]) == [
        "i-1", "i-2", "i-3", "i-4", "i-5"]
    assert (eu.details["account_count"], us.details["count"]) == (8, 5)
    assert eu.details["regions"] == us.details["regions"] == {"eu-west-1": 3, "us-east-1": 5}
    # Both name the launcher, so they form one incident.
    assert f"principal:{ROOT_ARN}" in eu.entities & us.entities


def test_failed_and_other_calls_launch_nothing():
    failed = run_instances(error="Client.VcpuLimitExceeded")
    other = event("StartInstances", response={"instancesSet": {"items": [
        {"instanceId": i} for i in MINERS]}})

    assert run(InstanceSurge, snapshot(events=(failed, other))) == []


def test_it_clears_once_no_more_than_the_limit_still_run():
    def count(states: list[str]) -> int | None:
        miners = [instance(i, "c5.4xlarge", state=s, launched=ago(minutes=9))
                  for i, s in zip(MINERS, states, strict=True)]
        found = run(InstanceSurge, snapshot(events=attack_events(),
                                            inventory=(inventory(*miners),)))
        return found[0].details["count"] if found else None

    def regions(far_states: list[str]) -> list[str]:
        """A burst of 3 in us-east-1 and 4 in eu-west-1; which regions still have a finding."""
        here = launched("i-1", "i-2", "i-3")
        far = [instance(f"i-f{n}", state=s, region="eu-west-1", launched=ago(minutes=10))
               for n, s in enumerate(far_states)]
        snap = snapshot(inventory=(inventory(*here), inventory(*far, region="eu-west-1")))
        return [f.region for f in run(InstanceSurge, snap)]

    assert regions(["running"] * 4) == ["eu-west-1", "us-east-1"]
    assert regions(["running"] * 3 + ["terminated"]) == ["eu-west-1", "us-east-1"]
    assert regions(["terminated"] * 4) == []

    assert count(["running"] * 10) == 10
    assert count(["running"] * 6 + ["terminated"] * 4) == 6
    assert count(["running"] * 5 + ["stopped"] * 5) is None
    assert count(["terminated"] * 10) is None


def test_event_instances_missing_from_the_inventory_count_only_while_recent():
    recent = run_instances(at=ago(minutes=20))
    old = run_instances(at=ago(hours=2))
    empty = (inventory(),)

    assert len(run(InstanceSurge, snapshot(events=(recent,), inventory=empty))) == 1
    assert run(InstanceSurge, snapshot(events=(old,), inventory=empty)) == []
    # A region without inventory cannot show them stopped: they count.
    assert len(run(InstanceSurge, snapshot(events=(old,)))) == 1


def test_accounts_are_counted_apart():
    mine = launched(*(f"i-{n}" for n in range(3)))
    theirs = launched(*(f"i-o{n}" for n in range(3)), account=OTHER_ACCOUNT)

    snap = snapshot(inventory=(inventory(*mine), inventory(*theirs, account=OTHER_ACCOUNT)))

    assert run(InstanceSurge, snap, max_launches=3) == []
    assert [f.account for f in run(InstanceSurge, snap, max_launches=2)] == [
        ACCOUNT, OTHER_ACCOUNT]


def test_remediation_stops_the_instances_per_region():
    far = run_instances(["i-far1", "i-far2", "i-far3"], region="eu-west-1", event_id="ev-far")
    here = run_instances(["i-1", "i-2", "i-3"], event_id="ev-here")

    text = render("instance_surge", run(InstanceSurge, snapshot(events=(far, here))))

    assert text.startswith(
        f"3 instances were launched in account {ACCOUNT}, region eu-west-1, from "
        "2026-11-22T11:50:00+00:00 to 2026-11-22T11:50:00+00:00, and still run: 6 in the "
        "account within 15 minutes (eu-west-1: 3, us-east-1: 3).\n- 3 x c5.4xlarge\n")
    assert f"- launched by {ROOT_ARN}: 3\n" in text
    assert "aws ec2 stop-instances --region eu-west-1 --instance-ids i-far1 i-far2 i-far3\n" in text
    assert "aws ec2 terminate-instances --region us-east-1 --instance-ids i-1 i-2 i-3\n" in text
    assert "a region's finding resolves once its instances are stopped" in text


def test_remediation_quotes_instance_ids():
    odd = run_instances([HOSTILE, SCRIPT, "i-3", "i-4", "i-5", "i-6"])

    text = render("instance_surge", run(InstanceSurge, snapshot(events=(odd,))))

    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
