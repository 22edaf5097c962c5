"""The thin click shell: parse, call one function, print, choose the exit code."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from typing import Any

import click

from costguard.cli.db_commands import db
from costguard.cli.incident_commands import incidents
from costguard.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_OK,
    LOG_FORMATS,
    bad_input_exits_2,
    config_option,
    fail,
    load,
)
from costguard.cli.outbox_commands import notify, outbox
from costguard.cli.report_commands import report
from costguard.cli.setup_commands import prices, setup
from costguard.cli.sigma_command import sigma
from costguard.cli.triage import findings, stats
from costguard.model import Severity, Source, Status
from costguard.text import money


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costguard-daemon")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              help="log lines on stderr: text, or one JSON object a line for log shippers")
def main(log_format: str) -> None:
    """costguard: guards AWS accounts against leaked credentials and runaway spend."""


@main.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "ocsf"]),
              default="table")
@click.option("--fail-on", type=click.Choice([s.value for s in Severity]), default="high",
              help="exit 1 when an open finding is at least this severe")
@click.option("--no-notify", is_flag=True, help="reconcile and print, but send nothing")
@bad_input_exits_2
def scan(config_path: str | None, fmt: str, fail_on: str, no_notify: bool) -> None:
    """One full cycle now, reconciled with the store; prints what is open."""
    if _OWNS_PROCESS:  # in someone else's process (click's test runner) GC is not ours to stop
        gc.disable()  # two collections, when AWS is released, instead of dozens during imports
    from costguard.cli.output import Progress, failing, scan_json
    from costguard.runtime.bootstrap import open_store
    from costguard.runtime.cycle import Engine

    setup = load(config_path, sigma_on_demand=True)
    if _OWNS_PROCESS:
        gc.freeze()  # what is loaded so far lives as long as the process: never scan it again
    progress = Progress()
    engine = Engine(setup.config, setup.policies, lambda: open_store(setup.config),
                    registry=setup.registry, sigma_rules=setup.sigma_rules)
    result = engine.run_cycle(notify=not no_notify, progress=progress,
                              release_aws=_OWNS_PROCESS)
    progress.done()
    store = engine.store
    findings = _shown_findings(store, result)
    incidents = _shown_incidents(store, findings)
    spent = engine.budget.summary() if Source.COST in engine.sources_needed() else None
    if fmt == "json":
        click.echo(scan_json(result.scan, findings, incidents, spent))
    elif fmt in ("csv", "ocsf"):
        from costguard.cli.report_commands import scan_rows

        click.echo(scan_rows(fmt, findings, setup.registry), nl=False)
    else:
        _print_scan_table(result, findings, incidents, spent)
    store.close()
    if not result.scan.complete:
        _quick_exit(EXIT_INCOMPLETE)
    _quick_exit(EXIT_FINDINGS if failing(findings, Severity(fail_on)) else EXIT_OK)


def _quick_exit(code: int) -> None:
    """Exit without tearing down every module and object one by one.

    Everything that matters is done (the store closed, its transactions committed); what is
    left is interpreter clean-up that costs a one-shot scan a tenth of its wall time. Inside
    click's test runner (not a real process) this is a normal exit.
    """
    if not _OWNS_PROCESS:
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_OWNS_PROCESS = False
"""True when started as the `costguard` program (entry), False under click's test runner."""


def entry() -> None:
    """The console script: costguard owns this process, so it may end it quickly."""
    global _OWNS_PROCESS
    _OWNS_PROCESS = True
    main()


def _shown_findings(store: Any, result: Any) -> list[Any]:
    """What is still open, plus what this scan resolved (so a fix shows up once)."""
    current = store.list_findings(statuses=[Status.OPEN, Status.ACKNOWLEDGED, Status.MUTED])
    return sorted([*current, *result.reconciled.resolved], key=lambda f: f.id)


def _shown_incidents(store: Any, findings: list[Any]) -> list[Any]:
    ids = sorted({f.incident_id for f in findings if f.incident_id is not None})
    return [store.get_incident(i) for i in ids]


