"""A YAML SafeLoader that remembers where every key and item came from and refuses duplicates.

Config and policy errors must point at `FILE:LINE:COL`, so mappings load as `Located` dicts that
carry each key's position, and lists as `LocatedList`s that carry each item's position.

The files are input a hostile or careless hand may have written, so reading is bounded: at most
`MAX_FILE_BYTES` are read, nesting stops at `MAX_DEPTH` levels and a document may hold at most
`MAX_VALUES` values counting every use of an alias (a "billion laughs" file is refused while it
is still a few hundred nodes, before anything is expanded). Every refusal is one `YamlError` with
a position, never a traceback.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

Position = tuple[int, int]
"""1-based (line, column)."""

MAX_FILE_BYTES = 1024 * 1024
"""The largest config or policy file costguard reads (1 MB); a larger one is refused unread."""

MAX_DEPTH = 50
"""The deepest nesting accepted; real files nest fewer than ten levels."""

MAX_VALUES = 20_000
"""The most values (keys, items, scalars) a document may hold, each use of an alias counted with
everything it stands for; real files hold a few hundred. It also bounds the time PyYAML (pure
Python) spends on a 1 MB file of tiny values to about a second."""


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


@dataclass
class YamlDocument:
    """What a file held, and the problems that did not stop the reading (duplicate keys), so
    they are reported together with everything else wrong in the file."""

    data: Any
    problems: list[YamlError] = field(default_factory=list)


def _pos(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _mark_pos(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds Located containers, collects duplicate keys and bounds the work."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[YamlError] = []
        self._depth = 0
        self._values = 0  # composed so far, aliases expanded
        # id(node) -> (values, depth) of what the node stands for with its aliases expanded.
        self._size: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """PyYAML's composer, refusing deep nesting before it recurses and counting values."""
        event = self.peek_event()
        if self._depth >= MAX_DEPTH:
            message = f"nested more than {MAX_DEPTH} levels deep"
            raise YamlError(message, _mark_pos(event.start_mark))
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._size:
                raise YamlError(f"alias *{event.anchor} refers to a value that contains it",
                                _mark_pos(event.start_mark))
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._values += self._size[id(node)][0] if id(node) in self._size else self._measure(node)
        if self._values > MAX_VALUES:
            raise YamlError(f"more than {MAX_VALUES:,} values, counting every use of an alias "
                            "(a YAML bomb?)", _pos(node))
        return node

    def _measure(self, node: Node) -> int:
        """Records a new node's expanded size and depth (its children and the targets of its
        aliases already have theirs); 1, the node itself, is what it adds to the count."""
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        sizes = [self._size[id(child)] for child in children]
        values = 1 + sum(v for v, _ in sizes)
        depth = 1 + max((d for _, d in sizes), default=0)
        if depth > MAX_DEPTH:
            raise YamlError(f"nested more than {MAX_DEPTH} levels deep once aliases are expanded",
                            _pos(node))
        self._size[id(node)] = (values, depth)
        return 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """PyYAML's constructor; a scalar it cannot convert is a YamlError at that scalar."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, YamlError):
                raise
            raise YamlError(_unreadable(node, exc), _pos(node)) from None

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
            if key in written:  # kept out, reported with the file's other problems
                first = result.key_pos[key][0]
                message = f"duplicate key {shown(key)} (first on line {first})"
                self.duplicates.append(YamlError(message, _pos(key_node)))
                continue
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


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: repr (one line, control characters escaped), cut short."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}..."
    text = repr(value)
    return text if len(text) <= limit + 2 else f"{text[:limit]}..."


def _unreadable(node: Node, exc: BaseException) -> str:
    """Why a scalar could not be converted, without Python's advice on interpreter settings."""
    kind = node.tag.rpartition(":")[2]
    if kind == "int":
        return "a number with too many digits"
    if kind == "timestamp":
        return f"not a valid date ({exc})"
    return f"cannot read the value {shown(node.value)} ({str(exc).split(';')[0]})"


def read_text(text: str) -> YamlDocument:
    """Parse one YAML document, collecting duplicate keys; raises YamlError for what stops it."""
    _refuse_control_characters(text)
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        pos = _mark_pos(exc.problem_mark or exc.context_mark)
        raise YamlError(_syntax_message(exc), pos) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML error: {str(exc).splitlines()[0]}", (1, 1)) from None
    finally:
        loader.dispose()
    return YamlDocument(data, loader.duplicates)


def _refuse_control_characters(text: str) -> None:
    """A YamlError at the first character YAML does not allow (PyYAML's own test, positioned)."""
    match = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if match is None:
        return
    before = text[: match.start()]
    pos = before.count("\n") + 1, match.start() - (before.rfind("\n") + 1) + 1
    code = ord(match.group())
    hint = " (is the file UTF-16? save it as UTF-8)" if code == 0 else ""
    raise YamlError(f"control character U+{code:04X} is not allowed in YAML{hint}", pos)


def load_text(text: str) -> Any:
    """Parse one YAML document; raises YamlError with the position of the first problem."""
    document = read_text(text)
    if document.problems:
        raise document.problems[0]
    return document.data


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, plus where the construct it was reading began when that is elsewhere.

    An unclosed quote or bracket is only noticed at the end of the file; the line it was opened
    on is the one the user has to fix.
    """
    mark = exc.problem_mark
    if mark is not None and mark.buffer and mark.buffer[mark.pointer : mark.pointer + 1] == "\t":
        return "a tab character where YAML allows only spaces: indent with spaces"
    message = str(exc.problem or exc.context)
    start, end = exc.context_mark, exc.problem_mark
    if exc.problem and exc.context and start and end and start.line != end.line:
        message += f" ({exc.context} that starts on line {start.line + 1})"
    return f"YAML syntax error: {message}"


_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_file(path: Path) -> YamlDocument:
    """Read and parse a YAML file of at most MAX_FILE_BYTES; what stops it is a YamlError."""
    text = _decoded(_read_bytes(path))
    return read_text(text)


def _read_bytes(path: Path) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes: a 50 MB file costs no more than a 1 MB one."""
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror or exc}", (1, 1)) from None
    if len(data) > MAX_FILE_BYTES:
        actual = f"{size:,} bytes" if size > MAX_FILE_BYTES else "larger than that"
        raise YamlError(f"file too large ({actual}): config and policy files may hold at most "
                        f"1 MB ({MAX_FILE_BYTES:,} bytes)", (1, 1))
    return data


def _decoded(data: bytes) -> str:
    """The file as UTF-8 text; a byte order mark or a byte that is not UTF-8 is refused."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise YamlError(f"the file is {name} text (it starts with a byte order mark): "
                            "save it as UTF-8", (1, 1))
    if data.startswith(codecs.BOM_UTF8):
        raise YamlError("the file starts with a byte order mark (BOM): save it as UTF-8 "
                        "without one", (1, 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        pos = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlError(f"not UTF-8 text ({exc.reason})", pos) from None


def load_file(path: Path) -> Any:
    """Read and parse a YAML file; raises YamlError for its first problem."""
    document = read_file(path)
    if document.problems:
        raise document.problems[0]
    return document.data


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
