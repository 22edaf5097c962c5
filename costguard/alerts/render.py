"""Jinja2 environments over `templates/`: sandboxed always, autoescaped for HTML.

Tag values, user names and key names are chosen by whoever holds the credentials, so templates
never get to run arbitrary Python (sandbox), HTML output escapes everything by default, shell
commands quote every interpolated value whole (`sh` filter), one-line fields lose control
characters (`oneline` filter) and names in sentences and lists are also cut to 200 characters
(`short` filter).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from costguard.settings.paths import shipped_dir
from costguard.text import money, oneline, sh, short, ts

CODE_STYLE = (
    "margin:4px 0 8px 0;padding:8px;background-color:#f2f4f7;border:1px solid #eaecf0;"
    "font-family:Consolas,Menlo,monospace;font-size:12px;line-height:17px;color:#101828;"
    "white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere;word-break:break-all;"
)
"""Long commands (ten instance ids, an ARN) must wrap at 390 px in Gmail and Outlook, which
ignore <style>: inline, and every wrapping property some client honours."""
_PRE = f'<pre style="{CODE_STYLE}"><code>'


def text_to_html(text: str) -> str:
    """Turn remediation text (paragraphs, `- ` bullets, ``` fences) into escaped HTML."""
    out: list[str] = []
    in_code = in_list = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            if in_list:
                out.append("</ul>")
                in_list = False
            out.append("</code></pre>" if in_code else _PRE)
            in_code = not in_code
        elif in_code:
            out.append(html.escape(line) + "\n")
        elif line.lstrip().startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{html.escape(line.lstrip()[2:])}</li>")
        else:
            if in_list:
                out.append("</ul>")
                in_list = False
            if line.strip():
                out.append(f"<p>{html.escape(line.strip())}</p>")
    out.append("</code></pre>" if in_code else "")
    out.append("</ul>" if in_list else "")
    return "".join(out)


@pass_context
def uncovered(context: Context, values: Any, prefix: str) -> list[Any]:
    """The values no first action of the message acts on: `ids|uncovered('instance:')`.

    A remediation template rendered for an alert gets `covered` (the entities the merged first
    actions handle) and leaves out its own command for those; rendered alone, nothing is
    covered and every command stays."""
    done = context.get("covered") or frozenset()
    return [v for v in values if f"{prefix}{v}" not in done]


def _environment(dirs: Sequence[Path], autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader([str(d) for d in dirs]),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(oneline=oneline, sh=sh, short=short, ts=ts, money=money,
                       text_to_html=text_to_html, uncovered=uncovered)
    env.globals["code_style"] = CODE_STYLE
    return env


class Renderer:
    """Finds and renders templates: the config's own folders first, then the shipped ones."""

    def __init__(self, extra_dirs: Iterable[Path] = ()) -> None:
        self.dirs = [*map(Path, extra_dirs), shipped_dir("templates")]
        self.text = _environment(self.dirs, autoescape=False)
        self.html = _environment(self.dirs, autoescape=True)

    def pick(self, kind: str, name: str, suffix: str) -> str:
        """`<kind>/<name><suffix>`, or `<kind>/_default<suffix>` when that does not exist."""
        for candidate in (f"{kind}/{name}{suffix}", f"{kind}/_default{suffix}"):
            if self.exists(candidate):
                return candidate
        raise TemplateNotFound(f"{kind}/{name}{suffix}")

    def exists(self, name: str) -> bool:
        """Whether a template of that name is in any template folder."""
        return any((d / name).is_file() for d in self.dirs)

    def render(self, name: str, context: Mapping[str, Any], *, as_html: bool = False) -> str:
        """Render one template; HTML templates are autoescaped."""
        env = self.html if as_html else self.text
        return env.get_template(name).render(**context)

    def remediation(self, check: str, context: Mapping[str, Any], template: str | None) -> str:
        """A check's remediation text: the policy's template if it names one, else the check's."""
        name = template or self.pick("remediation", check, ".md.j2")
        return self.render(name, {"covered": frozenset(), **context}).strip() + "\n"
