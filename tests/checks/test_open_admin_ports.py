"""open_admin_ports: 0.0.0.0/0 and ::/0, protocol -1, port ranges, UDP, and who uses the group."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costguard.alerts.render import text_to_html
from costguard.checks.open_admin_ports import OpenAdminPorts, OpenAdminPortsParams
from costguard.model import Severity

from .conftest import (
    ACCOUNT,
    HOSTILE,
    SCRIPT,
    assert_only_quoted,
    group,
    instance,
    inventory,
    render,
    rule,
    run,
    snapshot,
)


def _ports(*rules, **params):
    """The ports each finding reports for one group with `rules`, or [] when none."""
    findings = run(
        OpenAdminPorts, snapshot(inventory=(inventory(group("sg-1", *rules)),)), **params
    )
    return [f.details["ports"] for f in findings]


def test_ssh_open_to_the_world_names_the_group_its_rules_and_its_instances():
    snap = snapshot(
        inventory=(
            inventory(
                group("sg-0abc", rule("tcp", 22), rule("tcp", 443), name="web"),
                group("sg-other", rule("tcp", 22, cidrs=["10.0.0.0/8"])),
                instance("i-run", "t3.micro", groups=["sg-0abc"], tags={"Name": "web-1"}),
                instance("i-off", "m5.large", state="stopped", groups=["sg-other", "sg-0abc"]),
                instance("i-unrelated", groups=["sg-other"]),
            ),
            # Another region's instance cannot use this region's group, whatever its id says.
            inventory(
                instance("i-far", groups=["sg-0abc"], region="eu-west-1"), region="eu-west-1"
            ),
        )
    )

    [finding] = run(OpenAdminPorts, snap)

    assert finding.title == "Security group sg-0abc is open to the internet on port 22 in us-east-1"
    assert (finding.account, finding.region, finding.resource) == (ACCOUNT, "us-east-1", "sg-0abc")
    assert finding.severity is Severity.HIGH
    assert finding.entities == {"sg:sg-0abc", "instance:i-run", "instance:i-off"}
    assert finding.details == {
        "account": ACCOUNT,
        "region": "us-east-1",
        "group_id": "sg-0abc",
        "group_name": "web",
        "vpc_id": "vpc-0123",
        "ports": [22],
        "rules": [
            {
                "protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
                "cidr": "0.0.0.0/0",
                "ports": [22],
                "ip_permission": {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
            }
        ],
        "instances": [
            {
                "instance_id": "i-run",
                "instance_type": "t3.micro",
                "state": "running",
                "name": "web-1",
            },
            {"instance_id": "i-off", "instance_type": "m5.large", "state": "stopped", "name": None},
        ],
    }


def test_ipv6_anywhere_counts():
    snap = snapshot(inventory=(inventory(group("sg-1", rule("tcp", 3389, cidrs=["::/0"]))),))

    [finding] = run(OpenAdminPorts, snap)

    assert finding.title == "Security group sg-1 is open to the internet on port 3389 in us-east-1"
    assert finding.details["rules"][0]["ip_permission"] == {
        "IpProtocol": "tcp",
        "FromPort": 3389,
        "ToPort": 3389,
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
    }


def test_all_traffic_rules_expose_every_admin_port():
    snap = snapshot(inventory=(inventory(group("sg-1", rule("-1", None, None))),))

    [finding] = run(OpenAdminPorts, snap)

    assert finding.title == (
        "Security group sg-1 is open to the internet on ports 22, 3389 in us-east-1"
    )
    [entry] = finding.details["rules"]
    assert (entry["protocol"], entry["from_port"], entry["to_port"]) == ("-1", None, None)
    assert entry["ip_permission"] == {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def test_port_ranges_count_when_they_include_an_admin_port():
    assert _ports(rule("tcp", 0, 1024)) == [[22]]
    assert _ports(rule("tcp", 3000, 4000)) == [[3389]]
    assert _ports(rule("tcp", 23, 3388)) == []
    assert _ports(rule("tcp", 0, 65535)) == [[22, 3389]]


def test_udp_counts_and_icmp_does_not():
    assert _ports(rule("udp", 3389)) == [[3389]]
    assert _ports(rule("icmp", -1, -1)) == []


def test_restricted_sources_and_other_ports_are_fine():
    assert _ports(rule("tcp", 22, cidrs=["10.0.0.0/8", "2001:db8::/32"])) == []
    assert _ports(rule("tcp", 443)) == []
    assert _ports(rule("tcp", 22, cidrs=())) == []


def test_one_finding_lists_each_open_range_of_each_rule():
    snap = snapshot(
        inventory=(
            inventory(
                group(
                    "sg-1",
                    rule("tcp", 22, cidrs=["0.0.0.0/0", "::/0", "10.0.0.0/8"]),
                    rule("tcp", 3389),
                )
            ),
        )
    )

    [finding] = run(OpenAdminPorts, snap)

    assert [(r["cidr"], r["ports"]) for r in finding.details["rules"]] == [
        ("0.0.0.0/0", [22]),
        ("::/0", [22]),
        ("0.0.0.0/0", [3389]),
    ]


def test_ports_param_replaces_the_defaults():
    assert _ports(rule("tcp", 22), rule("tcp", 5432), ports=[5432]) == [[5432]]


def test_params_reject_bad_ports():
    with pytest.raises(ValidationError, match="ports"):
        OpenAdminPortsParams.model_validate({"ports": []})
    with pytest.raises(ValidationError, match="less than or equal to 65535"):
        OpenAdminPortsParams.model_validate({"ports": [22, 70000]})


def test_remediation_revokes_each_open_rule_exactly():
    snap = snapshot(
        inventory=(
            inventory(
                group("sg-1", rule("tcp", 22, cidrs=["0.0.0.0/0", "::/0"]), rule("-1", None, None)),
                instance("i-1", "t3.micro", groups=["sg-1"]),
            ),
        )
    )

    text = render("open_admin_ports", run(OpenAdminPorts, snap))

    assert text.startswith(
        f"Security group sg-1 (web) in account {ACCOUNT}, region us-east-1, lets anyone on "
        "the internet reach ports 22, 3389:\n- tcp 22 from 0.0.0.0/0\n- tcp 22 from ::/0\n"
        "- all traffic from 0.0.0.0/0\n"
    )
    assert "- i-1 (t3.micro, running)\n" in text
    prefix = "aws ec2 revoke-security-group-ingress --region us-east-1 --group-id sg-1"
    assert (
        f'{prefix} --ip-permissions \'[{{"FromPort": 22, "IpProtocol": "tcp", '
        f'"IpRanges": [{{"CidrIp": "0.0.0.0/0"}}], "ToPort": 22}}]\'\n'
    ) in text
    assert (
        f'{prefix} --ip-permissions \'[{{"FromPort": 22, "IpProtocol": "tcp", '
        f'"Ipv6Ranges": [{{"CidrIpv6": "::/0"}}], "ToPort": 22}}]\'\n'
    ) in text
    assert (
        f'{prefix} --ip-permissions \'[{{"IpProtocol": "-1", '
        f'"IpRanges": [{{"CidrIp": "0.0.0.0/0"}}]}}]\'\n'
    ) in text
    assert "the next inventory poll sees the group without these rules" in text


def test_remediation_quotes_hostile_group_names_and_tags():
    snap = snapshot(
        inventory=(
            inventory(
                group("sg-1", rule("tcp", 22), name=HOSTILE),
                instance("i-1", groups=["sg-1"], tags={"Name": SCRIPT}),
            ),
        )
    )

    text = render("open_admin_ports", run(OpenAdminPorts, snap))

    assert "Security group sg-1 ('x'\"'\"'; rm -rf / #') in account" in text
    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)


def test_remediation_says_when_no_instance_uses_the_group():
    snap = snapshot(inventory=(inventory(group("sg-1", rule("tcp", 22))),))

    assert "No instance uses it.\n" in render("open_admin_ports", run(OpenAdminPorts, snap))
