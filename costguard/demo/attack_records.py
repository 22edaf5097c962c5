"""The attacker's calls as CloudTrail records, published through EventBridge.

moto does not emit CloudTrail events by itself, so the demo builds each record the way
CloudTrail writes it (eventVersion 1.09, userIdentity of the root key, source IP, user agent,
request and response) and puts it on the default event bus, where the rules that
`costguard setup events` created carry it to the queue, exactly as in a real account. The
GuardDuty finding for the mining traffic (TCP 7777) travels the same way.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from costguard.demo import scenario


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _identity(account: str) -> dict[str, Any]:
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root",
            "accountId": account, "accessKeyId": scenario.ROOT_KEY_ID}


def _elements(step: scenario.Step) -> tuple[dict[str, Any], dict[str, Any]]:
    """requestParameters and responseElements as CloudTrail records them for each call."""
    request_id = str(uuid.uuid4())
    if step.name == "ImportKeyPair":
        return ({"keyName": step.request["keyName"],
                 "publicKeyMaterial": "<sensitiveDataRemoved>"},
                {"requestId": request_id, "keyName": step.request["keyName"],
                 "keyPairId": step.response["keyPairId"]})
    if step.name == "CreateSecurityGroup":
        return ({"groupName": step.request["groupName"], "groupDescription": "launch-wizard"},
                {"requestId": request_id, "_return": True, "groupId": step.response["groupId"]})
    if step.name == "AuthorizeSecurityGroupIngress":
        items = [{"ipProtocol": p["IpProtocol"], "fromPort": p["FromPort"], "toPort": p["ToPort"],
                  "groups": {}, "ipRanges": {"items": [{"cidrIp": r["CidrIp"]}
                                                       for r in p["IpRanges"]]},
                  "ipv6Ranges": {}, "prefixListIds": {}}
                 for p in step.request["ipPermissions"]]
        return ({"groupId": step.request["groupId"], "ipPermissions": {"items": items}},
                {"requestId": request_id, "_return": True})
    return _run_instances(step, request_id)


def _run_instances(step: scenario.Step, request_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    request = step.request
    items = [{"instanceId": i, "imageId": scenario.AMI, "instanceType": request["instanceType"],
              "keyName": request["keyName"], "instanceState": {"code": 0, "name": "pending"},
              "launchTime": int(step.at.timestamp() * 1000)}
             for i in step.response["instanceIds"]]
    return ({"instancesSet": {"items": [{"imageId": scenario.AMI,
                                         "minCount": request["minCount"],
                                         "maxCount": request["maxCount"],
                                         "keyName": request["keyName"]}]},
             "groupSet": {"items": [{"groupId": g} for g in request["securityGroupIds"]]},
             "instanceType": request["instanceType"]},
            {"requestId": request_id, "reservationId": f"r-{uuid.uuid4().hex[:17]}",
             "ownerId": step.response.get("ownerId", ""), "instancesSet": {"items": items}})


def record(step: scenario.Step, account: str) -> dict[str, Any]:
    """The CloudTrail record of one attacker call."""
    request, response = _elements(step)
    return {
        "eventVersion": "1.09", "userIdentity": _identity(account), "eventTime": _stamp(step.at),
        "eventSource": f"{step.service}.amazonaws.com", "eventName": step.name,
        "awsRegion": scenario.REGION, "sourceIPAddress": scenario.ATTACKER_IP,
        "userAgent": scenario.ATTACKER_AGENT, "requestParameters": request,
        "responseElements": response, "requestID": response["requestId"],
        "eventID": str(uuid.uuid4()), "readOnly": False, "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": account, "eventCategory": "Management",
    }


def mining_finding(account: str, instance_id: str, at: datetime) -> dict[str, Any]:
    """GuardDuty's finding for an instance talking to a Monero pool on TCP 7777."""
    finding_id = uuid.uuid4().hex
    detector = uuid.uuid4().hex
    return {
        "schemaVersion": "2.0", "accountId": account, "region": scenario.REGION,
        "partition": "aws", "id": finding_id,
        "arn": f"arn:aws:guardduty:{scenario.REGION}:{account}:detector/{detector}/finding/"
               f"{finding_id}",
        "type": "CryptoCurrency:EC2/BitcoinTool.B", "severity": 8,
        "title": f"EC2 instance {instance_id} is communicating with a cryptocurrency mining pool.",
        "description": f"EC2 instance {instance_id} is communicating with IP address "
                       "198.51.100.77 on TCP port 7777, a known Monero mining pool.",
        "createdAt": at.isoformat(), "updatedAt": at.isoformat(),
        "resource": {"resourceType": "Instance",
                     "instanceDetails": {"instanceId": instance_id, "instanceType": "c5.4xlarge"}},
        "service": {"serviceName": "guardduty", "detectorId": detector, "archived": False,
                    "count": 1, "eventFirstSeen": at.isoformat(), "eventLastSeen": at.isoformat(),
                    "action": {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                        "connectionDirection": "OUTBOUND", "protocol": "TCP",
                        "remotePortDetails": {"port": 7777, "portName": "Unknown"},
                        "remoteIpDetails": {"ipAddressV4": "198.51.100.77"}}}},
    }


def publish(session: Any, steps: list[scenario.Step], account: str, at: datetime) -> int:
    """Put every API-call record and the GuardDuty finding on the default event bus."""
    entries = [
        {"Source": f"aws.{s.service}", "DetailType": "AWS API Call via CloudTrail",
         "Detail": json.dumps(record(s, account))}
        for s in steps if s.service == "ec2"
    ]
    miners = next(s for s in steps if s.name == "RunInstances").response["instanceIds"]
    entries.append({"Source": "aws.guardduty", "DetailType": "GuardDuty Finding",
                    "Detail": json.dumps(mining_finding(account, miners[0], at))})
    events = session.client("events", region_name=scenario.REGION)
    for start in range(0, len(entries), 10):
        answer = events.put_events(Entries=entries[start:start + 10])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused entries: {answer['Entries']}")
    return len(entries)
