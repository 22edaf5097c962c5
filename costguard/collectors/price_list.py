"""On-demand EC2 prices from the AWS Price List API (GetProducts), cached on disk for a day.

The shipped table (`costguard.spend.prices.PriceBook`) is a snapshot and estimates what it
lacks; the API knows every type AWS sells in every region. `ApiPriceBook` asks the API first and
falls back to the table, so a new GPU family is priced at its list price, not an estimate, and a
host without `pricing:GetProducts` (or without network) still prices everything.

GetProducts answers each product as a JSON *string*: `product.attributes` describes it,
`terms.OnDemand.<offer>.priceDimensions.<rate>.pricePerUnit.USD` is its hourly price. The
filters select Linux, shared tenancy, no pre-installed software, capacity in use (not an unused
reservation) and the on-demand market; the price list has no `termType` attribute to filter on,
so the on-demand term is picked from `terms.OnDemand` of each answer."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from costguard.clock import utcnow
from costguard.collectors.session import Aws, error_code
from costguard.spend.prices import Price, PriceBook

log = logging.getLogger(__name__)

PRICING_REGION = "us-east-1"
"""The Price List API's endpoint (it also serves from ap-south-1 and eu-central-1)."""

SERVICE_CODE = "AmazonEC2"
CACHE_TTL = timedelta(days=1)
RETRY_AFTER = timedelta(hours=1)
"""After a failed GetProducts, how long lookups use the table without asking again."""

PAGE_SIZE = 100  # GetProducts' maximum; a region's whole on-demand Linux list is ~10 pages

BASE_FILTERS: tuple[tuple[str, str], ...] = (
    ("operatingSystem", "Linux"),
    ("tenancy", "Shared"),
    ("preInstalledSw", "NA"),
    ("licenseModel", "No License required"),
    ("capacitystatus", "Used"),
    ("marketoption", "OnDemand"),
)

_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
"""Region and instance-type names become cache file names; anything else is not cached."""



def product_filters(region: str, instance_type: str | None = None) -> list[dict[str, str]]:
    """GetProducts filters for on-demand Linux prices in `region` (of one type, if given)."""
    pairs = [*((("instanceType", instance_type),) if instance_type else ()), *BASE_FILTERS]
    pairs.append(("regionCode", region))
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in pairs]


def on_demand_usd(entry: str | Mapping[str, Any]) -> float | None:
    """The hourly USD price of one PriceList entry (a JSON string as AWS sends it), or None
    when it has no positive hourly on-demand price."""
    product = json.loads(entry) if isinstance(entry, str) else entry
    prices = [
        float(dimension["pricePerUnit"]["USD"])
        for term in product.get("terms", {}).get("OnDemand", {}).values()
        for dimension in term.get("priceDimensions", {}).values()
        if dimension.get("unit") == "Hrs" and "USD" in dimension.get("pricePerUnit", {})
    ]
    positive = [p for p in prices if p > 0]
    return max(positive) if positive else None


def instance_type_of(entry: str | Mapping[str, Any]) -> str | None:
    """The instance type a PriceList entry prices."""
    product = json.loads(entry) if isinstance(entry, str) else entry
    return product.get("product", {}).get("attributes", {}).get("instanceType")


def prices_by_type(entries: Iterable[str | Mapping[str, Any]]) -> dict[str, float]:
    """Instance type -> hourly price over PriceList entries; should two entries price the same
    type, the dearer one wins, so a burn rate is never under-stated."""
    prices: dict[str, float] = {}
    for entry in entries:
        product = json.loads(entry) if isinstance(entry, str) else entry
        kind, usd = instance_type_of(product), on_demand_usd(product)
        if kind and usd is not None:
            prices[kind] = max(usd, prices.get(kind, 0.0))
    return prices


