"""What every command shares: exit codes, the config option, loading, and bad input as exit 2."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import click

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False),
    help="the config file (default: $COSTGUARD_CONFIG, ./costguard.yml, "
    "/etc/costguard/costguard.yml)",
)


def bad_input_exits_2(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print every config/policy problem on its own line and exit 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from costguard.settings.problems import InvalidInput

        try:
            return func(*args, **kwargs)
        except InvalidInput as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


def load(config_path: str | None) -> Any:
    from costguard.runtime.bootstrap import load_setup

    setup = load_setup(config_path)
    configure_logging(setup.config.log_level)
    return setup


QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "alembic", "apscheduler")
"""Libraries whose INFO lines (credentials found, endpoints resolved) are noise in our log."""


def configure_logging(level: str, env: Mapping[str, str] = os.environ) -> None:
    """Log lines on stderr; under systemd (JOURNAL_STREAM set) without our own timestamp, since
    the journal stamps every line already."""
    stamp = "" if env.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(
        level=getattr(logging, level.upper()), stream=sys.stderr,
        format=stamp + "%(levelname)s %(name)s: %(message)s",
    )
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.root.level))
