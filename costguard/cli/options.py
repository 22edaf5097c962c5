"""What every command shares: exit codes, the config option, loading, and bad input as exit 2."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_STORE_UNAVAILABLE = 0, 1, 2, 3, 4
"""0 ok; 1 findings (or a failed send); 2 bad input or environment: config, policies, options,
AWS credentials, region or endpoint; 3 scan incomplete; 4 the store cannot be opened."""

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False),
    help="the config file (default: $COSTGUARD_CONFIG, ./costguard.yml, "
    "/etc/costguard/costguard.yml)",
)


def bad_input_exits_2(func: Callable[..., Any]) -> Callable[..., Any]:
    """What goes wrong before a command can do its work ends in one line per problem and its
    exit code, never a traceback: config and policy problems (each on its own line) and AWS
    credential, region or endpoint errors exit 2; a store that cannot be opened exits 4."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from costguard.settings.problems import InvalidInput
        from costguard.store.unavailable import StoreUnavailable

        try:
            return func(*args, **kwargs)
        except InvalidInput as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(EXIT_BAD_INPUT)
        except StoreUnavailable as exc:
            fail(str(exc), EXIT_STORE_UNAVAILABLE)
        except Exception as exc:
            problem = _aws_problem(exc)
            if problem is None:
                raise
            fail(problem, EXIT_BAD_INPUT)

    return wrapper


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, then the exit code."""
    click.echo(f"costguard: {message}", err=True)
    sys.exit(code)


def _aws_problem(exc: Exception) -> str | None:
    if "botocore" not in sys.modules:  # nothing has touched AWS, so this is not about AWS
        return None
    from costguard.collectors.session import aws_problem

    return aws_problem(exc)


def regions_option(given: str | None) -> list[str] | None:
    """`--regions a,b` as a list, each a known region; one line and exit 2 otherwise."""
    if not given:
        return None
    from costguard.settings.regions import check_region

    chosen = [r.strip() for r in given.split(",") if r.strip()]
    try:
        return [check_region(r) for r in chosen]
    except ValueError as exc:
        fail(f"--regions: {exc}", EXIT_BAD_INPUT)


def load(config_path: str | None, *, sigma_on_demand: bool = False) -> Any:
    from costguard.runtime.bootstrap import load_setup

    setup = load_setup(config_path, sigma_on_demand=sigma_on_demand)
    configure_logging(setup.config.log_level, log_format=chosen_log_format())
    return setup


QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "alembic", "apscheduler")
"""Libraries whose INFO lines (credentials found, endpoints resolved) are noise in our log."""

LOG_FORMATS = ("text", "json")


def chosen_log_format() -> str:
    """The global `--log-format` of the command being run (text outside a command)."""
    ctx = click.get_current_context(silent=True)
    return (ctx.find_root().params.get("log_format") if ctx else None) or "text"


def configure_logging(level: str, env: Mapping[str, str] = os.environ, *,
                      log_format: str = "text") -> None:
    """Log lines on stderr; under systemd (JOURNAL_STREAM set) without our own timestamp, since
    the journal stamps every line already. `json`: one object a line for log shippers, with
    ts, level, logger, message and whatever the line carries (account, region, source)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(
            "{levelname}{name}{message}", style="{", timestamp="ts",
            rename_fields={"levelname": "level", "name": "logger"}))
    else:
        stamp = "" if env.get("JOURNAL_STREAM") else "%(asctime)s "
        handler.setFormatter(logging.Formatter(stamp + "%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.root.level))
