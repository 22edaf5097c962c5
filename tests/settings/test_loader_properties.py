"""Property: whatever a file holds, the loaders answer with settings or with InvalidInput.

Hypothesis writes YAML-ish text (biased toward YAML's own punctuation) and arbitrary nested
structures dumped as YAML, using the keys the loaders know so that the examples reach the
sections, notifiers, routes and check params, not only the top-level "unknown key". Nothing but
`InvalidInput` may come out, and every problem must render as one line starting with the file's
name, in costguard's words rather than pydantic's.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from costguard.checks import default_registry
from costguard.notifiers import CHANNEL_TYPES
from costguard.runtime.bootstrap import PARAMS_CONTEXT
from costguard.settings.config import load_config
from costguard.settings.policies import load_policies
from costguard.settings.problems import InvalidInput

REGISTRY = default_registry()
KEYS = [
    "aws", "regions", "accounts", "id", "role_arn", "profile", "organization", "database",
    "url", "url_env", "schedule", "inventory", "cost", "weekly_report", "policies", "templates",
    "notifiers", "type", "smtp", "log", "host", "port", "from", "to", "cc", "password",
    "password_env", "username", "routes", "match", "notify", "digest", "severity", "tag",
    "events", "queue_name", "incidents", "escalate_to", "metrics", "listen", "log_level",
    "name", "check", "params", "allowed", "denied", "instance_types", "ports", "enabled",
    "remediation", "auto_contain", "open_admin_ports", "hourly_spend", "max_usd_per_hour",
    "us-east-1", "mars-north-9", "t3.*", "[", "<<",
]
PYDANTIC_WORDS = re.compile(r"Input should|Value error|errors\.pydantic\.dev|Field required")
PUNCTUATION = [*"abcxyz019 -:[]{},'\"&*!|>#?%@`.\n\t<=\\", "\ufeff", "é", "\x00", "\r"]
YAMLISH = st.text(alphabet=st.sampled_from(PUNCTUATION), max_size=300)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
           | st.sampled_from(KEYS))
STRUCTURES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | SCALARS, inner, max_size=5),
    max_leaves=40,
)
FAST = settings(max_examples=200, deadline=None)


def answers_or_refuses(load: Callable[[Path], Any], content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.yml"
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        else:
            path.write_bytes(content)
        try:
            load(path)
        except InvalidInput as exc:
            assert exc.problems
            for problem in exc.problems:
                line = str(problem)
                assert line.startswith(f"{path}:"), line
                assert "\n" not in line and "\r" not in line, line
                assert not PYDANTIC_WORDS.search(line), line


def config(path: Path) -> Any:
    return load_config(path, {}, channel_types=CHANNEL_TYPES)


def policies(path: Path) -> Any:
    return load_policies([path], REGISTRY, params_context=PARAMS_CONTEXT)


def dumped(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


@FAST
@given(YAMLISH)
def test_yamlish_text_never_escapes_the_config_loader(text):
    answers_or_refuses(config, text)


@FAST
@given(YAMLISH)
def test_yamlish_text_never_escapes_the_policy_loader(text):
    answers_or_refuses(policies, text)


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), STRUCTURES, max_size=6) | STRUCTURES)
def test_any_structure_never_escapes_the_config_loader(value):
    answers_or_refuses(config, dumped(value))


@FAST
@given(st.lists(STRUCTURES, max_size=4))
def test_any_list_of_entries_never_escapes_the_policy_loader(entries):
    answers_or_refuses(policies, dumped({"policies": entries}))


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_never_escape_either_loader(data):
    answers_or_refuses(config, data)
    answers_or_refuses(policies, data)
