"""The weekly compliance email: figures -> the context the templates read -> subject, text and
HTML (its CSS inlined, as mail clients need) -> the Message the outbox stores.

Pure but for the templates the Renderer reads. The text and HTML parts are rendered from the
same context, so they carry the same facts.
"""

from __future__ import annotations

from typing import Any

from costguard.alerts.compose import SEVERITY_COLORS, duration, one_line_subject
from costguard.alerts.render import Renderer
from costguard.model import AlertKind, Message, Severity
from costguard.reports import weekly_view as v
from costguard.reports.figures import IncidentItem, WeeklyFigures
from costguard.text import money


def weekly_key(week: str) -> str:
    """The outbox key of a week's scheduled report: one per channel, ever."""
    return f"report:weekly:{week}"


def build_weekly_message(figures: WeeklyFigures, renderer: Renderer,
                         key: str | None = None) -> Message:
    """Render the week's report into the Message every channel sends."""
    context = weekly_context(figures)
    subject = one_line_subject(renderer.render("report/weekly_subject.txt.j2", context))
    context["subject"] = subject
    text = renderer.render("report/weekly.txt.j2", context)
    html = inline_css(renderer.render("report/weekly.html.j2", context, as_html=True))
    worst = [Severity(s) for s, n in figures.changes.open_by_severity.items() if n]
    return Message(key=key or weekly_key(figures.week), kind=AlertKind.REPORT,
                   severity=Severity.highest(worst), subject=subject, text=text, html=html,
                   fields={"title": context["title"], "week": figures.week})


def inline_css(html: str) -> str:
    """Move the stylesheet into style attributes (Gmail and Outlook drop most <style> rules);
    media queries stay in a <style> block for the clients that read them. Nothing is fetched."""
    import css_inline

    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return inliner.inline(html)


def weekly_context(f: WeeklyFigures) -> dict[str, Any]:
    """Everything the weekly templates show, prepared."""
    as_of = f.as_of
    return {
        "f": f,
        "title": f"Weekly compliance report {f.week}",
        "period": f"{f.span}, {f.timezone}" + ("" if f.complete
                                              else f", so far (as of {as_of:%a %H:%M} UTC)"),
        "score": v.pct(f.score), "score_color": v.score_color(f.score),
        "score_change": v.points(f.score, f.previous_score),
        "verdict": verdict(f),
        "bars": v.trend_bars(f.trend),
        "trend_text": ", ".join(f"{b.week[5:]} {b.label}" for b in v.trend_bars(f.trend)),
        "tiles": tiles(f),
        "accounts": [_account(a) for a in f.accounts],
        "checks": [v.check_view(r) for r in f.checks],
        "open_summary": v.open_summary(f.changes.open_by_severity),
        **{name: v.listing_view(getattr(f.changes, name), as_of)
           for name in ("new", "resolved", "still_open", "muted", "acknowledged")},
        "incidents": [_incident(i) for i in f.incidents.items],
        "incidents_more": f.incidents.total - len(f.incidents.items),
        "incident_share": v.incident_share(f),
        "goal": f"{f.incidents.goal_share:.0%} within {f.incidents.target_minutes} min",
        "goal_met": _goal_met(f),
        "spend": _spend(f),
        "upkeep": f.upkeep,
        "ce_usd": money(f.upkeep.ce_usd),
        "severity_colors": SEVERITY_COLORS,
    }


def verdict(f: WeeklyFigures) -> str:
    """The one paragraph a reader who stops at the top needs."""
    change = v.points(f.score, f.previous_score)
    parts = [f"Posture {v.pct(f.score)}" + (f" ({change} on last week)" if change else "")]
    parts.append(f"open: {v.open_summary(f.changes.open_by_severity)}")
    parts.append(f"{f.changes.new.total} new, {f.changes.resolved.total} fixed this week")
    if f.incidents.total:
        parts.append(f"{f.incidents.total} incident(s), {v.incident_share(f)}")
    if f.spend.has_data:
        parts.append(f"{money(f.spend.week_usd)} spent "
                     f"({v.change(f.spend.week_usd, f.spend.previous_usd) or 'as last week'})")
    return "; ".join(parts) + "."


