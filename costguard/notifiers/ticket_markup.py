"""costguard's neutral ticket markup turned into each vendor's: Atlassian Document Format (Jira
Cloud), wiki markup (Jira Data Center), GitHub Markdown, and plain text (ServiceNow journals).

The neutral markup has four blocks: paragraphs, `## ` headings, `- ` bullets and ``` fences.
Templates decide the blocks; every character inside a block is text to show, so each format
escapes what its vendor would read as markup (an attacker's `*bold*`, `<script>`, `@team`,
`{code}` or `[code]`). ADF needs no escaping at all: its text nodes are literal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

BlockKind = Literal["paragraph", "heading", "bullets", "code"]


@dataclass(frozen=True)
class Block:
    """One block of neutral markup: its kind and its lines (one per bullet, per code line)."""

    kind: BlockKind
    lines: tuple[str, ...]


def blocks(text: str) -> Iterator[Block]:
    """The blocks of `text`; an unclosed fence runs to the end (a cut text stays readable)."""
    kind: BlockKind | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if kind == "code":
            if line.strip().startswith("```"):
                yield Block("code", tuple(lines))
                kind, lines = None, []
            else:
                lines.append(line)
            continue
        stripped = line.strip()
        if stripped.startswith("```"):
            new: BlockKind | None = "code"
        elif stripped.startswith("## "):
            new = "heading"
        elif stripped.startswith("- "):
            new = "bullets"
        elif stripped:
            new = "paragraph"
        else:
            new = None
        if kind is not None and (new != kind or kind == "heading"):
            yield Block(kind, tuple(lines))
            lines = []
        kind = new
        if new == "heading":
            lines.append(stripped[3:])
        elif new == "bullets":
            lines.append(stripped[2:])
        elif new == "paragraph":
            lines.append(stripped)
    if kind is not None:
        yield Block(kind, tuple(lines))


def _adf_text(text: str) -> list[dict[str, Any]]:
    """ADF refuses an empty text node: an empty line is an empty content list."""
    return [{"type": "text", "text": text}] if text else []


def to_adf(text: str) -> dict[str, Any]:
    """An ADF document (version 1) with paragraph, heading, bulletList and codeBlock nodes."""
    content: list[dict[str, Any]] = []
    for block in blocks(text):
        if block.kind == "heading":
            content.append({"type": "heading", "attrs": {"level": 3},
                            "content": _adf_text(block.lines[0])})
        elif block.kind == "bullets":
            items = [{"type": "listItem", "content": [
                {"type": "paragraph", "content": _adf_text(line)}]} for line in block.lines]
            content.append({"type": "bulletList", "content": items})
        elif block.kind == "code":
            content.append({"type": "codeBlock", "attrs": {},
                            "content": _adf_text("\n".join(block.lines))})
        else:
            parts: list[dict[str, Any]] = []
            for i, line in enumerate(block.lines):
                if i:
                    parts.append({"type": "hardBreak"})
                parts.extend(_adf_text(line))
            content.append({"type": "paragraph", "content": parts})
    return {"type": "doc", "version": 1, "content": content}


_WIKI_SPECIAL = re.compile(r"([\\{}\[\]*_|!^~+\-?#])")


def wiki_escape(text: str) -> str:
    """Text Jira's wiki renderer shows as is: every markup character backslash-escaped."""
    return _WIKI_SPECIAL.sub(r"\\\1", text)


def to_wiki(text: str) -> str:
    """Jira wiki markup: `h3.` headings, `*` bullets, `{noformat}` blocks for commands."""
    out: list[str] = []
    for block in blocks(text):
        if block.kind == "heading":
            out.append("h3. " + wiki_escape(block.lines[0]))
        elif block.kind == "bullets":
            out.append("\n".join("* " + wiki_escape(line) for line in block.lines))
        elif block.kind == "code":
            # Nothing inside {noformat} is markup except its own closing tag.
            body = "\n".join(block.lines).replace("{noformat}", "{ noformat}")
            out.append("{noformat}\n" + body + "\n{noformat}")
        else:
            out.append("\\\\\n".join(wiki_escape(line) for line in block.lines))
    return "\n\n".join(out) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~@:&])")


def md_escape(text: str) -> str:
    """Text GitHub shows as is: ASCII punctuation backslash-escaped (CommonMark), so no HTML,
    link, emphasis, @mention or #reference comes from a value."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def to_markdown(text: str) -> str:
    """GitHub-flavoured Markdown: `###` headings, `-` bullets, fenced code blocks whose fence
    is longer than any backtick run in them."""
    out: list[str] = []
    for block in blocks(text):
        if block.kind == "heading":
            out.append("### " + md_escape(block.lines[0]))
        elif block.kind == "bullets":
            out.append("\n".join("- " + md_escape(line) for line in block.lines))
        elif block.kind == "code":
            body = "\n".join(block.lines)
            runs = [len(r) for r in re.findall(r"`+", body)]
            fence = "`" * max(3, max(runs, default=0) + 1)
            out.append(f"{fence}sh\n{body}\n{fence}")
        else:
            out.append("  \n".join(md_escape(line) for line in block.lines))
    return "\n\n".join(out) + "\n"


_JOURNAL_MARKUP = re.compile(r"\[/?code\]", re.IGNORECASE)


def to_plain(text: str) -> str:
    """Plain text for ServiceNow: headings in capitals, bullets and commands indented. A
    journal entry holding `[code]` is rendered as HTML there, so the tag never survives."""
    out: list[str] = []
    for block in blocks(text):
        if block.kind == "heading":
            out.append(block.lines[0].upper())
        elif block.kind == "bullets":
            out.append("\n".join("- " + line for line in block.lines))
        elif block.kind == "code":
            out.append("\n".join("    " + line for line in block.lines))
        else:
            out.append("\n".join(block.lines))
    return _JOURNAL_MARKUP.sub("", "\n\n".join(out)) + "\n"


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, ending with a note when cut."""
    if len(text) <= limit:
        return text
    note = "\n\n(cut: the full text is in costguard's outbox)\n"
    return text[: limit - len(note)] + note
