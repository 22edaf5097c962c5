"""The snapshot builder is pure: it prices, builds and says which burn samples to store, and the
caller (the cycle, in its unit of work) stores them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from costguard.model import Source
from costguard.runtime.gather import Gathered
from costguard.runtime.latest import Latest
from costguard.runtime.snapshot_builder import Priced, Stored, build_snapshot, price
from costguard.snapshot import BurnSample, Instance, RegionInventory, SourceHealth
from costguard.spend.prices import PriceBook

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ACCOUNT, REGION = "123456789012", "us-east-1"


def inventory(count: int) -> RegionInventory:
    instances = tuple(Instance(ACCOUNT, REGION, f"i-{n}", "c5.4xlarge", "running",
                               launch_time=NOW - timedelta(days=3)) for n in range(count))
    return RegionInventory(ACCOUNT, REGION, instances, collected_at=NOW)


def seen(count: int) -> tuple[Latest, Gathered]:
    latest, gathered = Latest(), Gathered(inventory=[inventory(count)])
    latest.remember(gathered, None)
    return latest, gathered


def test_pricing_gives_this_cycles_samples_only_when_the_inventory_was_read():
    latest, gathered = seen(2)
    priced = price(latest, PriceBook(), gathered, {Source.INVENTORY}, NOW)
    [sample] = priced.samples
    assert (sample.instance_count, sample.usd_per_hour) == (2, 2 * 0.68)
    assert priced.instance_prices == {(REGION, "c5.4xlarge"): 0.68}
    assert price(latest, PriceBook(), gathered, {Source.CREDENTIAL_REPORT}, NOW).samples == ()


def test_building_keeps_new_samples_and_changes_nothing_it_was_given():
    latest, gathered = seen(2)
    priced = price(latest, PriceBook(), gathered, {Source.INVENTORY}, NOW)
    health = (SourceHealth("inventory", ACCOUNT, REGION),)
    older = BurnSample(ACCOUNT, REGION, NOW - timedelta(hours=3), 1.36, instance_count=2)

    built = build_snapshot(latest, priced, Stored(burn=[older], health=health), NOW)

    assert built.keep == priced.samples
    assert latest.stored_burn == {}
    assert built.snapshot.burn == priced.samples
    assert built.snapshot.health == health
    assert [s.at for s in built.snapshot.burn_history] == [
        NOW - timedelta(hours=h) for h in (3, 2, 1)]


def test_an_unchanged_rate_stored_minutes_ago_is_not_stored_again():
    latest, gathered = seen(2)
    priced = price(latest, PriceBook(), gathered, {Source.INVENTORY}, NOW)
    latest.remember_stored([replace(priced.samples[0], at=NOW - timedelta(minutes=5))])

    assert build_snapshot(latest, priced, Stored(), NOW).keep == ()
    assert build_snapshot(latest, Priced(), Stored(), NOW).keep == ()
