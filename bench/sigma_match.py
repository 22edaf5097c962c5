"""Sigma matching: 10,000 CloudTrail events against 100 rules (the shipped ones and rules
written in the style of SigmaHQ's cloud/aws set), the intake's read filter on the same stream,
and the sigma check over it. Target: matching keeps an event's path to the inbox under 5 s.

Usage: python bench/sigma_match.py [--events N] [--rules N] [--trials N]

The stream is made the way a working account's looks: about 93 in 100 records are successful
reads (Describe*, Get*, List* across services), the rest writes and a few refused calls, from
forty principals. Rules are loaded and compiled through the same code as the daemon's
(settings.sigma_files, activity.sigma_rules).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness import machine

from costguard.activity.event_records import from_record
from costguard.activity.intake_filter import kept
from costguard.activity.sigma_rules import compile_rules
from costguard.checks.base import Context
from costguard.checks.sigma import Sigma, SigmaParams
from costguard.model import Severity
from costguard.settings.sigma_files import read_rules, rule_paths
from costguard.snapshot import Snapshot

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
READS = [("ec2", "DescribeInstances"), ("ec2", "DescribeSecurityGroups"), ("s3", "GetObject"),
         ("s3", "ListBuckets"), ("iam", "GetUser"), ("iam", "ListRoles"), ("sts",
         "GetCallerIdentity"), ("cloudwatch", "GetMetricData"), ("logs", "DescribeLogGroups"),
         ("kms", "Decrypt"), ("lambda", "GetFunction"), ("dynamodb", "DescribeTable")]
WRITES = [("ec2", "RunInstances"), ("ec2", "TerminateInstances"), ("ec2", "CreateTags"),
          ("s3", "PutObject"), ("iam", "CreateUser"), ("iam", "AttachRolePolicy"),
          ("lambda", "UpdateFunctionCode"), ("cloudtrail", "StopLogging"),
          ("ec2", "AuthorizeSecurityGroupIngress"), ("kms", "ScheduleKeyDeletion")]
SERVICES = ["ec2", "iam", "s3", "kms", "lambda", "rds", "cloudtrail", "guardduty", "sts",
            "organizations", "ssm", "secretsmanager", "config", "route53", "ecr"]
NAMES = ["Create", "Delete", "Put", "Update", "Modify", "Attach", "Detach", "Disable", "Stop"]
THINGS = ["Trail", "Key", "Policy", "Bucket", "Role", "User", "Instance", "Snapshot", "Secret",
          "Detector", "Function", "Image", "Repository", "Account", "Recorder"]


def rule_text(n: int, rng: random.Random) -> str:
    """A rule in the style of SigmaHQ's cloud/aws rules: a selection on eventSource and a list
    of eventNames, sometimes a filter (service principals, a user agent, refused calls)."""
    service = rng.choice(SERVICES)
    names = sorted({rng.choice(NAMES) + rng.choice(THINGS) for _ in range(rng.randint(1, 4))})
    if n % 10 == 0:  # one rule in ten names calls the stream makes, so matches happen
        service, name = rng.choice(WRITES + READS[:2])
        names = sorted({*names, name})
    lines = [f"title: Bench rule {n}", f"id: {uuid.UUID(int=rng.getrandbits(128))}",
             "status: test", "logsource: {product: aws, service: cloudtrail}", "detection:",
             "  selection:", f"    eventSource: {service}.amazonaws.com",
             "    eventName:", *(f"      - {name}" for name in names)]
    extra = n % 4
    if extra == 1:
        lines += ["  filter:", "    userIdentity.type: AWSService",
                  "  condition: selection and not filter"]
    elif extra == 2:
        lines += ["  agent:", "    userAgent|contains: [boto3, aws-cli, terraform]",
                  "  condition: selection and agent"]
    elif extra == 3:
        lines += ["  refused:", "    errorCode|exists: true",
                  "  condition: selection and not refused"]
    else:
        lines += ["  condition: selection"]
    return "\n".join([*lines, f"level: {rng.choice(['low', 'medium', 'high'])}",
                      "tags: [attack.t1098]", ""])


def rules(count: int, folder: Path, rng: random.Random):
    shipped = rule_paths(None, None)
    for n in range(max(0, count - len(read_rules(shipped).rules))):
        (folder / f"bench_{n}.yml").write_text(rule_text(n, rng))
    started = time.perf_counter()
    found = read_rules([*shipped, folder])
    compiled, problems = compile_rules(found.rules)
    assert not found.problems and not problems, (found.problems, problems)
    return compiled, time.perf_counter() - started


def stream(count: int, rng: random.Random) -> list:
    principals = [f"arn:aws:iam::123456789012:user/u{n}" for n in range(40)]
    records = []
    for n in range(count):
        read = rng.random() < 0.93
        service, name = rng.choice(READS if read else WRITES)
        index = rng.randrange(len(principals))
        who = principals[index]
        records.append({
            "eventVersion": "1.09", "eventID": f"ev-{n}", "eventName": name,
            "eventSource": f"{service}.amazonaws.com", "awsRegion": "us-east-1",
            "eventTime": (NOW - timedelta(seconds=count - n)).isoformat(),
            "recipientAccountId": "123456789012", "readOnly": read,
            "userIdentity": {"type": "IAMUser", "arn": who, "userName": who.rsplit("/", 1)[1],
                             "accessKeyId": f"AKIA{index:016d}", "accountId": "123456789012"},
            # Each principal works from its own address or two, with its own tool.
            "sourceIPAddress": f"198.51.100.{index + 100 * (rng.random() < 0.1)}",
            "userAgent": ["aws-cli/2.15.30", "Boto3/1.34.0", "console.amazonaws.com"][index % 3],
            "requestParameters": {"instancesSet": {"items": [{"instanceId": f"i-{n:08x}"}]}},
            "responseElements": None,
            **({"errorCode": "AccessDenied"} if rng.random() < 0.01 else {}),
        })
    return [from_record(r) for r in records]


def timed(work, trials: int) -> list[float]:
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(9)
    with tempfile.TemporaryDirectory() as folder:
        ruleset, load_s = rules(args.rules, Path(folder), rng)
    events = stream(args.events, rng)
    matched = timed(lambda: ruleset.__class__(ruleset.rules).match(events), args.trials)
    warm = timed(lambda: ruleset.match(events), args.trials)
    stored = kept(events, ruleset)
    whole = [e for e in stored if e.request or e.extra]
    ctx = Context(policy="sigma", check="sigma", severity=Severity.MEDIUM, params=SigmaParams(),
                  now=NOW, options={"sigma_rules": ruleset})
    snap = Snapshot(now=NOW, events=tuple(events))
    check = timed(lambda: list(Sigma().evaluate(snap, ctx)), args.trials)
    print(f"machine: {machine()}")
    print(f"rules: {len(ruleset)} loaded and compiled in {load_s:.2f} s")
    print(f"events: {len(events)}, matches: {len(ruleset.match(events))}")
    print(f"match, cold prefilter cache: median {statistics.median(matched):.3f} s, "
          f"max {max(matched):.3f} s")
    print(f"match, warm cache: median {statistics.median(warm):.3f} s "
          f"({statistics.median(warm) / len(events) * 1e6:.1f} us per event)")
    print(f"sigma check over the stream: median {statistics.median(check):.3f} s")
    reads = sum(1 for e in events if e.read_only)
    print(f"intake, these rules: {reads} reads of {len(events)}; stored whole {len(whole)}, "
          f"as sightings {len(stored) - len(whole)}, dropped {len(events) - len(stored)}")
    shipped, _ = compile_rules(read_rules(rule_paths(None, None)).rules)
    own = kept(events, shipped)
    own_whole = [e for e in own if e.request or e.extra]
    print(f"intake, shipped rules only: stored whole {len(own_whole)}, as sightings "
          f"{len(own) - len(own_whole)}, dropped {len(events) - len(own)}")


if __name__ == "__main__":
    main()
