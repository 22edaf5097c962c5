"""An incident's money, for its messages: the incident's instances and burn rates read from its
findings, every figure computed once by `costguard.spend.incident_cost`, and shown with the
same words in every message.

The facts are plain JSON values under the `*_usd` / `*_usd_per_hour` keys below, so a message
rendered later from stored facts says exactly what the first one did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from costguard.alerts.evidence import Shown, incident_instances, instance_facts, phase_lookup
from costguard.model import AlertKind
from costguard.spend.incident_cost import (
    ADDED,
    BURN_RATE_NOW,
    COST_SO_FAR,
    COST_TO_FIX,
    PROJECTED,
    IncidentCost,
    PricedInstance,
    RegionRate,
    incident_cost,
)
from costguard.text import money, ts

FACT_KEYS = (
    "burn_rate_now_usd_per_hour", "burn_rate_regions", "added_usd_per_hour",
    "incident_instances", "unpriced_instances", "cost_so_far_usd", "cost_since",
    "cost_as_of", "projected_to_month_end_usd",
)
"""The facts `incident_money` sets; a message shows them in its money block only."""


def incident_money(
    findings: Sequence[Shown], registry: Any, now: datetime
) -> dict[str, Any]:
    """The money facts of an incident at `now`: the alert's time, or for a resolution the
    moment it resolved (so it says the cost up to the fix). Empty when nothing is priced."""
    mine = incident_instances(findings, phase_lookup(registry))
    facts = instance_facts(findings, mine)
    priced = [PricedInstance(i, facts.get(i, {}).get("usd_per_hour"),
                             facts.get(i, {}).get("launched_at")) for i in sorted(mine)]
    cost = incident_cost(priced, region_rates(findings, registry), now)
    return _facts(cost) if cost.known else {}


def region_rates(findings: Sequence[Shown], registry: Any) -> list[RegionRate]:
    """The burn rates the findings of burn-rate checks (`Check.burn_rate_facts`) measured."""
    rates = []
    for f in findings:
        d = f.details
        if getattr(registry.get(f.check), "burn_rate_facts", False) and isinstance(
                d.get("usd_per_hour"), int | float) and "recent_usd_per_hour" in d:
            at = d.get("sampled_at")
            rates.append(RegionRate(f.account, f.region, float(d["usd_per_hour"]),
                                    datetime.fromisoformat(at) if isinstance(at, str) else None))
    return rates


def _facts(cost: IncidentCost) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "burn_rate_now_usd_per_hour": cost.burn_rate_now,
        "burn_rate_regions": list(cost.regions),
        "added_usd_per_hour": cost.added,
        "incident_instances": cost.instances,
        "unpriced_instances": cost.unpriced,
        "cost_so_far_usd": None if cost.cost_so_far is None else round(cost.cost_so_far, 2),
        "cost_since": cost.since,
        "cost_as_of": cost.as_of,
        "projected_to_month_end_usd": cost.projected_to_month_end,
    }
    return {k: v for k, v in facts.items() if v not in (None, [])}


def money_rows(facts: Mapping[str, Any], kind: AlertKind) -> tuple[tuple[str, str], ...]:
    """(label, value) rows of the money block: the four figures, or for a resolution the cost
    up to the fix; none when the facts hold no money."""
    if kind is AlertKind.RESOLVED:
        fixed = _cost_to_fix(facts)
        return ((COST_TO_FIX, fixed),) if fixed else ()
    rows = [
        (BURN_RATE_NOW, _rate(facts.get("burn_rate_now_usd_per_hour"),
                              ", ".join(facts.get("burn_rate_regions") or ()))),
        (ADDED, _rate(facts.get("added_usd_per_hour"), _instances(facts))),
        (COST_SO_FAR, _since(facts)),
        (PROJECTED, _usd(facts.get("projected_to_month_end_usd"))),
    ]
    return tuple((label, value) for label, value in rows if value)


def _usd(value: Any) -> str:
    return money(float(value)) if isinstance(value, int | float) else ""


def _rate(value: Any, where: str) -> str:
    shown = _usd(value)
    return f"{shown}/h" + (f" ({where})" if where else "") if shown else ""


def _instances(facts: Mapping[str, Any]) -> str:
    count, unpriced = facts.get("incident_instances") or 0, facts.get("unpriced_instances") or 0
    text = f"{count} instance{'s' if count != 1 else ''}" if count else ""
    return text + (f", {unpriced} without a known price" if unpriced else "")


def _since(facts: Mapping[str, Any]) -> str:
    spent = _usd(facts.get("cost_so_far_usd"))
    since = facts.get("cost_since")
    return f"{spent} since {ts(since)}" if spent and isinstance(since, datetime) else spent


def _cost_to_fix(facts: Mapping[str, Any]) -> str:
    spent = _usd(facts.get("cost_so_far_usd"))
    if not spent:
        return ""
    rate = _rate(facts.get("added_usd_per_hour"), "")
    since, until = facts.get("cost_since"), facts.get("cost_as_of")
    parts = [p for p in (_instances(facts), f"at {rate}" if rate else "") if p]
    span = f"from {ts(since)} to {ts(until)}" if isinstance(since, datetime) and isinstance(
        until, datetime) else ""
    return f"{spent} ({', '.join(parts + ([span] if span else []))})" if parts or span else spent
