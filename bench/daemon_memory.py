"""Daemon memory and store size over many cycles: RSS flat, rows bounded by retention.

Usage: python bench/daemon_memory.py [--cycles 1000] [--minutes-per-cycle 30]
In one process, as the daemon runs them: an Engine on an SQLite store against an embedded AWS
(moto) holding a small account with the event pipeline set up, on an accelerated clock (each
cycle moves it `--minutes-per-cycle`, so 1,000 cycles are three weeks). Every cycle reads the
inventory; every 10th also the event queue, where events have just arrived (the daemon's queue
drain waits a second for stragglers, so it is not run every cycle here); every 60th also IAM
and GuardDuty, every 240th Cost Explorer. Each simulated hour the store is pruned as the
daemon's `prune` job does, with `store.retention` at 7 days for scans, resolved findings and
messages (events keep their 8 days). RSS is read from /proc every 100 cycles; the figures that
matter are the growth from cycle 200 (caches warm) to the last, CPU per cycle (moto's
included: it runs in this process), and the rows per table at the end.

Usage: python bench/daemon_memory.py --members 50 [--regions 4] [--cycles 5] [--client-cache 64]
An Organization instead: MEMBERS member accounts (2 t3.micro in each of REGIONS regions), the
inventory read every cycle through each member's role, `runtime.client_cache` as given (0: no
bound, i.e. every client kept, as before the cache was bounded). RSS after every cycle, and
the clients the process's cache holds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness import machine

os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                  AWS_DEFAULT_REGION="us-east-1", MOTO_EC2_LOAD_DEFAULT_AMIS="false")


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


class Clock:
    """The engine's clock, moved on by each cycle."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def event(n: int, at: datetime) -> dict:
    return {"eventVersion": "1.09", "eventTime": at.strftime(
        "%Y-%m-%dT%H:%M:%SZ"), "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateTags", "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/ops",
                         "accountId": "123456789012"},
        "sourceIPAddress": "198.51.100.7", "userAgent": "console.amazonaws.com",
        "requestParameters": {"n": n}, "eventID": str(uuid.uuid4()), "readOnly": False}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--minutes-per-cycle", type=float, default=30.0)
    parser.add_argument("--members", type=int, default=0, help="an Organization of this many")
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--client-cache", type=int, default=64, help="0: no bound")
    args = parser.parse_args()
    if args.members:
        return organization(args)
    import boto3
    from moto import mock_aws

    from costguard.actions.event_pipeline import apply, plan
    from costguard.model import Source
    from costguard.runtime.bootstrap import load_setup, open_store
    from costguard.runtime.cycle import Engine
    from costguard.runtime.pruning import prune

    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.run_instances(ImageId="ami-12345678", MinCount=3, MaxCount=3, InstanceType="t3.micro")
        config = Path(tmp) / "costguard.yml"
        config.write_text(f"aws: {{regions: [us-east-1]}}\nevents: {{regions: [us-east-1]}}\n"
                          f"database: {{url: 'sqlite:///{tmp}/cg.db'}}\n"
                          "store: {retention: {scans: 7d, resolved: 7d, messages: 7d}}\n")
        setup = load_setup(config)
        clock = Clock()
        store = open_store(setup.config)
        engine = Engine(setup.config, setup.policies, store, clock=clock)
        apply(plan(engine.aws, engine.aws.account_id(), ["us-east-1"], "costguard-events"))
        bus = boto3.client("events", region_name="us-east-1")
        samples, start, cpu = [], time.perf_counter(), time.process_time()
        step, pruned_at = timedelta(minutes=args.minutes_per_cycle), clock.now
        for n in range(1, args.cycles + 1):
            clock.now += step
            sources = {Source.INVENTORY}
            sources |= {Source.CLOUDTRAIL} if n % 10 == 0 else set()
            sources |= {Source.CREDENTIAL_REPORT, Source.GUARDDUTY} if n % 60 == 1 else set()
            sources |= {Source.COST} if n % 240 == 1 else set()
            if n % 10 == 0:
                bus.put_events(Entries=[{"Source": "aws.ec2", "DetailType":
                                         "AWS API Call via CloudTrail",
                                         "Detail": json.dumps(event(n, clock.now))}])
            engine.run_cycle(sources)
            if clock.now - pruned_at >= timedelta(hours=1):
                prune(store, engine.config, engine.policies, clock.now)
                pruned_at = clock.now
            if n % 100 == 0 or n in (1, args.cycles):
                gc.collect()
                samples.append((n, rss_mib()))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        rows = store.row_counts()
        size = sum(p.stat().st_size for p in Path(tmp).glob("cg.db*"))
        store.close()
    report(samples, elapsed, cpu)
    print(f"store at the end: {size / 2**20:.1f} MiB; rows: "
          + ", ".join(f"{t} {n}" for t, n in rows.items()))
    return 0


