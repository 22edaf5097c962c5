"""The package's shape, as docs/architecture.md promises it: no import cycles, small modules with
unique names, one clock, and AWS write calls only in `actions/`.

The layer contracts themselves are import-linter's (setup.cfg, run by `make test`); these are the
rules import-linter cannot express.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import botocore.session
import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "costguard"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
TOP_LEVEL_LIMIT = 8
LINE_LIMIT = 400


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_no_import_cycles_at_all_counting_imports_inside_functions():
    graph = grimp.build_graph("costguard")  # grimp reads every import statement, nested too
    cycles = sorted(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    )

    assert cycles == []


def test_at_most_eight_modules_sit_directly_in_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))

    assert len(top) <= TOP_LEVEL_LIMIT, top


def test_no_two_modules_share_a_name():
    names = Counter(p.stem for p in SOURCES if p.stem != "__init__")

    assert [name for name, n in names.items() if n > 1] == []


@pytest.mark.parametrize("path", SOURCES, ids=_relative)
def test_every_module_is_under_the_line_limit(path: Path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= LINE_LIMIT


def test_only_the_clock_and_the_runtime_read_the_wall_clock():
    """Everything below `runtime/` is given "now", so tests and the demo control time."""
    reads = re.compile(r"datetime\.(now|utcnow)\(|time\.time\(\)")
    allowed = {PACKAGE / "clock.py"}
    offenders = [
        f"{_relative(p)}:{n}"
        for p in SOURCES
        if p not in allowed and "runtime" not in p.relative_to(PACKAGE).parts[:1]
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if reads.search(line)
    ]

    assert offenders == []


WRITE_VERBS = (
    "Associate", "Attach", "Authorize", "Cancel", "Copy", "Create", "Deactivate", "Delete",
    "Detach", "Disable", "Disassociate", "Enable", "Import", "Modify", "Put", "Reboot", "Remove",
    "Replace", "Reset", "Revoke", "Run", "Send", "Set", "Start", "Stop", "Tag", "Terminate",
    "Untag", "Update",
)
SERVICES = ("ec2", "iam", "sqs", "events", "cloudtrail", "guardduty", "ce", "pricing", "sts",
            "organizations", "s3", "sesv2")
QUEUE_CONSUMPTION = {"delete_message", "delete_message_batch"}
"""Taking a message off costguard's own event queue once it is stored: consumption, not a change
to the account (the read policy grants it on that queue's ARN only)."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _write_operations() -> set[str]:
    session = botocore.session.get_session()
    names = set()
    for service in SERVICES:
        model = session.get_service_model(service)
        names |= {_snake(op) for op in model.operation_names if op.startswith(WRITE_VERBS)}
    return names - QUEUE_CONSUMPTION


def _attributes(path: Path) -> list[tuple[int, str]]:
    """Every `x.name` in a module: calls, and methods passed on to be called (a retry wrapper)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.lineno, node.attr) for node in ast.walk(tree) if isinstance(node, ast.Attribute)]


def test_only_actions_call_aws_write_apis():
    """Collectors, checks and the runtime read; what changes an account lives in `actions/`.

    Exempt: the demo, which plays the attacker against an embedded (moto) account, and the
    notifiers, whose one write is sending the message (SMTP's send_message, SES's SendEmail).
    """
    writes = _write_operations()
    exempt = {"actions", "demo", "notifiers"}
    offenders = [
        f"{_relative(p)}:{line}: {name}"
        for p in SOURCES
        if p.relative_to(PACKAGE).parts[0] not in exempt
        for line, name in _attributes(p)
        if name in writes
    ]

    assert offenders == []


def test_the_write_detector_sees_a_write_where_there_is_one():
    """The rule above would pass vacuously if the detector were blind: it must flag actions/."""
    writes = _write_operations()
    found = {name for p in (PACKAGE / "actions").rglob("*.py") for _, name in _attributes(p)}

    assert {"stop_instances", "update_access_key", "put_rule"} <= found & writes
