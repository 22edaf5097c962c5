"""The lower bound of bench/org_scan.py: plain boto3 making exactly the AWS calls a `costguard
scan` of an Organization made, replayed from its call log (COSTGUARD_CALL_LOG), at the same
concurrency: one session per account (assumed once, all sharing one botocore data loader, so
each service model is parsed once, as costguard does), calls grouped by account and region and
run in order within a group, groups on a pool of WORKERS threads.

Usage: python bench/bare_boto3_org_scan.py CALLS.jsonl WORKERS
Prints the number of calls made. Errors are ignored, as in bench/bare_boto3_scan.py.
"""

import contextlib
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.session
from botocore import xform_name


class Accounts:
    """One session per role (the base session for calls made without one)."""

    def __init__(self) -> None:
        self.base = boto3.Session()
        self.sessions: dict = {None: self.base}
        self.lock = threading.Lock()

    def session(self, role):
        with self.lock:
            if role not in self.sessions:
                creds = self.base.client("sts").assume_role(
                    RoleArn=role, RoleSessionName="bare")["Credentials"]
                core = botocore.session.Session()
                core.register_component("data_loader",
                                        self.base._session.get_component("data_loader"))
                self.sessions[role] = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"], botocore_session=core)
            return self.sessions[role]


def run_group(accounts: Accounts, entries: list) -> int:
    session = accounts.session(entries[0].get("role"))
    clients: dict = {}
    with accounts.lock:  # boto3 sessions are not thread-safe when making clients
        for entry in entries:
            key = (entry["service"], entry["region"])
            if key not in clients:
                clients[key] = session.client(entry["service"], region_name=entry["region"])
    for entry in entries:
        client = clients[(entry["service"], entry["region"])]
        with contextlib.suppress(Exception):
            getattr(client, xform_name(entry["operation"]))(**entry["params"])
    return len(entries)


def main(path: str, workers: int) -> int:
    with open(path, encoding="utf-8") as log:
        entries = [json.loads(line) for line in log]
    groups: dict = {}
    assumed = 0
    for entry in entries:
        if entry["operation"] == "AssumeRole":  # made once per role by Accounts.session
            assumed += 1
            continue
        groups.setdefault((entry.get("role"), entry["region"]), []).append(entry)
    accounts = Accounts()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        calls = sum(pool.map(lambda g: run_group(accounts, g), groups.values()))
    print(calls + assumed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