def _print_scan_table(result: Any, findings: list[Any], incidents: list[Any],
                      spent: dict[str, Any] | None) -> None:
    from costguard.cli.output import findings_table, terminal_width

    scan = result.scan
    active = [f for f in findings if f.status != Status.RESOLVED]
    if active:
        click.echo(findings_table(active, terminal_width()))
    fixed = len(result.reconciled.resolved)
    click.echo(
        f"\n{len(active)} open finding(s) in {len(incidents)} incident(s), {fixed} resolved "
        f"by this scan; {scan.api_calls} AWS calls; accounts {', '.join(scan.accounts) or '-'}; "
        f"{len(scan.regions)} region(s)."
    )
    if spent is not None:
        click.echo(
            f"Cost Explorer, costguard's own use: {spent['calls_today']} request(s) today "
            f"({money(spent['usd_today'])}, budget {spent['max_calls_per_day']}/day), "
            f"{spent['calls_month']} this month ({money(spent['usd_month'])})."
        )
    if not scan.complete:
        click.echo("scan INCOMPLETE (findings of what failed were kept, not resolved):", err=True)
        for error in scan.errors:
            click.echo(f"  {error}", err=True)


@main.command()
@config_option
@bad_input_exits_2
def run(config_path: str | None) -> None:
    """The daemon, in the foreground (systemd Type=notify); SIGTERM stops it, SIGHUP reloads."""
    from costguard.runtime.daemon import Daemon

    setup = load(config_path)
    Daemon(config_path, setup).run()


@main.command()
@config_option
@bad_input_exits_2
def validate(config_path: str | None) -> None:
    """Check the config, every policy and every template (rendered with sample data)."""
    from costguard.alerts.template_check import validate_templates

    setup = load(config_path)
    validate_templates(setup.config, setup.policies, setup.registry)
    click.echo(
        f"ok: {setup.config.path or 'built-in defaults'}, {len(setup.policies)} policies, "
        f"{len(setup.config.notifiers)} notifier(s)"
    )


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="demo-out",
              show_default=True, help="where the received emails and the store are written")
def demo(out_dir: str) -> None:
    """Offline replay of the reference incident on an embedded AWS (moto).

    Exit codes: 0 detected and delivered; 1 not; 2 the `demo` extra (moto, aiosmtpd) is not
    installed.
    """
    import importlib.util

    missing = [m for m in ("moto", "aiosmtpd") if importlib.util.find_spec(m) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        fail(f"the demo needs {' and '.join(missing)}, which {verb} not installed: "
             "pip install 'costguard[demo]' (from a checkout: pip install '.[demo]')",
             EXIT_BAD_INPUT)
    from costguard.demo import run_demo

    sys.exit(EXIT_OK if run_demo(out_dir, echo=click.echo) else EXIT_FINDINGS)


@main.command("checks")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown"]), default="table")
def checks_cmd(fmt: str) -> None:
    """List every check: id, default severity, parameters with defaults."""
    from costguard.checks import default_registry
    from costguard.checks.catalog import checks_markdown, checks_table

    registry = default_registry()
    click.echo(checks_markdown(registry) if fmt == "markdown" else checks_table(registry))


@main.command("iam-policy")
@config_option
@click.option("--member-role", is_flag=True, help="print what each Organization member needs "
              "instead: the role's name, trust policy and read policy")
@click.option("--trusted-account", metavar="ID", help="with --member-role: the account "
              "costguard runs in (the management account), named in the trust policy")
@bad_input_exits_2
@click.option("--setup", "with_setup", is_flag=True,
              help="add what `costguard setup events` calls (for whoever runs the set-up)")
@click.option("--contain", "with_contain", is_flag=True,
              help="add what auto_contain calls (stop instances, deactivate access keys)")
def iam_policy(config_path: str | None, member_role: bool, trusted_account: str | None,
               with_setup: bool, with_contain: bool) -> None:
    """Print the least-privilege IAM policy JSON the daemon needs (read-only without flags)."""
    from costguard.actions.iam_policy import (
        containing_policies,
        iam_policy_document,
        member_role_documents,
    )

    setup = load(config_path)
    if member_role:
        if trusted_account is not None and not (len(trusted_account) == 12
                                                and trusted_account.isdigit()):
            fail("--trusted-account: expected a 12-digit account id", EXIT_BAD_INPUT)
        document = member_role_documents(setup.config, setup.policies, setup.registry,
                                         trusted_account)
    else:
        document = iam_policy_document(setup.config, setup.policies, setup.registry,
                                       setup=with_setup, contain=with_contain)
    click.echo(json.dumps(document, indent=2))
    containing = containing_policies(setup.policies)
    if containing and not with_contain:
        click.echo(f"note: policies {', '.join(containing)} enable auto_contain; their role "
                   "also needs `costguard iam-policy --contain`", err=True)


for _command in (setup, prices, findings, incidents, outbox, notify, stats, db, report, sigma):
    main.add_command(_command)
