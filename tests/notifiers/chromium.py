"""Headless Chromium as a stand-in mail client: how tall an HTML email is at a width, whether
anything scrolls sideways, where its first command sits, and a screenshot.

Headless Chromium will not make a window narrower than 500 px, so a phone's 390 px is an
<iframe srcdoc> of that width inside a wrapper page. A small script injected into a copy of the
email (the email itself carries none) writes the figures into the title of the top page, which
`--dump-dom` prints. Nothing beyond Chromium and the standard library is needed.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")
MIN_WINDOW = 500
"""Headless Chromium's narrowest window, in CSS pixels."""
SCREEN_HEIGHT = 800
"""What a laptop shows of an email without scrolling, about."""
PROBE = (
    "<script>(function(){var d=document.documentElement,p=document.querySelector('pre');"
    "var top=window.parent===window?document:window.parent.document;"
    "top.title=JSON.stringify({height:d.scrollHeight,scroll_width:d.scrollWidth,"
    "client_width:d.clientWidth,first_command:p?Math.round(p.getBoundingClientRect().top):-1});"
    "})();</script>"
)
INSTALL = ("install Chromium to run this test (Debian/Ubuntu: apt-get install -y chromium), or "
           "point COSTGUARD_CHROMIUM at its binary")


def binary() -> str | None:
    """The Chromium to use: $COSTGUARD_CHROMIUM, else `chromium` or `chromium-browser`."""
    given = os.environ.get("COSTGUARD_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class Layout:
    """What Chromium measured of one email at one width, in CSS pixels."""

    width: int
    height: int
    scroll_width: int
    client_width: int
    first_command: int

    @property
    def overflows(self) -> bool:
        """Whether anything is wider than the window: the reader would scroll sideways."""
        return self.scroll_width > self.client_width


def page(email: str, width: int) -> tuple[str, int]:
    """The page Chromium loads for `email` at `width` (the email with the probe, or a wrapper
    holding it in a frame that wide) and the window width to load it in."""
    probed = email.replace("</body>", PROBE + "</body>", 1)
    if width >= MIN_WINDOW:
        return probed, width
    frame = (f'<iframe title="email" style="border:0;display:block;margin:0 auto;width:{width}px;'
             f'height:{SCREEN_HEIGHT}px" srcdoc="{html.escape(probed, quote=True)}"></iframe>')
    return ('<!DOCTYPE html><html><head><title>wrapper</title></head>'
            f'<body style="margin:0;background-color:#344054">{frame}</body></html>', MIN_WINDOW)


def _run(chromium: str, document: str, window: int, *extra: str) -> str:
    with tempfile.TemporaryDirectory(prefix="costguard-chromium-") as tmp:
        path = Path(tmp) / "email.html"
        path.write_text(document, encoding="utf-8")
        args = [chromium, *FLAGS, f"--user-data-dir={tmp}/profile",
                f"--window-size={window},{SCREEN_HEIGHT}", *extra, path.as_uri()]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
        return done.stdout


def measure(chromium: str, email: str, width: int) -> Layout:
    """Lay `email` out at `width` and read the figures the probe wrote."""
    document, window = page(email, width)
    dom = _run(chromium, document, window, "--dump-dom")
    found = re.search(r"<title>(.*?)</title>", dom, re.S)
    if found is None:
        raise AssertionError(f"Chromium printed no title: {dom[:300]!r}")
    return Layout(width=width, **json.loads(html.unescape(found.group(1))))


def screenshot(chromium: str, email: str, width: int, out: Path) -> None:
    """What a reader sees first of `email` at `width`, as a PNG."""
    document, window = page(email, width)
    _run(chromium, document, window, f"--screenshot={out.resolve()}")
