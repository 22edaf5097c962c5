"""The baseline of bench/scan_vs_boto3.py: a bare boto3 script making exactly the AWS calls a
`costguard scan` made, replayed from the call log costguard writes when COSTGUARD_CALL_LOG is
set (service, region, operation, parameters), and nothing else.

Usage: python bench/bare_boto3_scan.py CALLS.jsonl   (AWS_ENDPOINT_URL points at moto_server)
Prints the number of calls made. Errors are ignored: costguard's calls may fail by design
(a report still being generated, an API the emulator lacks) and the bare script makes them all
the same.
"""

import contextlib
import json
import sys

import boto3
from botocore import xform_name


def main(path: str) -> int:
    session = boto3.Session()
    clients = {}
    calls = 0
    with open(path, encoding="utf-8") as log:
        entries = [json.loads(line) for line in log]
    for entry in entries:
        key = (entry["service"], entry["region"])
        if key not in clients:
            clients[key] = session.client(entry["service"], region_name=entry["region"])
        # the call is made either way; its outcome is not the point
        with contextlib.suppress(Exception):
            getattr(clients[key], xform_name(entry["operation"]))(**entry["params"])
        calls += 1
    print(calls)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
