"""Every money figure of an incident, computed once (costguard/spend/incident_cost.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.spend.incident_cost import (
    MONEY_WORDS,
    PricedInstance,
    RegionRate,
    incident_cost,
)

LAUNCH = datetime(2026, 11, 30, 22, 0, tzinfo=timezone.utc)
MINERS = [PricedInstance(f"i-{n}", 0.68, LAUNCH) for n in range(10)]
RATES = [RegionRate("1", "us-east-1", 6.98, LAUNCH)]


def test_the_four_figures_of_an_alert():
    cost = incident_cost(MINERS, RATES, LAUNCH + timedelta(minutes=30))

    assert cost.burn_rate_now == 6.98 and cost.regions == ("us-east-1",)
    assert cost.added == pytest.approx(6.8)
    assert cost.cost_so_far == pytest.approx(3.4)  # half an hour at $6.80/h
    # cost so far, then the added rate for the 1.5 hours left in November
    assert cost.projected_to_month_end == pytest.approx(3.4 + 6.8 * 1.5)
    assert (cost.instances, cost.unpriced, cost.since) == (10, 0, LAUNCH)


def test_the_cost_up_to_the_fix_runs_to_the_resolution_not_to_the_alert():
    alert = incident_cost(MINERS, RATES, LAUNCH + timedelta(minutes=2))
    fixed = incident_cost(MINERS, RATES, LAUNCH + timedelta(minutes=47))

    assert alert.cost_so_far == pytest.approx(6.8 * 2 / 60, abs=1e-3)
    assert fixed.cost_so_far == pytest.approx(6.8 * 47 / 60, abs=1e-3)


def test_billing_starts_with_a_minute():
    cost = incident_cost(MINERS[:1], [], LAUNCH + timedelta(seconds=5))

    assert cost.cost_so_far == pytest.approx(0.68 / 60, abs=1e-4)


def test_the_burn_rate_now_is_the_latest_sample_of_each_region_summed():
    rates = [RegionRate("1", "us-east-1", 1.0, LAUNCH),
             RegionRate("1", "us-east-1", 6.98, LAUNCH + timedelta(minutes=1)),
             RegionRate("1", "eu-west-1", 2.0, LAUNCH)]

    cost = incident_cost([], rates, LAUNCH + timedelta(minutes=2))

    assert cost.burn_rate_now == pytest.approx(8.98)
    assert cost.regions == ("eu-west-1", "us-east-1")
    # no instance of its own: the projection is the burn rate now to the month's end
    assert cost.added is None and cost.cost_so_far is None
    assert cost.projected_to_month_end == pytest.approx(8.98 * (2 - 2 / 60), abs=0.01)


def test_an_instance_without_a_price_is_counted_not_guessed():
    cost = incident_cost([*MINERS[:2], PricedInstance("i-x", None, LAUNCH)], [], LAUNCH)

    assert (cost.instances, cost.unpriced) == (3, 1)
    assert cost.added == pytest.approx(1.36)


def test_nothing_priced_and_no_rate_is_no_money():
    assert not incident_cost([PricedInstance("i-x", None, None)], [], LAUNCH).known


def test_the_words_are_one_vocabulary():
    assert MONEY_WORDS == ("Burn rate now", "Added by this incident", "Cost so far",
                           "Projected to month end at this rate", "Cost up to the fix")
