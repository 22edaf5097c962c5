"""Event bursts through the daemon's intake: CPU, peak RSS and time to drain, by burst size.

Usage: python bench/event_burst.py [--sizes 1000,10000] [--s3 100000]
A realistic CloudTrail stream (93% read-only calls: Describe*, List*, Get*; 7% writes, by six
principals from a handful of addresses and agents), one record a message as EventBridge
delivers it, is drained by a fresh `costguard` process as the daemon's poller does: receive up
to 10 messages, `Engine.ingest` (store, evaluate the event checks, commit, delete), until the
queue is empty (evaluating as the poller's pacing says: at once when the queue goes quiet,
mid-burst once the new events are a quarter of the look-back, or have waited two seconds or
four times the last evaluation's duration, whichever is longer: runtime.pollers.Pacer). The queue
is an in-process stand-in handing over ReceiveMessage answers read from a file the harness
wrote beforehand (moto's SQS costs time linear in the queue's length per call: loading 10,000
messages took over ten minutes of the shared machine); from the message body on, the path is
costguard's own. With `--s3 N`, N records go through the S3 trail source instead, on a moto_server:
gzipped log files of 1,000 records in a bucket, each announced on the trail-objects queue by
an S3 notification. CPU is the draining process's own (user + system), from its first receive.
"Of which judging" is the CPU of the receives that evaluated (with their own storing). Peak
RSS is the draining process's own high-water mark (VmHWM), with the one it had before its
first receive (imports, store, engine) beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness import ROOT, fake_env, machine, measure, moto_server

ACCOUNT = "123456789012"
PRINCIPALS = [f"arn:aws:iam::{ACCOUNT}:user/{n}" for n in ("ci", "ops", "alice", "bob")] + [
    f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/s{n}" for n in (1, 2)]
ADDRESSES = ["198.51.100.7", "198.51.100.8", "192.0.2.44"]
AGENTS = ["aws-cli/2.15.0 Python/3.11.6", "Boto3/1.34.0 Python/3.11", "console.amazonaws.com"]
READS = [("ec2", "DescribeInstances"), ("s3", "ListBuckets"), ("iam", "GetUser"),
         ("ec2", "DescribeSecurityGroups"), ("s3", "GetBucketLocation"),
         ("sts", "GetCallerIdentity")]
WRITES = [("ec2", "CreateTags"), ("s3", "PutObject"), ("ec2", "StopInstances")]
CONFIG = """\
aws: {{regions: [us-east-1]}}
events:
  regions: [us-east-1]
  lookup_fallback: false
{s3}database: {{url: 'sqlite:///{db}'}}
"""


def record(rng: random.Random, at: datetime) -> dict:
    """One CloudTrail record; 93 in 100 read-only."""
    read = rng.random() < 0.93
    service, name = rng.choice(READS if read else WRITES)
    who = rng.choice(PRINCIPALS)
    return {
        "eventVersion": "1.09", "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": f"{service}.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))), "readOnly": read,
        "userIdentity": {"type": "AssumedRole" if ":assumed-role/" in who else "IAMUser",
                         "arn": who, "accountId": ACCOUNT, "accessKeyId": "AKIABENCH"},
        "sourceIPAddress": rng.choice(ADDRESSES), "userAgent": rng.choice(AGENTS),
        "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-0bench"}]}},
        "responseElements": None if read else {"requestId": str(uuid.uuid4())},
    }


def records(count: int) -> list[dict]:
    rng, now = random.Random(count), datetime.now(timezone.utc)
    return [record(rng, now - timedelta(seconds=rng.randint(0, 3600))) for _ in range(count)]


def envelopes(count: int) -> list[dict]:
    """The burst as SQS ReceiveMessage hands it over: one EventBridge envelope a message."""
    out = []
    for n, rec in enumerate(records(count)):
        source = "aws." + rec["eventSource"].split(".")[0]
        envelope = {"version": "0", "id": str(uuid.uuid4()), "source": source,
                    "detail-type": "AWS API Call via CloudTrail", "account": ACCOUNT,
                    "time": rec["eventTime"], "region": "us-east-1", "resources": [],
                    "detail": rec}
        out.append({"MessageId": f"m-{n}", "ReceiptHandle": f"r-{n}",
                    "Body": json.dumps(envelope)})
    return out


def seed_trail(url: str, count: int, per_file: int = 1000) -> None:
    """The burst as trail log files in a bucket, each announced on the trail-objects queue."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1")
    sqs.create_queue(QueueName="costguard-events")
    queue = sqs.create_queue(QueueName="costguard-trail-objects")["QueueUrl"]
    s3.create_bucket(Bucket="trail-bench")
    all_records = records(count)
    for n in range(0, count, per_file):
        key = (f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/12/06/"
               f"{ACCOUNT}_CloudTrail_us-east-1_20261206T0000Z_{n:08d}.json.gz")
        body = gzip.compress(json.dumps({"Records": all_records[n:n + per_file]}).encode())
        s3.put_object(Bucket="trail-bench", Key=key, Body=body)
        note = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
            "bucket": {"name": "trail-bench"}, "object": {"key": key}}}]}
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(note))


