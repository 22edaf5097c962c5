"""The shipped price table and the estimation rules for what it does not list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costguard.spend.prices import (
    DEFAULT_REGION_FACTOR,
    FamilyClass,
    Price,
    PriceBook,
    PriceTableError,
    family_class,
    vcpus_from_name,
)

REGIONS = {
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2",
    "eu-central-1", "eu-north-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
    "ap-south-1", "ca-central-1", "sa-east-1",
}  # fmt: skip
FAMILIES = {
    "t3", "t3a", "t4g", "m5", "m6i", "m6a", "m6g", "m7i", "m7g", "m7a",
    "c5", "c6i", "c6a", "c6g", "c7i", "c7g", "c7a", "r5", "r6i", "r6g", "r7i", "r7g",
    "g4dn", "g5", "g6", "p3", "p4d", "p5", "inf2", "trn1",
}  # fmt: skip


@pytest.fixture(scope="module")
def book() -> PriceBook:
    """The shipped table, read once for the module."""
    return PriceBook()


def small_book(tmp_path: Path, regions: dict) -> PriceBook:
    """A book over a tiny table, so estimates can be worked out by hand."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"_meta": {}, "regions": regions}))
    return PriceBook(path)


TINY = {
    "us-east-1": {
        "c5.large": 0.1,  # $0.05 per vCPU
        "c5.xlarge": 0.2,
        "c6i.large": 0.12,  # $0.06
        "m5.large": 0.1,  # $0.05
        "r5.large": 0.14,  # $0.07
        "p3.2xlarge": 3.2,  # $0.40
        "g4dn.xlarge": 0.4,  # $0.10
        "t3.micro": 0.01,
        "t3a.micro": 0.02,
        "t4g.micro": 0.03,
    }
}


def test_list_prices_in_us_east_1(book: PriceBook):
    assert book.price("us-east-1", "c5.4xlarge") == Price(0.68, estimated=False)
    assert book.price("us-east-1", "c5.large").usd_per_hour == 0.085
    assert book.price("us-east-1", "m5.large").usd_per_hour == 0.096
    assert book.price("us-east-1", "t3.micro").usd_per_hour == 0.0104


def test_ten_c5_4xlarge_burn_six_eighty_an_hour(book: PriceBook):
    assert sum(book.price("us-east-1", "c5.4xlarge").usd_per_hour for _ in range(10)) == (
        pytest.approx(6.80)
    )


def test_the_table_covers_every_region_and_family_the_issue_lists(book: PriceBook):
    known = book.known_types()

    assert book.regions() == REGIONS
    assert {t.split(".")[0] for t in known} >= FAMILIES
    assert {"t3.nano", "t4g.2xlarge", "m7i.48xlarge", "p5.48xlarge", "trn1.32xlarge"} <= known
    for region in REGIONS:
        assert set(book._table[region]) == known


def test_other_regions_are_derived_from_us_east_1_and_never_cheaper(book: PriceBook):
    assert book.price("eu-west-1", "m5.large") == Price(0.1075)  # 0.096 x 1.12
    assert book.price("us-east-2", "c5.4xlarge") == Price(0.68)
    for region in REGIONS:
        for itype in ("c5.large", "p5.48xlarge", "t3.micro"):
            assert (
                book.price(region, itype).usd_per_hour
                >= book.price("us-east-1", itype).usd_per_hour
            )


def test_the_metadata_says_what_is_approximate(book: PriceBook):
    meta = book.meta

    assert meta["date"] == "2026-11-22"
    assert meta["currency"] == "USD"
    assert "derived" in meta["derivation"] and "approximate" in meta["derivation"]
    assert "costguard prices update" in meta["refresh"]
    assert "Linux" in meta["source"] and "us-east-1" in meta["source"]


def test_an_unlisted_size_uses_its_familys_rate_and_known_vcpus(tmp_path: Path):
    book = small_book(tmp_path, TINY)

    assert book.price("us-east-1", "c5.metal", {"c5.metal": 72}) == Price(3.6, estimated=True)
    assert book.price("us-east-1", "c5.metal") == Price(4.8, estimated=True)  # metal = 96 vCPUs


