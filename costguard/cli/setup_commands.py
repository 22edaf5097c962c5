"""`costguard setup events` and `costguard prices update`: one-time and occasional set-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from costguard.cli.options import bad_input_exits_2, config_option, load


@click.group()
def setup() -> None:
    """One-time AWS-side set-up (needs the setup permissions of `iam-policy`)."""


@setup.command("events")
@config_option
@click.option("--regions", default=None,
              help="comma-separated; default: events.regions, else aws.regions, else every "
              "region enabled for the account (the regions a scan covers)")
@click.option("--dry-run", is_flag=True, help="print what would change and change nothing")
@bad_input_exits_2
def setup_events_cmd(config_path: str | None, regions: str | None, dry_run: bool) -> None:
    """Create (idempotently) the SQS queue, its policy and the EventBridge rules per region."""
    from costguard.actions.event_pipeline import apply, plan, summary
    from costguard.collectors.ec2 import InventoryCollector
    from costguard.collectors.session import Aws

    setup_ = load(config_path)
    aws = Aws.from_environment(setup_.config.aws.profile)
    account = aws.account_id()
    chosen = _event_regions(setup_.config, regions,
                            lambda: InventoryCollector(aws, account).regions())
    actions = plan(aws, account, chosen, setup_.config.events.queue_name)
    if dry_run:
        for action in actions:
            click.echo(action.description)
    else:
        for line in apply(actions):
            click.echo(line)
    click.echo(summary(actions, applied=not dry_run))


def _event_regions(config: Any, given: str | None, enabled: Callable[[], list[str]]) -> list[str]:
    """The regions to set up: as given, else events.regions, else aws.regions, else every
    enabled region, so every region a scan covers gets its events (an attacker's launch in a
    region nobody uses must reach the queue too)."""
    if given:
        return [r.strip() for r in given.split(",") if r.strip()]
    return list(config.events.regions or config.aws.regions or enabled())


@click.group()
def prices() -> None:
    """The on-demand price table burn rates are computed with."""


@prices.command("update")
@config_option
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="where to write (default: the state directory, which costguard then reads)")
@click.option("--regions", default=None, help="comma-separated; default: the table's regions")
@bad_input_exits_2
def prices_update(config_path: str | None, out: str | None, regions: str | None) -> None:
    """Refresh the table from the AWS Price List API (Linux, shared tenancy, on demand)."""
    from pathlib import Path

    from costguard.actions.price_refresh import read_table, update_table
    from costguard.collectors.price_list import PriceListCollector
    from costguard.collectors.session import Aws
    from costguard.settings.paths import refreshed_price_table, state_dir
    from costguard.spend.prices import PriceBook

    setup_ = load(config_path)
    target = Path(out) if out else refreshed_price_table()
    source = target if target.is_file() else PriceBook().path
    table = read_table(source)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    chosen = [r.strip() for r in regions.split(",")] if regions else list(table)
    aws = Aws.from_environment(setup_.config.aws.profile)
    collector = PriceListCollector(aws, state_dir() / "prices")
    done = update_table(collector, list(table), list(table["us-east-1"]), target, fetch=chosen)
    click.echo(f"wrote {done.path}: {done.regions} regions, {done.from_api} prices from the "
               f"Price List API, {done.kept} kept from the previous table, {done.missing} missing")
