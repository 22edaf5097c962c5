"""Every check is complete: metadata, a validating docstring example, a template, a test file,
a default policy entry, and no I/O library anywhere in what it imports."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import costguard.checks
from costguard.alerts.render import Renderer, text_to_html
from costguard.checks import default_registry
from costguard.checks.base import Check, DuplicateCheckError, Params, Phase, Registry
from costguard.collectors.permissions import READ_PERMISSIONS, permissions_for
from costguard.model import Finding, Severity, Source
from costguard.settings.paths import default_policy_file
from costguard.spend.prices import PriceBook

from .conftest import ACCOUNT, HOSTILE, SCRIPT, assert_only_quoted, render

REGISTRY = default_registry()
CHECKS = list(REGISTRY)
TESTS = Path(__file__).parent
CHECKS_DIR = Path(costguard.checks.__file__).parent
BANNED = {"boto3", "botocore", "sqlalchemy", "socket", "smtplib", "urllib", "requests"}
POLICY_KEYS = {"name", "check", "severity", "params", "remediation", "references"}
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)
MACHINERY = {"__init__", "base", "evaluate", "catalog", "reference_snapshot", "param_types"}
"""Modules of the checks package that run, list or sample checks rather than being one."""
KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$")
CIS_ID = re.compile(r"^\d+\.\d+$")
SECURITY_HUB_ID = re.compile(r"^[A-Za-z0-9]+\.\d+$")

by_id = pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)

REGISTRY = default_registry()


def test_every_module_in_the_checks_package_is_registered_under_its_own_name():
    modules = {p.stem for p in CHECKS_DIR.glob("*.py")} - MACHINERY

    assert modules == set(REGISTRY.ids())
    assert {c.__module__ for c in CHECKS} == {f"costguard.checks.{m}" for m in modules}


@by_id
def test_metadata_is_complete(check: type[Check]):
    assert check.__module__ == f"costguard.checks.{check.id}"
    assert isinstance(check.title, str) and check.title
    assert isinstance(check.severity, Severity)
    assert check.sources and all(isinstance(s, Source) for s in check.sources)
    assert isinstance(check.references, tuple)
    assert all(isinstance(r, str) and r for r in check.references)
    assert check.remediation == f"remediation/{check.id}.md.j2"
    assert Renderer().exists(check.remediation)
    assert (TESTS / f"test_{check.id}.py").is_file()


@by_id
def test_vocabulary_is_complete(check: type[Check]):
    """What titles, playbooks, messages and reports say about a check lives on its class."""
    assert isinstance(check.noun, str) and check.noun.strip()
    assert isinstance(check.phrase_one, str) and check.phrase_one.strip()
    assert isinstance(check.phrase_many, str) and check.phrase_many.strip()
    assert check.phrase_many.format(n=2)  # only {n} may be a placeholder
    assert check.phrase([object()]) == check.phrase_one
    assert isinstance(check.title_rank, int)
    assert isinstance(check.phase, Phase)
    assert isinstance(check.playbook_rank, int)
    assert isinstance(check.supersedes, tuple)
    assert set(check.supersedes) <= set(REGISTRY.ids()) - {check.id}
    assert isinstance(check.burn_rate_facts, bool)


@by_id
def test_compliance_ids_are_tuples_of_control_ids(check: type[Check]):
    assert isinstance(check.cis, tuple) and all(CIS_ID.match(c) for c in check.cis)
    assert isinstance(check.security_hub, tuple)
    assert all(SECURITY_HUB_ID.match(c) for c in check.security_hub)


def test_titles_and_playbooks_order_every_check_unambiguously():
    assert len({c.title_rank for c in CHECKS}) == len(CHECKS)
    assert len({c.playbook_position() for c in CHECKS}) == len(CHECKS)


@by_id
def test_permissions_are_iam_actions_its_sources_collectors_call(check: type[Check]):
    assert isinstance(check.permissions, tuple) and check.permissions
    assert all(isinstance(a, str) and IAM_ACTION.match(a) for a in check.permissions)
    assert len(set(check.permissions)) == len(check.permissions)
    assert set(check.permissions) <= set(permissions_for(*check.sources))


@by_id
def test_permissions_cover_every_call_of_its_sources_collectors(check: type[Check]):
    """A source is collected whole (one collector run reads every API it reads), so a grant
    short of any of its calls would make the collection fail for the check."""
    assert set(permissions_for(*check.sources)) <= set(check.permissions)


def test_the_checks_need_exactly_what_the_collectors_call():
    needed = {a for c in CHECKS for a in c.permissions}

    assert needed == {a for actions in READ_PERMISSIONS.values() for a in actions}


@by_id
def test_params_forbid_unknown_keys_are_frozen_and_describe_every_field(check: type[Check]):
    assert issubclass(check.Params, Params)
    assert check.Params.model_config.get("extra") == "forbid"
    assert check.Params.model_config.get("frozen") is True
    undocumented = [n for n, f in check.Params.model_fields.items() if not f.description]
    assert undocumented == []


def _examples(check: type[Check]) -> list[dict]:
    doc = inspect.getdoc(check) or ""
    return [e for block in YAML_BLOCK.findall(doc) for e in yaml.safe_load(block)["policies"]]


@by_id
def test_docstring_has_a_yaml_policy_example_that_validates(check: type[Check]):
    examples = _examples(check)

    assert examples, "the docstring needs a ```yaml policies: [...] ``` example"
    for entry in examples:
        assert set(entry) <= POLICY_KEYS
        assert entry["check"] == check.id
        assert KEBAB.match(entry["name"])
        assert Severity(entry["severity"])
        check.Params.model_validate(entry.get("params") or {})


def test_default_policy_enables_every_check_once_with_valid_params():
    entries = yaml.safe_load(default_policy_file().read_text())["policies"]

    assert sorted(e["check"] for e in entries) == REGISTRY.ids()
    names = [e["name"] for e in entries]
    assert len(set(names)) == len(names)
    for entry in entries:
        check = REGISTRY.get(entry["check"])
        assert check is not None
        assert set(entry) <= POLICY_KEYS
        assert KEBAB.match(entry["name"])
        assert Severity(entry["severity"]) is check.severity
        assert entry["references"] and all(isinstance(r, str) for r in entry["references"])
        check.Params.model_validate(entry.get("params") or {})


def test_default_policy_allows_only_instance_types_that_exist():
    [entry] = [
        e
        for e in yaml.safe_load(default_policy_file().read_text())["policies"]
        if e["check"] == "instance_types"
    ]

    assert set(entry["params"]["allowed"]) <= PriceBook().known_types()


def test_a_second_check_with_the_same_id_fails_at_registration():
    class First(Check):
        id = "dup"

        def evaluate(self, snapshot, ctx):
            return ()

    class Second(First):
        pass

    registry = Registry()
    registry.register(First)
    with pytest.raises(DuplicateCheckError, match="'dup'"):
        registry.register(Second)
    with pytest.raises(DuplicateCheckError, match="'root_mfa'"):
        REGISTRY.register(type("Impostor", (First,), {"id": "root_mfa"}))
    assert REGISTRY.get("root_mfa").__name__ == "RootMfa"


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # "pkg.module.Name": a name inside a module, not a module
        return False


def imports_in(source: str, package: str) -> Iterator[str]:
    """Every module an import statement in `source` names (relative ones resolved against
    `package`); `from x import y` yields x, and x.y too when y is a module."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            yield base
            yield from (f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}"))