def tiles(f: WeeklyFigures) -> list[dict[str, str]]:
    """The six headline numbers under the score."""
    open_now = sum(f.changes.open_by_severity.values())
    worst = f.changes.open_by_severity
    serious = worst.get("critical", 0) + worst.get("high", 0)
    share = f.incidents.share
    s = f.spend
    return [
        _tile("Open findings", str(open_now), f"{serious} critical or high",
              v.POOR if serious else v.GOOD),
        _tile("New this week", str(f.changes.new.total), f"{f.changes.resolved.total} fixed", ""),
        _tile("Muted or acked", str(f.changes.muted.total + f.changes.acknowledged.total),
              f"{f.changes.muted.total} muted", ""),
        _tile("Fixed in time", "n/a" if share is None else f"{share:.0%}",
              f"goal {f.incidents.goal_share:.0%} in {f.incidents.target_minutes} min",
              "" if share is None else v.GOOD if share >= f.incidents.goal_share else v.POOR),
        _tile("Spend this week", money(s.week_usd) if s.has_data else "n/a",
              v.change(s.week_usd, s.previous_usd) or "no change" if s.has_data else "no data",
              ""),
        _tile("Month to date", money(s.month_to_date_usd) if s.has_data else "n/a",
              f"of {money(s.budget_usd)} budget" if s.budget_usd else "no budget set",
              v.POOR if s.budget_usd and s.month_to_date_usd > s.budget_usd else ""),
    ]


def _tile(label: str, value: str, sub: str, color: str) -> dict[str, str]:
    return {"label": label, "value": value, "sub": sub, "color": color or "#101828"}


def _account(a: Any) -> dict[str, Any]:
    return {"a": a, "score": v.pct(a.score), "change": v.points(a.score, a.previous),
            "color": v.score_color(a.score), "width": round(a.score or 0)}


def _incident(i: IncidentItem) -> dict[str, Any]:
    if i.time_to_fix_s is not None:
        status = f"fixed in {duration(i.time_to_fix_s)}"
    else:
        status = "open, past target" if i.within_target is False else "open"
    color = v.GOOD if i.within_target else v.POOR if i.within_target is False else "#475467"
    return {"i": i, "severity": i.severity.value.upper(), "sev_color": SEVERITY_COLORS[i.severity],
            "status": status, "status_color": color,
            "detected": f"{i.detected_at:%a %d %b %H:%M} UTC" if i.detected_at else "unknown"}


def _goal_met(f: WeeklyFigures) -> bool | None:
    share = f.incidents.share
    return None if share is None else share >= f.incidents.goal_share


def _spend(f: WeeklyFigures) -> dict[str, Any]:
    s = f.spend
    peak = s.peak
    return {
        "s": s, "week": money(s.week_usd), "previous": money(s.previous_usd),
        "change": v.change(s.week_usd, s.previous_usd),
        "services": v.amounts_view(s.by_service), "accounts": v.amounts_view(s.by_account),
        "peak": (f"{money(peak.usd_per_hour)}/h in account {peak.account} at "
                 f"{peak.at:%a %d %b %H:%M} UTC") if peak else "no running instances priced",
        "findings": v.listing_view(s.findings, f.as_of),
        "mtd": money(s.month_to_date_usd), "budget": money(s.budget_usd) if s.budget_usd else "",
        "forecast": money(s.forecast_usd) if s.forecast_usd is not None else "unknown",
        "over_budget": bool(s.budget_usd and (s.forecast_usd or 0) > s.budget_usd),
        "budget_width": min(100, round(s.month_to_date_usd / s.budget_usd * 100))
        if s.budget_usd else 0,
    }
