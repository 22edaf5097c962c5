"""Procrastinate workers: a cycle's wall time with 1, 2 and 4 workers, duplicates, a worker
SIGKILLed mid-cycle (lost units, time to recover), and the time spent on the conclusion lock.

Usage: python bench/workers.py [--accounts 100] [--regions 2] [--instances 5] [--latency-ms 150]
       [--workers 1,2,4] [--no-kill] [--pg URL]
Each run gets a fresh PostgreSQL schema (COSTGUARD_BENCH_PG_URL, default the tests' server), one
moto_server, one SMTP server (aiosmtpd) and N `costguard run` processes with
`runtime.engine: procrastinate`, running the code of the checkout this file is in. The estate is
`--accounts` accounts (the credentials' own, the others through `aws.accounts` roles) x
`--regions` regions, each region holding `--instances` unapproved instances: accounts x regions
inventory units per cycle. The inventory runs daily, so no tick interferes: round 0 is the tick
the first worker defers at start-up, and warms each worker up (the price book falls back from
the Price List API, which moto lacks; the first findings, incidents and messages); once every
unit of it is collected the bench plans round 1 itself (a `costguard.plan` job, as a tick
would), which is measured: from that moment to the end of its last unit, read from the
workers' logs. moto answers in microseconds where AWS takes a network round trip, so each
worker's AWS calls are delayed by `--latency-ms` (default 150, a typical DescribeInstances round
trip; 0 turns it off), through a `sitecustomize` module put on the workers' PYTHONPATH: the
bench's own code, never costguard's. The same module times, per unit of work, the wait for the
conclusion lock and how long it was held, and the parts of each conclusion. Duplicates: units
collected twice in one round, and SMTP messages beyond the outbox's `sent` rows. The kill run
SIGKILLs one of two workers while it runs a measured unit and times until another worker
finished that unit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from harness import BIN, ROOT, fake_env, machine, moto_server

MEASURED = 1
"""Round 0 (the tick before start-up, deferred at once) warms each worker up; once it is done,
the bench plans round 1, which is measured."""
LINE = re.compile(r"^(\S+ \S+) INFO procrastinate\.worker\S*: (.*)$", re.MULTILINE)
START = re.compile(r"Starting job costguard\.collect\[(\d+)\]\(([^)]*)\)")
END = re.compile(r"Job costguard\.collect\[(\d+)\]\(([^)]*)\) ended with status: Success")
PLAN = re.compile(r"Starting job costguard\.plan\[(\d+)\]\(source='inventory', timestamp=(\d+)\)")
REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1",
           "ap-northeast-1", "sa-east-1", "ca-central-1"]
POLICIES = ("policies:\n  - {name: unapproved-instance-types, check: instance_types, "
            "severity: high, params: {allowed: ['t3.*']}}\n")


LATENCY = """\
import os, time
import botocore.client
_delay = float(os.environ.get("COSTGUARD_BENCH_LATENCY_MS", "0")) / 1000
_call = botocore.client.BaseClient._make_api_call
def _slow(self, operation, params):
    time.sleep(_delay)
    return _call(self, operation, params)
botocore.client.BaseClient._make_api_call = _slow
"""

LOCKS = """\
import os, threading, time
from sqlalchemy import event
from sqlalchemy.orm import Session
import costguard.store.db as _db
_held = threading.local()
_sink = os.path.join(os.environ["COSTGUARD_BENCH_LOCKS"], f"{os.getpid()}.tsv")
def _timed(name, original):
    def serialize(self, session, *args, **kwargs):
        start = time.perf_counter()
        original(self, session, *args, **kwargs)
        taken = getattr(_held, "locks", None) or []
        _held.locks = [*taken, (session, name, time.time(), time.perf_counter() - start,
                                time.perf_counter())]
    return serialize
for _name in ("_serialize", "_serialize_all"):
    if hasattr(_db.Store, _name):
        setattr(_db.Store, _name, _timed(_name, getattr(_db.Store, _name)))
