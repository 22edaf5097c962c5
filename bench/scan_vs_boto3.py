"""A one-shot `costguard scan` of a small account against a bare boto3 script making the same
AWS calls: wall time and peak memory ratios (targets: at most 1.5x and 1.25x), and the calls.

Usage: python bench/scan_vs_boto3.py [--runs N] [--instances N]
The account (moto_server) has five instances (plus `--instances` more approved ones: the
large-account run), a group open to SSH, two IAM users, the event
pipeline (`costguard setup events`), a logging trail and GuardDuty. costguard scans it once to
warm its store, once more with COSTGUARD_CALL_LOG set to record its calls, and then both
programs run as fresh processes, alternating; the bare script replays the recorded calls.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness import ROOT, compiled, fake_env, machine, measure, median, moto_server

CONFIG = """\
aws:
  regions: [us-east-1]
events:
  regions: [us-east-1]
database:
  url: sqlite:///{db}
"""


def prepare(url: str, env: dict[str, str], config: Path, extra: int) -> None:
    measure([sys.executable, str(ROOT / "bench" / "seed_account.py"), url, str(extra)], env)
    measure([sys.executable, "-m", "costguard", "setup", "events", "-c", str(config)], env)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--instances", type=int, default=0, help="more instances to scan")
    args = parser.parse_args()
    compiled()
    with moto_server() as url, tempfile.TemporaryDirectory() as tmp:
        env = fake_env(url)
        config = Path(tmp) / "costguard.yml"
        config.write_text(CONFIG.format(db=Path(tmp) / "costguard.db"))
        prepare(url, env, config, args.instances)
        scan = [sys.executable, "-m", "costguard", "scan", "--no-notify", "--format", "json",
                "-c", str(config)]
        calls = Path(tmp) / "calls.jsonl"
        measure(scan, env)  # first scan: creates and migrates the store
        measure(scan, {**env, "COSTGUARD_CALL_LOG": str(calls)})
        bare = [sys.executable, str(ROOT / "bench" / "bare_boto3_scan.py"), str(calls)]
        measure(bare, env)
        cg_runs, bare_runs = [], []
        for _ in range(args.runs):
            cg_runs.append(measure(scan, env))
            bare_runs.append(measure(bare, env))
    report(cg_runs, bare_runs)
    return 0


def report(cg_runs: list, bare_runs: list) -> None:
    doc = json.loads(cg_runs[-1].stdout)
    cg_wall = median([r.wall_s for r in cg_runs])
    bare_wall = median([r.wall_s for r in bare_runs])
    cg_mem = median([r.peak_mib for r in cg_runs])
    bare_mem = median([r.peak_mib for r in bare_runs])
    print(f"machine: {machine()}")
    print(f"runs: {len(cg_runs)} each, medians")
    print(f"costguard scan: {cg_wall:.3f} s, {cg_mem:.1f} MiB peak RSS, "
          f"{doc['scan']['api_calls']} AWS calls, {len(doc['findings'])} findings, "
          f"complete={doc['scan']['complete']}")
    print(f"bare boto3:     {bare_wall:.3f} s, {bare_mem:.1f} MiB peak RSS, "
          f"{bare_runs[-1].stdout.strip()} AWS calls (replayed)")
    print(f"ratio: wall {cg_wall / bare_wall:.2f}x (target <= 1.5x), "
          f"memory {cg_mem / bare_mem:.2f}x (target <= 1.25x)")


if __name__ == "__main__":
    sys.exit(main())
