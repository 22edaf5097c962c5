"""Mute rules from the command line: `findings mute --check ...`, `findings unmute --rule`,
`findings mutes`. A rule is checked by the same model as the config's `mutes:` entries."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click

from costguard.cli.options import EXIT_BAD_INPUT, load
from costguard.clock import utcnow
from costguard.text import short, table


def _tags(given: tuple[str, ...]) -> dict[str, str] | None:
    tags = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{short(item, 60)!r}: expected KEY=VALUE", param_hint="--tag")
        tags[key] = value
    return tags or None


def add_rule(config_path: str | None, pattern: Mapping[str, Any], *, until: datetime,
             reason: str, by: str) -> None:
    """Store a rule after checking it as a config mute; one line and exit 2 when it is wrong."""
    from pydantic import ValidationError

    from costguard.runtime.bootstrap import open_store
    from costguard.settings.muting import MuteRule

    fields = {"account": pattern.get("account"), "check": pattern.get("check"),
              "resource": pattern.get("resource"), "tag": _tags(pattern.get("tags") or ())}
    try:
        rule = MuteRule(**fields, until=until, reason=reason)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        words = error["msg"].removeprefix("Value error, ")
        click.echo(f"{'--' + where + ': ' if where else ''}{words}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    store = open_store(load(config_path).config)
    try:
        stored = store.add_mute_rule(account=rule.account, check=rule.check,
                                     resource=rule.resource, tag=rule.tag, until=rule.until,
                                     reason=rule.reason, now=utcnow(), by=by)
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"mute rule {stored.id} ({_pattern(stored)}) until {stored.until.isoformat()} "
               f"by {by}")


def end_rule(config_path: str | None, rule_id: int, by: str) -> None:
    """End a stored rule now."""
    from costguard.runtime.bootstrap import open_store

    store = open_store(load(config_path).config)
    try:
        store.end_mute_rule(rule_id, utcnow())
    except (LookupError, ValueError) as exc:
        click.echo(str(exc).strip("'\""), err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"mute rule {rule_id} ended by {by}")


def list_rules(config_path: str | None) -> None:
    """Every rule in force now, the store's then the config's."""
    from costguard.cli.output import terminal_width
    from costguard.runtime.bootstrap import open_store

    config = load(config_path).config
    now = utcnow()
    rows = [[str(r.id), _pattern(r), r.until.isoformat(), short(r.reason, 80),
             short(r.created_by or "", 40)] for r in open_store(config).active_mute_rules(now)]
    rows += [["config", _pattern(r), r.until.isoformat(), short(r.reason, 80), ""]
             for r in config.mutes if r.until > now]
    if not rows:
        click.echo("no mute rules in force")
        return
    click.echo(table(rows, ["rule", "matches", "until", "reason", "by"], terminal_width()))


def _pattern(rule: Any) -> str:
    parts = [f"{name}={short(getattr(rule, name), 60)}"
             for name in ("account", "check", "resource") if getattr(rule, name)]
    parts += [f"tag {short(k, 40)}={short(v, 40)}" for k, v in (rule.tag or {}).items()]
    return ", ".join(parts)
