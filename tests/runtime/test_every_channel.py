"""The two-wave attack with every channel configured at once, each cycle a new process on one
SQLite store: what each vendor's stand-in receives over the incident's whole life.

Why this test exists: each channel has its own tests, but only a run where all of them share
one outbox shows that one channel's trouble (a throttled Jira, a GitHub answering 503) costs
the others nothing, that the ticket channels' record does not make the chat channels repeat
themselves, and that no channel files a second ticket or misses the update or the resolution.

Each cycle (what `costguard scan` does) is a process forked from the fault suite's zygote,
against moto_server, its clock moved forward by an offset, so "minutes later" costs no waiting. The
stand-ins are the channels' own: tests/notifiers/ticket_vendors.py for Jira, GitHub and
ServiceNow, the vendor_http checks for PagerDuty, Slack, Teams, the webhook and apprise,
aiosmtpd for SMTP, moto's SES backend for SES. The table it prints is in docs/tickets.md.
"""

from __future__ import annotations

import itertools
import os
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import pytest

from costguard.demo.inbox import Inbox
from costguard.store import NotificationStatus, Store
from tests.faults.harness import Zygote
from tests.notifiers import test_chat_webhooks as chat
from tests.notifiers import test_pagerduty as pd
from tests.notifiers import test_webhook_ses_apprise as other
from tests.notifiers.ticket_vendors import GitHub, Jira, ServiceNow, serving
from tests.notifiers.vendor_http import Answer, vendor_server

pytestmark = pytest.mark.slow

EAST, WEST = "us-east-1", "eu-west-1"
AMI = "ami-12345678"
SENDER = "costguard@example.com"
POLICIES = """\
policies:
  - {name: admin-ports, check: open_admin_ports, severity: high}
  - name: unapproved-instance-types
    check: instance_types
    severity: high
    params: {allowed: ["t3.*"]}
"""
TICKETS = ("jira", "github", "servicenow")
HTTP = ("pagerduty", "slack", "teams", "webhook", "apprise")
ALL = (*TICKETS, "smtp", "ses", *HTTP)
SETTLE_S = 30


def port_rule(port: int) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def open_and_launch(endpoint: str, region: str, port: int, count: int) -> tuple[list[str], str]:
    """A group opened to the world on `port`, and `count` c5.4xlarge in it."""
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
    group = ec2.create_security_group(GroupName=f"open-{port}", Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[port_rule(port)])
    answer = ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count,
                               InstanceType="c5.4xlarge", SecurityGroupIds=[group])
    return [i["InstanceId"] for i in answer["Instances"]], group


def fix(endpoint: str, region: str, port: int, instances: list[str], group: str) -> None:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
    ec2.terminate_instances(InstanceIds=instances)
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[port_rule(port)])


def write_config(tmp_path: Path, urls: dict[str, str], smtp_port: int) -> Path:
    (tmp_path / "policies.yml").write_text(POLICIES)
    path = tmp_path / "costguard.yml"
    path.write_text(
        f"aws: {{regions: [{EAST}, {WEST}]}}\n"
        f"database: {{url: 'sqlite:///{tmp_path}/costguard.db'}}\n"
        "policies: [policies.yml]\n"
        f"incidents: {{target_minutes: 600, renotify: null, update_settle: {SETTLE_S}s}}\n"
        "notifiers:\n"
        f"  jira: {{type: jira, url: '{urls['jira']}', api_version: 3, project: SEC,\n"
        "         user: bot@example.com, token_env: E2E_JIRA_TOKEN}\n"
        f"  github: {{type: github, repo: acme/security, api_url: '{urls['github']}',\n"
        "           token_env: E2E_GITHUB_TOKEN}\n"
        f"  servicenow: {{type: servicenow, instance_url: '{urls['servicenow']}',\n"
        "               user: costguard, password_env: E2E_SNOW_PASSWORD}\n"
        f"  smtp: {{type: smtp, host: 127.0.0.1, port: {smtp_port}, security: none,\n"
        "         from: costguard@test.invalid, to: [secops@test.invalid]}\n"
        f"  ses: {{type: ses, region: {EAST}, from: {SENDER}, to: [secops@example.com]}}\n"
        f"  pagerduty: {{type: pagerduty, routing_key_env: E2E_PD_KEY,\n"
        f"              events_url: '{urls['pagerduty']}'}}\n"
        "  slack: {type: slack, webhook_url_env: E2E_SLACK_URL}\n"
        "  teams: {type: teams, webhook_url_env: E2E_TEAMS_URL}\n"
        f"  webhook: {{type: webhook, url: '{urls['webhook']}', secret_env: E2E_HOOK_SECRET}}\n"
        "  apprise: {type: apprise, urls_env: E2E_APPRISE_URLS}\n"
        # ticket channels first, so the chat messages can link the ticket
        f"routes:\n  - {{match: {{severity: [critical, high]}}, notify: [{', '.join(ALL)}]}}\n")
    return path


