"""`costguard report weekly` and `costguard report compliance`: the reports, from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from costguard.cli.options import EXIT_BAD_INPUT, bad_input_exits_2, config_option, fail, load
from costguard.clock import utcnow

FORMATS = ("table", "csv", "json", "html", "ocsf")


@click.group()
def report() -> None:
    """The weekly compliance email and the compliance report, from the store."""


@report.command("weekly")
@config_option
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="write it here for preview: the HTML (.html) or text part, the other beside it")
@click.option("--send", is_flag=True, help="send it now through the outbox")
@click.option("--week", "week_name", metavar="YYYY-Www",
              help="an ISO week such as 2026-W47 (default: the last whole week)")
@bad_input_exits_2
def weekly(config_path: str | None, out: str | None, send: bool, week_name: str | None) -> None:
    """The weekly compliance email (HTML and text) for one ISO week; without --out or --send,
    its text on stdout."""
    from costguard.alerts.routing import Notifier
    from costguard.reports.week import IsoWeek
    from costguard.reports.weekly_email import build_weekly_message
    from costguard.reports.weekly_send import send_now, week_figures
    from costguard.runtime.bootstrap import open_store

    setup = load(config_path)
    zone, now = setup.config.schedule.zone, utcnow()
    week = _week(week_name, now, zone) if week_name else IsoWeek.last_complete(now, zone)
    store = open_store(setup.config)
    figures = week_figures(store, week, setup.config, setup.registry, setup.policies, now)
    notifier = Notifier(setup.config, setup.policies, registry=setup.registry)
    message = build_weekly_message(figures, notifier.renderer)
    if out:
        for path in write_parts(Path(out), message.html, message.text):
            click.echo(f"wrote {path}")
    if send:
        queued = send_now(store, notifier, figures, now)
        report_delivery(notifier.deliver(store, utcnow()), queued)
    if not out and not send:
        click.echo(message.text, nl=False)
    store.close()


def _week(name: str, now: Any, zone: Any) -> Any:
    from costguard.reports.week import IsoWeek

    try:
        week = IsoWeek.parse(name)
    except ValueError as exc:
        fail(f"--week: {exc}", EXIT_BAD_INPUT)
    if week.bounds(zone)[0] > now:
        fail(f"--week: {week} has not started yet", EXIT_BAD_INPUT)
    return week


def write_parts(out: Path, html: str, text: str) -> list[Path]:
    """The part the extension names at `out`, the other beside it (report.html, report.txt)."""
    is_html = out.suffix.lower() in (".html", ".htm")
    other = out.with_suffix(".txt" if is_html else ".html")
    try:
        out.write_text(html if is_html else text, encoding="utf-8")
        other.write_text(text if is_html else html, encoding="utf-8")
    except OSError as exc:
        fail(f"--out: cannot write {exc.filename}: {exc.strerror}", EXIT_BAD_INPUT)
    return [out, other]


def report_delivery(delivery: Any, queued: int) -> None:
    """What happened to the copies queued: sent, or why not (a failed send stays in the
    outbox and the daemon retries it)."""
    click.echo(f"queued for {queued} channel(s), {delivery.sent} sent now")
    for error in delivery.errors:
        click.echo(f"not sent yet: {error}", err=True)


@report.command("compliance")
@config_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="write to this file")
@bad_input_exits_2
def compliance(config_path: str | None, fmt: str, out: str | None) -> None:
    """Every check x resource in scope: PASS, FAIL or MUTED, with CIS and Security Hub ids."""
    from costguard.cli.output import terminal_width
    from costguard.reports.compliance import compliance_rows, controls
    from costguard.runtime.bootstrap import open_store

    setup = load(config_path)
    store = open_store(setup.config)
    checks = controls(setup.registry, setup.policies)
    rows = compliance_rows(checks, store.judged_resources([c.id for c in checks]),
                           store.list_findings(incident_ids=None))
    store.close()
    text = render_compliance(rows, fmt, setup.config, None if out else terminal_width())
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"--out: cannot write {out}: {exc.strerror}", EXIT_BAD_INPUT)
        click.echo(f"wrote {out}: {len(rows)} rows")
    else:
        click.echo(text, nl=not text.endswith("\n"))


def scan_rows(fmt: str, findings: Any, registry: Any) -> str:
    """`scan --format csv|ocsf`: the findings `scan` shows, as CSV or OCSF events."""
    from importlib.metadata import version

    from costguard.reports.compliance import control_of, findings_csv
    from costguard.reports.ocsf import findings_as_ocsf

    if fmt == "csv":
        return findings_csv(findings)
    controls = {cls.id: control_of(cls) for cls in registry}
    return findings_as_ocsf(findings, controls, utcnow(), version("costguard-daemon")) + "\n"


def render_compliance(rows: Any, fmt: str, config: Any, width: int | None) -> str:
    """The rows in one of FORMATS."""
    from importlib.metadata import version

    from costguard.reports import compliance as c
    from costguard.reports.ocsf import as_ocsf

    now = utcnow()
    if fmt == "csv":
        return c.as_csv(rows)
    if fmt == "json":
        return c.as_json(rows, now)
    if fmt == "ocsf":
        return as_ocsf(rows, now, version("costguard-daemon"))
    if fmt == "html":
        from costguard.alerts.render import Renderer
        from costguard.reports.compliance_html import compliance_html

        return compliance_html(rows, now, Renderer(config.template_dirs))
    return c.as_table(rows, width) if rows else "no resource judged yet: run a scan first"
