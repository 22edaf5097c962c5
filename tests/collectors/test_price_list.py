"""Prices from the AWS Price List API, cached on disk, with the shipped table as fallback.

moto has no Price List API (pricing:GetProducts), so botocore's Stubber answers, with PriceList
entries shaped as AWS documents them: each a JSON *string* holding `product.attributes` and
`terms.OnDemand.<offer>.priceDimensions.<rate>.pricePerUnit.USD` (and the Reserved terms the
API returns alongside, which must be ignored).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from botocore.stub import Stubber

from costguard.collectors.price_list import (
    ApiPriceBook,
    PriceListCollector,
    instance_type_of,
    on_demand_usd,
    prices_by_type,
    product_filters,
)
from costguard.spend.prices import Price, PriceBook

from .conftest import FIXED_NOW


class Clock:
    def __init__(self, now=FIXED_NOW) -> None:
        self.now = now

    def __call__(self):
        return self.now


def entry(instance_type: str, usd: str, region: str = "us-east-1", sku: str = "SKU1") -> str:
    """One PriceList element as GetProducts returns it: a JSON string."""
    on_demand = f"{sku}.JRTCKXETXF"
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {
                    "servicecode": "AmazonEC2",
                    "instanceType": instance_type,
                    "regionCode": region,
                    "location": "US East (N. Virginia)",
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "licenseModel": "No License required",
                    "capacitystatus": "Used",
                    "marketoption": "OnDemand",
                    "vcpu": "16",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    on_demand: {
                        "priceDimensions": {
                            f"{on_demand}.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "endRange": "Inf",
                                "description": f"${usd} per On Demand Linux {instance_type} "
                                "Instance Hour",
                                "appliesTo": [],
                                "rateCode": f"{on_demand}.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": usd},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2024-05-01T00:00:00Z",
                        "offerTermCode": "JRTCKXETXF",
                        "termAttributes": {},
                    }
                },
                "Reserved": {
                    f"{sku}.4NA7Y494T4": {
                        "priceDimensions": {
                            f"{sku}.4NA7Y494T4.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "pricePerUnit": {"USD": "0.4280000000"},
                            }
                        },
                        "termAttributes": {"LeaseContractLength": "1yr"},
                    }
                },
            },
            "version": "20240501000000",
            "publicationDate": "2024-05-01T00:00:00Z",
        }
    )


def request(region: str, instance_type: str | None = None, token: str | None = None) -> dict:
    params = {
        "ServiceCode": "AmazonEC2",
        "Filters": product_filters(region, instance_type),
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    return {**params, "NextToken": token} if token else params


def answer(*entries: str, token: str | None = None) -> dict:
    page = {"FormatVersion": "aws_v1", "PriceList": list(entries)}
    return {**page, "NextToken": token} if token else page


def test_filters_select_on_demand_linux_shared_capacity_in_use():
    assert product_filters("eu-west-1", "c5.4xlarge") == [
        {"Type": "TERM_MATCH", "Field": field, "Value": value}
        for field, value in (
            ("instanceType", "c5.4xlarge"),
            ("operatingSystem", "Linux"),
            ("tenancy", "Shared"),
            ("preInstalledSw", "NA"),
            ("licenseModel", "No License required"),
            ("capacitystatus", "Used"),
            ("marketoption", "OnDemand"),
            ("regionCode", "eu-west-1"),
        )
    ]


def test_a_price_is_asked_once_and_cached_on_disk_for_a_day(aws, tmp_path):
    clock = Clock()
    collector = PriceListCollector(aws, tmp_path, clock)
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response(
            "get_products",
            answer(entry("c5.4xlarge", "0.6800000000")),
            request("us-east-1", "c5.4xlarge"),
        )
        assert collector.price("us-east-1", "c5.4xlarge") == 0.68
        # Another process (or a restart) reads the file: no request (the stub has none left).
        restarted = PriceListCollector(aws, tmp_path, Clock(FIXED_NOW + timedelta(hours=23)))
        assert restarted.price("us-east-1", "c5.4xlarge") == 0.68
        stub.assert_no_pending_responses()

    cached = json.loads((tmp_path / "us-east-1" / "c5.4xlarge.json").read_text())
    assert cached == {
        "region": "us-east-1",
        "instance_type": "c5.4xlarge",
        "usd_per_hour": 0.68,
        "fetched_at": FIXED_NOW.isoformat(),
    }
    assert aws.calls["pricing:GetProducts"] == 1


def test_a_day_old_answer_is_asked_again(aws, tmp_path):
    clock = Clock()
    collector = PriceListCollector(aws, tmp_path, clock)
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response("get_products", answer(entry("m5.large", "0.096")))
        stub.add_response("get_products", answer(entry("m5.large", "0.101")))
        assert collector.price("us-east-1", "m5.large") == 0.096
        clock.now = FIXED_NOW + timedelta(days=1)
        assert collector.price("us-east-1", "m5.large") == 0.101
        stub.assert_no_pending_responses()


def test_a_type_the_api_does_not_price_falls_back_to_the_table(aws, tmp_path):
    collector = PriceListCollector(aws, tmp_path, Clock())
    book = ApiPriceBook(collector, PriceBook())
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response("get_products", answer())
        assert book.price("us-east-1", "c5.4xlarge") == Price(0.68)  # the table's list price
        assert book.price("us-east-1", "c5.4xlarge") == Price(0.68)  # "not sold" is cached
        stub.assert_no_pending_responses()

    assert (
        json.loads((tmp_path / "us-east-1" / "c5.4xlarge.json").read_text())["usd_per_hour"] is None
    )


def test_the_api_price_wins_over_the_table_and_over_an_estimate(aws, tmp_path):
    book = ApiPriceBook(PriceListCollector(aws, tmp_path, Clock()))
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response("get_products", answer(entry("p4de.24xlarge", "40.9657")))
        assert book.price("us-east-1", "p4de.24xlarge") == Price(40.9657, estimated=False)

    # The table alone only estimates it.
    assert PriceBook().price("us-east-1", "p4de.24xlarge").estimated
    assert book.known_types() == PriceBook().known_types()
    assert book.meta == PriceBook().meta


def test_an_api_failure_uses_the_table_and_does_not_ask_again_for_an_hour(aws, tmp_path, caplog):
    clock = Clock()
    book = ApiPriceBook(PriceListCollector(aws, tmp_path, clock))
    caplog.set_level(logging.WARNING, logger="costguard.collectors.price_list")
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_client_error("get_products", "AccessDeniedException", "not authorized", 400)
        stub.add_response("get_products", answer(entry("t3.micro", "0.0104")))
        assert book.price("us-east-1", "c5.4xlarge") == Price(0.68)
        clock.now = FIXED_NOW + timedelta(minutes=59)
        assert book.price("us-east-1", "c5.4xlarge") == Price(0.68)  # no request
        clock.now = FIXED_NOW + timedelta(hours=1)
        assert book.price("us-east-1", "t3.micro") == Price(0.0104)
        stub.assert_no_pending_responses()

    assert "Price List API unavailable (AccessDeniedException)" in caplog.text
    assert not (tmp_path / "us-east-1" / "c5.4xlarge.json").exists()


def test_names_that_are_not_plain_are_priced_but_never_become_file_names(aws, tmp_path):
    collector = PriceListCollector(aws, tmp_path, Clock())
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response("get_products", answer(entry("../../etc/passwd", "1.0")))
        assert collector.price("us-east-1", "../../etc/passwd") == 1.0

    assert list(tmp_path.rglob("*")) == []


def test_region_prices_page_through_the_whole_list(aws, tmp_path):
    collector = PriceListCollector(aws, tmp_path, Clock())
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response(
            "get_products",
            answer(entry("t3.micro", "0.0104"), entry("c5.4xlarge", "0.68"), token="t2"),
            request("eu-west-1"),
        )
        stub.add_response(
            "get_products", answer(entry("m5.large", "0.107")), request("eu-west-1", token="t2")
        )
        prices = collector.region_prices("eu-west-1")
        stub.assert_no_pending_responses()

    assert prices == {"t3.micro": 0.0104, "c5.4xlarge": 0.68, "m5.large": 0.107}
    assert collector.calls_made == 2


def test_parsing_takes_the_on_demand_hourly_price_only():
    reserved_only = json.loads(entry("c5.large", "0.085"))
    del reserved_only["terms"]["OnDemand"]

    assert on_demand_usd(entry("c5.large", "0.0850000000")) == 0.085
    assert on_demand_usd(reserved_only) is None
    assert on_demand_usd(entry("c5.large", "0.0000000000")) is None
    assert instance_type_of(entry("c5.large", "1")) == "c5.large"
    # Two products for one type: the dearer wins, so a burn rate is never under-stated.
    assert prices_by_type([entry("c5.large", "0.085"), entry("c5.large", "0.09", sku="S2")]) == {
        "c5.large": 0.09
    }


@pytest.mark.parametrize("bad", ["{not json", '{"usd_per_hour": 1}', '{"fetched_at": "x"}'])
def test_a_damaged_cache_file_is_asked_again(aws, tmp_path, bad):
    (tmp_path / "us-east-1").mkdir()
    (tmp_path / "us-east-1" / "m5.large.json").write_text(bad)
    collector = PriceListCollector(aws, tmp_path, Clock())
    with Stubber(aws.client("pricing", "us-east-1")) as stub:
        stub.add_response("get_products", answer(entry("m5.large", "0.096")))
        assert collector.price("us-east-1", "m5.large") == 0.096
        stub.assert_no_pending_responses()
