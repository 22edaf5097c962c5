"""`costguard findings ...` and `costguard stats`: inspecting, triaging, measuring."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from costguard.cli.options import EXIT_BAD_INPUT, bad_input_exits_2, config_option, load
from costguard.clock import utcnow
from costguard.model import Severity, Status
from costguard.text import oneline


@click.command()
@config_option
@click.option("--since", default="30d", show_default=True, help="how far back: 7d, 12h, ...")
@click.option("--target", default=None,
              help="fix target, e.g. 30m (default: the config's incidents.target_minutes)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@bad_input_exits_2
def stats(config_path: str | None, since: str, target: str | None, fmt: str) -> None:
    """Alert-to-fix: median and p75 time to notify and to fix, share fixed within target."""
    from costguard.cli.output import terminal_width
    from costguard.incidents.stats import stats_rows, stats_table
    from costguard.runtime.bootstrap import open_store
    from costguard.settings.config import parse_duration
    from costguard.text import table

    setup = load(config_path)
    try:
        window = timedelta(seconds=parse_duration(since))
        goal = timedelta(seconds=parse_duration(target)) if target else timedelta(
            minutes=setup.config.incidents.target_minutes)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    now = utcnow()
    incidents = open_store(setup.config).list_incidents(since=now - window)
    rows = stats_rows(incidents, goal, now)
    if fmt == "json":
        click.echo(json.dumps([r.__dict__ | {"share_within_target": r.share_within_target}
                               for r in rows], indent=2))
        return
    header, *body = stats_table(rows, goal)
    click.echo(table(body, header, terminal_width()))


@click.group()
def findings() -> None:
    """Inspect and triage findings."""


@findings.command("list")
@config_option
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in Status]),
              help="repeatable; default: open, acknowledged and muted")
@click.option("--severity", "min_severity", type=click.Choice([s.value for s in Severity]))
@bad_input_exits_2
def findings_list(config_path: str | None, statuses: tuple[str, ...], min_severity: str | None):
    """List findings, worst first."""
    from costguard.cli.output import findings_table, terminal_width
    from costguard.runtime.bootstrap import open_store

    store = open_store(load(config_path).config)
    wanted = [Status(s) for s in statuses] or [Status.OPEN, Status.ACKNOWLEDGED, Status.MUTED]
    rows = store.list_findings(
        statuses=wanted, min_severity=Severity(min_severity) if min_severity else None
    )
    click.echo(findings_table(rows, terminal_width()) if rows else "no findings")


@findings.command("show")
@config_option
@click.argument("finding_id", type=int)
@bad_input_exits_2
def findings_show(config_path: str | None, finding_id: int) -> None:
    """Show one finding with its details and every transition: when, who and why."""
    from costguard.runtime.bootstrap import open_store

    store = open_store(load(config_path).config)
    finding = _get_or_exit(store, finding_id)
    doc = finding.to_json()
    doc["transitions"] = [
        {"at": t.at.isoformat(), "from": t.from_status and t.from_status.value,
         "to": t.to_status.value, "by": t.actor or "costguard", "reason": t.reason}
        for t in store.transitions(finding_id)
    ]
    click.echo(json.dumps(doc, indent=2, default=str))


def _get_or_exit(store: Any, finding_id: int) -> Any:
    try:
        return store.get_finding(finding_id)
    except LookupError:
        click.echo(f"no finding with id {finding_id}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _who(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """`--by` as given (one line, at most 200 characters), else the login name."""
    if value is None:
        try:
            value = getpass.getuser()
        except Exception:  # no USER/LOGNAME and no passwd entry (a bare container)
            raise click.BadParameter("cannot tell who you are: give --by NAME") from None
    value = value.strip()
    if not value or len(value) > MAX_ACTOR or oneline(value) != value:
        raise click.BadParameter(f"one line of 1 to {MAX_ACTOR} characters", param=param)
    return value


MAX_ACTOR = 200
"""The store's `actor` column holds this many characters."""

by_option = click.option("--by", "by", callback=_who,
                         help="who is doing this, for the record (default: your login name)")
reason_option = click.option("--reason", default=None, help="why, for the record")


def _triage(config_path: str | None, finding_id: int, step: Callable[[Any], Any]) -> Any:
    """Open the store, check the id, apply one triage step; a refused step exits 2."""
    from costguard.runtime.bootstrap import open_store

    store = open_store(load(config_path).config)
    _get_or_exit(store, finding_id)
    return _transition(lambda: step(store))


