"""The crash-point hook: it kills only the process whose COSTGUARD_CRASH_AT names the point it
reaches, and every point it lists is called exactly once in the code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from costguard.store.crash_points import ENV, POINTS


def run_point(point: str | None, name: str) -> subprocess.CompletedProcess[str]:
    code = ("from costguard.store.crash_points import crash_point\n"
            f"crash_point({name!r})\nprint('alive')\n")
    env = {"PATH": "/usr/bin:/bin", **({ENV: point} if point else {})}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_crash_point_kills_only_when_named():
    killed = run_point("before-send", "before-send")
    other = run_point("after-unit-commit", "before-send")
    unset = run_point(None, "before-send")

    assert (killed.returncode, killed.stdout) == (-9, "")
    assert (other.returncode, other.stdout) == (0, "alive\n")
    assert (unset.returncode, unset.stdout) == (0, "alive\n")


def test_every_crash_point_is_called_once_in_the_code_and_listed():
    package = Path(__file__).resolve().parents[2] / "costguard"
    calls = [node.args[0].value
             for path in package.rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "crash_point"
             and isinstance(node.args[0], ast.Constant)]

    assert sorted(calls) == sorted(POINTS)
