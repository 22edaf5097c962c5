"""`costguard incidents list|show ID|ack ID`: incidents as a whole, with who took them."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from costguard.cli.options import EXIT_BAD_INPUT, bad_input_exits_2, config_option, load
from costguard.cli.triage import by_option, reason_option
from costguard.clock import utcnow

STATUSES = ("open", "resolved", "all")


@click.group()
def incidents() -> None:
    """Inspect and triage incidents."""


@incidents.command("list")
@config_option
@click.option("--status", type=click.Choice(STATUSES), default="open", show_default=True)
@bad_input_exits_2
def incidents_list(config_path: str | None, status: str) -> None:
    """List incidents, oldest first: severity, status, times, who acknowledged, findings."""
    from costguard.cli.incident_view import incidents_table
    from costguard.cli.output import terminal_width
    from costguard.runtime.bootstrap import open_store
    from costguard.store import IncidentStatus

    store = open_store(load(config_path).config)
    wanted = None if status == "all" else IncidentStatus(status)
    rows = store.list_incidents(status=wanted)
    click.echo(incidents_table(rows, terminal_width()) if rows else "no incidents")


@incidents.command("show")
@config_option
@click.argument("incident_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@bad_input_exits_2
def incidents_show(config_path: str | None, incident_id: int, fmt: str) -> None:
    """One incident: its times with who, its findings and scope, the messages per channel."""
    from costguard.cli.incident_view import incident_doc, incident_text
    from costguard.runtime.bootstrap import open_store

    store = open_store(load(config_path).config)
    incident = _get_or_exit(store, incident_id)
    doc = incident_doc(incident, store.list_findings(incident_id=incident_id),
                       store.notifications(incident_id=incident_id))
    click.echo(json.dumps(doc, indent=2) if fmt == "json" else incident_text(doc))


@incidents.command("ack")
@config_option
@click.argument("incident_id", type=int)
@reason_option
@by_option
@bad_input_exits_2
def incidents_ack(config_path: str | None, incident_id: int, reason: str | None,
                  by: str) -> None:
    """Acknowledge an incident: you have taken it (its findings keep their own status)."""
    from costguard.runtime.bootstrap import open_store

    store = open_store(load(config_path).config)
    _get_or_exit(store, incident_id)
    try:
        store.acknowledge_incident(incident_id, now=utcnow(), by=by, reason=reason)
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"incident {incident_id} acknowledged by {by}")


def _get_or_exit(store: Any, incident_id: int) -> Any:
    try:
        return store.get_incident(incident_id)
    except LookupError:
        click.echo(f"no incident with id {incident_id}", err=True)
        sys.exit(EXIT_BAD_INPUT)
