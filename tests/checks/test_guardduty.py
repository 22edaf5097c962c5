"""guardduty: types and severity bands, entities for grouping, and when a finding stops."""

from __future__ import annotations

import pytest

from costguard.alerts.render import text_to_html
from costguard.checks.guardduty import GuardDuty, level
from costguard.model import Severity

from .conftest import (
    ACCOUNT,
    ATTACKER_IP,
    GO_SDK,
    HOSTILE,
    ROOT_ARN,
    ROOT_KEY,
    SCRIPT,
    ago,
    assert_only_quoted,
    event,
    gd_finding,
    instance,
    inventory,
    render,
    run,
    snapshot,
)

MINING = {
    "actionType": "NETWORK_CONNECTION",
    "networkConnectionAction": {
        "connectionDirection": "OUTBOUND", "protocol": "TCP", "blocked": False,
        "remoteIpDetails": {"ipAddressV4": "198.51.100.77"},
        "remotePortDetails": {"port": 7777, "portName": "Unknown"},
    },
}
ROOT_CALL = {
    "actionType": "AWS_API_CALL",
    "awsApiCallAction": {"api": "RunInstances", "serviceName": "ec2.amazonaws.com",
                         "callerType": "Remote IP", "userAgent": GO_SDK,
                         "remoteIpDetails": {"ipAddressV4": ATTACKER_IP}},
}


def miner_finding(**kw):
    kw.setdefault("instance_id", "i-0miner00")
    kw.setdefault("action", MINING)
    return gd_finding("gd-mine", "CryptoCurrency:EC2/BitcoinTool.B", 8.0, **kw)


