"""The thin click shell: parse, call one function, print, choose the exit code (DESIGN.md)."""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from costguard.model import Severity, Source, Status

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
        from costguard.problems import InvalidInput

        try:
            return func(*args, **kwargs)
        except InvalidInput as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


def _setup(config_path: str | None) -> Any:
    from costguard.setup_load import load_setup

    setup = load_setup(config_path)
    _logging(setup.config.log_level)
    return setup


QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "alembic", "apscheduler")
"""Libraries whose INFO lines (credentials found, endpoints resolved) are noise in our log."""


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.root.level))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costguard")
def main() -> None:
    """costguard: guards AWS accounts against leaked credentials and runaway spend."""


@main.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--fail-on", type=click.Choice([s.value for s in Severity]), default="high",
              help="exit 1 when an open finding is at least this severe")
@click.option("--no-notify", is_flag=True, help="reconcile and print, but send nothing")
@bad_input_exits_2
def scan(config_path: str | None, fmt: str, fail_on: str, no_notify: bool) -> None:
    """One full cycle now, reconciled with the store; prints what is open."""
    from costguard.engine import Engine
    from costguard.output import Progress, failing, scan_json
    from costguard.setup_load import open_store

    setup = _setup(config_path)
    if _OWNS_PROCESS:  # in someone else's process (click's test runner) GC is not ours to stop
        gc.disable()  # one collection, when AWS is released, instead of dozens during imports
    progress = Progress()
    engine = Engine(setup.config, setup.policies, lambda: open_store(setup.config))
    result = engine.run_cycle(notify=not no_notify, progress=progress,
                              release_aws=_OWNS_PROCESS)
    progress.done()
    store = engine.store
    findings = _shown_findings(store, result)
    incidents = _shown_incidents(store, findings)
    spent = engine.budget.summary() if Source.COST in engine.sources_needed() else None
    if fmt == "json":
        click.echo(scan_json(result.scan, findings, incidents, spent))
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
    from costguard.output import findings_table

    scan = result.scan
    active = [f for f in findings if f.status != Status.RESOLVED]
    if active:
        click.echo(findings_table(active))
    fixed = len(result.reconciled.resolved)
    click.echo(
        f"\n{len(active)} open finding(s) in {len(incidents)} incident(s), {fixed} resolved "
        f"by this scan; {scan.api_calls} AWS calls; accounts {', '.join(scan.accounts) or '-'}; "
        f"{len(scan.regions)} region(s)."
    )
    if spent is not None:
        click.echo(
            f"Cost Explorer, costguard's own use: {spent['calls_today']} request(s) today "
            f"(${spent['usd_today']:.2f}, budget {spent['max_calls_per_day']}/day), "
            f"{spent['calls_month']} this month (${spent['usd_month']:.2f})."
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
    from costguard.daemon import Daemon

    setup = _setup(config_path)
    Daemon(config_path, setup).run()


@main.command()
@config_option
@bad_input_exits_2
def validate(config_path: str | None) -> None:
    """Check the config, every policy and every template (rendered with sample data)."""
    from costguard.validate import validate_templates

    setup = _setup(config_path)
    validate_templates(setup.config, setup.policies)
    click.echo(
        f"ok: {setup.config.path or 'built-in defaults'}, {len(setup.policies)} policies, "
        f"{len(setup.config.notifiers)} notifier(s)"
    )


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="demo-out",
              show_default=True, help="where the received emails and the store are written")
def demo(out_dir: str) -> None:
    """Offline replay of the reference incident on an embedded AWS (moto)."""
    from costguard.demo import run_demo

    sys.exit(EXIT_OK if run_demo(out_dir, echo=click.echo) else EXIT_FINDINGS)


@main.command("checks")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown"]), default="table")
def checks_cmd(fmt: str) -> None:
    """List every check: id, default severity, parameters with defaults."""
    from costguard.catalog import checks_markdown, checks_table

    click.echo(checks_markdown() if fmt == "markdown" else checks_table())


@main.command("iam-policy")
@config_option
@bad_input_exits_2
def iam_policy(config_path: str | None) -> None:
    """Print the least-privilege IAM policy JSON the daemon needs."""
    from costguard.catalog import iam_policy_document

    setup = _setup(config_path)
    click.echo(json.dumps(iam_policy_document(setup.config, setup.policies), indent=2))


