"""The baseline of bench/scan_vs_boto3.py: a bare boto3 script making the AWS calls that
`costguard scan` makes for a small account (one region), and nothing else.

Usage: python bench/bare_boto3_scan.py REGION  (AWS_ENDPOINT_URL points at moto_server)
"""

import sys

import boto3


def main(region: str) -> int:
    session = boto3.Session(region_name=region)
    calls = 0
    sts = session.client("sts")
    sts.get_caller_identity()
    calls += 1
    ec2 = session.client("ec2", region_name=region)
    for operation in ("describe_instances", "describe_security_groups"):
        for _page in ec2.get_paginator(operation).paginate(PaginationConfig={"PageSize": 1000}):
            calls += 1
    ec2.describe_key_pairs()
    calls += 1
    iam = session.client("iam")
    try:
        iam.get_credential_report()
    except iam.exceptions.from_code("ReportNotPresent"):
        pass
    calls += 1
    while iam.generate_credential_report()["State"] != "COMPLETE":
        calls += 1
    calls += 1
    iam.get_credential_report()
    iam.get_account_summary()
    for _page in iam.get_paginator("list_virtual_mfa_devices").paginate(
            AssignmentStatus="Assigned"):
        calls += 1
    calls += 2
    ce = session.client("ce", region_name="us-east-1")
    for granularity, start, end in (("HOURLY", "2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z"),
                                    ("DAILY", "2026-11-08", "2026-11-23")):
        ce.get_cost_and_usage(TimePeriod={"Start": start, "End": end}, Granularity=granularity,
                              Metrics=["UnblendedCost"],
                              GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}])
        calls += 1
    print(calls)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "us-east-1"))
