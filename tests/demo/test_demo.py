"""The offline demo (costguard/demo): the reference incident detected, delivered and resolved.

The demo runs once per module; the attacker's calls are recorded by wrapping the real
`scenario.attack`, so the test knows which ten instances the alert must name without reading
them out of the alert itself.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.cli.main import main
from costguard.demo import run_demo, scenario
from costguard.model import root_arn

ROOT = root_arn(DEFAULT_ACCOUNT_ID)


def parse(path: Path) -> EmailMessage:
    """An .eml file as a mail client reads it."""
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())


def subject(message: EmailMessage) -> str:
    """The Subject as a mail client shows it. Python folds a subject that fits a line of its own
    onto the next line ("Subject:" CRLF SP text); unfolding keeps that space, clients trim it."""
    return str(message["Subject"]).strip()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the demo: its verdict, its folder, what it printed and the attacker's steps."""
    out = tmp_path_factory.mktemp("demo")
    steps: list[Any] = []
    printed: list[str] = []

    def recorded_attack(session: Any, root: Any) -> list[Any]:
        steps.extend(real_attack(session, root))
        return steps

    real_attack = scenario.attack
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scenario, "attack", recorded_attack)
        ok = run_demo(out, echo=printed.append)
    launched = next(s for s in steps if s.name == "RunInstances").response["instanceIds"]
    return {"ok": ok, "out": out, "printed": printed, "instances": launched}


def test_the_demo_detects_and_delivers(demo):
    assert demo["ok"] is True
    assert len(demo["instances"]) == 10


def test_the_alert_names_every_instance_and_the_root_user(demo):
    alert = parse(demo["out"] / "outbox" / "001.eml")
    assert subject(alert).startswith("[costguard] CRITICAL: ")
    text = alert.get_body(("plain",)).get_content()
    html = alert.get_body(("html",)).get_content()
    for body in (text, html):
        assert [i for i in demo["instances"] if i not in body] == []
        assert ROOT in body
    # issue 3: the one alert carries the attack's scope from the event pipeline
    for expected in (scenario.ATTACKER_IP, scenario.ATTACKER_AGENT, scenario.MINER_KEY,
                     scenario.ROOT_KEY_ID, "CryptoCurrency:EC2/BitcoinTool.B"):
        assert expected in text, expected


def test_exactly_one_alert_and_one_resolution_threaded_to_it(demo):
    files = sorted(p.name for p in (demo["out"] / "outbox").iterdir())
    assert files == ["001.eml", "002.eml"]
    alert, resolution = (parse(demo["out"] / "outbox" / name) for name in files)
    assert subject(resolution).startswith("[costguard] RESOLVED: ")
    assert resolution["In-Reply-To"] == alert["Message-ID"]
    assert str(alert["To"]) == str(resolution["To"]) == "secops@demo.invalid"


def test_the_alert_leads_with_one_command_per_region_and_stays_short(demo):
    """Issue 8: what happened and the first commands on the first screen; one stop per region."""
    text = parse(demo["out"] / "outbox" / "001.eml").get_body(("plain",)).get_content()
    lines = text.splitlines()

    assert len(lines) <= 150
    assert next(n for n, line in enumerate(lines, 1) if line.lstrip().startswith("aws ")) <= 40
    [stop] = [line.split() for line in lines if "stop-instances" in line]
    assert sorted(w for w in stop if w.startswith("i-")) == sorted(demo["instances"])


def test_the_resolution_says_what_the_incident_cost_up_to_the_fix(demo):
    text = parse(demo["out"] / "outbox" / "002.eml").get_body(("plain",)).get_content()

    assert "Cost up to the fix: $" in text and "Cost so far" not in text


def test_the_timeline_tells_the_story_in_order(demo):
    lines = [line for chunk in demo["printed"] for line in chunk.splitlines()]
    story = [
        "baseline cycle: 3 approved instances",
        "attacker: RunInstances 10 x c5.4xlarge",
        "detected: incident #1 [critical]",
        "alert delivered: 001.eml",
        "the alert names the root key, the source IP, the Go SDK user agent, the key pair",
        "responder: terminated 10 instances",
        "verified fixed: incident #1 resolved",
        "resolution delivered: 002.eml",
    ]
    where = [next(i for i, line in enumerate(lines) if step in line) for step in story]
    assert where == sorted(where)


def test_the_command_exits_0_and_leaves_the_store_and_emails(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out" / "outbox").iterdir()) == [
        "001.eml", "002.eml"]
    assert (tmp_path / "out" / "costguard.db").is_file()
    assert ("the alert names the root key, the source IP, the Go SDK user agent, the key pair, "
            "the security group and all 10 instances") in result.stdout
    assert "detection latency: the alert was in the inbox" in result.stdout
    assert (tmp_path / "out" / "reports" / "incident-1.md").is_file()
    assert "alert-to-fix (costguard stats):" in result.stdout


def test_the_demo_writes_its_weeks_reports(demo):
    import csv

    html = (demo["out"] / "report-weekly.html").read_text()
    rows = list(csv.DictReader((demo["out"] / "compliance.csv").open()))

    assert "COSTGUARD WEEKLY REPORT" in html and "Incidents" in html
    assert "new" in (demo["out"] / "report-weekly.txt").read_text()
    # after the fix every judged resource passes: the ten miners are gone from the inventory
    assert rows and {r["status"] for r in rows} == {"PASS"}
    assert {"root_access_key", "instance_types", "open_admin_ports"} <= {r["check"] for r in rows}