def test_an_unlisted_family_uses_its_letters_then_its_class(tmp_path: Path):
    book = small_book(tmp_path, TINY)

    # c7i: the c families' median ($0.05, $0.05, $0.06) x 2 vCPUs.
    assert book.price("us-east-1", "c7i.large") == Price(0.1, estimated=True)
    # hpc7a: no "hpc" family, so the compute class (the same three rates) x 48 vCPUs.
    assert book.price("us-east-1", "hpc7a.12xlarge") == Price(2.4, estimated=True)
    # i4i: storage-optimised is priced like memory-optimised (r5, $0.07).
    assert book.price("us-east-1", "i4i.xlarge") == Price(0.28, estimated=True)
    # An unknown letter is general purpose (m5, $0.05).
    assert book.price("us-east-1", "a1.xlarge") == Price(0.2, estimated=True)


def test_accelerators_get_a_clearly_higher_rate(tmp_path: Path):
    book = small_book(tmp_path, TINY)

    # p4de: the p families' rate (p3, $0.40) x 96 vCPUs.
    assert book.price("us-east-1", "p4de.24xlarge") == Price(38.4, estimated=True)
    # dl1: no "dl" family, so the accelerated class: the upper quartile of $0.10 and $0.40.
    dl1 = book.price("us-east-1", "dl1.24xlarge", {"dl1.24xlarge": 96})
    assert dl1 == Price(31.2, estimated=True)
    general = book.price("us-east-1", "a1.24xlarge", {"a1.24xlarge": 96})
    assert dl1.usd_per_hour > 6 * general.usd_per_hour


def test_accelerator_estimates_in_the_shipped_table_beat_general_purpose_ones(book: PriceBook):
    vcpus = {"dl1.24xlarge": 96, "a1.24xlarge": 96}

    dl1 = book.price("us-east-1", "dl1.24xlarge", vcpus)
    general = book.price("us-east-1", "a1.24xlarge", vcpus)

    assert dl1.estimated and general.estimated
    assert dl1.usd_per_hour > 3 * general.usd_per_hour


def test_unlisted_burstable_types_are_priced_by_size_not_vcpus(tmp_path: Path):
    book = small_book(tmp_path, TINY)

    assert book.price("us-east-1", "t2.micro") == Price(0.02, estimated=True)


def test_unparseable_sizes_fall_back_to_two_vcpus(tmp_path: Path):
    book = small_book(tmp_path, TINY)

    assert book.price("us-east-1", "c5.weird") == Price(0.1, estimated=True)


def test_an_unlisted_region_is_us_east_1_times_the_default_factor(book: PriceBook):
    assert DEFAULT_REGION_FACTOR == 1.25
    assert book.price("xx-moon-1", "c5.4xlarge") == Price(0.85, estimated=True)
    # An unlisted type in an unlisted region: the us-east-1 estimate, times the factor.
    assert book.price("xx-moon-1", "c5.metal") == Price(5.1, estimated=True)


def test_the_table_is_read_lazily_and_once(tmp_path: Path):
    missing = PriceBook(tmp_path / "absent.json")  # constructing reads nothing
    with pytest.raises(FileNotFoundError):
        missing.price("us-east-1", "c5.large")

    book = small_book(tmp_path, TINY)
    assert book.price("us-east-1", "c5.large") == Price(0.1)
    (tmp_path / "prices.json").unlink()
    assert book.price("us-east-1", "m5.large") == Price(0.1)


def test_a_table_without_us_east_1_is_refused(tmp_path: Path):
    book = small_book(tmp_path, {"eu-west-1": {"c5.large": 0.1}})

    with pytest.raises(PriceTableError, match="us-east-1"):
        book.price("eu-west-1", "c5.large")


@pytest.mark.parametrize(
    ("name", "vcpus"),
    [
        ("t3.micro", 1),
        ("c5.large", 2),
        ("c5.xlarge", 4),
        ("c5.24xlarge", 96),
        ("c5.metal", 96),
        ("m7i.metal-48xl", 192),
        ("u-6tb1.112xlarge", 448),
        ("nonsense", 2),
    ],
)
def test_vcpus_from_the_size_name(name: str, vcpus: int):
    assert vcpus_from_name(name) == vcpus


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("g4dn.xlarge", FamilyClass.ACCELERATED),
        ("inf2.xlarge", FamilyClass.ACCELERATED),
        ("trn1.2xlarge", FamilyClass.ACCELERATED),
        ("p5.48xlarge", FamilyClass.ACCELERATED),
        ("c7g.large", FamilyClass.COMPUTE),
        ("r7i.large", FamilyClass.MEMORY),
        ("x2idn.16xlarge", FamilyClass.MEMORY),
        ("i4i.large", FamilyClass.MEMORY),
        ("m7i-flex.large", FamilyClass.GENERAL),
        ("mac2.metal", FamilyClass.GENERAL),
    ],
)
def test_family_classes(name: str, cls: FamilyClass):
    assert family_class(name) is cls
