"""Digest routes gather their incidents into one message per period."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from costguard.alerts.digest import send_digests
from costguard.alerts.routing import Notifier
from costguard.model import Finding, Severity
from costguard.runtime.bootstrap import load_setup, open_store

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
CONFIG = """\
database: {url: 'sqlite:///%s/cg.db'}
notifiers:
  mail: {type: smtp, host: 127.0.0.1, port: 2525, security: none,
         from: costguard@example.com, to: [secops@example.com]}
  pager: {type: log}
routes:
  - match: {severity: [critical, high]}
    notify: [pager]
  - match: {severity: [medium, low]}
    notify: [mail]
    digest: daily
"""


@pytest.fixture
def world(tmp_path: Path):
    config = tmp_path / "costguard.yml"
    config.write_text(CONFIG % tmp_path)
    setup = load_setup(config)
    store = open_store(setup.config)
    yield setup, store, Notifier(setup.config, setup.policies)
    store.close()


def incident(store, resource: str, severity: Severity, at: datetime) -> int:
    scan = store.start_scan(at)
    found = Finding(check="user_mfa", policy="user-mfa", severity=severity,
                    account="123456789012", region="global", resource=resource,
                    title=f"IAM user {resource} has a console password and no MFA")
    [stored] = store.reconcile(scan_id=scan, findings=[found], scopes=set(), now=at).new
    return store.create_incident(title=stored.title, severity=severity,
                                 accounts=[stored.account], entities=[], detected_at=at,
                                 finding_ids=[stored.id]).id


def test_one_digest_per_period_with_the_matching_incidents(world) -> None:
    setup, store, notifier = world
    incident(store, "arn:aws:iam::123456789012:user/a", Severity.MEDIUM, NOW - timedelta(hours=3))
    incident(store, "arn:aws:iam::123456789012:user/b", Severity.LOW, NOW - timedelta(hours=2))
    incident(store, "arn:aws:iam::123456789012:user/c", Severity.HIGH, NOW - timedelta(hours=1))

    assert send_digests(store, notifier, setup.config.routes, NOW) == 1
    [queued] = store.notifications()
    assert queued.channel == "mail"
    assert queued.message.subject.startswith("[costguard] MEDIUM: Daily digest: 2 incidents, "
                                             "2 findings")
    assert "user/a" in queued.message.text and "user/b" in queued.message.text
    assert "user/c" not in queued.message.text  # high goes to the pager, not the digest

    # within the day: nothing more; a day later with nothing new: nothing sent either
    assert send_digests(store, notifier, setup.config.routes, NOW + timedelta(hours=5)) == 0
    assert send_digests(store, notifier, setup.config.routes, NOW + timedelta(days=1)) == 0
    incident(store, "arn:aws:iam::123456789012:user/d", Severity.MEDIUM,
             NOW + timedelta(days=1, hours=2))
    assert send_digests(store, notifier, setup.config.routes, NOW + timedelta(days=2)) == 1
    assert "user/d" in store.notifications()[-1].message.text
    assert "user/a" not in store.notifications()[-1].message.text
