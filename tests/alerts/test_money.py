"""An incident's money read from its findings and shown in one vocabulary
(costguard/alerts/money.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from costguard.alerts.alert import AlertFinding
from costguard.alerts.money import incident_money, money_rows
from costguard.checks import default_registry
from costguard.model import AlertKind, Severity

REGISTRY = default_registry()
LAUNCH = datetime(2026, 11, 30, 22, 0, tzinfo=timezone.utc)
ALERT = LAUNCH + timedelta(minutes=30)


def finding(check: str, *entities: str, **details: Any) -> AlertFinding:
    """A finding of `check` naming `entities`, with `details`."""
    return AlertFinding(id=1, policy=check, check=check, severity=Severity.HIGH, status="open",
                        account="1", region="us-east-1", resource="r", title=check,
                        details=details, entities=frozenset(entities))


def miner(n: int) -> AlertFinding:
    """An unapproved c5.4xlarge, priced by instance_types."""
    return finding("instance_types", f"instance:i-{n}", instance_id=f"i-{n}", usd_per_hour=0.68,
                   launch_time=LAUNCH.isoformat())


BURN = finding("hourly_spend", *(f"instance:i-{n}" for n in range(3)), kind="burn_rate",
               usd_per_hour=6.98, recent_usd_per_hour=2.04, sampled_at=ALERT.isoformat())
BYSTANDER = finding("open_admin_ports", "instance:i-web", "sg:sg-1", group_id="sg-1",
                    instances=[{"instance_id": "i-web", "usd_per_hour": 9.0}])


def test_each_instance_counts_once_whichever_checks_name_it_and_bystanders_not_at_all():
    facts = incident_money([miner(0), miner(1), miner(2), BURN, BYSTANDER], REGISTRY, ALERT)

    assert facts["burn_rate_now_usd_per_hour"] == 6.98
    assert facts["added_usd_per_hour"] == pytest.approx(2.04)
    assert facts["incident_instances"] == 3
    assert facts["cost_so_far_usd"] == pytest.approx(1.02)
    assert facts["cost_since"] == LAUNCH


def test_the_rows_use_the_vocabulary_in_its_order():
    facts = incident_money([miner(0), BURN], REGISTRY, ALERT)

    rows = money_rows(facts, AlertKind.NEW)

    assert [label for label, _ in rows] == [
        "Burn rate now", "Added by this incident", "Cost so far",
        "Projected to month end at this rate"]
    assert rows[0][1] == "$6.98/h (us-east-1)"
    assert rows[1][1] == "$0.68/h (3 instances, 2 without a known price)"  # BURN names 3
    assert rows[2][1] == "$0.34 since 2026-11-30 22:00:00 UTC"


def test_a_resolution_says_the_cost_up_to_the_fix_only():
    fixed = LAUNCH + timedelta(minutes=47)
    facts = incident_money([miner(0), miner(1)], REGISTRY, fixed)

    assert money_rows(facts, AlertKind.RESOLVED) == ((
        "Cost up to the fix",
        "$1.07 (2 instances, at $1.36/h, from 2026-11-30 22:00:00 UTC to "
        "2026-11-30 22:47:00 UTC)"),)


def test_no_priced_instance_and_no_burn_rate_is_no_money_block():
    facts = incident_money([BYSTANDER, finding("root_mfa")], REGISTRY, ALERT)

    assert facts == {}
    assert money_rows(facts, AlertKind.NEW) == ()
    assert money_rows(facts, AlertKind.RESOLVED) == ()
