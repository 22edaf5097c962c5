"""The line-aware SafeLoader: where each key and item came from; duplicates and unsafe tags refused.

Every config and policy error message leans on these positions, so they are checked exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from costguard.settings.yaml_loader import (
    Located,
    LocatedList,
    YamlError,
    load_file,
    load_text,
    position_of,
)

DOC = """\
aws:
  regions: [us-east-1, eu-west-1]
notifiers:
  mail:
    type: smtp
    to:
      - a@example.com
      - b@example.com
"""


def error_of(text: str) -> YamlError:
    with pytest.raises(YamlError) as caught:
        load_text(text)
    return caught.value


def test_mappings_and_lists_remember_their_own_position_and_each_keys_and_items():
    doc = load_text(DOC)

    assert isinstance(doc, Located) and doc == {
        "aws": {"regions": ["us-east-1", "eu-west-1"]},
        "notifiers": {"mail": {"type": "smtp", "to": ["a@example.com", "b@example.com"]}},
    }
    assert doc.pos == (1, 1)
    assert doc.key_pos == {"aws": (1, 1), "notifiers": (3, 1)}
    assert doc["aws"].key_pos == {"regions": (2, 3)}
    regions = doc["aws"]["regions"]
    assert isinstance(regions, LocatedList)
    assert (regions.pos, regions.item_pos) == ((2, 12), [(2, 13), (2, 24)])
    to = doc["notifiers"]["mail"]["to"]
    assert (to.pos, to.item_pos) == ((7, 7), [(7, 9), (8, 9)])


def test_scalars_are_plain_python_values():
    doc = load_text("a: 1\nb: 1.5\nc: true\nd: null\ne: '0123'\nf: 0123\n")

    assert doc == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "0123", "f": 83}
    # 0123 is octal in YAML 1.1: why account ids must be quoted (config refuses numbers).
    assert type(doc["a"]) is int and type(doc["e"]) is str


def test_an_empty_document_is_none():
    assert load_text("") is None
    assert load_text("# nothing\n") is None


def test_a_duplicate_key_is_refused_at_the_second_one_naming_the_first():
    err = error_of("schedule:\n  inventory: 60s\n  cost: 6h\n  inventory: 5m\n")

    assert (err.pos, err.message) == ((4, 3), "duplicate key 'inventory' (first on line 2)")
    assert str(err) == err.message


def test_a_duplicate_key_is_refused_in_flow_style_and_at_the_top():
    assert error_of("a: {x: 1, x: 2}\n").pos == (1, 11)
    assert error_of("a: 1\nb: 2\na: 3\n").message == "duplicate key 'a' (first on line 1)"


def test_keys_that_look_different_but_load_equal_are_duplicates():
    # `1` and `0x1` are both the integer 1: YAML would silently keep the last.
    assert error_of("1: a\n0x1: b\n").message == "duplicate key 1 (first on line 1)"


def test_a_merge_key_value_may_be_overridden_but_not_written_twice():
    doc = load_text("base: &b {port: 25, host: a}\nmail:\n  <<: *b\n  port: 587\n")

    assert doc["mail"] == {"port": 587, "host": "a"}
    assert doc["mail"].key_pos == {"port": (4, 3), "host": (1, 21)}
    err = error_of("base: &b {port: 25}\nmail:\n  port: 1\n  <<: *b\n  port: 2\n")
    assert (err.pos, err.message) == ((5, 3), "duplicate key 'port' (first on line 3)")


def test_the_first_of_several_merged_mappings_wins():
    doc = load_text("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n")

    assert doc["c"] == {"x": 1, "y": 2}


def test_a_mapping_used_as_a_key_is_refused():
    err = error_of("{a: 1}: 2\n")

    assert (err.pos, err.message) == ((1, 1), "mapping keys must be plain scalars")


@pytest.mark.parametrize(
    ("text", "pos", "message"),
    [
        ("a: 1\n  b: 2\n", (2, 4), "mapping values are not allowed here"),
        ("a: @x\n", (1, 4), "found character '@' that cannot start any token"),
        ("a: *nowhere\n", (1, 4), "found undefined alias 'nowhere'"),
        # An unclosed bracket or quote is noticed late: the message says where it was opened.
        ("a: [1, 2\nb: 3\n", (2, 2),
         "expected ',' or ']', but got ':' (while parsing a flow sequence that starts on line 1)"),
        ("x: 1\na: 'open\n\n\n", (5, 1),
         "found unexpected end of stream (while scanning a quoted scalar that starts on line 2)"),
    ],
)
def test_syntax_errors_have_a_position_and_pyyamls_reason(text, pos, message):
    err = error_of(text)

    assert (err.pos, err.message) == (pos, f"YAML syntax error: {message}")


def test_python_tags_are_refused_rather_than_run():
    err = error_of("a: !!python/object/apply:os.system [echo owned]\n")

    assert err.pos == (1, 4)
    assert err.message.startswith("YAML syntax error: could not determine a constructor")


def test_load_file_reads_utf8_and_reports_what_it_cannot_read(tmp_path: Path):
    good = tmp_path / "good.yml"
    good.write_text("name: café\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.yml"
    latin1.write_bytes(b"a: 1\nname: caf\xe9\n")

    assert load_file(good) == {"name": "café"}
    with pytest.raises(YamlError) as caught:
        load_file(latin1)
    assert (caught.value.pos, caught.value.message) == (
        (2, 10), "not UTF-8 text (invalid continuation byte)"
    )
    with pytest.raises(YamlError) as caught:
        load_file(tmp_path / "missing.yml")
    assert (caught.value.pos, caught.value.message) == (
        (1, 1), "cannot read file: No such file or directory"
    )


def test_crlf_line_endings_keep_line_numbers(tmp_path: Path):
    path = tmp_path / "dos.yml"
    path.write_bytes(b"a: 1\r\nb: 2\r\nb: 3\r\n")

    with pytest.raises(YamlError) as caught:
        load_file(path)
    assert caught.value.pos == (3, 1)


@pytest.mark.parametrize(
    ("loc", "pos"),
    [
        (["aws", "regions", 1], (2, 24)),  # an item
        (["notifiers", "mail", "to"], (6, 5)),  # a key
        (["notifiers", "mail", "from"], (4, 3)),  # a missing key: the mapping that lacks it
        (["notifiers", "mail", "to", 5], (6, 5)),  # an index past the end: the list's key
        (["aws", "regions", "x"], (2, 3)),  # a key into a list: stops at the list
        ([], (1, 1)),
    ],
)
def test_position_of_finds_the_deepest_node_yaml_knows(loc, pos):
    assert position_of(load_text(DOC), loc) == pos


def test_position_of_plain_data_is_the_start_of_the_file():
    assert position_of({"a": 1}, ["a"]) == (1, 1)
