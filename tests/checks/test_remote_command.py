"""remote_command: SendCommand and StartSession by a principal unusual for them."""

from __future__ import annotations

from dataclasses import replace

from costguard.checks.remote_command import RemoteCommand

from .conftest import (
    BROWSER,
    DEV_ARN,
    DEV_KEY,
    HOSTILE,
    OFFICE_IP,
    ago,
    event,
    render,
    run,
    snapshot,
)


def ssm(name: str = "SendCommand", **kw):
    kw.setdefault("principal", DEV_ARN)
    kw.setdefault("key", DEV_KEY)
    kw.setdefault("ip", OFFICE_IP)
    kw.setdefault("agent", BROWSER)
    request = ({"instanceIds": ["i-0web1", "i-0web2"], "documentName": "AWS-RunShellScript"}
               if name == "SendCommand" else {"target": "i-0web1"})
    response = ({"command": {"commandId": "cmd-1", "documentName": "AWS-RunShellScript"}}
                if name == "SendCommand" else {"sessionId": "dev-0abc"})
    kw.setdefault("request", request)
    return replace(event(name, response=response, **kw), service="ssm.amazonaws.com")


def test_a_first_remote_command_is_a_finding_with_its_instances():
    [finding] = run(RemoteCommand, snapshot(events=(ssm(),)))

    assert finding.resource == f"{DEV_ARN}#ssm/us-east-1"
    assert finding.details["instances"] == ["i-0web1", "i-0web2"]
    assert finding.details["why"] == ["first_remote_command", "new_source_ip"]
    assert {"instance:i-0web1", f"caller_key:{DEV_KEY}"} <= finding.entities


def test_an_operator_who_does_this_every_day_is_usual():
    yesterday = ssm("StartSession", at=ago(days=2))
    assert run(RemoteCommand, snapshot(events=(yesterday, ssm()))) == []
    from_new_address = ssm(ip="192.0.2.80")
    [finding] = run(RemoteCommand, snapshot(events=(yesterday, from_new_address)))
    assert finding.details["why"] == ["new_source_ip"]


def test_refused_calls_and_other_services_are_not_findings():
    assert run(RemoteCommand, snapshot(events=(ssm(error="AccessDeniedException"),))) == []
    other = replace(ssm(), service="ssm-guiconnect.amazonaws.com")
    assert run(RemoteCommand, snapshot(events=(other,))) == []


def test_remediation_cancels_the_command_and_ends_the_session():
    calls = (ssm(), ssm("StartSession", request={"target": "i-0web1", "reason": HOSTILE}),
             ssm(agent=HOSTILE))
    text = render("remote_command", run(RemoteCommand, snapshot(events=calls)))
    assert text.split("```\n", 2)[1].startswith(
        f"aws iam update-access-key --user-name dev --access-key-id {DEV_KEY}")
    assert "aws ssm cancel-command --region us-east-1 --command-id cmd-1" in text
    assert "aws ssm terminate-session --region us-east-1 --session-id dev-0abc" in text