def _released(session, transaction):
    if transaction.parent is not None:  # a SAVEPOINT: the lock stays
        return
    taken = getattr(_held, "locks", None) or []
    mine = [lock for lock in taken if lock[0] is session]
    if not mine:
        return
    _held.locks = [lock for lock in taken if lock[0] is not session]
    now = time.perf_counter()
    with open(_sink, "a") as out:
        for _, name, at, wait, since in mine:
            out.write(f"{name}\\t{at:.3f}\\t{wait:.4f}\\t{now - since:.4f}\\n")
event.listen(Session, "after_transaction_end", _released)
"""
PHASES = """\
import costguard.runtime.conclude as _conclude
import costguard.store.findings as _findings
def _phase(name, original):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with open(_sink, "a") as out:
                out.write(f"{name}\\t{time.time():.3f}\\t0\\t{time.perf_counter() - start:.4f}\\n")
    return timed
for _name in ("conclude", "_snapshot", "evaluate", "record_judged", "respond"):
    setattr(_conclude, _name, _phase(f"phase {_name}", getattr(_conclude, _name)))
_findings.FindingsMixin.reconcile = _phase("phase reconcile", _findings.FindingsMixin.reconcile)
"""
"""Times the parts of each conclusion (the snapshot with the source health, evaluation,
reconciliation, the judged counts, the incidents and messages) in the same files."""

"""Times each unit of work's wait for the conclusion lock and how long it held it (lock taken
to commit or rollback), one line per unit in a file per worker process: the bench's own
instrumentation, loaded through the workers' `sitecustomize`, never costguard's."""


def stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def events(log: Path) -> list[tuple[float, str, str, str]]:
    """(time, kind, job, unit) of each collect start/end and plan tick in one worker's log."""
    found = []
    for when, message in LINE.findall(log.read_text(errors="replace")):
        if m := START.search(message):
            found.append((stamp(when), "start", m[1], m[2]))
        elif m := END.search(message):
            found.append((stamp(when), "end", m[1], m[2]))
        elif m := PLAN.search(message):
            found.append((float(m[2]), "tick", m[1], ""))
    return found


def seed(url: str, accounts: list[str], regions: list[str], instances: int) -> None:
    import boto3

    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1")
    for account in accounts:
        creds: dict[str, str] = {}
        if account != accounts[0]:
            c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/costguard-read",
                                RoleSessionName="seed")["Credentials"]
            creds = {"aws_access_key_id": c["AccessKeyId"],
                     "aws_secret_access_key": c["SecretAccessKey"],
                     "aws_session_token": c["SessionToken"]}
        for region in regions:
            boto3.client("ec2", region_name=region, endpoint_url=url, **creds).run_instances(
                ImageId="ami-12345678", MinCount=instances, MaxCount=instances,
                InstanceType="c5.4xlarge")


def config(folder: Path, pg: str, smtp_port: int, accounts: list[str],
           regions: list[str]) -> Path:
    (folder / "policies.yml").write_text(POLICIES)
    listed = "".join(f"    - {{id: '{a}', role_arn: 'arn:aws:iam::{a}:role/costguard-read'}}\n"
                     for a in accounts[1:])
    own = f"    - {{id: '{accounts[0]}'}}\n"
    path = folder / "costguard.yml"
    path.write_text(
        f"aws:\n  regions: [{', '.join(regions)}]\n  accounts:\n{own}{listed}"
        f"database: {{url: '{pg}'}}\n"
        "schedule: {inventory: 24h}\n"
        "metrics: {listen: null}\nruntime: {engine: procrastinate}\npolicies: [policies.yml]\n"
        "notifiers:\n"
        f"  mail: {{type: smtp, host: 127.0.0.1, port: {smtp_port}, security: none,\n"
        "         from: costguard@bench.invalid, to: [secops@bench.invalid]}\n")
    return path


