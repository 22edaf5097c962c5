"""On-demand EC2 prices, so a burn rate can be known the minute instances start.

Cost Explorer lags by hours; an attacker with a leaked key can spend thousands in that time. The
shipped table (`costguard/data/ec2_prices.json`) gives Linux, shared-tenancy list prices; what it
does not list is estimated, and every estimate says so (`Price.estimated`).

Estimation rules, in order:

1. A type the region lists: its price.
2. An unlisted burstable type (t2.micro): the median price of the region's listed burstable
   types of the same size, because a burstable price buys a CPU-credit baseline, not vCPUs
   (t3.nano and t3.large both have 2 vCPUs and differ 16-fold in price).
3. Any other unlisted type: vCPUs x a per-vCPU rate, the median $/vCPU-hour of the closest
   listed group: the same family (c5.metal uses c5's rate), else the same family letters
   (p4de uses p3, p4d and p5), else the same family class (general, compute, memory,
   accelerated). Accelerated families (GPU, Inferentia, Trainium, FPGA, video) are only ever
   priced from accelerated types, and from the upper quartile when the group mixes families,
   so their rate is 2-8 times a general-purpose one: a GPU never hides behind a cheap estimate.
   vCPUs come from DescribeInstanceTypes when the engine has them, otherwise from the size name
   (large = 2, xlarge = 4, Nxlarge = 4N, metal = 96).
4. A region the table does not list: the us-east-1 price (or estimate) x DEFAULT_REGION_FACTOR,
   which sits at the dear end of the listed regions so an unknown region is not under-priced.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from costguard.model import StrEnum

BASE_REGION = "us-east-1"
DEFAULT_REGION_FACTOR = 1.25
"""Applied to us-east-1 for regions the table lacks (listed regions range from 1.0 to 1.55)."""

FALLBACK_VCPUS = 2
"""vCPUs assumed when neither DescribeInstanceTypes nor the size name tells (the smallest
non-burstable size), so an unparseable type still gets a non-zero price."""

_SMALL_SIZES = {"nano": 1, "micro": 1, "small": 1, "medium": 1, "large": 2, "xlarge": 4}
_SIZE = re.compile(r"^(?:metal-)?(\d+)xl(?:arge)?$")
_METAL_VCPUS = 96  # most current-generation `.metal` sizes expose 96 vCPUs


class FamilyClass(StrEnum):
    """The broad kind of an instance family, which sets the per-vCPU rate of an estimate."""

    GENERAL = "general"
    COMPUTE = "compute"
    MEMORY = "memory"
    ACCELERATED = "accelerated"


# Keyed by the letters before the family's generation digit ("g4dn" -> "g", "inf2" -> "inf").
# Storage-optimised families (i, d, h, im, is) cost about what memory-optimised ones do per
# vCPU, so they share that rate rather than get a class the table has no prices for.
_CLASS_BY_PREFIX: dict[str, FamilyClass] = {
    **dict.fromkeys(("p", "g", "gr", "inf", "trn", "dl", "f", "vt"), FamilyClass.ACCELERATED),
    **dict.fromkeys(("c", "hpc"), FamilyClass.COMPUTE),
    **dict.fromkeys(("r", "x", "z", "u", "i", "d", "h", "im", "is"), FamilyClass.MEMORY),
}


@dataclass(frozen=True)
class Price:
    """An on-demand $/hour and whether it is a list price or costguard's estimate."""

    usd_per_hour: float
    estimated: bool = False


def family_of(instance_type: str) -> str:
    """The family of an instance type ("c5.4xlarge" -> "c5")."""
    return instance_type.split(".", 1)[0]


def family_prefix(instance_type: str) -> str:
    """The letters before the generation digit ("p4de.24xlarge" -> "p", "inf2.xlarge" -> "inf")."""
    match = re.match(r"[a-z]*", family_of(instance_type).lower())
    return match.group(0) if match else ""


def family_class(instance_type: str) -> FamilyClass:
    """Which rate an estimate for this type uses; unknown prefixes count as general purpose."""
    return _CLASS_BY_PREFIX.get(family_prefix(instance_type), FamilyClass.GENERAL)


def vcpus_from_name(instance_type: str) -> int:
    """vCPUs implied by the size name, for types DescribeInstanceTypes did not describe."""
    size = instance_type.split(".", 1)[1] if "." in instance_type else ""
    if size in _SMALL_SIZES:
        return _SMALL_SIZES[size]
    if size == "metal":
        return _METAL_VCPUS
    match = _SIZE.match(size)
    return 4 * int(match.group(1)) if match else FALLBACK_VCPUS