@main.command()
@config_option
@click.option("--since", default="30d", show_default=True, help="how far back: 7d, 12h, ...")
@click.option("--target", default=None,
              help="fix target, e.g. 30m (default: the config's incidents.target_minutes)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@bad_input_exits_2
def stats(config_path: str | None, since: str, target: str | None, fmt: str) -> None:
    """Alert-to-fix: median and p75 time to notify and to fix, share fixed within target."""
    from costguard.config import parse_duration
    from costguard.output import table
    from costguard.setup_load import open_store
    from costguard.stats import stats_rows, stats_table

    setup = _setup(config_path)
    try:
        window = timedelta(seconds=parse_duration(since))
        goal = timedelta(seconds=parse_duration(target)) if target else timedelta(
            minutes=setup.config.incidents.target_minutes)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    now = _now()
    incidents = open_store(setup.config).list_incidents(since=now - window)
    rows = stats_rows(incidents, goal, now)
    if fmt == "json":
        click.echo(json.dumps([r.__dict__ | {"share_within_target": r.share_within_target}
                               for r in rows], indent=2))
        return
    header, *body = stats_table(rows, goal)
    click.echo(table(body, header))


@main.group()
def setup() -> None:
    """One-time AWS-side set-up (needs the setup permissions of `iam-policy`)."""


@setup.command("events")
@config_option
@click.option("--regions", default=None,
              help="comma-separated; default: events.regions, else aws.regions, else us-east-1")
@click.option("--dry-run", is_flag=True, help="print what would change and change nothing")
@bad_input_exits_2
def setup_events_cmd(config_path: str | None, regions: str | None, dry_run: bool) -> None:
    """Create (idempotently) the SQS queue, its policy and the EventBridge rules per region."""
    from costguard.awsapi import Aws
    from costguard.setup_events import apply, plan, summary

    setup_ = _setup(config_path)
    chosen = _event_regions(setup_.config, regions)
    aws = Aws.from_environment(setup_.config.aws.profile)
    actions = plan(aws, aws.account_id(), chosen, setup_.config.events.queue_name)
    if dry_run:
        for action in actions:
            click.echo(action.description)
    else:
        for line in apply(actions):
            click.echo(line)
    click.echo(summary(actions, applied=not dry_run))


def _event_regions(config: Any, given: str | None) -> list[str]:
    if given:
        return [r.strip() for r in given.split(",") if r.strip()]
    return list(config.events.regions or config.aws.regions or ["us-east-1"])


@main.group()
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

    from costguard.awsapi import Aws
    from costguard.collectors.pricing import PriceListCollector
    from costguard.paths import refreshed_price_table, state_dir
    from costguard.prices_update import read_table, update_table
    from costguard.pricing import PriceBook

    setup_ = _setup(config_path)
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


@main.group()
def findings() -> None:
    """Inspect and triage findings."""


@findings.command("list")
@config_option
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in Status]),
              help="repeatable; default: open, acknowledged and muted")
@click.option("--severity", "min_severity", type=click.Choice([s.value for s in Severity]))
@bad_input_exits_2
def findings_list(config_path: str | None, statuses: tuple[str, ...], min_severity: str | None):
    """List findings, worst first."""
    from costguard.output import findings_table
    from costguard.setup_load import open_store

    store = open_store(_setup(config_path).config)
    wanted = [Status(s) for s in statuses] or [Status.OPEN, Status.ACKNOWLEDGED, Status.MUTED]
    rows = store.list_findings(
        statuses=wanted, min_severity=Severity(min_severity) if min_severity else None
    )
    click.echo(findings_table(rows) if rows else "no findings")


@findings.command("show")
@config_option
@click.argument("finding_id", type=int)
@bad_input_exits_2
def findings_show(config_path: str | None, finding_id: int) -> None:
    """Show one finding with its details and every transition."""
    from costguard.setup_load import open_store

    store = open_store(_setup(config_path).config)
    finding = _get_or_exit(store, finding_id)
    doc = finding.to_json()
    doc["transitions"] = [
        {"at": t.at.isoformat(), "from": t.from_status and t.from_status.value,
         "to": t.to_status.value, "reason": t.reason}
        for t in store.transitions(finding_id)
    ]
    click.echo(json.dumps(doc, indent=2, default=str))


def _get_or_exit(store: Any, finding_id: int) -> Any:
    try:
        return store.get_finding(finding_id)
    except LookupError:
        click.echo(f"no finding with id {finding_id}", err=True)
        sys.exit(EXIT_BAD_INPUT)


@findings.command("ack")
@config_option
@click.argument("finding_id", type=int)
@click.option("--reason", default=None, help="why, for the audit trail")
@bad_input_exits_2
def findings_ack(config_path: str | None, finding_id: int, reason: str | None) -> None:
    """Acknowledge a finding: someone is on it (it stays open until fixed)."""
    from costguard.setup_load import open_store

    store = open_store(_setup(config_path).config)
    _get_or_exit(store, finding_id)
    now = _now()
    finding = _transition(lambda: store.acknowledge(finding_id, now=now, reason=reason))
    click.echo(f"finding {finding_id} acknowledged")
    _acknowledge_incident(store, finding, now)


def _acknowledge_incident(store: Any, finding: Any, now: datetime) -> None:
    """The first acknowledged finding of an incident stamps the incident's acknowledged time."""
    from costguard.store.records import IncidentTime

    if finding is None or finding.incident_id is None:
        return
    incident = store.get_incident(finding.incident_id)
    if incident.acknowledged_at is None:
        store.set_incident_time(incident.id, IncidentTime.ACKNOWLEDGED, now)
        click.echo(f"incident {incident.id} acknowledged")


@findings.command("mute")
@config_option
@click.argument("finding_id", type=int)
@click.option("--until", "until", required=True, help="ISO date/time or a duration such as 7d")
@click.option("--reason", required=True, help="why it is acceptable until then")
@bad_input_exits_2
def findings_mute(config_path: str | None, finding_id: int, until: str, reason: str) -> None:
    """Mute a finding until a date, with a reason; it comes back when the mute expires."""
    from costguard.setup_load import open_store

    when = _parse_until(until)
    store = open_store(_setup(config_path).config)
    _get_or_exit(store, finding_id)
    _transition(lambda: store.mute(finding_id, until=when, reason=reason, now=_now()))
    click.echo(f"finding {finding_id} muted until {when.isoformat()}")


def _transition(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _parse_until(text: str) -> datetime:
    """`--until` as an ISO date/time (UTC unless it says otherwise) or a duration from now."""
    from costguard.config import parse_duration

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            return _now() + timedelta(seconds=parse_duration(text))
        except ValueError:
            raise click.BadParameter(
                f"{text!r}: expected an ISO date such as 2026-12-31 or a duration such as 7d",
                param_hint="--until",
            ) from None
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if value <= _now():
        raise click.BadParameter(f"{text!r} is in the past", param_hint="--until")
    return value
