"""The Sigma rules costguard ships (policies/sigma), each on CloudTrail records of the call it
finds and of its everyday look-alikes; every record is read both as EventBridge delivers it
and as the trail's gzipped log file in S3 holds it."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from costguard.activity.event_records import parse_envelope
from costguard.activity.trail_files import log_file_events
from costguard.runtime.bootstrap import load_sigma, read_config

RULES = load_sigma(read_config(None))
ACCOUNT = "123456789012"
USER = {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "userName": "dev",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/dev", "accountId": ACCOUNT,
        "accessKeyId": "AKIAEXAMPLEDEV000001"}


def ct(name: str, source: str, request: dict | None = None, response: Any = None,
       **fields: Any) -> dict[str, Any]:
    """A CloudTrail record of one call."""
    return {"eventVersion": "1.09", "userIdentity": fields.pop("identity", USER),
            "eventTime": "2026-11-22T11:50:00Z", "eventSource": f"{source}.amazonaws.com",
            "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
            "userAgent": "aws-cli/2.15.30", "requestParameters": request,
            "responseElements": response, "requestID": "req-1",
            "eventID": f"ev-{name}-{len(json.dumps(request))}", "readOnly": False,
            "eventType": "AwsApiCall", "managementEvent": True,
            "recipientAccountId": ACCOUNT, "eventCategory": "Management", **fields}


def titles(record: dict[str, Any]) -> list[str]:
    """The shipped rules matching the record, read both ways (they must agree)."""
    detail_type = ("AWS Console Sign In via CloudTrail" if record["eventName"] == "ConsoleLogin"
                   else "AWS API Call via CloudTrail")
    envelope = {"version": "0", "id": "env-1", "detail-type": detail_type,
                "source": "aws." + record["eventSource"].split(".")[0], "account": ACCOUNT,
                "time": record["eventTime"], "region": "us-east-1", "resources": [],
                "detail": record}
    from_bridge = sorted(m.rule.info.title for m in RULES.match([parse_envelope(envelope)]))
    files = log_file_events(gzip.compress(json.dumps({"Records": [record]}).encode()))
    from_s3 = sorted(m.rule.info.title for m in RULES.match(files.events))
    assert from_bridge == from_s3
    return from_bridge


def items(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"items": list(entries)}


CASES = [
    # (rule title, the call it finds, everyday look-alikes it must leave alone)
    ("Console password of another IAM user changed",
     ct("UpdateLoginProfile", "iam", {"userName": "alice", "passwordResetRequired": False}),
     [ct("UpdateLoginProfile", "iam", {"userName": "dev"}),
      ct("UpdateLoginProfile", "iam", {"userName": "alice"}, errorCode="AccessDenied")]),
    ("VPC flow logs deleted",
     ct("DeleteFlowLogs", "ec2", {"DeleteFlowLogsRequest": {"FlowLogId": {
         "content": "fl-0abc", "tag": 1}}}, {"DeleteFlowLogsResponse": {"unsuccessful": ""}}),
     [ct("CreateFlowLogs", "ec2", {"CreateFlowLogsRequest": {"ResourceId": "vpc-1"}})]),
    ("AWS Config recording stopped or removed",
     ct("StopConfigurationRecorder", "config", {"configurationRecorderName": "default"}),
     [ct("StartConfigurationRecorder", "config", {"configurationRecorderName": "default"})]),
    ("CloudTrail trail made to record less",
     ct("PutEventSelectors", "cloudtrail", {"trailName": "main", "eventSelectors": [
         {"readWriteType": "All", "includeManagementEvents": False}]}),
     [ct("PutEventSelectors", "cloudtrail", {"trailName": "main", "eventSelectors": [
         {"readWriteType": "All", "includeManagementEvents": True,
          "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}]}),
      ct("UpdateTrail", "cloudtrail", {"name": "main", "isMultiRegionTrail": True})]),
    ("CloudTrail trail made to record less",
     ct("UpdateTrail", "cloudtrail", {"name": "main", "isMultiRegionTrail": False}), []),
    ("GuardDuty told to look away",
     ct("UpdateDetector", "guardduty", {"detectorId": "det-1", "enable": False}),
     [ct("UpdateDetector", "guardduty", {"detectorId": "det-1", "enable": True,
                                         "findingPublishingFrequency": "SIX_HOURS"}),
      ct("CreateThreatIntelSet", "guardduty", {"detectorId": "det-1", "name": "bad-ips"})]),
    ("GuardDuty told to look away",
     ct("CreateIPSet", "guardduty", {"detectorId": "det-1", "name": "office",
                                     "format": "TXT", "activate": True}), []),
    ("Snapshot or image shared with everyone",
     ct("ModifySnapshotAttribute", "ec2", {"snapshotId": "snap-1", "attributeType":
        "CREATE_VOLUME_PERMISSION", "createVolumePermission": {"add": items({"group": "all"})}}),
     [ct("ModifySnapshotAttribute", "ec2", {"snapshotId": "snap-1", "createVolumePermission":
         {"add": items({"userId": "210987654321"})}})]),
    ("Snapshot or image shared with everyone",
     ct("ModifyDBSnapshotAttribute", "rds", {"dBSnapshotIdentifier": "prod",
        "attributeName": "restore", "valuesToAdd": ["all"]}),
     [ct("ModifyDBSnapshotAttribute", "rds", {"dBSnapshotIdentifier": "prod",
         "attributeName": "restore", "valuesToRemove": ["all"]})]),
    ("Instance user data replaced",
     ct("ModifyInstanceAttribute", "ec2", {"instanceId": "i-1",
                                           "userData": "<sensitiveDataRemoved>"}),
     [ct("ModifyInstanceAttribute", "ec2", {"instanceId": "i-1",
                                            "instanceType": {"value": "t3.large"}})]),
    ("Account left its AWS Organization", ct("LeaveOrganization", "organizations"), []),
    ("EC2 serial console access turned on", ct("EnableSerialConsoleAccess", "ec2"),
     [ct("GetSerialConsoleAccessStatus", "ec2", readOnly=True)]),
    ("IAM user signed in to the console without MFA",
     ct("ConsoleLogin", "signin", None, {"ConsoleLogin": "Success"},
        additionalEventData={"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com"}),
     [ct("ConsoleLogin", "signin", None, {"ConsoleLogin": "Success"},
         additionalEventData={"MFAUsed": "Yes"}),
      ct("ConsoleLogin", "signin", None, {"ConsoleLogin": "Failure"},
         additionalEventData={"MFAUsed": "No"}),
      ct("ConsoleLogin", "signin", None, {"ConsoleLogin": "Success"},
         identity={"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root",
                   "accountId": ACCOUNT}, additionalEventData={"MFAUsed": "No"})]),
]


@pytest.mark.parametrize(("title", "found", "alike"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_finds_its_call_and_leaves_look_alikes_alone(title, found, alike):
    assert titles(found) == [title]
    for other in alike:
        assert title not in titles(other), other["eventName"]


def test_every_shipped_rule_is_exercised_and_tagged_with_attack():
    assert {r.info.title for r in RULES.rules} == {c[0] for c in CASES}
    assert all(r.info.attack for r in RULES.rules)
    assert all(r.severity is not None for r in RULES.rules)
