"""`costguard outbox list|retry ID` and `costguard notify test NOTIFIER`: delivery in sight."""

from __future__ import annotations

import sys

import click

from costguard.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_FINDINGS,
    bad_input_exits_2,
    config_option,
    fail,
    load,
)
from costguard.clock import utcnow


@click.group()
def outbox() -> None:
    """What is queued, sent, failing or dead, per channel; retry what failed."""


@outbox.command("list")
@config_option
@click.option("--dead", is_flag=True, help="only the messages delivery gave up on")
@bad_input_exits_2
def outbox_list(config_path: str | None, dead: bool) -> None:
    """Every message per channel: its state, attempts, last error and next attempt."""
    from costguard.cli.output import outbox_table, terminal_width
    from costguard.runtime.bootstrap import open_store
    from costguard.store.delivery_stats import DEAD_STATUSES

    store = open_store(load(config_path).config)
    rows = store.notifications(DEAD_STATUSES) if dead else store.notifications()
    if not rows:
        click.echo("no dead messages" if dead else "the outbox is empty")
        return
    click.echo(outbox_table(rows, terminal_width()))


@outbox.command("retry")
@config_option
@click.argument("notification_id", type=int)
@bad_input_exits_2
def outbox_retry(config_path: str | None, notification_id: int) -> None:
    """Queue a failing or dead message again, due now (the daemon sends it within seconds;
    `costguard scan` sends it too)."""
    from costguard.runtime.bootstrap import open_store

    store = open_store(load(config_path).config)
    try:
        again = store.retry(notification_id, utcnow())
    except (LookupError, ValueError) as exc:
        click.echo(str(exc).strip("'\""), err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"notification {notification_id} via {again.channel} queued again, due now "
               f"(after {again.attempts} attempt(s))")


@click.group()
def notify() -> None:
    """Try the notification channels."""


@notify.command("test")
@config_option
@click.argument("notifier")
@bad_input_exits_2
def notify_test(config_path: str | None, notifier: str) -> None:
    """Send a sample alert through NOTIFIER now, outside the outbox: nothing is stored and no
    incident changes. Exit codes: 0 sent; 1 the send failed (the reason is printed); 2 no such
    notifier, or its config or secret is bad."""
    from costguard.alerts.sample_alert import send_test
    from costguard.notifiers import SecretError

    setup = load(config_path)
    try:
        external_id = send_test(setup.config, notifier, utcnow())
    except (LookupError, SecretError) as exc:
        fail(str(exc).strip("'\""), EXIT_BAD_INPUT)
    except Exception as exc:  # the channel's own failure: DeliveryError carries one line
        fail(f"notifier {notifier}: send failed: {exc}", EXIT_FINDINGS)
    click.echo(f"sent a sample alert via {notifier}"
               + (f": {external_id}" if external_id else ""))