def test_a_mining_finding_names_the_instance_the_pool_and_keeps_guardduty_s_level():
    snap = snapshot(guardduty=(miner_finding(),), inventory=(inventory(instance("i-0miner00")),))

    [finding] = run(GuardDuty, snap)

    assert finding.resource == (
        f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/det-1/finding/gd-mine")
    assert finding.title == (
        "GuardDuty high: CryptoCurrency:EC2/BitcoinTool.B on i-0miner00 in us-east-1")
    assert finding.severity is Severity.HIGH
    assert finding.entities == {"instance:i-0miner00"}
    assert finding.at == ago(minutes=8)
    d = finding.details
    assert (d["gd_severity"], d["gd_level"], d["type"]) == (8.0, "high",
                                                            "CryptoCurrency:EC2/BitcoinTool.B")
    assert (d["remote_ip"], d["remote_port"], d["action_type"]) == ("198.51.100.77", 7777,
                                                                   "NETWORK_CONNECTION")
    assert (d["instance_id"], d["instance_type"], d["detector_id"]) == ("i-0miner00",
                                                                       "c5.4xlarge", "det-1")
    # The pool is where the miner connects to, not where an attacker comes from.
    assert d["source_ips"] == []
    assert d["activity"] is None


@pytest.mark.parametrize(
    ("score", "policy", "expected"),
    [
        (10.0, Severity.HIGH, Severity.CRITICAL),
        (9.0, Severity.HIGH, Severity.CRITICAL),
        (8.9, Severity.HIGH, Severity.HIGH),
        (7.0, Severity.HIGH, Severity.HIGH),
        (6.9, Severity.HIGH, Severity.MEDIUM),
        (4.0, Severity.HIGH, Severity.MEDIUM),
        (2.0, Severity.HIGH, Severity.LOW),
        (8.0, Severity.CRITICAL, Severity.CRITICAL),
        (9.5, Severity.CRITICAL, Severity.CRITICAL),
        (5.0, Severity.CRITICAL, Severity.HIGH),
        (2.0, Severity.MEDIUM, Severity.INFO),
    ],
)
def test_severity_follows_guardduty_s_bands_relative_to_the_policy(score, policy, expected):
    snap = snapshot(guardduty=(gd_finding(severity=score),))

    [finding] = run(GuardDuty, snap, severity=policy, min_severity=1)

    assert finding.severity is expected


def test_levels_are_guardduty_s_own_bands():
    assert [level(s) for s in (9.0, 8.9, 7.0, 6.9, 4.0, 3.9)] == [
        Severity.CRITICAL, Severity.HIGH, Severity.HIGH, Severity.MEDIUM, Severity.MEDIUM,
        Severity.LOW]


def test_types_and_minimum_severity_filter():
    recon = gd_finding("gd-recon", "Recon:EC2/PortProbeUnprotectedPort", 5.0)
    low = gd_finding("gd-low", "UnauthorizedAccess:IAMUser/ConsoleLogin", 2.0)
    impact = gd_finding("gd-impact", "Impact:EC2/AbusedDomainRequest.Reputation", 5.0)

    assert [f.details["finding_id"] for f in run(GuardDuty, snapshot(guardduty=(
        recon, low, impact)))] == ["gd-impact"]
    assert [f.details["finding_id"] for f in run(GuardDuty, snapshot(guardduty=(
        recon, low, impact)), types=["Recon:*"], min_severity=1)] == ["gd-recon"]


def test_root_credential_usage_joins_the_root_incident_with_its_activity():
    found = gd_finding(
        "gd-root", "Policy:IAMUser/RootCredentialUsage", 2.0, action=ROOT_CALL,
        access_key={"accessKeyId": ROOT_KEY, "principalId": ACCOUNT, "userName": "Root",
                    "userType": "Root"})
    snap = snapshot(guardduty=(found,), events=(event("RunInstances", at=ago(minutes=6)),))

    [finding] = run(GuardDuty, snap, min_severity=1)

    assert finding.entities == {f"principal:{ROOT_ARN}", f"access_key:{ROOT_KEY}"}
    assert finding.details["source_ips"] == [ATTACKER_IP]
    assert finding.details["user_agents"] == [GO_SDK]
    assert finding.details["api_calls"] == ["RunInstances"]
    assert finding.details["api"] == "RunInstances"
    assert finding.details["principal"] == ROOT_ARN


def test_an_iam_user_s_key_names_the_user_as_principal():
    found = gd_finding("gd-user", "UnauthorizedAccess:IAMUser/TorIPCaller", 5.0, access_key={
        "accessKeyId": "AKIADEV", "userName": "dev", "userType": "IAMUser"})

    [finding] = run(GuardDuty, snapshot(guardduty=(found,)))

    assert finding.entities == {"access_key:AKIADEV",
                                f"principal:arn:aws:iam::{ACCOUNT}:user/dev"}


def test_a_finding_stops_once_its_instance_no_longer_runs():
    def still(*instances, **kw) -> bool:
        inv = (inventory(*instances),) if instances or kw.get("empty") else ()
        return bool(run(GuardDuty, snapshot(guardduty=(miner_finding(**kw.get("gd", {})),),
                                            inventory=inv)))

    assert still(instance("i-0miner00"))
    assert not still(instance("i-0miner00", state="stopped"))
    assert not still(instance("i-0miner00", state="terminated"))
    assert still()  # the region was not inventoried: nothing says it stopped
    # Not listed, and GuardDuty saw it two hours ago: terminated and gone.
    assert not still(empty=True, gd={"created": ago(hours=3), "updated": ago(hours=2)})
    # Not listed, but seen five minutes ago: the inventory may predate the instance.
    assert still(empty=True)


def test_archived_and_stale_findings_stop():
    assert run(GuardDuty, snapshot(guardduty=(gd_finding(archived=True),))) == []
    stale = gd_finding(created=ago(hours=30), updated=ago(hours=25))
    assert run(GuardDuty, snapshot(guardduty=(stale,))) == []
    assert len(run(GuardDuty, snapshot(guardduty=(stale,)), window_minutes=1600)) == 1


def test_the_newest_version_of_a_finding_wins_and_an_unknown_detector_leaves_the_id():
    older = gd_finding("gd-9", severity=5.0, updated=ago(minutes=30), detector=None)
    newer = gd_finding("gd-9", severity=8.0, updated=ago(minutes=2), detector=None)

    [finding] = run(GuardDuty, snapshot(guardduty=(newer, older)))

    assert finding.resource == "gd-9"
    assert finding.details["gd_severity"] == 8.0


def test_remediation_stops_the_instance_and_archives_the_finding():
    snap = snapshot(guardduty=(miner_finding(),))

    text = render("guardduty", run(GuardDuty, snap))

    assert text.startswith(f"GuardDuty high (8.0) in account {ACCOUNT}, region us-east-1: "
                           "CryptoCurrency:EC2/BitcoinTool.B, first seen")
    assert "- It talked to: 198.51.100.77 on port 7777\n" in text
    assert "aws ec2 stop-instances --region us-east-1 --instance-ids i-0miner00\n" in text
    assert ("aws guardduty archive-findings --region us-east-1 --detector-id det-1 "
            "--finding-ids gd-mine\n") in text
    assert "How costguard verifies it:" in text


def test_remediation_deactivates_a_user_key_and_sends_root_to_the_console():
    user_key = gd_finding("gd-u", "UnauthorizedAccess:IAMUser/TorIPCaller", 5.0, access_key={
        "accessKeyId": "AKIADEV", "userName": "dev", "userType": "IAMUser"})
    root_key = gd_finding("gd-r", "UnauthorizedAccess:IAMUser/TorIPCaller", 5.0, access_key={
        "accessKeyId": ROOT_KEY, "userName": "Root", "userType": "Root"})

    text = render("guardduty", run(GuardDuty, snapshot(guardduty=(user_key, root_key))))

    assert ("aws iam update-access-key --user-name dev --access-key-id AKIADEV "
            "--status Inactive\n") in text
    assert "The key is the root user's: only the root user can deactivate" in text


def test_remediation_quotes_what_guardduty_quotes():
    odd = gd_finding(instance_id=HOSTILE, action={"dnsRequestAction": {"domain": SCRIPT}})

    text = render("guardduty", run(GuardDuty, snapshot(guardduty=(odd,))))

    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
