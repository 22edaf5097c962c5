"""A one-shot `costguard scan` of a whole AWS Organization on moto_server, at several sizes:
wall, CPU, peak RSS and AWS calls per API against the minimum the data needs, and the ratio to
a bare boto3 script making the same calls at the same concurrency.

Usage: python bench/org_scan.py [--members 1,20,100] [--instances 5] [--users 3] [--runs 1]
For each size, a fresh moto_server holds the management account and MEMBERS member accounts,
each with INSTANCES t3.micro per region in 4 regions and USERS IAM users. costguard scans it
once to create its store (and the credential reports), once with COSTGUARD_CALL_LOG set to
record its calls, then `costguard scan` and bench/bare_boto3_org_scan.py (which replays the
recorded calls, one session per account, on as many threads as runtime.concurrency) run as
fresh processes, alternating. The policies read the polled sources (inventory, IAM, cost).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from harness import ROOT, fake_env, machine, measure, median, moto_server

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
CONCURRENCY = 8
CONFIG = """\
aws:
  regions: [{regions}]
  organization: {{role_name: OrganizationAccountAccessRole}}
runtime: {{concurrency: {concurrency}}}
database: {{url: 'sqlite:///{db}'}}
policies: [policies.yml]
"""
POLICIES = """\
policies:
  - {name: account-access, check: account_access, severity: high}
  - {name: instance-types, check: instance_types, severity: high, params: {allowed: ["t3.*"]}}
  - {name: open-admin-ports, check: open_admin_ports, severity: high}
  - {name: user-mfa, check: user_mfa, severity: high}
  - {name: root-mfa, check: root_mfa, severity: critical}
  - {name: daily-spend, check: daily_spend, severity: high}
"""


def minimum(members: int, instances: int) -> dict[str, str]:
    """What the data needs, per API, for one scan after the first (reports exist, cost is
    cached): every account once, every account x region once, one page per 1,000 instances."""
    accounts, units = members + 1, (members + 1) * len(REGIONS)
    pages = max(1, math.ceil(instances / 1000))
    return {
        "sts:GetCallerIdentity": "1",
        "organizations:ListAccounts": f"{math.ceil(accounts / 20)} (AWS: 20 a page; moto: 100)",
        "sts:AssumeRole": str(members),
        "ec2:DescribeInstances": str(units * pages),
        "ec2:DescribeSecurityGroups": str(units),
        "ec2:DescribeKeyPairs": str(units),
        "iam:GetCredentialReport": f"{accounts} (moto's report is always dated 2015: "
                                   "regenerated, 2 reads)",
        "iam:GetAccountSummary": str(accounts),
        "iam:ListVirtualMFADevices": str(accounts),
        "ce:GetCostAndUsage": "0 (cached; at most 2 from the payer when due)",
    }


def calls_by_api(path: Path) -> Counter[str]:
    """The call log as `service:Operation` counts (IAM prefixes, as `Aws.calls` names them)."""
    prefixes = {"organizations": "organizations", "ce": "ce"}
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8") as log:
        for line in log:
            entry = json.loads(line)
            counts[f"{prefixes.get(entry['service'], entry['service'])}:{entry['operation']}"] += 1
    return counts


def one_size(members: int, args: argparse.Namespace) -> dict:
    with moto_server() as url, tempfile.TemporaryDirectory() as tmp:
        env = fake_env(url)
        seed = [sys.executable, str(ROOT / "bench" / "seed_organization.py"), url, str(members),
                str(args.instances), str(args.users), *REGIONS]
        measure(seed, env)
        (Path(tmp) / "policies.yml").write_text(POLICIES)
        config = Path(tmp) / "costguard.yml"
        config.write_text(CONFIG.format(regions=", ".join(REGIONS), concurrency=CONCURRENCY,
                                        db=Path(tmp) / "cg.db"))
        scan = [sys.executable, "-m", "costguard", "scan", "--no-notify", "--format", "json",
                "--fail-on", "critical", "-c", str(config)]
        measure(scan, env)  # creates the store, generates the credential reports, caches cost
        log = Path(tmp) / "calls.jsonl"
        recorded = measure(scan, {**env, "COSTGUARD_CALL_LOG": str(log)})
        bare = [sys.executable, str(ROOT / "bench" / "bare_boto3_org_scan.py"), str(log),
                str(CONCURRENCY)]
        cg_runs, bare_runs = [], []
        for _ in range(args.runs):
            cg_runs.append(measure(scan, env))
            bare_runs.append(measure(bare, env))
        return {"members": members, "cg": cg_runs, "bare": bare_runs,
                "doc": json.loads(recorded.stdout), "calls": calls_by_api(log)}


def report(result: dict, args: argparse.Namespace) -> None:
    members, doc = result["members"], result["doc"]
    units = (members + 1) * len(REGIONS)
    cg_wall = median([r.wall_s for r in result["cg"]])
    cg_cpu = median([r.cpu_s for r in result["cg"]])
    cg_mem = median([r.peak_mib for r in result["cg"]])
    bare_wall = median([r.wall_s for r in result["bare"]])
    bare_cpu = median([r.cpu_s for r in result["bare"]])
    bare_mem = median([r.peak_mib for r in result["bare"]])
    total = sum(result["calls"].values())
    print(f"\n== {members} member(s) + management, {len(REGIONS)} regions = {units} units, "
          f"{args.instances} instances/region, {args.users} users/account ==")
    print(f"scan: accounts {len(doc['scan']['accounts'])}, complete={doc['scan']['complete']}, "
          f"{len(doc['findings'])} findings, errors {doc['scan']['errors'][:3]}")
    print(f"costguard scan: wall {cg_wall:.2f} s, CPU {cg_cpu:.2f} s, peak {cg_mem:.1f} MiB, "
          f"{total} AWS calls; per unit: {1000 * cg_wall / units:.0f} ms wall, "
          f"{1000 * cg_cpu / units:.0f} ms CPU, {total / units:.2f} calls")
    print(f"bare boto3:     wall {bare_wall:.2f} s, CPU {bare_cpu:.2f} s, peak {bare_mem:.1f} MiB, "
          f"{result['bare'][-1].stdout.strip()} calls (replayed)")
    print(f"ratio: wall {cg_wall / bare_wall:.2f}x, CPU {cg_cpu / bare_cpu:.2f}x, "
          f"memory {cg_mem / bare_mem:.2f}x")
    wanted = minimum(members, args.instances)
    print(f"{'API':32} {'made':>6}  minimum")
    for api in sorted(set(result["calls"]) | set(wanted)):
        print(f"{api:32} {result['calls'].get(api, 0):>6}  {wanted.get(api, '-')}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", default="1,20,100",
                        help="comma-separated member counts (default 1,20,100)")
    parser.add_argument("--instances", type=int, default=5, help="per member and region")
    parser.add_argument("--users", type=int, default=3, help="IAM users per member")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
    for members in [int(m) for m in args.members.split(",")]:
        report(one_size(members, args), args)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