def import_closure(module: str) -> set[str]:
    """`module`'s imports, following costguard's own modules transitively."""
    seen: set[str] = set()
    names: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        spec = importlib.util.find_spec(current)
        assert spec and spec.origin
        package = current if spec.submodule_search_locations else current.rpartition(".")[0]
        for name in imports_in(Path(spec.origin).read_text(), package):
            names.add(name)
            if name.split(".")[0] == "costguard":
                todo.append(name)
    return names


@by_id
def test_checks_import_no_io_library_even_transitively(check: type[Check]):
    roots = {name.split(".")[0] for name in import_closure(check.__module__)}

    assert roots & BANNED == set()


def test_the_import_walk_sees_every_kind_of_import_and_follows_costguard():
    source = (
        "import boto3.session\n"
        "from urllib.request import urlopen\n"
        "from . import base\n"
        "from .base import Check\n"
        "def later():\n    import socket\n"
    )

    found = set(imports_in(source, "costguard.checks"))

    assert {"boto3.session", "urllib.request", "socket"} <= found
    assert {"costguard.checks", "costguard.checks.base"} <= found
    assert "costguard.checks.base.Check" not in found
    # The walk reaches modules the check only imports indirectly (via costguard.spend.burn).
    assert {"costguard.spend.prices", "importlib", "json"} <= import_closure(
        "costguard.checks.hourly_spend"
    )


def test_default_template_covers_checks_without_their_own():
    finding = Finding(
        check="future_check",
        policy="future",
        severity=Severity.MEDIUM,
        account=ACCOUNT,
        region="us-east-1",
        resource=HOSTILE,
        title=SCRIPT,
    )

    text = render("future_check", [finding])

    assert text.startswith("Review and fix each resource below:\n")
    assert f"- future_check (medium): 'x'\"'\"'; rm -rf / #' in account {ACCOUNT}" in text
    assert "the first complete scan that no longer sees a problem resolves its finding" in text
    assert_only_quoted(text, HOSTILE)
    assert "<script>" not in text_to_html(text)
