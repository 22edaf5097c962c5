"""The calls a leaked key makes, and what makes one more alarming (activity/watched_calls.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from costguard.activity.watched_calls import (
    SDK_AGENTS,
    Kind,
    Raise,
    caller_name,
    merged_effects,
    raised_because,
    watched_kind,
)
from costguard.snapshot import ApiEvent

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ACCOUNT = "111122223333"


def call(name: str, service: str = "iam", *, arn: str = f"arn:aws:iam::{ACCOUNT}:user/dev",
         kind: str = "IAMUser", ip: str = "203.0.113.45", agent: str = "aws-cli/2.15.0",
         at: datetime = NOW) -> ApiEvent:
    return ApiEvent(event_id=f"ev-{name}-{at:%H%M}", time=at, account=ACCOUNT, region="us-east-1",
                    service=f"{service}.amazonaws.com", name=name, principal_type=kind,
                    principal_arn=arn, source_ip=ip, user_agent=agent)


def test_a_watched_name_counts_only_from_its_own_service_and_when_watched():
    assert watched_kind(call("CreateUser"), Kind) is Kind.CREATE_USER
    assert watched_kind(call("CreateUser", "mq"), Kind) is None  # Amazon MQ's CreateUser
    assert watched_kind(call("CreateUser"), [Kind.RUN_INSTANCES]) is None
    assert watched_kind(call("ListUsers"), Kind) is None


def signals(event: ApiEvent, history: list[ApiEvent]) -> list[Raise]:
    return raised_because(event, history, agent_patterns=SDK_AGENTS, known_ip_days=7)


def test_a_new_address_and_a_new_agent_are_signals():
    known = [call("ListUsers", ip="198.51.100.7", agent="console.amazonaws.com",
                  at=NOW - timedelta(days=2))]

    assert signals(call("CreateUser"), known) == [Raise.NEW_SOURCE_IP, Raise.NEW_USER_AGENT]
    same = call("CreateUser", ip="198.51.100.7", agent="console.amazonaws.com")
    assert signals(same, known) == []
    # Without history the address is judged (new), not the agent.
    assert signals(call("CreateUser", ip="198.51.100.7"), []) == [Raise.NEW_SOURCE_IP]


def test_an_sdk_agent_is_a_signal_only_from_a_console_user_and_root_always_is():
    scripted = [call("ListUsers", ip="198.51.100.7", at=NOW - timedelta(days=2))]
    console = [*scripted, replace(call("ConsoleLogin", "signin", ip="198.51.100.7",
                                       at=NOW - timedelta(days=2)), console_login=True)]
    sdk = call("CreateUser", ip="198.51.100.7")

    assert signals(sdk, scripted) == []
    assert signals(sdk, console) == [Raise.SDK_USER_AGENT]
    root = call("CreateUser", arn=f"arn:aws:iam::{ACCOUNT}:root", kind="Root", ip="198.51.100.7")
    assert signals(root, [replace(scripted[0], principal_arn=root.principal_arn)]) == [
        Raise.ROOT]


def test_effects_on_one_resource_merge_lists_and_keep_the_first_value():
    merged = merged_effects([{"rules": ["a"], "group_id": None},
                             {"rules": ["b", "a"], "group_id": "sg-1"},
                             {"group_id": "sg-2"}])

    assert merged == {"rules": ["a", "b"], "group_id": "sg-1"}


def test_the_caller_is_named_short():
    assert caller_name(call("X", arn=f"arn:aws:iam::{ACCOUNT}:root", kind="Root")) == "root"
    assert caller_name(call("X")) == "user/dev"
    assert caller_name(call("X", arn="")) == "an unknown principal"