class PriceListCollector:
    """Reads on-demand prices from the Price List API, remembering answers on disk for a day
    (a type that is not sold in a region is remembered too, as null)."""

    def __init__(self, aws: Aws, cache_dir: Path, clock: Callable[[], datetime] = utcnow) -> None:
        self._aws = aws
        self._cache_dir = Path(cache_dir)
        self._clock = clock
        self._memo: dict[tuple[str, str], tuple[datetime, float | None]] = {}
        self._off_until: datetime | None = None
        self.calls_made = 0
        """GetProducts requests sent (the Price List API is free; this is for the logs)."""

    def price(self, region: str, instance_type: str) -> float | None:
        """The on-demand $/hour, or None when the API does not price it (or cannot be asked)."""
        now = self._clock()
        cached = self._cached(region, instance_type, now)
        if cached is not None:
            return cached[1]
        if self._off_until is not None and now < self._off_until:
            return None
        try:
            found = prices_by_type(self._entries(product_filters(region, instance_type)))
        except Exception as exc:  # the table is the fallback: no API failure may stop a poll
            self._off_until = now + RETRY_AFTER
            log.warning(
                "Price List API unavailable (%s); using the shipped price table for %g h",
                error_code(exc) or exc,
                RETRY_AFTER.total_seconds() / 3600,
            )
            return None
        usd = found.get(instance_type)
        self._remember(region, instance_type, now, usd)
        return usd

    def region_prices(self, region: str) -> dict[str, float]:
        """Every instance type's on-demand price in a region, paging through the whole list
        (about ten requests a region, where one request per type would be hundreds)."""
        return prices_by_type(self._entries(product_filters(region)))

    def _entries(self, filters: list[dict[str, str]]) -> Iterator[str]:
        pricing = self._aws.client("pricing", PRICING_REGION)
        request: dict[str, Any] = {
            "ServiceCode": SERVICE_CODE,
            "Filters": filters,
            "FormatVersion": "aws_v1",
            "MaxResults": PAGE_SIZE,
        }
        while True:
            self.calls_made += 1
            page = pricing.get_products(**request)
            yield from page.get("PriceList", ())
            token = page.get("NextToken")
            if not token:
                return
            request = {**request, "NextToken": token}

    # -- the cache ------------------------------------------------------------------------------

    def _path(self, region: str, instance_type: str) -> Path | None:
        if not (_SAFE_NAME.match(region) and _SAFE_NAME.match(instance_type)):
            return None
        return self._cache_dir / region / f"{instance_type}.json"

    def _cached(
        self, region: str, instance_type: str, now: datetime
    ) -> tuple[datetime, float | None] | None:
        """A memo or cache-file answer younger than CACHE_TTL, as (fetched_at, price)."""
        hit = self._memo.get((region, instance_type)) or self._read_file(region, instance_type)
        if hit is None or now - hit[0] >= CACHE_TTL:
            return None
        self._memo[(region, instance_type)] = hit
        return hit

    def _read_file(self, region: str, instance_type: str) -> tuple[datetime, float | None] | None:
        path = self._path(region, instance_type)
        if path is None:
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            usd = raw["usd_per_hour"]
            return datetime.fromisoformat(raw["fetched_at"]), None if usd is None else float(usd)
        except (OSError, ValueError, KeyError, TypeError):  # absent or damaged: ask again
            return None

    def _remember(self, region: str, instance_type: str, now: datetime, usd: float | None) -> None:
        self._memo[(region, instance_type)] = (now, usd)
        path = self._path(region, instance_type)
        if path is None:
            return
        body = {
            "region": region,
            "instance_type": instance_type,
            "usd_per_hour": usd,
            "fetched_at": now.isoformat(),
        }
        try:
            write_atomically(path, json.dumps(body, sort_keys=True))
        except OSError as exc:  # a read-only state dir costs one request per type a day
            log.warning("cannot cache the price of %s in %s: %s", instance_type, region, exc)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so a reader never sees half a file (two processes may race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ApiPriceBook:
    """A PriceBook that prefers the Price List API's price and falls back to the table's (or
    its estimate, flagged `estimated`); a drop-in for `PriceBook` wherever prices are read."""

    def __init__(self, collector: PriceListCollector, table: PriceBook | None = None) -> None:
        self._collector = collector
        self.table = table or PriceBook()

    def price(
        self, region: str, instance_type: str, vcpus: Mapping[str, int] | None = None
    ) -> Price:
        """The API's list price when it has one, else the table's price or estimate."""
        usd = self._collector.price(region, instance_type)
        if usd is not None:
            return Price(usd)
        return self.table.price(region, instance_type, vcpus)

    def known_types(self) -> frozenset[str]:
        """The table's types (types outside it get a DescribeInstanceTypes vCPU count, which
        the table's estimate needs should the API not answer)."""
        return self.table.known_types()

    def regions(self) -> frozenset[str]:
        """The table's regions."""
        return self.table.regions()

    @property
    def meta(self) -> Mapping[str, Any]:
        """The table's `_meta` block."""
        return self.table.meta