def fresh_schema(pg: str) -> tuple[str, str]:
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(pg)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = sa.make_url(pg).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(pg: str, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def outbox_rows(url: str) -> dict[str, int]:
    """The outbox's rows by status: each `sent` row is one SMTP message, no more."""
    sys.path.insert(0, str(ROOT))
    from collections import Counter

    from costguard.store import Store

    with Store.open(url) as store:
        return dict(Counter(str(n.status) for n in store.notifications()))


class Inbox:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(envelope.original_content or envelope.content)
        return "250 2.0.0 OK"


def run(workers: int, kill: bool, args: argparse.Namespace, moto: str,
        accounts: list[str]) -> dict:
    from aiosmtpd.controller import Controller
    from harness import free_port

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    url, schema = fresh_schema(args.pg)
    regions = REGIONS[:args.regions]
    units = {f"region='{r}', source='inventory', account='{a}'" for a in accounts
             for r in regions}
    folder = Path(tempfile.mkdtemp(prefix="cg-workers-"))
    path = config(folder, url, port, accounts, regions)
    (folder / "sitecustomize.py").write_text(LATENCY + LOCKS + PHASES)
    (folder / "locks").mkdir()
    env = {**fake_env(moto), "XDG_STATE_HOME": str(folder),
           "PYTHONPATH": os.pathsep.join((str(folder), str(ROOT))),  # this checkout's code
           "COSTGUARD_BENCH_LATENCY_MS": str(args.latency_ms),
           "COSTGUARD_BENCH_LOCKS": str(folder / "locks")}
    subprocess.run([str(BIN / "costguard"), "db", "upgrade", "-c", str(path)], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    logs = [folder / f"worker{i}.log" for i in range(workers)]
    procs = []
    for log in logs:
        with log.open("wb") as sink:
            procs.append(subprocess.Popen([str(BIN / "costguard"), "run", "-c", str(path)],
                                          env=env, stdout=sink, stderr=subprocess.STDOUT))
    try:
        return measure_rounds(procs, logs, units, kill, url, inbox, folder / "locks")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        controller.stop()
        drop_schema(args.pg, schema)


def rounds(logs: list[Path]) -> tuple[list[tuple[float, int]], list[tuple]]:
    """The planning rounds, as (tick, plan job id), and every collect start and end. A plan job
    defers its round's collect jobs, so a round's jobs are those with ids between its plan job's
    and the next one's."""
    ticks, jobs = set(), []
    for i, log in enumerate(logs):
        for when, kind, job, unit in events(log):
            if kind == "tick":
                ticks.add((when, int(job)))
            else:
                jobs.append((when, kind, int(job), unit, i))
    return sorted(ticks), sorted(jobs)


def of_round(jobs: list[tuple], ticks: list[tuple[float, int]], index: int) -> list[tuple]:
    low = ticks[index][1]
    high = ticks[index + 1][1] if index + 1 < len(ticks) else float("inf")
    return [j for j in jobs if low < j[2] < high]


def settled(jobs: list[tuple], ticks: list[tuple[float, int]], units: set[str]) -> bool:
    """Round 0 collected every unit and no collect job is running any more."""
    started = {(j[2], j[4]) for j in jobs if j[1] == "start"}
    ended = {(j[2], j[4]) for j in jobs if j[1] == "end"}
    return bool(ticks) and covered(of_round(jobs, ticks, 0)) >= units and started <= ended


def defer_round(url: str) -> float:
    """Plan the measured round now, as the periodic task would at a tick; returns when."""
    sys.path.insert(0, str(ROOT))
    from costguard.runtime.worker import make_app

    app = make_app(url)
    with app.open():
        when = time.time()
        app.configure_task("costguard.plan", queue="costguard").defer(
            source="inventory", timestamp=int(when))
    return when


def measure_rounds(procs, logs, units, kill, url, inbox, locks: Path) -> dict:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and not settled(*reversed(rounds(logs)), units):
        time.sleep(0.2)
    tick = defer_round(url)
    killed: dict = {}
    while time.monotonic() < deadline:
        ticks, jobs = rounds(logs)
        if kill and not killed and len(ticks) > MEASURED:
            killed = try_kill(procs, of_round(jobs, ticks, MEASURED))
        if len(ticks) > MEASURED and covered(of_round(jobs, ticks, MEASURED)) >= units and (
                not kill or recovered(jobs, killed)):
            break
        time.sleep(0.05)
    time.sleep(2 * 15 + 2)  # two sweeps: every message delivered, or counted as missing
    ticks, jobs = rounds(logs)
    ends = [j for j in of_round(jobs, ticks, MEASURED) if j[1] == "end"]
    done = {j[3] for j in ends}
    end = max(j[0] for j in ends) if ends else tick
    result = {
        "units": len(units),
        "cycle_s": round(end - tick, 2) if ends else None,
        "units_collected": len(done & units),
        "duplicate_jobs_in_round": len(ends) - len(done),
        "messages": len(inbox.received),
        "outbox_rows": outbox_rows(url),
        "jobs_per_worker": [sum(1 for j in ends if j[4] == i) for i in range(len(logs))],
        **lock_times(locks, tick, end),
    }
    if kill:
        result.update(killed_unit=killed.get("unit"),
                      lost_units=len(units - {j[3] for j in jobs if j[1] == "end"
                                              and j[0] >= tick}),
                      recover_s=round(recovered(jobs, killed) - killed["at"], 2)
                      if killed and recovered(jobs, killed) else None)
    return result


def lock_times(locks: Path, start: float, end: float) -> dict:
    """Per lock: units of work that took it in the measured round, the seconds they waited for
    it and held it (summed over every worker), and the share of the round it was held."""
    found: dict[str, list[float]] = {}
    for sink in locks.glob("*.tsv"):
        for line in sink.read_text().splitlines():
            name, at, wait, held = line.split("\t")
            if start <= float(at) <= end + 1:
                totals = found.setdefault(name.strip("_").replace(" ", "_"), [0, 0.0, 0.0])
                totals[0] += 1
                totals[1] += float(wait)
                totals[2] += float(held)
    span = max(end - start, 1e-9)
    timed = {}
    for name, (n, wait, held) in sorted(found.items()):
        if name.startswith("phase_"):  # seconds spent in that part of the conclusions
            timed[name] = {"units": n, "s": round(held, 2), "share": round(held / span, 2)}
        else:
            timed[f"lock{name}" if name.startswith("_") else f"lock_{name}"] = {
                "units": n, "wait_s": round(wait, 2), "held_s": round(held, 2),
                "held_share": round(held / span, 2)}
    return timed


def covered(jobs: list[tuple]) -> set[str]:
    return {j[3] for j in jobs if j[1] == "end"}


def try_kill(procs, jobs: list[tuple]) -> dict:
    """SIGKILL a worker that is running a unit of the measured round, if one is."""
    started = {(j[2], j[4]): j for j in jobs if j[1] == "start"}
    ended = {(j[2], j[4]) for j in jobs if j[1] == "end"}
    for key, job in started.items():
        if key not in ended:
            procs[job[4]].send_signal(signal.SIGKILL)
            procs[job[4]].wait()
            return {"at": time.time(), "unit": job[3], "worker": job[4], "job": job[2]}
    return {}


def recovered(jobs, killed: dict) -> float | None:
    """When another worker finished the killed worker's unit."""
    if not killed:
        return None
    return next((j[0] for j in jobs if j[1] == "end" and j[3] == killed["unit"]
                 and j[4] != killed["worker"] and j[0] >= killed["at"]), None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--workers", default="1,2,4",
                        help="the worker counts to measure, comma-separated")
    parser.add_argument("--no-kill", action="store_true", help="skip the SIGKILL run")
    parser.add_argument("--pg", default=os.environ.get(
        "COSTGUARD_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    accounts = ["123456789012", *(f"{210987654320 + i:012d}" for i in range(args.accounts - 1))]
    results = {"machine": machine(), "accounts": args.accounts, "regions": args.regions,
               "instances_per_region": args.instances, "latency_ms": args.latency_ms,
               "load_average_before": os.getloadavg()}
    with moto_server() as moto:
        os.environ.update({k: v for k, v in fake_env(moto).items() if k.startswith("AWS_")})
        seed(moto, accounts, REGIONS[:args.regions], args.instances)
        for workers in (int(n) for n in args.workers.split(",")):
            results[f"workers_{workers}"] = run(workers, False, args, moto, accounts)
            print(json.dumps({workers: results[f"workers_{workers}"]}), flush=True)
        if not args.no_kill:
            results["kill_one_of_2"] = run(2, True, args, moto, accounts)
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
