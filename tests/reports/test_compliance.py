"""The compliance report of the known history: rows, golden files, OCSF's required fields, and
CSV and OCSF parsed back to the same facts as the JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest

from costguard.checks import default_registry
from costguard.model import Finding, Severity
from costguard.reports.compliance import (
    COLUMNS,
    as_csv,
    as_json,
    as_table,
    compliance_rows,
    controls,
)
from costguard.reports.ocsf import as_ocsf
from costguard.settings.paths import default_policy_file
from costguard.settings.policies import load_policies

from .history import EAST, A
from .test_weekly_render import HOSTILE, golden

AT = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)

# OCSF 1.x (1.4.0) Compliance Finding, class_uid 2003, category_uid 2: the attributes marked
# "required" for the class (with those it inherits from Finding and the base event) and for the
# objects it nests, as the schema documentation lists them.
REQUIRED_EVENT = ("activity_id", "category_uid", "class_uid", "compliance", "finding_info",
                  "metadata", "severity_id", "time", "type_uid")
REQUIRED_OBJECTS = {"compliance": ("standards",), "finding_info": ("uid",),
                    "metadata": ("product", "version")}
REQUIRED_IF_PRESENT = {"remediation": ("desc",), "cloud": ("provider",)}


def rows(store):
    registry = default_registry()
    policies = load_policies([default_policy_file()], registry, lambda _name: True, {})
    checks = controls(registry, policies)
    return compliance_rows(checks, store.judged_resources(), store.list_findings())


def test_every_judged_resource_passes_fails_or_is_muted(history_store):
    found = {(r.control.id, r.resource.rsplit("/", 1)[-1]): r.status for r in rows(history_store)}

    assert found[("root_mfa", "arn:aws:iam::111122223333:root")] == "PASS"
    assert found[("instance_types", "i-1")] == found[("instance_types", "i-2")] == "FAIL"
    assert found[("instance_types", "i-3")] == "PASS"  # resolved in W47
    assert found[("open_admin_ports", "sg-1")] == "FAIL"
    assert found[("user_mfa", "alice")] == "MUTED"  # not judged in a cycle, but a finding
    assert len(found) == 19  # 1 root + 12 instances + 5 groups + alice


@pytest.mark.parametrize("fmt", ["csv", "json", "ocsf"])
def test_the_known_history_matches_its_golden_files(sqlite_history, fmt):
    r = rows(sqlite_history)
    text = {"csv": lambda: as_csv(r), "json": lambda: as_json(r, AT),
            "ocsf": lambda: as_ocsf(r, AT, "0.1.0")}[fmt]()
    golden(f"compliance.{fmt}", text)


def test_ocsf_events_have_every_required_field_of_a_compliance_finding(sqlite_history):
    events = json.loads(as_ocsf(rows(sqlite_history), AT, "0.1.0"))

    assert events
    for event in events:
        assert [k for k in REQUIRED_EVENT if k not in event] == []
        for obj, keys in {**REQUIRED_OBJECTS, **REQUIRED_IF_PRESENT}.items():
            assert [k for k in keys if event.get(obj, {}).get(k) in (None, "", [])] == [], obj
        assert (event["class_uid"], event["category_uid"]) == (2003, 2)
        assert event["type_uid"] == 2003 * 100 + event["activity_id"]
        assert event["severity_id"] in (1, 2, 3, 4, 5)
        assert event["compliance"]["status_id"] in (1, 3)
        assert isinstance(event["time"], int)


def test_csv_and_ocsf_read_back_to_the_json(sqlite_history):
    r = rows(sqlite_history)
    doc = json.loads(as_json(r, AT))["rows"]
    parsed = list(csv.DictReader(io.StringIO(as_csv(r))))
    events = json.loads(as_ocsf(r, AT, "0.1.0"))

    assert [list(row) for row in parsed[:1]] == [list(COLUMNS)]
    for row, from_csv, event in zip(doc, parsed, events, strict=True):
        flat = {k: ";".join(v) if isinstance(v, list) else "" if v is None else str(v)
                for k, v in row.items()}
        assert from_csv == flat
        status = {"PASS": "Pass", "FAIL": "Fail", "MUTED": "Fail"}[row["status"]]
        assert (event["compliance"]["control"], event["compliance"]["status"],
                event["resources"][0]["uid"], event["cloud"]["account"]["uid"]) == (
            row["check"], status, row["resource"], row["account"])
        assert event["severity"].lower() == row["severity"]
        assert event["compliance"]["requirements"] == (
            [f"CIS {c}" for c in row["cis"]] + row["security_hub"])
        assert (event.get("status") == "Suppressed") == (row["status"] == "MUTED")


def test_a_hostile_resource_cannot_become_a_spreadsheet_formula_or_break_a_line(sqlite_store):
    bad = Finding(check="open_admin_ports", policy="p", severity=Severity.HIGH, account=A,
                  region=EAST, resource="=HYPERLINK(\"http://x\")" + HOSTILE, title="t")
    sqlite_store.reconcile(scan_id=None, findings=[bad], scopes=(), now=AT)
    r = rows(sqlite_store)

    (parsed,) = csv.DictReader(io.StringIO(as_csv(r)))
    assert parsed["resource"].startswith("'=HYPERLINK")
    assert "\n" not in as_table(r).splitlines()[1]
