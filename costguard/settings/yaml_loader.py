"""A YAML SafeLoader that remembers where every key and item came from and refuses duplicates.

Config and policy errors must point at `FILE:LINE:COL`, so mappings load as `Located` dicts that
carry each key's position, and lists as `LocatedList`s that carry each item's position.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

Position = tuple[int, int]
"""1-based (line, column)."""


class Located(dict):
    """A mapping from YAML with the position of itself (`pos`) and of each key (`key_pos`)."""

    pos: Position = (1, 1)
    key_pos: dict[Any, Position]


class LocatedList(list):
    """A sequence from YAML with the position of itself and of each item."""

    pos: Position = (1, 1)
    item_pos: list[Position]


class YamlError(ValueError):
    """A YAML problem with a position, so it can be shown as `FILE:LINE:COL: message`."""

    def __init__(self, message: str, pos: Position) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _pos(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds Located containers and rejects duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> Located:  # type: ignore[override]
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        self.flatten_mapping(node)  # puts the pairs of `<<: *anchor` merges first
        merged = len(node.value) - own
        result = Located()
        result.pos, result.key_pos = _pos(node), {}
        written: set[Any] = set()  # keys written in this mapping itself, not merged into it
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise YamlError("mapping keys must be plain scalars", _pos(key_node))
            if key in written:
                first = result.key_pos[key][0]
                raise YamlError(f"duplicate key {key!r} (first on line {first})", _pos(key_node))
            if index >= merged:  # a merged value may be overridden, as YAML's merge key allows
                written.add(key)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_pos[key] = _pos(key_node)
        return result

    def construct_sequence(self, node: SequenceNode, deep: bool = False) -> LocatedList:  # type: ignore[override]
        result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
        result.pos, result.item_pos = _pos(node), [_pos(child) for child in node.value]
        return result


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


def load_text(text: str) -> Any:
    """Parse one YAML document; raises YamlError with the position of the first problem."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlError(f"YAML syntax error: {_syntax_message(exc)}", pos) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML error: {exc}", (1, 1)) from None


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, plus where the construct it was reading began when that is elsewhere.

    An unclosed quote or bracket is only noticed at the end of the file; the line it was opened
    on is the one the user has to fix.
    """
    message = str(exc.problem or exc.context)
    start, end = exc.context_mark, exc.problem_mark
    if exc.problem and exc.context and start and end and start.line != end.line:
        message += f" ({exc.context} that starts on line {start.line + 1})"
    return message


def load_file(path: Path) -> Any:
    """Read and parse a YAML file; an unreadable file raises YamlError at line 1."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror or exc}", (1, 1)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        pos = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlError(f"not UTF-8 text ({exc.reason})", pos) from None
    return load_text(text)


def position_of(root: Any, loc: Sequence[Any]) -> Position:
    """The position of the deepest node on `loc` (a pydantic error location) that YAML knows.

    An unknown key points at the key itself; a missing key at the mapping that lacks it.
    """
    node, pos = root, getattr(root, "pos", (1, 1))
    for part in loc:
        if isinstance(node, Located) and part in node:
            pos, node = node.key_pos[part], node[part]
        elif isinstance(node, LocatedList) and isinstance(part, int) and 0 <= part < len(node):
            pos, node = node.item_pos[part], node[part]
        else:
            break
    return pos
