"""monthly_forecast: the month-end forecast against the budget, once per mark and month."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from costguard.checks.base import Context
from costguard.checks.monthly_forecast import MonthlyForecast, MonthlyForecastParams
from costguard.model import GLOBAL_REGION, Severity
from costguard.snapshot import CostForecast

from .conftest import ACCOUNT, NOW, OTHER_ACCOUNT, render, run, snapshot

NOVEMBER = datetime(2026, 11, 1, tzinfo=timezone.utc)
DECEMBER = datetime(2026, 12, 1, tzinfo=timezone.utc)


def forecast(usd, *, account=ACCOUNT, start=NOVEMBER, end=DECEMBER, source="cost_explorer", **kw):
    return CostForecast(
        account=account,
        month_start=start,
        month_end=end,
        forecast_usd=usd,
        actual_to_date_usd=kw.pop("actual", usd * 0.6),
        source=source,
        **kw,
    )


def evaluate(snap, *, options=None, **params):
    """Run the check as the engine does, with `ctx.options` (the config's budget)."""
    ctx = Context(
        policy="monthly-forecast",
        check="monthly_forecast",
        severity=Severity.MEDIUM,
        params=MonthlyForecastParams.model_validate(params),
        now=NOW,
        options=options or {},
    )
    return list(MonthlyForecast().evaluate(snap, ctx))


def test_each_mark_the_forecast_reaches_is_a_finding_of_its_own():
    snap = snapshot(forecasts=(forecast(1050.0, lower_usd=980.0, upper_usd=1130.0),))

    findings = run(MonthlyForecast, snap, monthly_budget_usd=1000)

    assert [f.resource for f in findings] == [
        f"arn:aws:ce::{ACCOUNT}:forecast/2026-11/80",
        f"arn:aws:ce::{ACCOUNT}:forecast/2026-11/100",
    ]
    top = findings[1]
    assert top.title == (
        f"2026-11 in {ACCOUNT} is forecast to cost $1,050.00, 105% of the $1,000.00 budget "
        "(the 100% mark)"
    )
    assert (top.region, top.severity) == (GLOBAL_REGION, Severity.MEDIUM)
    assert top.details == {
        "account": ACCOUNT,
        "month": "2026-11",
        "forecast_usd": 1050.0,
        "actual_to_date_usd": 630.0,
        "lower_usd": 980.0,
        "upper_usd": 1130.0,
        "source": "cost_explorer",
        "budget_usd": 1000.0,
        "budget_from": "policy",
        "percent_of_budget": 105.0,
        "threshold_percent": 100.0,
        "mark": "100%",
        "thresholds_percent": [80.0, 100.0, 120.0],
        "over_budget_usd": 50.0,
        "month_start": "2026-11-01T00:00:00+00:00",
        "month_end": "2026-12-01T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("usd", "marks"),
    [(799.99, []), (800.0, ["80"]), (1199.0, ["80", "100"]), (5000.0, ["80", "100", "120"])],
)
def test_marks_are_reached_at_exactly_their_percentage(usd, marks):
    findings = run(MonthlyForecast, snapshot(forecasts=(forecast(usd),)), monthly_budget_usd=1000)

    assert [f.resource.rsplit("/", 1)[1] for f in findings] == marks


def test_a_mark_stays_the_same_finding_all_month_and_a_new_month_starts_afresh():
    early = run(MonthlyForecast, snapshot(forecasts=(forecast(900.0),)), monthly_budget_usd=1000)
    later = run(MonthlyForecast, snapshot(forecasts=(forecast(950.0),)), monthly_budget_usd=1000)
    january = forecast(900.0, start=DECEMBER, end=datetime(2027, 1, 1, tzinfo=timezone.utc))
    december = run(MonthlyForecast, snapshot(forecasts=(january,)), monthly_budget_usd=1000)

    assert [f.fingerprint for f in early] == [f.fingerprint for f in later]
    assert early[0].title != later[0].title  # the figures move; the identity does not
    assert december[0].resource == f"arn:aws:ce::{ACCOUNT}:forecast/2026-12/80"
    assert december[0].fingerprint != early[0].fingerprint


def test_the_budget_comes_from_the_config_when_the_policy_sets_none():
    snap = snapshot(forecasts=(forecast(1300.0), forecast(100.0, account=OTHER_ACCOUNT)))

    from_config = evaluate(snap, options={"monthly_budget_usd": 1000})
    from_policy = evaluate(snap, options={"monthly_budget_usd": 1000}, monthly_budget_usd=5000)

    assert [f.details["mark"] for f in from_config] == ["80%", "100%", "120%"]
    assert {f.details["budget_from"] for f in from_config} == {"config"}
    assert from_policy == []
    assert evaluate(snap) == []  # no budget anywhere: nothing to compare with


def test_custom_marks_are_sorted_and_deduplicated():
    params = MonthlyForecastParams.model_validate({"thresholds_percent": [150, 50, 50.5, 150]})

    assert params.thresholds_percent == [50.0, 50.5, 150.0]
    findings = run(
        MonthlyForecast,
        snapshot(forecasts=(forecast(510.0),)),
        monthly_budget_usd=1000,
        thresholds_percent=[50.5, 50],
    )
    assert [f.resource.rsplit("/", 1)[1] for f in findings] == ["50", "50.5"]


@pytest.mark.parametrize(
    "bad",
    [
        {"thresholds_percent": [0]},
        {"thresholds_percent": []},
        {"monthly_budget_usd": -1},
        {"budget": 10},
    ],
)
def test_params_are_validated(bad):
    with pytest.raises(ValidationError):
        MonthlyForecastParams.model_validate(bad)


def test_remediation_states_the_forecast_the_marks_and_the_source():
    snap = snapshot(forecasts=(forecast(1250.0, source="costguard", actual=400.0),))

    text = render("monthly_forecast", run(MonthlyForecast, snap, monthly_budget_usd=1000))

    assert text.startswith(
        f"Account {ACCOUNT} is forecast to spend $1,250.00 in 2026-11, 125.0% of its $1,000.00 "
        "budget, $250.00 over. $400.00 is already spent.\n"
        "- Marks reached: 80%, 100%, 120%.\n"
        "- Forecast by costguard, from the last week's daily cost (Cost Explorer had no "
        "forecast).\n"
    )
    assert (
        "aws ce get-cost-and-usage --region us-east-1 --time-period "
        "Start=2026-11-01,End=2026-12-01 --granularity MONTHLY --metrics UnblendedCost "
        "--group-by Type=DIMENSION,Key=SERVICE Type=DIMENSION,Key=LINKED_ACCOUNT\n"
    ) in text
    assert text.count(f"Account {ACCOUNT} is forecast") == 1  # one paragraph for three marks
