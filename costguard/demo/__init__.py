"""`costguard demo`: the reference incident, replayed offline and caught end to end.

Everything is real but AWS: an embedded AWS (moto, in-process), costguard's real engine, store
(SQLite under DIR) and SMTP channel, delivering to an SMTP server on 127.0.0.1 that writes each
message to DIR/outbox/*.eml. Exit status 0 only when the incident was detected and the alert,
naming every instance and the root key, was delivered. The demo's week is written as the weekly
email (DIR/report-weekly.html and .txt) and the compliance report (DIR/compliance.csv).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_SESSION_TOKEN": "demo",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
"""Credentials that can reach nothing real, even if the embedded AWS were bypassed."""

CLEARED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION")

CONFIG = """\
# Written by `costguard demo`. The embedded AWS is gone when the demo ends; the store stays, so
#   costguard findings list -c {out}/costguard.yml --status resolved
#   costguard stats -c {out}/costguard.yml
# show what happened.
aws:
  regions: [us-east-1]
events:
  regions: [us-east-1]
incidents:
  reports_dir: reports
database:
  url: sqlite:///{db}
notifiers:
  security-email:
    type: smtp
    host: 127.0.0.1
    port: {port}
    security: none
    from: costguard@demo.invalid
    to: [secops@demo.invalid]
"""


@contextlib.contextmanager
def offline_aws() -> Iterator[Any]:
    """Fake credentials and moto's in-process AWS; the caller's environment is restored after."""
    saved = {k: os.environ.get(k) for k in (*FAKE_ENV, *CLEARED_ENV)}
    os.environ.update(FAKE_ENV)
    for name in CLEARED_ENV:
        os.environ.pop(name, None)
    try:
        from moto import mock_aws

        with mock_aws():
            import boto3

            yield boto3.Session(region_name="us-east-1")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _prepare(out: Path) -> Path:
    """A clean output folder (only what a previous demo wrote is removed)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "outbox", ignore_errors=True)
    shutil.rmtree(out / "reports", ignore_errors=True)
    for name in ("costguard.db", "costguard.db-wal", "costguard.db-shm", "costguard.yml",
                 "report-weekly.html", "report-weekly.txt", "compliance.csv"):
        (out / name).unlink(missing_ok=True)
    return out / "outbox"


def run_demo(out_dir: str | Path, echo: Callable[[str], None] = print) -> bool:
    """Run the whole story; True when detected and delivered as the demo promises."""
    import logging

    from costguard.demo.inbox import Inbox
    from costguard.demo.moto_root import RootState, patch_root
    from costguard.demo.story import Story

    # The embedded AWS lacks a few APIs (LookupEvents, GetCostForecast) that costguard falls
    # back from with a warning; the demo's output is its timeline, so only errors are shown.
    logging.basicConfig(level=logging.ERROR)
    out = Path(out_dir).resolve()
    outbox = _prepare(out)
    with offline_aws() as session, Inbox(outbox) as inbox, patch_root(RootState(mfa=True)) as root:
        config = out / "costguard.yml"
        config.write_text(CONFIG.format(out=out_dir, db=out / "costguard.db", port=inbox.port))
        return Story(session, root, inbox, config, echo).run()

