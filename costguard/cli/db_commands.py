"""`costguard db upgrade` and `costguard db backup FILE`: the store, on request."""

from __future__ import annotations

import click

from costguard.cli.options import EXIT_BAD_INPUT, bad_input_exits_2, config_option, fail


@click.group()
def db() -> None:
    """The store: apply its migrations, back it up."""


@db.command("upgrade")
@config_option
@bad_input_exits_2
def db_upgrade(config_path: str | None) -> None:
    """Apply the store's schema migrations now (every command also applies them on open).

    Exit codes: 0 done; 2 bad config; 4 the store cannot be opened (damaged, newer than this
    costguard, or unreachable).
    """
    from costguard.runtime.bootstrap import find_and_read_config
    from costguard.store.access import masked
    from costguard.store.backup import upgrade

    url = find_and_read_config(config_path).database_url
    before, after = upgrade(url)
    state = f"already at revision {after}" if before == after else (
        f"upgraded from revision {before or 'none (empty)'} to {after}")
    click.echo(f"store {masked(url)}: {state}")


@db.command("backup")
@config_option
@click.argument("file", type=click.Path(dir_okay=False))
@bad_input_exits_2
def db_backup(config_path: str | None, file: str) -> None:
    """Copy the SQLite store to FILE, consistently even while the daemon writes.

    Restore by stopping costguard and copying FILE over the store's file. A PostgreSQL store is
    backed up with pg_dump; this prints the command. Exit codes: 0 written; 2 bad config or a
    PostgreSQL store; 4 the store cannot be read.
    """
    from pathlib import Path

    from costguard.runtime.bootstrap import find_and_read_config
    from costguard.store.access import masked
    from costguard.store.backup import BackupUnsupported, backup

    url = find_and_read_config(config_path).database_url
    try:
        revision = backup(url, Path(file))
    except BackupUnsupported as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    click.echo(f"backed up {masked(url)} to {file} (schema revision {revision or 'none'})")
