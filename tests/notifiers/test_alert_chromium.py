"""The demo alert's HTML in a real browser engine, at a laptop's 600 px column and a phone's
390 px: nothing scrolls sideways, the first command is on the first screen, and the page is a
fraction of its old 11,500 px.

Skips, saying how to install Chromium, when there is none; fails instead when CI=true. The
screenshots in docs/ are made by the same code:
`COSTGUARD_REGEN_SCREENSHOTS=1 pytest tests/notifiers/test_alert_chromium.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from costguard.alerts.compose import build_message
from costguard.alerts.render import Renderer
from tests.needs import unavailable

from . import chromium
from .demo_incident import new_alert

DOCS = Path(__file__).parents[2] / "docs"
WIDTHS = (600, 390)
MAX_HEIGHT = {600: 6000, 390: 8000}
"""Regression bounds: the alert was 11,500 px tall at 600 px before the first-screen layout."""
FIRST_SCREEN = {600: 650, 390: chromium.SCREEN_HEIGHT + 150}
"""Where the first command must start: within a laptop's first screen at 600 px; on a phone,
within about one swipe."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> str:
    """The Chromium binary; skipped (failed under CI=true) when there is none."""
    found = chromium.binary()
    if found is None:
        unavailable("Chromium is not installed", chromium.INSTALL)
    return found


@pytest.fixture(scope="module")
def email() -> str:
    """The demo alert's HTML part."""
    return build_message(new_alert(), Renderer()).html


@pytest.mark.parametrize("width", WIDTHS)
def test_the_demo_alert_fits_the_width_and_leads_with_a_command(browser, email, width,
                                                                 record_property):
    layout = chromium.measure(browser, email, width)
    record_property(f"height_at_{width}", layout.height)
    print(f"\n{width} px: {layout.height} px tall, first command at {layout.first_command} px")

    assert not layout.overflows, layout
    assert layout.client_width == width
    assert 0 < layout.first_command <= FIRST_SCREEN[width], layout
    assert layout.height <= MAX_HEIGHT[width], layout


@pytest.mark.skipif(os.environ.get("COSTGUARD_REGEN_SCREENSHOTS") != "1",
                    reason="set COSTGUARD_REGEN_SCREENSHOTS=1 to rewrite docs/alert-*.png")
@pytest.mark.parametrize("width", WIDTHS)
def test_regenerate_the_screenshots_in_docs(browser, email, width):
    out = DOCS / f"alert-{width}.png"
    chromium.screenshot(browser, email, width, out)

    assert out.stat().st_size > 10_000
