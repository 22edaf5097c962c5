"""Calls that give another AWS account a way in or a copy of data (pure): snapshots, images
and database snapshots shared with an account, roles that trust another account or anyone.

A public share ("all") is the shipped Sigma rule's; here are the shares to a named account,
which only a list of the accounts one knows can judge, and roles any principal may assume.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from costguard.activity.api_calls import failed, listed, request, service_of
from costguard.activity.iam_grants import policy_document
from costguard.snapshot import ApiEvent

_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):")


@dataclass(frozen=True)
class Share:
    """What a call opened to whom."""

    event: ApiEvent
    kind: str
    """snapshot, image, db_snapshot, db_cluster_snapshot or role."""
    name: str
    arn: str
    accounts: tuple[str, ...]
    """The other accounts given access; "*" for anyone."""


def _ec2_added(e: ApiEvent, attribute: str) -> list[str]:
    added = request(e).get(attribute, {})
    items = listed(added.get("add")) if isinstance(added, Mapping) else []
    return [str(i["userId"]) for i in items if i.get("userId")]


def _snapshot(e: ApiEvent) -> Share | None:
    name = str(request(e).get("snapshotId") or "")
    arn = f"arn:aws:ec2:{e.region}:{e.account}:snapshot/{name}"
    return Share(e, "snapshot", name, arn, tuple(_ec2_added(e, "createVolumePermission")))


def _image(e: ApiEvent) -> Share | None:
    name = str(request(e).get("imageId") or "")
    arn = f"arn:aws:ec2:{e.region}::image/{name}"
    return Share(e, "image", name, arn, tuple(_ec2_added(e, "launchPermission")))


def _db(e: ApiEvent) -> Share | None:
    params = request(e)
    cluster = e.name == "ModifyDBClusterSnapshotAttribute"
    name = str(params.get("dBClusterSnapshotIdentifier" if cluster
                          else "dBSnapshotIdentifier") or "")
    if params.get("attributeName") != "restore":
        return None
    added = [str(a) for a in params.get("valuesToAdd") or [] if str(a) != "all"]
    kind = "db_cluster_snapshot" if cluster else "db_snapshot"
    what = "cluster-snapshot" if cluster else "snapshot"
    arn = f"arn:aws:rds:{e.region}:{e.account}:{what}:{name}"
    return Share(e, kind, name, arn, tuple(added))


def trusted_accounts(document: Mapping[str, Any] | None) -> list[str]:
    """Accounts (or "*") an assume-role policy lets in: AWS principals of Allow statements;
    "*" only without a Condition (an organization or external-id condition narrows it)."""
    found: list[str] = []
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    for s in [statements] if isinstance(statements, Mapping) else statements or []:
        if not isinstance(s, Mapping) or s.get("Effect") != "Allow":
            continue
        principal = s.get("Principal")
        values = principal.get("AWS") if isinstance(principal, Mapping) else principal
        for value in [values] if isinstance(values, str) else values or []:
            if value == "*":
                found += [] if s.get("Condition") else ["*"]
            elif (m := _ACCOUNT_IN_ARN.match(str(value))) or str(value).isdigit():
                found.append(m.group(1) if m else str(value))
    return found


def _role(e: ApiEvent) -> Share | None:
    params = request(e)
    name = str(params.get("roleName") or "")
    text = params.get("assumeRolePolicyDocument" if e.name == "CreateRole" else "policyDocument")
    accounts = trusted_accounts(policy_document(text))
    return Share(e, "role", name, f"arn:aws:iam::{e.account}:role/{name}", tuple(accounts))


_READERS = {"ModifySnapshotAttribute": ("ec2", _snapshot), "ModifyImageAttribute": ("ec2", _image),
            "ModifyDBSnapshotAttribute": ("rds", _db),
            "ModifyDBClusterSnapshotAttribute": ("rds", _db),
            "CreateRole": ("iam", _role), "UpdateAssumeRolePolicy": ("iam", _role)}


def share(event: ApiEvent, known: Iterable[str]) -> Share | None:
    """What a successful call opened to accounts outside `known` (and its own), or None."""
    reader = _READERS.get(event.name)
    if reader is None or service_of(event) != reader[0] or failed(event):
        return None
    found = reader[1](event)
    if found is None or not found.name:
        return None
    others = tuple(a for a in dict.fromkeys(found.accounts)
                   if a not in set(known) and a != event.account)
    return Share(found.event, found.kind, found.name, found.arn, others) if others else None
