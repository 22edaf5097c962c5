"""Pure grouping of findings into incidents (costguard/incidents.py): plain data, no store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from costguard.checks import CHECKS, Check, Registry, default_registry
from costguard.incidents.grouping import BURST, WINDOW, all_resolved, incident_title, plan_groups
from costguard.model import Severity, Status

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ACCOUNT = "111122223333"
OTHER = "444455556666"
ROOT = f"principal:arn:aws:iam::{ACCOUNT}:root"
REGISTRY = default_registry()


@dataclass(frozen=True)
class F:
    """A finding as grouping reads it (the FindingLike protocol)."""

    id: int
    check: str = "instance_types"
    severity: Severity = Severity.HIGH
    account: str = ACCOUNT
    entities: frozenset[str] = frozenset()
    first_seen: datetime | None = NOW
    incident_id: int | None = None


@dataclass(frozen=True)
class Inc:
    """An open incident as grouping reads it (the IncidentLike protocol)."""

    id: int
    severity: Severity = Severity.HIGH
    accounts: tuple[str, ...] = (ACCOUNT,)
    entities: frozenset[str] = frozenset()
    detected_at: datetime | None = NOW


def ents(*names: str) -> frozenset[str]:
    """Entity sets, spelled briefly."""
    return frozenset(names)


def groups(plans) -> list[tuple[int, ...]]:
    """The finding ids of each plan, for comparing whole groupings at once."""
    return [p.finding_ids for p in plans]


# -- grouping fresh findings among themselves --------------------------------------------------


def test_findings_sharing_an_entity_form_one_group_and_others_stay_apart():
    fresh = [
        F(1, severity=Severity.MEDIUM, entities=ents("sg:sg-1", "instance:i-1")),
        F(2, severity=Severity.MEDIUM, entities=ents("instance:i-1")),
        F(3, severity=Severity.MEDIUM, entities=ents("instance:i-2", "sg:sg-1")),
        F(4, severity=Severity.MEDIUM, entities=ents("instance:i-9")),
    ]
    plans = plan_groups(fresh, [], NOW)
    assert groups(plans) == [(1, 2, 3), (4,)]
    first = plans[0]
    assert first.incident_id is None
    assert first.entities == ents("sg:sg-1", "instance:i-1", "instance:i-2")
    assert first.accounts == (ACCOUNT,)
    assert first.severity is Severity.MEDIUM


def test_chains_of_shared_entities_are_transitive():
    fresh = [
        F(1, severity=Severity.LOW, entities=ents("a")),
        F(2, severity=Severity.LOW, entities=ents("a", "b")),
        F(3, severity=Severity.LOW, entities=ents("b", "c")),
        F(4, severity=Severity.LOW, entities=ents("c")),
    ]
    assert groups(plan_groups(fresh, [], NOW)) == [(1, 2, 3, 4)]


def test_two_urgent_findings_in_one_account_form_one_group_without_shared_entities():
    fresh = [
        F(1, "root_access_key", Severity.CRITICAL, entities=ents(ROOT)),
        F(2, "instance_types", Severity.HIGH, entities=ents("instance:i-1")),
    ]
    plans = plan_groups(fresh, [], NOW)
    assert groups(plans) == [(1, 2)]
    assert plans[0].severity is Severity.CRITICAL


def test_urgent_findings_in_different_accounts_form_two_groups():
    fresh = [
        F(1, severity=Severity.HIGH, account=ACCOUNT, entities=ents("instance:i-1")),
        F(2, severity=Severity.HIGH, account=OTHER, entities=ents("instance:i-2")),
    ]
    plans = plan_groups(fresh, [], NOW)
    assert groups(plans) == [(1,), (2,)]
    assert [p.accounts for p in plans] == [(ACCOUNT,), (OTHER,)]


def test_medium_findings_without_shared_entities_form_two_groups():
    fresh = [
        F(1, "user_mfa", Severity.MEDIUM, entities=ents("principal:alice")),
        F(2, "user_mfa", Severity.MEDIUM, entities=ents("principal:bob")),
    ]
    assert groups(plan_groups(fresh, [], NOW)) == [(1,), (2,)]


def test_a_medium_finding_does_not_join_an_urgent_burst():
    fresh = [
        F(1, severity=Severity.HIGH, entities=ents("instance:i-1")),
        F(2, severity=Severity.HIGH, entities=ents("instance:i-2")),
        F(3, "user_mfa", Severity.MEDIUM, entities=ents("principal:bob")),
    ]
    assert groups(plan_groups(fresh, [], NOW)) == [(1, 2), (3,)]


def test_a_finding_crossing_accounts_through_an_entity_names_both_accounts():
    shared = "principal:arn:aws:iam::111122223333:user/ci"
    fresh = [
        F(1, severity=Severity.MEDIUM, account=ACCOUNT, entities=ents(shared)),
        F(2, severity=Severity.MEDIUM, account=OTHER, entities=ents(shared)),
    ]
    (plan,) = plan_groups(fresh, [], NOW)
    assert plan.accounts == (ACCOUNT, OTHER)


# -- joining open incidents --------------------------------------------------------------------


def test_a_finding_joins_an_open_incident_that_shares_an_entity():
    incidents = [
        Inc(7, entities=ents("instance:i-7")),
        Inc(8, entities=ents("sg:sg-1"), detected_at=NOW - timedelta(minutes=10)),
    ]
    fresh = [F(1, "open_admin_ports", Severity.MEDIUM, entities=ents("sg:sg-1"))]
    (plan,) = plan_groups(fresh, incidents, NOW)
    assert plan.incident_id == 8
    assert plan.finding_ids == (1,)


def test_a_finding_does_not_join_an_incident_quiet_for_longer_than_the_window():
    stale = Inc(8, entities=ents("sg:sg-1"), detected_at=NOW - WINDOW - timedelta(minutes=1))
    fresh = [F(1, severity=Severity.MEDIUM, entities=ents("sg:sg-1"))]
    (plan,) = plan_groups(fresh, [stale], NOW)
    assert plan.incident_id is None


def test_recent_activity_keeps_an_old_incident_joinable():
    old = Inc(8, entities=ents("sg:sg-1"), detected_at=NOW - timedelta(days=3))
    fresh = [F(1, severity=Severity.MEDIUM, entities=ents("sg:sg-1"))]
    recent = {8: NOW - timedelta(minutes=5)}
    (plan,) = plan_groups(fresh, [old], NOW, activity=recent)
    assert plan.incident_id == 8


def test_an_urgent_finding_joins_an_urgent_incident_of_its_account_within_the_burst():
    incident = Inc(5, severity=Severity.CRITICAL, entities=ents(ROOT),
                 detected_at=NOW - BURST + timedelta(minutes=1))
    fresh = [F(1, severity=Severity.HIGH, entities=ents("instance:i-1"))]
    (plan,) = plan_groups(fresh, [incident], NOW)
    assert plan.incident_id == 5


@pytest.mark.parametrize(
    ("finding", "incident"),
    [
        pytest.param(F(1, severity=Severity.HIGH),
                     Inc(5, detected_at=NOW - BURST - timedelta(minutes=1)), id="after-burst"),
        pytest.param(F(1, severity=Severity.HIGH, account=OTHER), Inc(5), id="other-account"),
        pytest.param(F(1, severity=Severity.MEDIUM), Inc(5), id="finding-not-urgent"),
        pytest.param(F(1, severity=Severity.HIGH), Inc(5, severity=Severity.MEDIUM),
                     id="incident-not-urgent"),
    ],
)
def test_the_burst_rule_needs_urgency_the_same_account_and_closeness_in_time(finding, incident):
    (plan,) = plan_groups([finding], [incident], NOW)
    assert plan.incident_id is None


def test_a_shared_entity_wins_over_the_burst_when_choosing_an_incident():
    incidents = [Inc(3), Inc(4, entities=ents("instance:i-1"))]
    fresh = [F(1, severity=Severity.HIGH, entities=ents("instance:i-1"))]
    (plan,) = plan_groups(fresh, incidents, NOW)
    assert plan.incident_id == 4


# -- titles and resolution ---------------------------------------------------------------------


def titled(*checks: str) -> str:
    """The title of an incident holding one finding per check named."""
    return incident_title([F(i, check) for i, check in enumerate(checks, 1)], REGISTRY)


@pytest.mark.parametrize(
    ("checks", "title"),
    [
        (["instance_types"], "An unapproved instance"),
        (["instance_types"] * 10, "10 unapproved instances"),
        (["open_admin_ports", "open_admin_ports"], "2 security groups open to the internet"),
        (
            ["instance_types"] * 10 + ["root_access_key", "open_admin_ports"],
            "Active root access key, 10 unapproved instances, an admin port open to the internet",
        ),
        (
            ["hourly_spend", "root_access_key", "instance_types", "instance_types",
             "open_admin_ports"],
            "Active root access key, 2 unapproved instances, an admin port open to the internet "
            "(+1 more finding)",
        ),
        (["user_mfa", "made_up_check"], "A console user without MFA (+1 more finding)"),
        (["made_up_check", "another_one", "another_one"], "3 findings"),
        (
            # root activity makes "active root access key" redundant: it is not named
            ["root_activity", "root_access_key", "guardduty", "guardduty", "suspicious_api",
             "instance_types", "instance_types", "root_mfa"],
            "Root credentials in use, 2 GuardDuty findings, 2 unapproved instances "
            "(+3 more findings)",
        ),
        ([], "0 findings"),
    ],
)
def test_incident_title_names_the_most_telling_findings(checks, title):
    assert titled(*checks) == title


@dataclass(frozen=True)
class Detailed(F):
    """A finding with details, for checks whose title phrase reads them."""

    details: dict | None = None


def test_guardduty_crypto_mining_is_named_as_such():
    mining = Detailed(1, "guardduty", details={"type": "CryptoCurrency:EC2/BitcoinTool.B!DNS"})
    other = Detailed(2, "guardduty", details={"type": "Backdoor:EC2/C&CActivity.B"})

    assert incident_title([mining, other], REGISTRY) == "Crypto-mining seen by GuardDuty"
    assert incident_title([other], REGISTRY) == "A GuardDuty finding"
    assert incident_title([F(3, "guardduty")], REGISTRY) == "A GuardDuty finding"


class Newcomer(Check):
    """A check from outside the shipped set: its class alone places it in titles."""

    id = "newcomer"
    phrase_one, phrase_many = "a newcomer", "{n} newcomers"
    title_rank = 1
    supersedes = ("instance_types",)

    def evaluate(self, snapshot, ctx):
        return ()


def test_a_checks_own_class_says_how_it_is_named_ranked_and_what_it_hides():
    registry = Registry([*CHECKS, Newcomer])
    findings = [F(1, "root_access_key"), F(2, "newcomer"), F(3, "newcomer"),
                F(4, "instance_types")]

    assert incident_title(findings, registry) == (
        "2 newcomers, active root access key (+1 more finding)")
    # Without the class in the registry, the check is only counted.
    assert incident_title(findings, REGISTRY) == (
        "Active root access key, an unapproved instance (+2 more findings)")


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([Status.RESOLVED, Status.RESOLVED], True),
        (["resolved"], True),
        ([Status.RESOLVED, Status.OPEN], False),
        ([Status.MUTED], False),
        ([Status.ACKNOWLEDGED, Status.RESOLVED], False),
        ([], False),
    ],
)
def test_all_resolved_needs_findings_and_every_one_resolved(statuses, expected):
    assert all_resolved(iter(statuses)) is expected
