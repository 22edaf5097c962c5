"""cloudtrail_logging: stopped trails, uncovered regions, and no false alarm on a failed read."""

from __future__ import annotations

from costguard.alerts.render import text_to_html
from costguard.checks.cloudtrail_logging import CloudTrailLogging
from costguard.model import Severity

from .conftest import (
    ACCOUNT,
    DEV_ARN,
    DEV_KEY,
    HOSTILE,
    OTHER_ACCOUNT,
    SCRIPT,
    ago,
    assert_only_quoted,
    event,
    health,
    inventory,
    render,
    run,
    snapshot,
    trail,
)

MAIN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"


def _found(snap):
    return [(f.details["reason"], f.region, f.resource) for f in run(CloudTrailLogging, snap)]


def test_a_logging_multi_region_trail_covers_every_scanned_region():
    snap = snapshot(trails=(trail(region="us-east-1"), trail(region="eu-west-1")),
                    inventory=(inventory(region="ap-south-1"),))

    assert run(CloudTrailLogging, snap) == []


def test_a_stopped_trail_is_one_finding_in_its_home_region_and_explains_its_regions():
    stopped = [trail(logging=False, region=r, stopped=ago(minutes=4))
               for r in ("us-east-1", "eu-west-1")]

    [finding] = run(CloudTrailLogging, snapshot(trails=tuple(stopped)))

    assert (finding.region, finding.resource) == ("us-east-1", MAIN)
    assert finding.title == "CloudTrail trail main is not logging (every region)"
    assert finding.severity is Severity.HIGH
    assert finding.at == ago(minutes=4)
    assert finding.details == {
        "account": ACCOUNT, "reason": "not_logging", "region": "us-east-1",
        "trail": {"name": "main", "arn": MAIN, "home_region": "us-east-1", "multi_region": True,
                  "is_logging": False, "stopped_at": "2026-11-22T11:56:00+00:00",
                  "latest_delivery_error": None},
        "logging_trails": [], "caused_by": [], "callers": []}


def test_the_stoplogging_call_joins_the_stopped_trail_to_its_caller():
    stop = event("StopLogging", principal=DEV_ARN, key=DEV_KEY, request={"name": MAIN},
                 event_id="ev-stop")
    other = event("StopLogging", request={"name": "another-trail"})

    [finding] = run(CloudTrailLogging, snapshot(events=(stop, other),
                                                trails=(trail(logging=False),)))

    assert [c["event_id"] for c in finding.details["caused_by"]] == ["ev-stop"]
    assert {f"principal:{DEV_ARN}", f"access_key:{DEV_KEY}", f"caller_key:{DEV_KEY}"} == (
        finding.entities)


def test_a_region_no_logging_trail_covers_is_reported_per_region():
    local = trail("local", multi_region=False, region="us-east-1", home="us-east-1")
    snap = snapshot(trails=(local,), inventory=(inventory(region="us-east-1"),
                                                inventory(region="eu-west-1")))

    [finding] = run(CloudTrailLogging, snap)

    assert finding.title == "No CloudTrail trail records eu-west-1"
    assert (finding.region, finding.resource) == (
        "eu-west-1", f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail-coverage")
    assert [t["name"] for t in finding.details["logging_trails"]] == ["local"]


def test_an_account_with_no_trail_at_all_is_reported_once_its_trails_were_read():
    read = (health("cloudtrail", region="us-east-1"), health("cloudtrail", region="eu-west-1"))
    failed_read = (health("cloudtrail", region="us-east-1", failures=2),)

    findings = run(CloudTrailLogging, snapshot(health=read))

    assert [f.title for f in findings] == [
        f"Account {ACCOUNT} has no logging CloudTrail trail (eu-west-1 unrecorded)",
        f"Account {ACCOUNT} has no logging CloudTrail trail (us-east-1 unrecorded)"]
    # Nothing shows the trails were read: a failed collection is not "no trail".
    assert run(CloudTrailLogging, snapshot(inventory=(inventory(),))) == []
    assert run(CloudTrailLogging, snapshot(health=failed_read, inventory=(inventory(),))) == []


def test_a_region_whose_last_read_failed_is_not_judged():
    local = trail("local", multi_region=False)
    snap = snapshot(trails=(local,), health=(health("cloudtrail", region="eu-west-1",
                                                    failures=1),),
                    inventory=(inventory(region="eu-west-1"),))

    assert run(CloudTrailLogging, snap) == []


def test_accounts_are_judged_apart():
    snap = snapshot(trails=(trail(), trail(logging=False, account=OTHER_ACCOUNT)))

    assert _found(snap) == [
        ("not_logging", "us-east-1", f"arn:aws:cloudtrail:us-east-1:{OTHER_ACCOUNT}:trail/main")]


def test_remediation_starts_the_trail_or_creates_one():
    stopped = snapshot(trails=(trail(logging=False, stopped=ago(minutes=4)),))
    bare = snapshot(health=(health("cloudtrail"),))

    text = render("cloudtrail_logging", [*run(CloudTrailLogging, stopped),
                                         *run(CloudTrailLogging, bare)])

    assert f"aws cloudtrail start-logging --region us-east-1 --name {MAIN}\n" in text
    assert "is not logging since 2026-11-22T11:56:00+00:00: nothing that happens in any region" \
        in text
    assert (f"No logging CloudTrail trail records us-east-1 in account {ACCOUNT}: the account "
            "has no logging trail at all.") in text
    assert ("aws cloudtrail create-trail --region us-east-1 --name costguard-all-regions "
            "--s3-bucket-name YOUR-TRAIL-BUCKET --is-multi-region-trail\n") in text


def test_remediation_quotes_trail_names():
    odd = trail(HOSTILE, logging=False)

    text = render("cloudtrail_logging", run(CloudTrailLogging, snapshot(trails=(odd,))))

    assert_only_quoted(text, HOSTILE)
    script = run(CloudTrailLogging, snapshot(trails=(trail(SCRIPT, logging=False),)))
    assert "<script>" not in text_to_html(render("cloudtrail_logging", script))