def cycle(zygote: Zygote, config: Path, offset_s: int) -> None:
    """One cycle in a process of its own, `offset_s` simulated seconds after the first."""
    code, errors = zygote.finish(zygote.start({"config": str(config), "offset_s": offset_s}))
    assert code == 0, errors


@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    """moto_server, emptied, with the SES sender verified."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    boto3.client("ses", region_name=EAST, endpoint_url=moto_endpoint).verify_email_identity(
        EmailAddress=SENDER)
    return moto_endpoint


JIRA_API, GITHUB_ISSUES = "/rest/api/3", "/repos/acme/security/issues"
SNOW_TABLE = "/api/now/table/incident"


def test_every_channel_keeps_one_thread_through_two_waves_and_the_fix(endpoint, tmp_path):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    jira, github, snow = Jira(version=3), GitHub(), ServiceNow()
    ses = ses_backends[DEFAULT_ACCOUNT_ID][EAST]
    with ExitStack() as stack:
        inbox = stack.enter_context(Inbox(tmp_path / "inbox"))
        urls = {name: stack.enter_context(serving(v))
                for name, v in (("jira", jira), ("github", github), ("servicenow", snow))}
        http = {
            "pagerduty": stack.enter_context(vendor_server(pd.events_v2, pd.SUCCESS,
                                                           "/v2/enqueue")),
            "slack": stack.enter_context(vendor_server(chat.block_kit, chat.SLACK_OK,
                                                       chat.SLACK_PATH)),
            "teams": stack.enter_context(vendor_server(chat.adaptive_card, chat.TEAMS_OK,
                                                       chat.TEAMS_PATH)),
            "webhook": stack.enter_context(vendor_server(other.signed_document, Answer(200),
                                                         "/costguard")),
            "apprise": stack.enter_context(vendor_server(other.apprise_json, Answer(200),
                                                         "/notify/t0kenInPath")),
        }
        urls |= {name: server.url for name, server in http.items()}
        config = write_config(tmp_path, urls, inbox.port)
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint,
               "E2E_JIRA_TOKEN": jira.token, "E2E_GITHUB_TOKEN": github.token,
               "E2E_SNOW_PASSWORD": snow.password, "E2E_PD_KEY": pd.ROUTING_KEY,
               "E2E_SLACK_URL": urls["slack"], "E2E_TEAMS_URL": urls["teams"],
               "E2E_HOOK_SECRET": other.SECRET,
               "E2E_APPRISE_URLS": urls["apprise"].replace("http://", "json://")}
        zygote = Zygote(env)
        stack.callback(zygote.close)
        seen: dict[str, Callable[[], list[Any]]] = {
            "jira": lambda: list(jira.requests), "github": lambda: list(github.requests),
            "servicenow": lambda: list(snow.requests),
            "smtp": lambda: [m for _, _, m in inbox.messages()],
            "ses": lambda: list(ses.sent_messages),
            **{name: (lambda s=server: list(s.requests)) for name, server in http.items()}}
        marks = []

        jira.fail_next(429, {"Retry-After": "60"})
        github.fail_next(503)
        first, ssh = open_and_launch(endpoint, EAST, 22, 3)
        cycle(zygote, config, 0)
        after_first = {name: len(get()) for name, get in seen.items()}
        cycle(zygote, config, 40)  # past GitHub's back-off (30 s), before Jira's Retry-After
        retried = (list(jira.requests), list(github.requests))
        cycle(zygote, config, 120)  # past Retry-After: Jira gets its alert now
        marks.append({name: len(get()) for name, get in seen.items()})
        second, rdp = open_and_launch(endpoint, WEST, 3389, 4)
        cycle(zygote, config, 300)  # the update waits out the settle window
        cycle(zygote, config, 300 + SETTLE_S + 30)
        marks.append({name: len(get()) for name, get in seen.items()})
        fix(endpoint, EAST, 22, first, ssh)
        fix(endpoint, WEST, 3389, second, rdp)
        cycle(zygote, config, 600)
        cycle(zygote, config, 720)  # nothing left: nothing more is sent
        final = {name: get() for name, get in seen.items()}

    phases = {name: split(got, marks, name) for name, got in final.items()}
    print_table(phases)
    assert [v.problems for v in (jira, github, snow, *http.values())] == [[]] * 8
    # the first cycle reached every channel: Jira's and GitHub's refusals held no one else
    assert after_first == dict.fromkeys(ALL, 1)
    assert retried == (phases["jira"][0][:1], phases["github"][0])
    with Store.open(f"sqlite:///{tmp_path}/costguard.db") as store:
        outbox = store.notifications()
    assert {n.status for n in outbox} == {NotificationStatus.SENT}
    assert len(outbox) == 3 * len(ALL)
    assert sorted(n.channel for n in outbox if n.attempts > 1) == ["github", "jira"]

    # ticket channels: exactly these requests, one ticket each, the update naming wave 2
    issue, gh_issue, record = (*jira.issues.values(), *github.issues.values(),
                               *snow.records.values())
    assert phases["jira"] == (
        [("POST", f"{JIRA_API}/issue"), ("POST", f"{JIRA_API}/search/jql"),
         ("POST", f"{JIRA_API}/issue")],
        [("POST", f"{JIRA_API}/issue/{issue.id}/comment")],
        [("POST", f"{JIRA_API}/issue/{issue.id}/comment"),
         ("GET", f"{JIRA_API}/issue/{issue.id}/transitions"),
         ("POST", f"{JIRA_API}/issue/{issue.id}/transitions")])
    assert phases["github"] == (
        [("POST", GITHUB_ISSUES), ("GET", GITHUB_ISSUES), ("POST", GITHUB_ISSUES)],
        [("POST", f"{GITHUB_ISSUES}/1/comments")],
        [("POST", f"{GITHUB_ISSUES}/1/comments"), ("PATCH", f"{GITHUB_ISSUES}/1")])
    assert phases["servicenow"] == ([("POST", SNOW_TABLE)],
                                    [("PATCH", f"{SNOW_TABLE}/{record.id}")],
                                    [("PATCH", f"{SNOW_TABLE}/{record.id}")])
    assert len(jira.issues) == len(github.issues) == len(snow.records) == 1
    assert (issue.state, gh_issue.state, record.state) == ("done", "closed", "6")
    for update in (str(issue.comments[0]), gh_issue.comments[0], record.comments[0]):
        assert all(i in update.replace("\\", "") for i in second), update

    # every other channel: the alert, one update naming wave 2, the resolution
    for name in ("smtp", "ses", *HTTP):
        assert [len(p) for p in phases[name]] == [1, 1, 1], name
    events = [r.json() for r in final["pagerduty"]]
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "resolve"]
    assert len({e["dedup_key"] for e in events}) == 1
    assert [r.json()["kind"] for r in final["webhook"]] == ["new", "update", "resolved"]
    for name in ("slack", "teams", "webhook", "apprise"):
        update_body = final[name][1].body.decode().replace("\\", "")  # markdown escapes
        assert all(i in update_body for i in second), name
    for name in ("slack", "teams"):  # the update leads with what changed, as the email does
        assert "New since the last message" in final[name][1].body.decode(), name
        assert "New since the last message" not in final[name][0].body.decode(), name
    emails = final["smtp"]
    assert [str(m["X-Costguard-Key"]).split("-")[3] for m in emails] == [
        "new", "update", "resolved"]
    plain = emails[1].get_body(("plain",))
    assert plain is not None and all(i in plain.get_content() for i in second)
    assert all(i in str(final["ses"][1].raw_data) for i in second)


def split(got: list[Any], marks: list[dict[str, int]], name: str) -> tuple[list[Any], ...]:
    """What one channel received in each phase: up to the first mark, the second, the end."""
    bounds = [0, marks[0][name], marks[1][name], len(got)]
    return tuple(got[a:b] for a, b in itertools.pairwise(bounds))


REFUSED = {"jira": 1, "github": 1}
"""The injected failures: Jira's first create answers 429 (Retry-After: 60), GitHub's 503."""


def is_create(name: str, request: Any) -> bool:
    """Whether a request of the alert phase asks the vendor to create (not look up)."""
    creates = {"jira": ("POST", f"{JIRA_API}/issue"), "github": ("POST", GITHUB_ISSUES),
               "servicenow": ("POST", SNOW_TABLE)}
    return name not in creates or request == creates[name]


def print_table(phases: dict[str, tuple[list[Any], ...]]) -> None:
    """The request counts docs/tickets.md shows ("All channels at once"): creates the vendor
    accepted, creates it refused (the injected 429 and 503), lookups before a retried create,
    the update's requests, the resolution's requests, and all of them."""
    lines = ["| channel | creates | refused | lookups | comments / updates | resolves | total "
             "requests |", "|---|---|---|---|---|---|---|"]
    for name in ALL:
        alert, update, resolution = phases[name]
        creates = sum(1 for r in alert if is_create(name, r))
        refused = REFUSED.get(name, 0)
        row = (creates - refused, refused, len(alert) - creates, len(update), len(resolution),
               len(alert) + len(update) + len(resolution))
        lines.append(f"| {name} | {' | '.join(map(str, row))} |")
    print("\n" + "\n".join(lines))
