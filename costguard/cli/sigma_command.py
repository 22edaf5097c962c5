"""`costguard sigma test RULES... --events FILE.jsonl`: run Sigma rules over recorded events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from costguard.cli.options import bad_input_exits_2


@click.group()
def sigma() -> None:
    """Sigma rules: try them on recorded CloudTrail events before the daemon runs them."""


@sigma.command("test")
@click.argument("rules", nargs=-1, required=True, type=click.Path(exists=False))
@click.option("--events", "events_file", required=True, type=click.Path(dir_okay=False),
              help="JSON lines: CloudTrail records, EventBridge envelopes or log files "
              '({"Records": [...]}), one JSON document per line')
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@bad_input_exits_2
def sigma_test(rules: tuple[str, ...], events_file: str, fmt: str) -> None:
    """Print every match of the RULES (files or folders) on the recorded events."""
    from costguard.runtime.sigma_trial import read_events, rule_set

    ruleset, skipped_rules = rule_set([Path(r) for r in rules])
    read = read_events(Path(events_file))
    matches = ruleset.match(e for e in read.events if hasattr(e, "principal_arn"))
    if fmt == "json":
        click.echo(json.dumps([_json(m) for m in matches], indent=2))
    else:
        for match in matches:
            click.echo(_line(match))
        click.echo(f"{len(matches)} match(es) of {len(ruleset)} rule(s) on "
                   f"{len(read.events)} event(s); {read.skipped} record(s) unreadable, "
                   f"{skipped_rules} rule(s) for other log sources left out")


def _line(match: Any) -> str:
    e, info = match.event, match.rule.info
    return (f"{e.time:%Y-%m-%dT%H:%M:%SZ}  {info.level or '-':<13}  {info.title} ({info.id})  "
            f"{e.name} by {e.principal_arn or '-'} from {e.source_ip or '-'} in {e.region}  "
            f"[{e.event_id}]")


def _json(match: Any) -> dict[str, Any]:
    e = match.event
    return {"rule": match.rule.info.as_details(), "event_id": e.event_id,
            "time": e.time.isoformat(), "event_name": e.name, "principal": e.principal_arn,
            "access_key_id": e.access_key_id, "source_ip": e.source_ip, "region": e.region,
            "account": e.account}