def write_messages(path: Path, count: int) -> None:
    """The burst's message bodies, one a line, for the draining child to read as it goes."""
    with path.open("w") as out:
        for message in envelopes(count):
            out.write(message["Body"] + "\n")


def local_queue(path: str) -> object:
    """The event queue with the messages already in it; see the module's docstring."""
    from costguard.collectors.event_queue import EventQueue

    class LocalQueue(EventQueue):
        """An EventQueue whose ReceiveMessage answers are read from a file as it drains, so
        the draining process holds only costguard's own data (a list of 100,000 messages
        held in memory was 260 MiB: more than all the rest)."""

        def __init__(self, lines: Iterator[str]) -> None:
            super().__init__(None, ACCOUNT, "us-east-1", "costguard-events")  # type: ignore
            self.lines, self.taken, self.deleted = lines, 0, 0

        def receive(self, wait_s: int, max_messages: int = 10) -> list:
            batch = []
            for body in itertools.islice(self.lines, max_messages):
                self.taken += 1
                batch.append({"MessageId": f"m-{self.taken}",
                              "ReceiptHandle": f"r-{self.taken}", "Body": body})
            return [self._read(m) for m in batch]

        def delete(self, received: object) -> list:
            self.deleted += len(list(received))  # type: ignore[arg-type]
            return []

    return LocalQueue(iter(Path(path).open()))


def high_water_mib() -> float:
    """This process's peak RSS so far. Not getrusage's ru_maxrss: Linux carries that over
    from the parent across exec, so a child of a big harness reported the harness's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def drain(config: str, local: str) -> int:
    """The child: drain every queue as the daemon's pollers do; print what it cost (JSON)."""
    import resource

    from costguard.runtime.bootstrap import load_setup, open_store
    from costguard.runtime.cycle import Engine
    from costguard.runtime.pollers import Pacer, handle

    setup = load_setup(config)
    store = open_store(setup.config)
    engine = Engine(setup.config, setup.policies, store, registry=setup.registry,
                    sigma_rules=setup.sigma_rules)
    queues = [local_queue(local)] if local else engine.event_queues()
    start, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    before_mib = high_water_mib()
    receives = evaluations = read = 0
    judging = 0.0
    for queue in queues:
        pacer = Pacer()
        while received := queue.receive(0):
            receives += 1
            cpu_at = time.process_time()
            if handle(engine, queue, received, pacer) is not None:
                judging += time.process_time() - cpu_at  # with that receive's own storing
                evaluations += 1
                read += engine.latest.events.last_read
        if pacer.deferred:  # as the poller does when the burst ends on a full receive
            cpu_at = time.process_time()
            with pacer.evaluating():
                engine.evaluate_events()
            judging += time.process_time() - cpu_at
            evaluations += 1
            read += engine.latest.events.last_read
    end = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
    print(json.dumps({"cpu_s": cpu, "drain_s": time.perf_counter() - began,
                      "receives": receives, "evaluations": evaluations, "rows_read": read,
                      "judging_cpu_s": judging, "before_mib": before_mib,
                      "peak_mib": high_water_mib(),
                      "rows": store.row_counts()}))
    store.close()
    return 0


def run(count: int, s3: bool) -> dict:
    """One burst: seeded (S3) or written to a file (queue), drained by a fresh process."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if s3:
            url = stack.enter_context(moto_server())
            env = fake_env(url)
            os.environ.update(env)  # the seeding client's credentials: the moto_server's only
            seed_trail(url, count)
        config = Path(tmp) / "costguard.yml"
        s3_section = "  s3_trail: {queue_name: costguard-trail-objects}\n" if s3 else ""
        config.write_text(CONFIG.format(s3=s3_section, db=Path(tmp) / "cg.db"))
        messages = Path(tmp) / "messages.jsonl"
        if not s3:
            write_messages(messages, count)
        child = measure([sys.executable, str(ROOT / "bench" / "event_burst.py"), "--drain",
                         str(config), "--local", "" if s3 else str(messages)], env)
        if child.returncode != 0:
            raise SystemExit(f"the drain failed ({child.returncode})")
        out = json.loads(child.stdout.strip().splitlines()[-1])
        return {**out, "wall_s": child.wall_s}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--s3", type=int, default=0, help="records through the S3 trail source")
    parser.add_argument("--drain", help=argparse.SUPPRESS)
    parser.add_argument("--local", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:
        return drain(args.drain, args.local)
    print(f"machine: {machine()}")
    print("records  source  receives  evaluations  rows read  events stored  CPU s  "
          "of which judging  drain s  peak MiB  MiB before drain")
    plan = [(int(n), False) for n in args.sizes.split(",") if n] + (
        [(args.s3, True)] if args.s3 else [])
    for count, s3 in plan:
        got = run(count, s3)
        print(f"{count:>7}  {'s3' if s3 else 'queue':>6}  {got['receives']:>8}  "
              f"{got['evaluations']:>11}  {got['rows_read']:>9}  {got['rows']['events']:>13}  "
              f"{got['cpu_s']:>5.1f}  {got['judging_cpu_s']:>16.1f}  {got['drain_s']:>7.1f}  "
              f"{got['peak_mib']:>8.1f}  "
              f"{got['before_mib']:>16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
