"""Ticket channels as configured: keys checked, secrets only by reference, the docs' examples
valid, routing queues each ticket channel its own texts and `validate` renders them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from costguard.alerts.alert import Alert
from costguard.alerts.routing import Notifier
from costguard.cli.main import main
from costguard.model import AlertKind, Severity
from costguard.notifiers.ticket_channel import TICKET, TicketChannel
from costguard.runtime.bootstrap import read_config
from costguard.settings.problems import InvalidInput
from costguard.store import Store
from tests.notifiers.ticket_vendors import GitHub, serving
from tests.notifiers.tickets_setup import T0, finding

ROOT = Path(__file__).resolve().parents[2]
ENV = {"JIRA_TOKEN": "t", "GITHUB_TOKEN": "t", "SNOW_PASSWORD": "p", "SMTP_PASSWORD": "p"}
SG = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0abc"

CONFIG = """\
notifiers:
  mail:
    type: smtp
    host: 127.0.0.1
    from: costguard@example.com
    to: [secops@example.com]
  tickets:
    type: jira
    url: https://example.atlassian.net
    project: SEC
    user: bot@example.com
    token_env: JIRA_TOKEN
  gh:
    type: github
    repo: acme/security
    token_env: GITHUB_TOKEN
  snow:
    type: servicenow
    instance_url: https://acme.service-now.com
    user: costguard
    password_env: SNOW_PASSWORD
incidents:
  reopen_window: 3d
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "costguard.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_yaml_example_in_tickets_md_is_a_valid_config(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "tickets.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 3
    for block in blocks:
        config = read_config(write(tmp_path, block), env=ENV)
        assert config.notifiers


def test_routing_gives_each_ticket_channel_its_texts_and_the_reopen_window(
        tmp_path: Path) -> None:
    config = read_config(write(tmp_path, CONFIG), env=ENV)
    notifier = Notifier(config, [], env=ENV)
    channels = notifier.channels
    assert {n for n, c in channels.items() if isinstance(c, TicketChannel)} == {
        "tickets", "gh", "snow"}
    assert all(c.reopen_window == timedelta(days=3) for c in channels.values()
               if isinstance(c, TicketChannel))
    alert = Alert(kind=AlertKind.NEW, key="incident-1-x-new", title="t", severity=Severity.HIGH,
                  created_at=T0, findings=(finding(SG),), incident_id=1)
    with Store.open(f"sqlite:///{tmp_path}/cg.db") as store:
        assert notifier.enqueue(store, alert, ["mail", "tickets", "gh", "snow"], T0) == 4
        queued = {n.channel: n.message for n in store.notifications()}
    assert TICKET not in queued["mail"].fields
    for name in ("tickets", "gh", "snow"):
        ticket = queued[name].fields[TICKET]
        assert ticket["key"] == "incident-1-x-new" and ticket["fingerprints"]
        assert SG in ticket["description"]


@pytest.mark.parametrize(("section", "words"), [
    ("    token: abc\n", "inline secrets are refused"),
    ("    user: bot@example.com\n    api_version: 2\n", "no user"),
])
def test_bad_jira_settings_name_the_line(tmp_path: Path, section: str, words: str) -> None:
    text = ("notifiers:\n  tickets:\n    type: jira\n    url: https://x.example\n"
            "    project: SEC\n    token_env: JIRA_TOKEN\n" + section)
    if "api_version: 2" not in section:
        text += "    user: bot@example.com\n"
    with pytest.raises(InvalidInput) as caught:
        read_config(write(tmp_path, text), env=ENV)
    shown = str(caught.value)
    assert words in shown and "costguard.yml:" in shown
    assert "abc" not in shown


def test_validate_renders_the_ticket_templates_and_names_a_broken_one(tmp_path: Path) -> None:
    own = tmp_path / "templates" / "github"
    own.mkdir(parents=True)
    config = write(tmp_path, CONFIG + "templates: [templates]\npolicies: []\n")
    runner = CliRunner(env=ENV)
    assert runner.invoke(main, ["validate", "-c", str(config)]).exit_code == 0
    (own / "title.txt.j2").write_text("{{ title }", encoding="utf-8")
    result = runner.invoke(main, ["validate", "-c", str(config)])
    assert result.exit_code == 2
    assert "github/title.txt.j2" in result.output and "Traceback" not in result.output


def test_notify_test_files_a_sample_ticket(tmp_path: Path) -> None:
    """Outside the outbox there is no ticket record: the sample is simply filed."""
    vendor = GitHub()
    with serving(vendor) as url:
        config = write(tmp_path, f"notifiers:\n  gh: {{type: github, repo: acme/security, "
                                 f"api_url: '{url}', token_env: GITHUB_TOKEN}}\n")
        result = CliRunner(env={"GITHUB_TOKEN": vendor.token}).invoke(
            main, ["notify", "test", "gh", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "sent a sample alert via gh: #1" in result.output
    assert vendor.problems == [] and len(vendor.issues) == 1
