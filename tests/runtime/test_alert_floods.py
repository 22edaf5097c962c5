# ruff: noqa: F811  (the fixtures of test_cycle, imported by name, are the tests' arguments)
"""No floods, through whole cycles on moto and a real SMTP server: one check's findings that
differ only by region are one message naming the regions; posture findings wait for the daily
digest unless a route says otherwise; a route's hourly cap sends the overflow as one summary.
"""

from __future__ import annotations

from pathlib import Path

import boto3

from costguard.model import Source
from costguard.runtime.bootstrap import Setup, load_setup

from .test_cycle import (  # noqa: F401  (account, clock, inbox, make_engine: fixtures)
    account,
    clock,
    inbox,
    make_engine,
    received,
    subject,
    text_of,
)

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")


def setup_with(tmp_path: Path, port: int, policies: str, routes: str = "") -> Setup:
    """One SMTP channel `security`, the four regions, the given policies and routes."""
    (tmp_path / "policies.yml").write_text(policies)
    (tmp_path / "costguard.yml").write_text(
        f"aws: {{regions: [{', '.join(REGIONS)}]}}\n"
        f"database: {{url: 'sqlite:///{tmp_path}/costguard.db'}}\n"
        "policies: [policies.yml]\n"
        "incidents: {target_minutes: 100000, renotify: null}\n"
        "notifiers:\n"
        f"  security: {{type: smtp, host: 127.0.0.1, port: {port}, security: none, "
        "from: costguard@test.invalid, to: [secops@test.invalid]}\n" + routes)
    return load_setup(tmp_path / "costguard.yml")


GUARDDUTY = """\
policies:
  - {name: guardduty-enabled, check: guardduty_enabled, severity: medium}
"""
RIGHT_AWAY = """\
routes:
  - match: {}
    notify: [security]
"""


def test_guardduty_off_in_four_regions_is_one_message_naming_them(
        account, inbox, tmp_path, make_engine):
    engine = make_engine(setup_with(tmp_path, inbox.port, GUARDDUTY, RIGHT_AWAY))
    result = engine.run_cycle({Source.GUARDDUTY})
    assert len(result.reconciled.new) == 4
    assert inbox.wait_for(1)
    [message] = received(inbox)
    assert subject(message).endswith("(account 123456789012, 4 regions)"), subject(message)
    text = text_of(message)
    assert all(region in text for region in REGIONS)
    assert len(engine.store.open_incidents()) == 1
    engine.run_cycle({Source.GUARDDUTY})
    assert len(received(inbox)) == 1


def test_posture_findings_wait_for_the_daily_digest_by_default(
        account, inbox, tmp_path, clock, make_engine):
    engine = make_engine(setup_with(tmp_path, inbox.port, GUARDDUTY))
    engine.run_cycle({Source.GUARDDUTY})
    assert received(inbox) == []  # no route given: posture goes to the digest
    clock.advance(hours=1)  # the daemon's hourly digest job: the first covers the past day
    assert engine.send_digests() == 1
    assert inbox.wait_for(1)
    [digest] = received(inbox)
    assert subject(digest).startswith("[costguard] MEDIUM: Daily digest: 1 incident, 4 findings")


USER_MFA = """\
policies:
  - {name: user-mfa, check: user_mfa, severity: medium}
"""


def test_two_hundred_posture_findings_are_capped_and_the_rest_summarized_once(
        account, inbox, tmp_path, clock, make_engine):
    iam = boto3.client("iam")
    for n in range(200):
        iam.create_user(UserName=f"user-{n:03d}")
        iam.create_login_profile(UserName=f"user-{n:03d}", Password="Passw0rd!Passw0rd!")
    iam.generate_credential_report()
    engine = make_engine(setup_with(tmp_path, inbox.port, USER_MFA, RIGHT_AWAY))
    result = engine.run_cycle({Source.CREDENTIAL_REPORT})
    assert len(result.reconciled.new) == 200
    assert len(engine.store.open_incidents()) == 200
    assert inbox.wait_for(21)
    messages = received(inbox)
    assert len(messages) == 21  # 20 alerts (max_per_hour), then one summary of the rest
    summary = [m for m in messages if "over the hourly cap" in subject(m)]
    assert len(summary) == 1
    text = text_of(summary[0])
    assert "180 more incidents" in text
    assert "user-199" in text
    engine.run_cycle({Source.CREDENTIAL_REPORT})
    assert len(received(inbox)) == 21

    for n in range(200):  # the fix: no console password left
        iam.delete_login_profile(UserName=f"user-{n:03d}")
    iam.generate_credential_report()
    clock.advance(hours=2)
    engine.run_cycle({Source.CREDENTIAL_REPORT})
    assert engine.store.open_incidents() == []
    assert inbox.wait_for(41)
    resolved = [m for m in received(inbox)[21:] if subject(m).startswith("[costguard] RESOLVED")]
    # the 20 alerted incidents each get their resolution; the summarized ones none
    assert (len(received(inbox)), len(resolved)) == (41, 20)
