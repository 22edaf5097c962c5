"""The month is on course to cost more than its budget."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from pydantic import Field, field_validator

from costguard.checks.base import Check, Context, Params, Phase
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import CostForecast, Snapshot
from costguard.text import money

BUDGET_OPTION = "monthly_budget_usd"
"""The `ctx.options` key the engine fills from costguard.yml's `cost.monthly_budget_usd`."""


class MonthlyForecastParams(Params):
    """Parameters of `monthly_forecast`."""

    monthly_budget_usd: float | None = Field(
        default=None,
        gt=0,
        description="The month's budget in dollars; unset takes `cost.monthly_budget_usd` from "
        "costguard.yml, and with neither the check finds nothing.",
    )
    thresholds_percent: list[float] = Field(
        default_factory=lambda: [80.0, 100.0, 120.0],
        min_length=1,
        description="Percentages of the budget the month-end forecast is alerted at, once "
        "each per month.",
    )

    @field_validator("thresholds_percent")
    @classmethod
    def _positive_and_sorted(cls, value: list[float]) -> list[float]:
        if any(v <= 0 for v in value):
            raise ValueError("every percentage must be above 0")
        return sorted(set(value))


def budget_for(params: MonthlyForecastParams, ctx: Context) -> tuple[float | None, str]:
    """The budget and where it came from: the policy's parameter, else the config's."""
    if params.monthly_budget_usd is not None:
        return params.monthly_budget_usd, "policy"
    configured = ctx.options.get(BUDGET_OPTION)
    return (float(configured), "config") if configured else (None, "none")


class MonthlyForecast(Check):
    """Compares each month-end forecast (Cost Explorer's GetCostForecast completed with the
    month's actual cost, or costguard's projection of the recent daily cost where Cost Explorer
    has none) with the monthly budget, and raises one finding for each of
    `thresholds_percent` the forecast reaches. Each is named
    `arn:aws:ce::ACCOUNT:forecast/YYYY-MM/PCT`, so it is the same finding all month long: it
    alerts once when first reached, and a new month starts new ones. A forecast that falls
    back below a mark resolves that mark's finding.

    ```yaml
    policies:
      - name: monthly-forecast
        check: monthly_forecast
        severity: medium
        params:
          monthly_budget_usd: 1000
          thresholds_percent: [80, 100, 120]
    ```
    """

    id = "monthly_forecast"
    title = "The month is forecast to exceed its budget"
    severity = Severity.MEDIUM
    sources = (Source.COST,)
    remediation = "remediation/monthly_forecast.md.j2"
    Params = MonthlyForecastParams
    references = ("AWS Well-Architected COST01-BP06 Monitor cost proactively",)

    noun = "account"
    phrase_one = "the month's forecast over budget"
    phrase_many = "the month's forecast over budget"
    title_rank = 100
    phase = Phase.BILL
    playbook_rank = 20
    permissions = ("ce:GetCostAndUsage", "ce:GetCostForecast", "pricing:GetProducts")

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """A finding per account, month and budget percentage the forecast reaches."""
        params = cast(MonthlyForecastParams, ctx.params)
        budget, origin = budget_for(params, ctx)
        if budget is None:
            return
        for forecast in snapshot.forecasts:
            percent = forecast.forecast_usd / budget * 100
            for mark in params.thresholds_percent:
                if percent >= mark:
                    yield _finding(ctx, forecast, budget, origin, mark, params)


def _finding(
    ctx: Context,
    forecast: CostForecast,
    budget: float,
    origin: str,
    mark: float,
    params: MonthlyForecastParams,
) -> Finding:
    month = f"{forecast.month_start:%Y-%m}"
    percent = forecast.forecast_usd / budget * 100
    return ctx.finding(
        account=forecast.account,
        region=GLOBAL_REGION,
        resource=f"arn:aws:ce::{forecast.account}:forecast/{month}/{mark:g}",
        title=(
            f"{month} in {forecast.account} is forecast to cost {money(forecast.forecast_usd)}, "
            f"{percent:.0f}% of the {money(budget)} budget (the {mark:g}% mark)"
        ),
        details=_details(forecast, budget, origin, mark, percent, params),
    )


def _details(
    forecast: CostForecast,
    budget: float,
    origin: str,
    mark: float,
    percent: float,
    params: MonthlyForecastParams,
) -> dict[str, Any]:
    """Keys: month, forecast_usd, actual_to_date_usd, lower_usd and upper_usd (Cost
    Explorer's 80% interval, None otherwise), source (cost_explorer or costguard), budget_usd
    and budget_from (policy or config), percent_of_budget, threshold_percent (and as text,
    mark: "80%"), thresholds_percent, over_budget_usd, month_start, month_end."""
    return {
        "account": forecast.account,
        "month": f"{forecast.month_start:%Y-%m}",
        "forecast_usd": round(forecast.forecast_usd, 2),
        "actual_to_date_usd": round(forecast.actual_to_date_usd, 2),
        "lower_usd": forecast.lower_usd,
        "upper_usd": forecast.upper_usd,
        "source": forecast.source,
        "budget_usd": budget,
        "budget_from": origin,
        "percent_of_budget": round(percent, 1),
        "threshold_percent": mark,
        "mark": f"{mark:g}%",
        "thresholds_percent": list(params.thresholds_percent),
        "over_budget_usd": round(max(forecast.forecast_usd - budget, 0.0), 2),
        "month_start": forecast.month_start.isoformat(),
        "month_end": forecast.month_end.isoformat(),
    }
