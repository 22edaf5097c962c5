"""`costguard prices update`: regenerate the shipped-format price table from the Price List API.

The table is what prices instances when the API cannot be asked (no permission, no network), so
an update must never lose coverage: a price the API did not return for a region is kept from
the previous table and the `_meta` block says how many were. The output has the shipped file's
structure (`_meta`, then `regions` -> type -> $/hour, one region per line) so a diff of an
update reads as a list of price changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from costguard.clock import utcnow
from costguard.collectors.price_list import write_atomically
from costguard.spend.prices import BASE_REGION, PriceTableError

SOURCE = (
    "AWS Price List API (GetProducts, AmazonEC2): on-demand, Linux/UNIX, shared tenancy, "
    "no pre-installed software"
)


class RegionPrices(Protocol):
    """What the update reads prices from (a PriceListCollector)."""

    def region_prices(self, region: str) -> dict[str, float]: ...


@dataclass(frozen=True)
class TableUpdate:
    """What an update wrote: how many prices came from the API and how many were kept."""

    path: Path
    regions: int
    from_api: int
    kept: int
    missing: int


def read_table(path: Path) -> dict[str, dict[str, float]]:
    """The `regions` block of an existing table, or nothing when there is no usable file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    regions = document.get("regions") if isinstance(document, dict) else None
    return regions if isinstance(regions, dict) else {}


def build_table(
    api: Mapping[str, Mapping[str, float]],
    previous: Mapping[str, Mapping[str, float]],
    regions: Sequence[str],
    types: Sequence[str],
    today: date,
) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """The new table and (from API, kept, missing) counts: each region lists `types` in the
    given order, at the API's price, else the previous table's."""
    table: dict[str, dict[str, float]] = {}
    from_api = kept = missing = 0
    for region in regions:
        row: dict[str, float] = {}
        for kind in types:
            if kind in api.get(region, {}):
                row[kind], from_api = round(float(api[region][kind]), 6), from_api + 1
            elif kind in previous.get(region, {}):
                row[kind], kept = float(previous[region][kind]), kept + 1
            else:
                missing += 1
        table[region] = row
    return {"_meta": _meta(today, kept, missing), "regions": table}, (from_api, kept, missing)


def _meta(today: date, kept: int, missing: int) -> dict[str, str]:
    return {
        "source": SOURCE,
        "currency": "USD",
        "unit": "per instance-hour",
        "date": today.isoformat(),
        "derivation": (
            f"every value is the list price the Price List API returned on {today.isoformat()}, "
            f"except {kept} that it did not return, kept from the previous table"
        ),
        "coverage": (
            f"types the API does not sell in a region are left out ({missing} region/type pairs); "
            "types and regions not listed are estimated by costguard.spend.prices"
        ),
        "refresh": "refresh with `costguard prices update`",
    }


def render_table(document: Mapping[str, Any]) -> str:
    """The table in the shipped layout: `_meta` on one line, then one line per region."""
    regions = document["regions"]
    lines = ["{", f' "_meta": {json.dumps(document["_meta"])},', ' "regions": {']
    for n, (region, prices) in enumerate(regions.items()):
        comma = "," if n < len(regions) - 1 else ""
        lines.append(f"  {json.dumps(region)}: {json.dumps(prices, separators=(',', ':'))}{comma}")
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def update_table(
    collector: RegionPrices,
    regions: Iterable[str],
    types: Iterable[str],
    path: Path,
    *,
    today: date | None = None,
    fetch: Iterable[str] | None = None,
    previous: Path | None = None,
) -> TableUpdate:
    """Fetch the on-demand prices of `fetch` (default: every region) and rewrite the table at
    `path` (atomically, after every fetch succeeded); regions not fetched keep the prices of
    `previous` (default: `path` itself)."""
    regions, types = list(dict.fromkeys(regions)), list(dict.fromkeys(types))
    if BASE_REGION not in regions:
        raise PriceTableError(f"the table must list {BASE_REGION}: estimates start from it")
    asked = [r for r in regions if fetch is None or r in set(fetch)]
    api = {region: collector.region_prices(region) for region in asked}
    document, (from_api, kept, missing) = build_table(
        api, read_table(previous or path), regions, types, today or utcnow().date()
    )
    if not document["regions"][BASE_REGION]:
        raise PriceTableError(f"no {BASE_REGION} prices from the API or {path}; nothing written")
    write_atomically(path, render_table(document))
    return TableUpdate(path, len(asked), from_api, kept, missing)
