"""The weekly email in a real browser (headless Chromium): it loads without errors and nothing
overflows sideways at 600 px (the column) and at 390 px (a phone).

Chromium will not make a window narrower than 500 px, so the 390 px case wraps a copy of the
email in a 390 px <iframe srcdoc>; a script injected into that copy (never into the email)
writes the document's scrollWidth and clientWidth into the parent's title, which --dump-dom
shows. Skipped with install instructions when Chromium is missing; required when CI=true.
"""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import pytest

from costguard.alerts.render import Renderer
from costguard.reports.weekly_email import build_weekly_message
from tests.needs import unavailable
from tests.notifiers import chromium as browser

from .test_weekly_figures import figures

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")
MEASURE = ("<script>window.onload=function(){var d=document.documentElement;"
           "parent.document.title='W'+d.scrollWidth+'/'+d.clientWidth+'E'+(window.errors||0);};"
           "window.onerror=function(){window.errors=(window.errors||0)+1;};</script>")


def chromium() -> str:
    found = browser.binary()
    if found is None:
        unavailable("Chromium is not installed", browser.INSTALL)
    return found


def run(browser: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def measured(browser: str, page: str, width: int, tmp_path: Path) -> tuple[int, int, int]:
    """(scrollWidth, clientWidth, script errors) of `page` shown `width` px wide."""
    copy = page.replace("<head>", "<head>" + MEASURE, 1)
    frame = (f'<html><head><title>pending</title></head><body style="margin:0">'
             f'<iframe width="{width}" height="2000" style="border:0" '
             f'srcdoc="{html.escape(copy, quote=True)}"></iframe></body></html>')
    wrapper = tmp_path / f"frame{width}.html"
    wrapper.write_text(frame, encoding="utf-8")
    result = run(browser, ["--window-size=800,2000", "--virtual-time-budget=5000",
                           "--dump-dom", wrapper.as_uri()], tmp_path)
    match = re.search(r"<title>W(\d+)/(\d+)E(\d+)</title>", result.stdout)
    assert match, f"no measurement in the page ({result.returncode}): {result.stderr[-500:]}"
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


@pytest.fixture
def page(sqlite_history) -> str:
    return build_weekly_message(figures(sqlite_history), Renderer()).html


@pytest.mark.slow
@pytest.mark.parametrize("width", [600, 390])
def test_no_horizontal_overflow_and_no_errors(page, width, tmp_path):
    scroll, client, errors = measured(chromium(), page, width, tmp_path)

    assert client == width
    assert scroll <= client
    assert errors == 0


@pytest.mark.slow
def test_a_screenshot_at_600_px_renders(page, tmp_path):
    shot = tmp_path / "weekly.png"
    source = tmp_path / "weekly.html"
    source.write_text(page, encoding="utf-8")

    result = run(chromium(), ["--window-size=640,1800", f"--screenshot={shot}",
                              source.as_uri()], tmp_path)

    assert result.returncode == 0, result.stderr[-500:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank page compresses to a few kilobytes


@pytest.mark.slow
def test_the_measurement_sees_an_overflow_where_there_is_one(tmp_path):
    wide = '<html><head></head><body><table width="700"><tr><td>x</td></tr></table></body></html>'

    scroll, client, _ = measured(chromium(), wide, 390, tmp_path)

    assert scroll > client == 390
