"""The sigma check: a finding per rule, account, region and principal, its severity from the
rule's level, the calling key as an entity, and a remediation that starts with that key."""

from __future__ import annotations

import textwrap

from sigma.rule import SigmaRule

from costguard.activity.sigma_match import RuleSet, compile_rule
from costguard.checks.base import Context
from costguard.checks.sigma import RULES_OPTION, Sigma, SigmaParams
from costguard.model import Severity

from .conftest import (
    ACCOUNT,
    DEV_ARN,
    DEV_KEY,
    HOSTILE,
    NOW,
    ago,
    assert_only_quoted,
    event,
    render,
    snapshot,
)

RULE_ID = "3c1e0f9a-7b2d-4e6c-8a1f-2d3e4f5a6b7c"


def rule(level: str | None = "high", name: str = "StopConfigurationRecorder") -> RuleSet:
    text = textwrap.dedent(f"""\
        title: AWS Config recorder stopped
        id: {RULE_ID}
        status: test
        description: Config stops recording changes.
        logsource: {{product: aws, service: cloudtrail}}
        detection:
            selection:
                eventSource: config.amazonaws.com
                eventName: {name}
            condition: selection
        tags: [attack.defense-evasion, attack.t1562.008]
        references: [https://docs.aws.amazon.com/config/latest/developerguide/stop-start-recorder.html]
        """) + (f"level: {level}\n" if level else "")
    return RuleSet((compile_rule(SigmaRule.from_yaml(text)),))


def stop(**kw):
    kw.setdefault("principal", DEV_ARN)
    kw.setdefault("key", DEV_KEY)
    ev = event("StopConfigurationRecorder", request={"configurationRecorderName": "default"},
               **kw)
    return ev.__class__(**{**ev.__dict__, "service": "config.amazonaws.com"})


def evaluate(*events, rules=None, severity=Severity.MEDIUM, **params):
    ctx = Context(policy="sigma", check="sigma", severity=severity,
                  params=SigmaParams.model_validate(params), now=NOW,
                  options={RULES_OPTION: rules if rules is not None else rule()})
    return list(Sigma().evaluate(snapshot(events=tuple(events)), ctx))


def test_a_match_is_a_finding_with_the_rule_and_the_calling_key():
    (found,) = evaluate(stop(at=ago(minutes=3)), stop(at=ago(minutes=2)))

    assert found.resource == f"{DEV_ARN}#sigma/{RULE_ID}"
    assert found.severity is Severity.HIGH
    assert found.details["rule"]["attack"] == ["T1562.008"]
    assert found.details["count"] == 2
    assert {f"principal:{DEV_ARN}", f"access_key:{DEV_KEY}",
            f"caller_key:{DEV_KEY}"} <= found.entities
    assert found.details["callers"][0]["containment"] == "deactivate_key"


def test_severity_is_the_policy_s_for_a_rule_without_a_level():
    (found,) = evaluate(stop(), rules=rule(level=None), severity=Severity.LOW)
    assert found.severity is Severity.LOW


def test_other_calls_old_matches_and_no_rules_find_nothing():
    assert evaluate(event("StartConfigurationRecorder", principal=DEV_ARN)) == []
    assert evaluate(stop(at=ago(days=2))) == []
    assert evaluate(stop(), rules=RuleSet()) == []


def test_each_principal_and_region_is_its_own_finding():
    other = f"arn:aws:iam::{ACCOUNT}:user/ops"
    found = evaluate(stop(), stop(principal=other, key="AKIAOPS"), stop(region="eu-west-1"))
    assert len(found) == 3


def test_remediation_starts_with_the_key_and_quotes_what_callers_chose():
    hostile_user = f"arn:aws:iam::{ACCOUNT}:user/{HOSTILE}"
    ev = stop(principal=hostile_user, key=DEV_KEY)
    ev = ev.__class__(**{**ev.__dict__, "request": {"configurationRecorderName": HOSTILE}})
    text = render("sigma", evaluate(ev))

    first_command = text.split("```\n", 2)[1]
    assert first_command.startswith("aws iam update-access-key")
    assert DEV_KEY in first_command
    assert "aws configservice start-configuration-recorder" in text
    assert_only_quoted(text, HOSTILE)
