"""`costguard setup events` and `costguard prices update`: one-time and occasional set-up."""

from __future__ import annotations

from typing import Any

import click

from costguard.cli.options import bad_input_exits_2, config_option, load, regions_option


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
    """Create (idempotently) the SQS queue, its policy and the EventBridge rules per region.

    Exit codes: 0 done; 2 bad config, options or AWS environment (no credentials, an unknown
    region or endpoint, AWS refusing a call), reported in one line.
    """
    from costguard.actions.event_pipeline import apply, plan, summary
    from costguard.collectors.ec2 import InventoryCollector
    from costguard.collectors.session import Aws

    setup_ = load(config_path)
    given = _event_regions(setup_.config, regions)  # checked before AWS is asked anything
    aws = Aws.from_settings(setup_.config.aws)
    account = aws.account_id()
    chosen = given or InventoryCollector(aws, account).regions()
    actions = plan(aws, account, chosen, setup_.config.events.queue_name)
    if dry_run:
        for action in actions:
            click.echo(action.description)
    else:
        for line in apply(actions):
            click.echo(line)
    click.echo(summary(actions, applied=not dry_run))


def _event_regions(config: Any, given: str | None) -> list[str]:
    """The regions to set up: as given, else events.regions, else aws.regions; empty means
    every region enabled for the account, so every region a scan covers gets its events (an
    attacker's launch in a region nobody uses must reach the queue too)."""
    return regions_option(given) or list(config.events.regions or config.aws.regions or [])


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
    """Refresh the table from the AWS Price List API (Linux, shared tenancy, on demand).

    The table is written (atomically) only once every price has been fetched, so an AWS error
    leaves the previous file as it was. Exit codes: 0 written; 2 bad config, options or AWS
    environment (no credentials, an unknown region or endpoint, AWS refusing a call).
    """
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
    chosen = regions_option(regions) or list(table)
    aws = Aws.from_settings(setup_.config.aws)
    collector = PriceListCollector(aws, state_dir() / "prices")
    done = update_table(collector, list(table), list(table["us-east-1"]), target, fetch=chosen,
                        previous=source)
    click.echo(f"wrote {done.path}: {done.regions} regions, {done.from_api} prices from the "
               f"Price List API, {done.kept} kept from the previous table, {done.missing} missing")