ORG_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2", "eu-central-1",
               "ap-northeast-1", "sa-east-1", "ca-central-1"]


def seed_organization(members: int, regions: list[str]) -> None:
    import boto3

    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    sts = boto3.client("sts", region_name="us-east-1")
    for n in range(members):
        account = org.create_account(AccountName=f"m{n}", Email=f"m{n}@example.com")[
            "CreateAccountStatus"]["AccountId"]
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccount"
                                "AccessRole", RoleSessionName="seed")["Credentials"]
        session = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                aws_secret_access_key=creds["SecretAccessKey"],
                                aws_session_token=creds["SessionToken"])
        for region in regions:
            session.client("ec2", region_name=region).run_instances(
                ImageId="ami-12345678", MinCount=2, MaxCount=2, InstanceType="t3.micro")


def organization(args: argparse.Namespace) -> int:
    """The daemon's inventory cycles over an Organization, RSS and cached clients per cycle."""
    from moto import mock_aws

    from costguard.collectors.client_cache import CLIENTS
    from costguard.model import Source
    from costguard.runtime.bootstrap import load_setup, open_store
    from costguard.runtime.cycle import Engine

    regions = ORG_REGIONS[:args.regions]
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        seed_organization(args.members, regions)
        config = Path(tmp) / "costguard.yml"
        config.write_text(f"aws: {{regions: [{', '.join(regions)}], organization: {{}}}}\n"
                          f"database: {{url: 'sqlite:///{tmp}/cg.db'}}\n"
                          f"runtime: {{client_cache: {args.client_cache or 100_000}}}\n")
        setup = load_setup(config)
        store = open_store(setup.config)
        engine = Engine(setup.config, setup.policies, store)
        gc.collect()
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
        print(f"{args.members} members + management x {len(regions)} regions, client_cache "
              f"{args.client_cache or 'unbounded'}; before the first cycle: {rss_mib():.1f} MiB")
        start, cpu = time.perf_counter(), time.process_time()
        for n in range(1, args.cycles + 1):
            lap = time.process_time()
            engine.run_cycle({Source.INVENTORY}, notify=False)
            gc.collect()
            print(f"cycle {n}: RSS {rss_mib():.1f} MiB, {len(CLIENTS)} clients cached, "
                  f"{CLIENTS.evicted} evicted so far, CPU {time.process_time() - lap:.2f} s")
        print(f"{args.cycles} cycles: wall {time.perf_counter() - start:.0f} s, CPU "
              f"{time.process_time() - cpu:.0f} s; load average {os.getloadavg()[0]:.1f}")
        store.close()
    return 0


def report(samples: list[tuple[int, float]], elapsed: float, cpu: float) -> None:
    print(f"machine: {machine()}")
    cycles = samples[-1][0]
    print(f"{cycles} cycles in {elapsed:.0f} s, CPU {cpu:.0f} s ({cpu / cycles * 1000:.0f} ms "
          "per cycle); RSS (MiB) after cycle:")
    print("  " + ", ".join(f"{n}: {mib:.1f}" for n, mib in samples))
    warm = dict(samples).get(200, samples[0][1])
    last = samples[-1][1]
    per_cycle_kib = (last - warm) * 1024 / max(1, samples[-1][0] - 200)
    print(f"growth from cycle 200 to {samples[-1][0]}: {last - warm:+.1f} MiB "
          f"({per_cycle_kib:+.2f} KiB per cycle)")


if __name__ == "__main__":
    sys.exit(main())
