"""What the announcer reads from the check classes (costguard/incidents/announcer.py): the money
facts of an incident come from burn-rate checks (`Check.burn_rate_facts`) and the incident's own
instances, computed by costguard.alerts.money at the cycle's `now`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from costguard.alerts.money import incident_money
from costguard.checks import default_registry

REGISTRY = default_registry()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
BURN = {"kind": "burn_rate", "usd_per_hour": 6.98, "recent_usd_per_hour": 6.8,
        "sampled_at": NOW.isoformat(), "recent_instances": [
            {"instance_id": "i-1", "usd_per_hour": 6.8,
             "launch_time": "2026-11-22T11:00:00+00:00"}]}


@dataclass(frozen=True)
class Stored:
    """A stored finding as incident_money reads it."""

    check: str
    details: dict[str, Any] = field(default_factory=dict)
    entities: frozenset[str] = frozenset({"instance:i-1"})
    account: str = "111122223333"
    region: str = "us-east-1"


def test_the_burn_rate_comes_only_from_checks_whose_class_reports_one():
    facts = incident_money([Stored("hourly_spend", BURN), Stored("daily_spend", BURN),
                            Stored("made_up_check", BURN)], REGISTRY, NOW)

    assert facts["burn_rate_now_usd_per_hour"] == 6.98
    assert facts["added_usd_per_hour"] == 6.8  # i-1 once, named by the stop-spend check
    assert facts["cost_so_far_usd"] == 6.8  # one hour at $6.80/h


def test_no_burn_rate_and_no_priced_instance_means_no_money_facts():
    assert incident_money([Stored("daily_spend", BURN)], REGISTRY, NOW) == {}
    assert incident_money([Stored("hourly_spend", {"kind": "actual_cost"})], REGISTRY, NOW) == {}