@findings.command("ack")
@config_option
@click.argument("finding_id", type=int)
@reason_option
@by_option
@bad_input_exits_2
def findings_ack(config_path: str | None, finding_id: int, reason: str | None, by: str) -> None:
    """Acknowledge a finding: someone is on it (it stays open until fixed). Its incident is
    acknowledged on its own: `costguard incidents ack ID`."""
    _triage(config_path, finding_id,
            lambda store: store.acknowledge(finding_id, now=utcnow(), reason=reason, by=by))
    click.echo(f"finding {finding_id} acknowledged by {by}")


@findings.command("unack")
@config_option
@click.argument("finding_id", type=int)
@reason_option
@by_option
@bad_input_exits_2
def findings_unack(config_path: str | None, finding_id: int, reason: str | None,
                   by: str) -> None:
    """Hand an acknowledged finding back: open again, waiting for someone."""
    _triage(config_path, finding_id,
            lambda store: store.unacknowledge(finding_id, now=utcnow(), reason=reason, by=by))
    click.echo(f"finding {finding_id} unacknowledged by {by}: open again")


@findings.command("mute")
@config_option
@click.argument("finding_id", type=int, required=False)
@click.option("--account", help="mute by pattern: findings in this account")
@click.option("--check", "check", help="mute by pattern: findings of this check")
@click.option("--resource", help="mute by pattern: a glob on the resource, e.g. 'sg-0ab*'")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
              help="mute by pattern: the resource has this tag (repeatable)")
@click.option("--until", "until", required=True, help="ISO date/time or a duration such as 7d")
@click.option("--reason", required=True, help="why it is acceptable until then")
@by_option
@bad_input_exits_2
def findings_mute(config_path: str | None, finding_id: int | None, account: str | None,
                  check: str | None, resource: str | None, tags: tuple[str, ...], until: str,
                  reason: str, by: str) -> None:
    """Mute one finding (ID), or every finding a pattern matches (--account, --check,
    --resource, --tag), until a date, with a reason; nobody is told about them until then."""
    from costguard.cli.mutes import add_rule

    when = _parse_until(until)
    pattern = {"account": account, "check": check, "resource": resource, "tags": tags}
    if finding_id is None:
        add_rule(config_path, pattern, until=when, reason=reason, by=by)
        return
    if any(pattern.values()):
        raise click.UsageError("give a finding ID or a pattern (--account, --check, "
                               "--resource, --tag), not both")
    _triage(config_path, finding_id,
            lambda store: store.mute(finding_id, until=when, reason=reason, now=utcnow(), by=by))
    click.echo(f"finding {finding_id} muted until {when.isoformat()} by {by}")


@findings.command("unmute")
@config_option
@click.argument("finding_id", type=int, required=False)
@click.option("--rule", "rule_id", type=int, help="end a mute rule (see `findings mutes`)")
@reason_option
@by_option
@bad_input_exits_2
def findings_unmute(config_path: str | None, finding_id: int | None, rule_id: int | None,
                    reason: str | None, by: str) -> None:
    """End a mute now rather than at its --until: open again (or end a mute rule, --rule)."""
    if (finding_id is None) == (rule_id is None):
        raise click.UsageError("give a finding ID or --rule ID")
    if rule_id is not None:
        from costguard.cli.mutes import end_rule

        end_rule(config_path, rule_id, by)
        return
    _triage(config_path, finding_id,
            lambda store: store.unmute(finding_id, now=utcnow(), reason=reason, by=by))
    click.echo(f"finding {finding_id} unmuted by {by}: open again")


@findings.command("mutes")
@config_option
@bad_input_exits_2
def findings_mutes(config_path: str | None) -> None:
    """The mute rules in force: those added with `findings mute --check ...` and the config's."""
    from costguard.cli.mutes import list_rules

    list_rules(config_path)


def _transition(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)


def _parse_until(text: str) -> datetime:
    """`--until` as an ISO date/time (UTC unless it says otherwise) or a duration from now."""
    from costguard.settings.config import parse_duration

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            return utcnow() + timedelta(seconds=parse_duration(text))
        except ValueError:
            raise click.BadParameter(
                f"{text!r}: expected an ISO date such as 2026-12-31 or a duration such as 7d",
                param_hint="--until",
            ) from None
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if value <= utcnow():
        raise click.BadParameter(f"{text!r} is in the past", param_hint="--until")
    return value
