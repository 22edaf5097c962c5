"""What the keeper reads from the check classes (costguard/incidents/keeper.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from costguard.checks import default_registry
from costguard.incidents.announcer import incident_money

REGISTRY = default_registry()
BURN = {"recent_usd_per_hour": 6.8, "cost_so_far_usd": 0.11,
        "projected_usd_to_month_end": 4271.3}


@dataclass(frozen=True)
class Stored:
    """A stored finding as incident_money reads it."""

    check: str
    details: dict[str, Any] = field(default_factory=dict)


def test_money_comes_only_from_checks_whose_class_reports_a_burn_rate():
    findings = [Stored("hourly_spend", BURN), Stored("daily_spend", BURN),
                Stored("made_up_check", BURN), Stored("instance_types")]

    assert incident_money(findings, REGISTRY) == {
        "burn_rate_added": "$6.80/h", "cost_so_far_usd": 0.11,
        "projected_to_month_end_usd": 4271.3,
    }


def test_no_burn_rate_finding_means_no_money_facts():
    assert incident_money([Stored("daily_spend", BURN)], REGISTRY) == {}
    assert incident_money([Stored("hourly_spend", {"kind": "actual_cost"})], REGISTRY) == {}
