"""Problems as one line each (`FILE:LINE:COL: SUBJECT: FIELD: message`) and pydantic in words."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from costguard.model import Severity
from costguard.settings.problems import (
    InvalidInput,
    Problem,
    describe_error,
    from_validation_error,
    matching,
    type_name,
)
from costguard.settings.yaml_loader import load_text


class Sample(BaseModel):
    """One field per pydantic error kind the loaders turn into words."""

    model_config = ConfigDict(extra="forbid")

    items: list[int] = []
    names: tuple[str, ...] = ()
    tags: set[str] = set()
    count: int = 0
    ratio: float = 0
    flag: bool = False
    severity: Severity = Severity.LOW
    mode: Literal["daily", "weekly"] = "daily"
    labels: dict[str, int] = {}
    label: str = ""
    positive: int = Field(1, gt=0)
    kebab: Annotated[str, matching(r"[a-z]+(-[a-z]+)*", "a kebab-case name")] = "a"


def message_for(**data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(data)
    (err,) = caught.value.errors()
    return describe_error(err)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"items": "x"}, "expected a list, got a string"),
        ({"names": "t3.*"}, "expected a list, got a string"),
        ({"tags": 5}, "expected a list, got a number"),
        ({"count": "five"}, "expected a whole number, got a string"),
        ({"ratio": "lots"}, "expected a number, got a string"),
        ({"flag": "maybe"}, "true or false, got a string"),
        ({"severity": "urgent"},
         "expected one of 'info', 'low', 'medium', 'high' or 'critical', got 'urgent'"),
        ({"mode": "hourly"}, "expected one of 'daily' or 'weekly', got 'hourly'"),
        ({"labels": [1]}, "expected a mapping, got a list"),
        ({"label": 5}, "expected a string, got a number"),
        ({"label": True}, "expected a string, got true/false"),
        ({"label": None}, "expected a string, got nothing"),
        ({"extra": 1}, "unknown key"),
        ({"kebab": "Not_Kebab"}, "expected a kebab-case name, got 'Not_Kebab'"),
        ({"positive": 0}, "must be greater than 0, got 0"),
    ],
)
def test_each_error_kind_reads_as_a_short_sentence(data, message):
    assert message_for(**data).endswith(message)


def test_a_missing_key_says_so():
    class Needs(BaseModel):
        name: str

    with pytest.raises(ValidationError) as caught:
        Needs.model_validate({})
    assert describe_error(caught.value.errors()[0]) == "required key is missing"


def test_yaml_containers_are_named_like_plain_ones():
    doc = load_text("m: {a: 1}\nl: [1]\n")

    assert (type_name(doc), type_name(doc["l"])) == ("a mapping", "a list")
    assert (type_name(True), type_name(1), type_name(1.5)) == ("true/false", "a number", "a number")
    assert type_name(object()) == "object"


@pytest.mark.parametrize(
    ("problem", "line"),
    [
        (Problem("p.yml", (14, 7), "expected a list, got a string", "policy 'no-gpu'",
                 "params.allowed"),
         "p.yml:14:7: policy 'no-gpu': params.allowed: expected a list, got a string"),
        (Problem("c.yml", (3, 1), "unknown key", "", "alerts"), "c.yml:3:1: alerts: unknown key"),
        (Problem("c.yml", (1, 1), "config file not found"), "c.yml:1:1: config file not found"),
    ],
)
def test_a_problem_is_one_line_leaving_out_what_it_does_not_have(problem, line):
    assert str(problem) == line


def test_invalid_input_lists_files_in_first_seen_order_each_top_to_bottom():
    found = [
        Problem("b.yml", (9, 1), "late"),
        Problem("a.yml", (5, 3), "second"),
        Problem("b.yml", (2, 5), "early"),
        Problem("a.yml", (5, 1), "first"),
    ]

    exc = InvalidInput(found)

    assert [(p.file, p.message) for p in exc.problems] == [
        ("b.yml", "early"), ("b.yml", "late"), ("a.yml", "first"), ("a.yml", "second"),
    ]
    assert str(exc) == "b.yml:2:5: early\nb.yml:9:1: late\na.yml:5:1: first\na.yml:5:3: second"


class Port(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ports: list[int]


def test_errors_are_placed_on_their_yaml_node_and_named_relative_to_the_subject():
    doc = load_text("policies:\n  - name: ssh\n    params:\n      ports: [22, ssh]\n")
    with pytest.raises(ValidationError) as caught:
        Port.model_validate(doc["policies"][0]["params"])

    problems = from_validation_error(
        caught.value, file="p.yml", root=doc, base=["params"], subject="policy 'ssh'",
        at=["policies", 0],
    )

    assert [str(p) for p in problems] == [
        "p.yml:4:19: policy 'ssh': params.ports[1]: expected a whole number, got a string"
    ]


def test_without_at_the_field_is_the_whole_path_and_a_missing_key_points_at_its_mapping():
    doc = load_text("net:\n  extra: 1\n")
    with pytest.raises(ValidationError) as caught:
        Port.model_validate(doc["net"])

    problems = from_validation_error(caught.value, file="c.yml", root=doc, base=["net"])

    assert [str(p) for p in problems] == [
        "c.yml:1:1: net.ports: required key is missing",
        "c.yml:2:3: net.extra: unknown key",
    ]


def test_matching_accepts_only_a_whole_match():
    class Account(BaseModel):
        id: Annotated[str, matching(r"\d{12}", "a 12-digit account id")]

    assert Account(id="012345678901").id == "012345678901"
    with pytest.raises(ValidationError, match="a 12-digit account id, got '0123456789012'"):
        Account(id="0123456789012")
