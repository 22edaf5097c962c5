"""Tests that need something outside Python: a PostgreSQL server, Chromium, root for a tmpfs.

Elsewhere such a test is skipped with how to provide the thing; when CI=true it fails instead,
since CI provides all of them (.ci/run) and a skip there would hide a property left untested.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str, how: str) -> NoReturn:
    """Skip, saying `what` is missing and `how` to get it; fail when CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}; it is required when CI=true", pytrace=False)
    pytest.skip(f"{what}; {how}")
