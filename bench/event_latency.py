"""Event to inbox: how long from an attacker's call entering the queue to the alert in the
inbox, with the real daemon (`costguard run`) long-polling a real SQS API (moto_server) and
delivering over real SMTP (aiosmtpd). Target: within 5 s.

Usage: python bench/event_latency.py [--trials N]
Each trial starts a fresh daemon on a fresh store, waits for it to be ready, puts one
CloudTrail record (ImportKeyPair by the root key, from a new IP with the Go SDK) on the event
bus, and times the email's arrival.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from harness import ROOT, fake_env, free_port, machine, moto_server

POLICIES = """\
policies:
  - {name: root-activity, check: root_activity}
  - {name: suspicious-api, check: suspicious_api}
"""

CONFIG = """\
policies: [policies.yml]
aws: {{regions: [us-east-1]}}
events: {{regions: [us-east-1], queue_name: {queue}}}
database: {{url: 'sqlite:///{db}'}}
schedule: {{inventory: 1h, credential_report: 1h, cost: 1d, cloudtrail: 1h, guardduty: 1h}}
notifiers:
  mail: {{type: smtp, host: 127.0.0.1, port: {port}, security: none,
          from: costguard@bench.invalid, to: [secops@bench.invalid]}}
"""


def record(account: str) -> dict:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = f"k-{uuid.uuid4().hex[:8]}"
    return {
        "eventVersion": "1.09", "eventTime": now, "eventSource": "ec2.amazonaws.com",
        "eventName": "ImportKeyPair", "awsRegion": "us-east-1",
        "userIdentity": {"type": "Root", "arn": f"arn:aws:iam::{account}:root",
                         "accountId": account, "accessKeyId": "AKIAIOSFODNN7EXAMPLE"},
        "sourceIPAddress": "203.0.113.45", "userAgent": "aws-sdk-go/1.44.109",
        "requestParameters": {"keyName": name},
        "responseElements": {"keyName": name, "keyPairId": "key-0123456789abcdef0"},
        "eventID": str(uuid.uuid4()), "readOnly": False, "eventType": "AwsApiCall",
    }


def trial(url: str, env: dict[str, str]) -> float:
    import boto3
    from aiosmtpd.controller import Controller

    arrived: list[float] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            arrived.append(time.monotonic())
            return "250 OK"

    smtp = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "costguard.yml"
        # A queue per trial: the previous daemon's last long poll may still hold a message
        # (SQS hides it for the visibility timeout), which would be this trial's event.
        queue = f"costguard-bench-{uuid.uuid4().hex[:8]}"
        config.write_text(CONFIG.format(db=Path(tmp) / "cg.db", port=smtp.port, queue=queue))
        # only the event checks: moto_server's root user has no MFA, and that critical
        # posture finding would otherwise open an incident the event's findings then join
        (Path(tmp) / "policies.yml").write_text(POLICIES)
        subprocess.run([sys.executable, "-m", "costguard", "setup", "events", "-c", str(config)],
                       env=env, check=True, capture_output=True, cwd=ROOT)
        log = Path(tmp) / "daemon.log"
        with log.open("w") as out:
            daemon = subprocess.Popen([sys.executable, "-m", "costguard", "run", "-c",
                                       str(config)], env=env, stderr=out, cwd=ROOT)
        try:
            # the first cycle of each source the checks read has run: from here on, only the
            # event can cause an email
            _wait_for(lambda: "reading 1 event queue" in log.read_text(), 60)
            _wait_for(lambda: log.read_text().count(" cycle ") >= 3, 60)
            time.sleep(2.0)
            before = len(arrived)
            events = boto3.client("events", region_name="us-east-1", endpoint_url=url)
            start = time.monotonic()
            events.put_events(Entries=[{"Source": "aws.ec2",
                                        "DetailType": "AWS API Call via CloudTrail",
                                        "Detail": json.dumps(record("123456789012"))}])
            try:
                _wait_for(lambda: len(arrived) > before, 30)
            except TimeoutError:
                sys.stderr.write(log.read_text()[-4000:])
                raise
            return arrived[before] - start
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(15)
            smtp.stop()


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise TimeoutError("condition not met")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    with moto_server() as url:
        env = fake_env(url)
        os.environ.update(env)
        latencies = [trial(url, env) for _ in range(args.trials)]
    print(f"machine: {machine()}")
    print(f"trials: {len(latencies)}; event put on the bus -> email received")
    print(f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s, "
          f"all: {', '.join(f'{x:.2f}' for x in latencies)} (target: within 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
