"""`costguard prices update`: the shipped-format table regenerated from the Price List API.

moto has no Price List API, so botocore's Stubber answers GetProducts with PriceList entries
shaped as AWS documents them (tests/collectors/test_pricing_api.py has the full shape, with the
Reserved terms the parser must skip; these carry what the update reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from costguard.actions.price_refresh import build_table, read_table, render_table, update_table
from costguard.collectors.price_list import PriceListCollector, product_filters
from costguard.collectors.session import Aws
from costguard.spend.prices import PriceBook, PriceTableError

TODAY = date(2026, 11, 22)
SHIPPED_META_KEYS = set(json.loads(PriceBook().path.read_text())["_meta"])


def entry(instance_type: str, usd: str) -> str:
    """A PriceList element: a JSON string with the product's attributes and on-demand term."""
    term = {
        "priceDimensions": {"R": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}},
        "offerTermCode": "JRTCKXETXF",
    }
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": instance_type}, "sku": instance_type},
            "serviceCode": "AmazonEC2",
            "terms": {"OnDemand": {f"{instance_type}.JRTCKXETXF": term}},
        }
    )


def answer(*entries: str, token: str | None = None) -> dict:
    page = {"FormatVersion": "aws_v1", "PriceList": list(entries)}
    return {**page, "NextToken": token} if token else page


def request(region: str, token: str | None = None) -> dict:
    params = {
        "ServiceCode": "AmazonEC2",
        "Filters": product_filters(region),
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    return {**params, "NextToken": token} if token else params


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        yield Aws.from_environment(region="us-east-1")


def collector(aws: Aws, tmp_path: Path) -> PriceListCollector:
    clock = lambda: datetime(2026, 11, 22, tzinfo=timezone.utc)  # noqa: E731
    return PriceListCollector(aws, tmp_path / "cache", clock)


def test_the_table_is_rewritten_from_the_api_keeping_what_it_did_not_return(aws, tmp_path):
    path = tmp_path / "ec2_prices.json"
    path.write_text(json.dumps({"regions": {"eu-west-1": {"p5.48xlarge": 95.55}}}))
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response(
            "get_products",
            answer(entry("t3.micro", "0.0104"), entry("c5.4xlarge", "0.68"), token="n"),
            request("us-east-1"),
        )
        stub.add_response(
            "get_products", answer(entry("p5.48xlarge", "55.04")), request("us-east-1", "n")
        )
        stub.add_response("get_products", answer(entry("t3.micro", "0.0114")), request("eu-west-1"))
        result = update_table(
            collector(aws, tmp_path),
            ["us-east-1", "eu-west-1"],
            ["t3.micro", "c5.4xlarge", "p5.48xlarge"],
            path,
            today=TODAY,
        )
        stub.assert_no_pending_responses()

    assert (result.regions, result.from_api, result.kept, result.missing) == (2, 4, 1, 1)
    document = json.loads(path.read_text())
    assert document["regions"] == {
        "us-east-1": {"t3.micro": 0.0104, "c5.4xlarge": 0.68, "p5.48xlarge": 55.04},
        "eu-west-1": {"t3.micro": 0.0114, "p5.48xlarge": 95.55},
    }
    assert set(document["_meta"]) == SHIPPED_META_KEYS
    assert document["_meta"]["date"] == "2026-11-22"
    assert (
        "except 1 that it did not return, kept from the previous table"
        in (document["_meta"]["derivation"])
    )
    assert [p.name for p in tmp_path.iterdir()] == ["ec2_prices.json"]  # no temp file left
    book = PriceBook(path)
    assert book.price("eu-west-1", "p5.48xlarge").usd_per_hour == 95.55
    assert book.price("eu-west-1", "c5.4xlarge").estimated  # not sold there: estimated


def test_the_layout_is_the_shipped_files_own():
    shipped = PriceBook().path.read_text()

    assert render_table(json.loads(shipped)) == shipped


def test_build_table_lists_types_in_the_order_given():
    document, counts = build_table(
        {"us-east-1": {"b.large": 2.0, "a.large": 1.0}},
        {},
        ["us-east-1"],
        ["b.large", "a.large", "c.large"],
        TODAY,
    )

    assert list(document["regions"]["us-east-1"]) == ["b.large", "a.large"]
    assert counts == (2, 0, 1)


def test_a_table_without_us_east_1_is_refused_and_nothing_is_written(aws, tmp_path):
    path = tmp_path / "ec2_prices.json"
    with pytest.raises(PriceTableError, match="us-east-1"):
        update_table(collector(aws, tmp_path), ["eu-west-1"], ["t3.micro"], path)
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response("get_products", answer())
        with pytest.raises(PriceTableError, match="no us-east-1 prices"):
            update_table(collector(aws, tmp_path), ["us-east-1"], ["t3.micro"], path)

    assert not path.exists()


def test_read_table_tolerates_a_missing_or_damaged_file(tmp_path):
    damaged = tmp_path / "bad.json"
    damaged.write_text("[1, 2")

    assert read_table(tmp_path / "absent.json") == {}
    assert read_table(damaged) == {}


def test_the_cli_writes_the_state_copy_that_the_engine_then_reads(aws, tmp_path, monkeypatch):
    """`costguard prices update --regions us-east-1`: the shipped table is copied to the state
    directory, refreshed there from the API, and `Engine.prices` reads that copy from then on."""
    from click.testing import CliRunner

    from costguard.cli.main import main
    from costguard.runtime.bootstrap import load_setup
    from costguard.runtime.cycle import Engine
    from costguard.settings.paths import refreshed_price_table

    monkeypatch.setattr(Aws, "from_environment", classmethod(lambda cls, *a, **k: aws))
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response("get_products", answer(entry("c5.4xlarge", "0.7")),
                          request("us-east-1"))
        result = CliRunner().invoke(main, ["prices", "update", "--regions", "us-east-1"])
    assert result.exit_code == 0, result.output
    target = refreshed_price_table()
    assert result.output.startswith(f"wrote {target}: 1 regions, 1 prices from the Price List API")
    assert read_table(target)["us-east-1"]["c5.4xlarge"] == 0.7
    assert read_table(target)["eu-west-1"] == read_table(PriceBook().path)["eu-west-1"]
    setup = load_setup(None)
    engine = Engine(setup.config, setup.policies, store=None)
    assert engine.prices.price("us-east-1", "c5.4xlarge").usd_per_hour == 0.7