def _default_table_path() -> Path:
    return Path(str(resources.files("costguard").joinpath("data/ec2_prices.json")))


class PriceTableError(ValueError):
    """The price table is not usable (a custom table without us-east-1, say)."""


class PriceBook:
    """Looks up (or estimates) the on-demand price of an instance type in a region.

    The table is read once, on first use, so importing this module costs nothing.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or _default_table_path()
        self._rates: dict[tuple[str, str], float | None] = {}

    @cached_property
    def _document(self) -> Mapping[str, Any]:
        with self.path.open(encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
        # Every estimate for an unlisted region starts from us-east-1.
        if BASE_REGION not in data.get("regions", {}):
            raise PriceTableError(f"{self.path}: no prices for {BASE_REGION}")
        return data

    @property
    def _table(self) -> Mapping[str, Mapping[str, float]]:
        return self._document["regions"]

    @property
    def meta(self) -> Mapping[str, Any]:
        """The table's `_meta` block (source, date, how regions were derived)."""
        return self._document.get("_meta", {})

    def regions(self) -> frozenset[str]:
        """Regions the table lists; others are estimated from us-east-1."""
        return frozenset(self._table)

    def known_types(self) -> frozenset[str]:
        """Every instance type the table lists in any region (policy validation uses it)."""
        return frozenset(t for prices in self._table.values() for t in prices)

    def price(
        self, region: str, instance_type: str, vcpus: Mapping[str, int] | None = None
    ) -> Price:
        """The $/hour of one instance; `vcpus` is DescribeInstanceTypes' answer, by type."""
        if region not in self._table:
            base = self.price(BASE_REGION, instance_type, vcpus)
            return Price(round(base.usd_per_hour * DEFAULT_REGION_FACTOR, 6), estimated=True)
        listed = self._table[region].get(instance_type)
        if listed is not None:
            return Price(float(listed))
        burstable = self._burstable_price(region, instance_type)
        if burstable is not None:
            return Price(burstable, estimated=True)
        count = (vcpus or {}).get(instance_type) or vcpus_from_name(instance_type)
        return Price(round(count * self._rate(region, instance_type), 6), estimated=True)

    def _burstable_price(self, region: str, instance_type: str) -> float | None:
        """Rule 2: the median listed burstable price of the same size, or None."""
        if not _burstable(instance_type):
            return None
        size = instance_type.partition(".")[2]
        prices = [
            usd
            for t, usd in self._table[region].items()
            if _burstable(t) and t.partition(".")[2] == size
        ]
        return statistics.median(prices) if prices else None

    def _rate(self, region: str, instance_type: str) -> float:
        """Per-vCPU rate for an unlisted type: the closest listed group's (module docstring)."""
        family, prefix = family_of(instance_type), family_prefix(instance_type)
        cls = family_class(instance_type)
        # Accelerator prices per vCPU spread widely across families (g4dn 0.07, p3 0.38), and
        # under-pricing a GPU hides exactly the spend costguard exists to catch: a group that
        # mixes accelerator families sets the rate from its upper quartile, not its median.
        high = cls is FamilyClass.ACCELERATED
        tiers: tuple[tuple[str, Callable[[str], bool], bool], ...] = (
            (f"family:{family}", lambda t: family_of(t) == family, False),
            (f"prefix:{prefix}", lambda t: family_prefix(t) == prefix, high),
            (f"class:{cls}", lambda t: family_class(t) is cls, high),
            # Only a custom table can lack a whole class; any rate beats a zero.
            ("any", lambda t: True, False),
        )
        for key, matches, upper in tiers:
            if (region, key) not in self._rates:
                self._rates[region, key] = self._group_rate(region, matches, upper)
            rate = self._rates[region, key]
            if rate is not None:
                return rate
        return 0.0

    def _group_rate(self, region: str, matches: Callable[[str], bool], upper: bool) -> float | None:
        rates = [
            usd / vcpus_from_name(t)
            for t, usd in self._table[region].items()
            if not _burstable(t) and matches(t)
        ]
        if not rates:
            return None
        if upper and len(rates) >= 2:
            return statistics.quantiles(rates, n=4, method="inclusive")[2]
        return statistics.median(rates)


def _burstable(instance_type: str) -> bool:
    """Whether a type is burstable (t2, t3, t3a, t4g): priced by size, not by vCPUs."""
    return family_prefix(instance_type) == "t"
