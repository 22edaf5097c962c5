"""What undoes a call a detection found, as the exact commands (pure).

A Sigma rule says what it saw, not how to repair it; the repair depends on the call. Each
entry here reads the call's own request for the names it needs (the recorder, the trail, the
snapshot, the account it was shared with), so a playbook names exactly the resources that
call touched. Every value from the record is shell-quoted (`sh`): its caller chose it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from costguard.activity.api_calls import listed, request
from costguard.activity.trail_record import Fields
from costguard.snapshot import ApiEvent
from costguard.text import sh

Step = dict[str, Any]
"""{"text": what to do, "commands": [shell commands]}: JSON for finding details."""


def _step(text: str, *commands: str) -> Step:
    return {"text": text, "commands": list(commands)}


def _region(event: ApiEvent) -> str:
    return f"--region {sh(event.region)}"


def _recorder(e: ApiEvent) -> list[Step]:
    name = request(e).get("configurationRecorderName") or "default"
    if e.name == "StopConfigurationRecorder":
        return [_step(f"Start AWS Config recorder {sh(name)} again.",
                      f"aws configservice start-configuration-recorder {_region(e)} "
                      f"--configuration-recorder-name {sh(name)}")]
    return [_step(f"AWS Config's {e.name} removed {sh(name)}: set the recorder and delivery "
                  "channel up again (put-configuration-recorder, put-delivery-channel), "
                  "then start it.",
                  f"aws configservice describe-configuration-recorders {_region(e)}")]


def _flow_logs(e: ApiEvent) -> list[Step]:
    # The request's shape varies (DeleteFlowLogsRequest.FlowLogId.content, flowLogIds...):
    # every fl- id in it is one deleted.
    ids = [str(v) for v in Fields(request(e)).leaves() if str(v).startswith("fl-")]
    named = ", ".join(sh(i) for i in ids) or "the deleted flow logs"
    return [_step(f"Flow logs {named} were deleted: recreate them for the VPCs they covered "
                  "(the VPCs without flow logs are listed by the command).",
                  f"aws ec2 describe-flow-logs {_region(e)}")]


def _trail_change(e: ApiEvent) -> list[Step]:
    name = request(e).get("trailName") or request(e).get("name") or "the trail"
    if e.name == "PutEventSelectors":
        return [_step(f"Put back the event selectors of trail {sh(name)} so it records "
                      "management read and write events of every source again.",
                      f"aws cloudtrail put-event-selectors {_region(e)} --trail-name {sh(name)} "
                      "--event-selectors '[{\"ReadWriteType\":\"All\","
                      "\"IncludeManagementEvents\":true}]'")]
    return [_step(f"Restore trail {sh(name)}: every region, global service events, log file "
                  "validation.",
                  f"aws cloudtrail update-trail {_region(e)} --name {sh(name)} "
                  "--is-multi-region-trail --include-global-service-events "
                  "--enable-log-file-validation")]


def _guardduty(e: ApiEvent) -> list[Step]:
    detector = request(e).get("detectorId") or "DETECTOR"
    if e.name == "UpdateDetector":
        return [_step(f"Enable GuardDuty detector {sh(detector)} again.",
                      f"aws guardduty update-detector {_region(e)} --detector-id {sh(detector)} "
                      "--enable")]
    return [_step(f"A {e.name} on detector {sh(detector)} tells GuardDuty to trust or hide "
                  "activity: list and delete what it added.",
                  f"aws guardduty list-ip-sets {_region(e)} --detector-id {sh(detector)}",
                  f"aws guardduty list-filters {_region(e)} --detector-id {sh(detector)}")]


def _shares(e: ApiEvent, path: tuple[str, ...], key: str) -> list[str]:
    node: Any = request(e)
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return [str(i.get(key)) for i in listed(node) if i.get(key)]


def _snapshot_share(e: ApiEvent) -> list[Step]:
    snap = request(e).get("snapshotId") or "SNAPSHOT"
    added = _shares(e, ("createVolumePermission", "add"), "userId")
    groups = _shares(e, ("createVolumePermission", "add"), "group")
    perm = {"Remove": [*({"UserId": a} for a in added), *({"Group": g} for g in groups)]}
    return [_step(f"Take back the sharing of snapshot {sh(snap)}.",
                  f"aws ec2 modify-snapshot-attribute {_region(e)} --snapshot-id {sh(snap)} "
                  f"--attribute createVolumePermission --create-volume-permission "
                  f"{sh(json.dumps(perm))}")]


def _image_share(e: ApiEvent) -> list[Step]:
    image = request(e).get("imageId") or "IMAGE"
    added = _shares(e, ("launchPermission", "add"), "userId")
    groups = _shares(e, ("launchPermission", "add"), "group")
    perm = {"Remove": [*({"UserId": a} for a in added), *({"Group": g} for g in groups)]}
    return [_step(f"Take back the sharing of image {sh(image)}.",
                  f"aws ec2 modify-image-attribute {_region(e)} --image-id {sh(image)} "
                  f"--launch-permission {sh(json.dumps(perm))}")]


def _db_share(e: ApiEvent) -> list[Step]:
    params = request(e)
    cluster = e.name == "ModifyDBClusterSnapshotAttribute"
    snap = params.get("dBClusterSnapshotIdentifier" if cluster else "dBSnapshotIdentifier") \
        or "SNAPSHOT"
    added = [str(a) for a in params.get("valuesToAdd") or [] if isinstance(a, str | int)]
    verb = "modify-db-cluster-snapshot-attribute" if cluster else "modify-db-snapshot-attribute"
    flag = "--db-cluster-snapshot-identifier" if cluster else "--db-snapshot-identifier"
    return [_step(f"Take back the sharing of database snapshot {sh(snap)}.",
                  f"aws rds {verb} {_region(e)} {flag} {sh(snap)} --attribute-name restore "
                  f"--values-to-remove {' '.join(sh(a) for a in added) or 'all'}")]


def _login_profile(e: ApiEvent) -> list[Step]:
    user = request(e).get("userName") or e.user_name or "USER"
    return [_step(f"Remove the console password {e.name} set for IAM user {sh(user)} (its "
                  "owner can be given a new one after the incident).",
                  f"aws iam delete-login-profile --user-name {sh(user)}")]


def _role_trust(e: ApiEvent) -> list[Step]:
    role = request(e).get("roleName") or "ROLE"
    return [_step(f"Role {sh(role)} trusts an account you do not know: put back the trust "
                  "policy you had (or delete the role if you did not make it), after reading "
                  "what it allows.",
                  f"aws iam get-role --role-name {sh(role)}",
                  f"aws iam list-attached-role-policies --role-name {sh(role)}",
                  f"aws iam update-assume-role-policy --role-name {sh(role)} "
                  "--policy-document file://trust-policy-you-had.json")]


_STEPS: dict[str, Callable[[ApiEvent], list[Step]]] = {
    "CreateRole": _role_trust, "UpdateAssumeRolePolicy": _role_trust,
    "StopConfigurationRecorder": _recorder, "DeleteConfigurationRecorder": _recorder,
    "DeleteDeliveryChannel": _recorder, "DeleteFlowLogs": _flow_logs,
    "PutEventSelectors": _trail_change, "UpdateTrail": _trail_change,
    "UpdateDetector": _guardduty, "CreateIPSet": _guardduty, "UpdateIPSet": _guardduty,
    "CreateFilter": _guardduty, "ModifySnapshotAttribute": _snapshot_share,
    "ModifyImageAttribute": _image_share, "ModifyDBSnapshotAttribute": _db_share,
    "ModifyDBClusterSnapshotAttribute": _db_share, "CreateLoginProfile": _login_profile,
    "UpdateLoginProfile": _login_profile,
    "ModifyInstanceAttribute": lambda e: [_step(
        f"Instance {sh(request(e).get('instanceId') or 'INSTANCE')}'s user data was replaced: "
        "it runs as root at the next start. Read it, and put back the original before the "
        "instance starts again.",
        f"aws ec2 describe-instance-attribute {_region(e)} --instance-id "
        f"{sh(request(e).get('instanceId') or 'INSTANCE')} --attribute userData")],
    "EnableSerialConsoleAccess": lambda e: [_step(
        "Turn EC2 serial console access off again.",
        f"aws ec2 disable-serial-console-access {_region(e)}")],
    "LeaveOrganization": lambda e: [_step(
        f"Account {sh(e.account)} left its organization, and with it the organization's "
        "service control policies and trail: invite it back from the management account.",
        f"aws organizations invite-account-to-organization --target Id={sh(e.account)},"
        "Type=ACCOUNT")],
    "ConsoleLogin": lambda e: [_step(
        f"IAM user {sh(e.user_name or 'USER')} signed in without MFA: give it an MFA device, "
        "and until then remove its password.",
        f"aws iam delete-login-profile --user-name {sh(e.user_name or 'USER')}")],
}


def undo_steps(event: ApiEvent) -> list[Step]:
    """The steps that undo `event` (none for calls without a known repair)."""
    build = _STEPS.get(event.name)
    return build(event) if build else []
