"""`costguard scan` as a separate process against moto_server, found through AWS_ENDPOINT_URL.

This is how a user points costguard at an emulator: nothing in the config names moto, only the
standard variable does. The seeded state lives in the server (a thread of this test process);
the scan runs in its own interpreter (`python -m costguard`), so it shares nothing else with
the test.

Root-user state cannot be set here: moto reports no root key and no root MFA, and the patch the
in-process tests use (`costguard.demo.moto_root.patch_root`) cannot reach into another
process's requests. These tests therefore assert on the EC2 findings; the shipped policies'
root checks see whatever moto_server reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID

ACCOUNT = DEFAULT_ACCOUNT_ID
REGION = "us-east-1"
SCAN_TIMEOUT_S = 90


@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    """The server, emptied first: moto's state belongs to this whole process, so other tests'
    servers and mocks may have left resources in it."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return moto_endpoint


def client(endpoint: str, service: str) -> Any:
    """A boto3 client that arranges the server's state (it plays the account's users)."""
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def seed(endpoint: str) -> tuple[list[str], str, str]:
    """Three c5.4xlarge in a group open to SSH, one approved t3.micro; returns their ids."""
    ec2 = client(endpoint, "ec2")
    group = ec2.create_security_group(GroupName="launch-wizard-7", Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    miners = ec2.run_instances(ImageId="ami-12345678", MinCount=3, MaxCount=3,
                               InstanceType="c5.4xlarge", SecurityGroupIds=[group])
    web = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                            InstanceType="t3.micro")
    # Generated ahead, so the scan never waits on moto's "STARTED" answer.
    client(endpoint, "iam").generate_credential_report()
    return ([i["InstanceId"] for i in miners["Instances"]], group,
            web["Instances"][0]["InstanceId"])


def costguard(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """costguard in its own interpreter, reaching AWS only via the URL."""
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    return subprocess.run(
        [sys.executable, "-m", "costguard", *args], env=env, capture_output=True, text=True,
        timeout=SCAN_TIMEOUT_S, check=False,
    )


def scan(endpoint: str, config: Path) -> subprocess.CompletedProcess[str]:
    """`costguard scan --format json`."""
    return costguard(endpoint, "scan", "--format", "json", "-c", str(config))


def watched(endpoint: str, config: Path) -> None:
    """What a well-run account has: the event pipeline (`costguard setup events`, run as a
    user would), a logging multi-region trail and GuardDuty, so the self-watch checks are
    quiet and the event sources complete (moto_server has no LookupEvents to fall back to)."""
    done = costguard(endpoint, "setup", "events", "-c", str(config))
    assert done.returncode == 0, done.stderr
    client(endpoint, "s3").create_bucket(Bucket="trail-logs")
    trails = client(endpoint, "cloudtrail")
    trails.create_trail(Name="main", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    trails.start_logging(Name="main")
    client(endpoint, "guardduty").create_detector(Enable=True)


def write_config(tmp_path: Path, regions: str = f"aws: {{regions: [{REGION}]}}\n") -> Path:
    """The shipped policies, SQLite in tmp_path, notifications to the log; the event queue in
    us-east-1 only."""
    path = tmp_path / "costguard.yml"
    path.write_text(regions + f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n"
                    f"events: {{regions: [{REGION}]}}\n")
    return path


def test_the_scan_reports_the_seeded_instances_and_open_group(endpoint, tmp_path):
    miners, group, web = seed(endpoint)
    config = write_config(tmp_path)
    watched(endpoint, config)

    done = scan(endpoint, config)

    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["scan"]["complete"], doc["scan"]["accounts"], doc["scan"]["regions"]) == (
        True, [ACCOUNT], [REGION])
    assert doc["scan"]["errors"] == []
    ec2 = {(f["check"], f["resource"]) for f in doc["findings"]
           if f["check"] in ("instance_types", "open_admin_ports")}
    assert ec2 == {
        *(("instance_types", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{i}") for i in miners),
        ("open_admin_ports", group),
    }
    assert not any(web in f["resource"] for f in doc["findings"])
    assert {f["severity"] for f in doc["findings"] if (f["check"], f["resource"]) in ec2} == {
        "high"}
    (incident,) = [i for i in doc["incidents"] if group in i["resources"]]
    assert incident["severity"] in ("high", "critical")
    # stderr is a pipe: no progress line (only the log)
    assert "scanned " not in done.stderr and "\r" not in done.stderr


def test_without_configured_regions_every_enabled_region_is_scanned(endpoint, tmp_path):
    answer = client(endpoint, "ec2").describe_regions()["Regions"]
    enabled = sorted(r["RegionName"] for r in answer if r.get("OptInStatus") != "not-opted-in")
    assert len(enabled) > 10  # moto_server lists many regions: the point of this test

    config = write_config(tmp_path, regions="")
    watched(endpoint, config)
    done = scan(endpoint, config)

    doc = json.loads(done.stdout)
    assert doc["scan"]["regions"] == enabled
    assert doc["scan"]["complete"] is True
    # an empty account; moto_server reports a root user without MFA, which fails the scan
    assert [(f["check"], f["resource"]) for f in doc["findings"]] == [
        ("root_mfa", f"arn:aws:iam::{ACCOUNT}:root")]
    assert done.returncode == 1
