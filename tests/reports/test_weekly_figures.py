"""The weekly figures of a known store history (tests/reports/history.py), worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone

from costguard.checks import default_registry
from costguard.model import Severity
from costguard.reports.history import check_infos, read_history
from costguard.reports.week import IsoWeek
from costguard.reports.weekly import weekly_figures
from costguard.runtime.bootstrap import read_config
from costguard.settings.paths import default_policy_file
from costguard.settings.policies import load_policies

from .history import WEEK, A, B, at

NOW = datetime(2026, 11, 30, 8, tzinfo=timezone.utc)


def figures(store, week: str = WEEK, now: datetime = NOW):
    registry = default_registry()
    policies = load_policies([default_policy_file()], registry, lambda _name: True, {})
    config = read_config(None)
    history = read_history(store, IsoWeek.parse(week), config, check_infos(registry, policies),
                           now)
    return weekly_figures(history)


def test_score_and_its_change_are_the_weighted_share_of_passes(history_store):
    f = figures(history_store)

    # W47: root MFA 1/1 (weight 16), instances 11/12 (8), groups 4/5 (8)
    assert f.score == round(100 * (16 + 8 * 11 / 12 + 8 * 4 / 5) / 32, 1) == 92.9
    # W46: root MFA 0/1, instances 8/10, groups 5/5
    assert f.previous_score == 45.0
    assert [(p.week, p.score) for p in f.trend[-3:]] == [
        ("2026-W45", None), ("2026-W46", 45.0), ("2026-W47", 92.9)]
    assert len(f.trend) == 12
    (account,) = f.accounts
    assert (account.account, account.score, account.previous, account.failing_checks,
            account.open_findings) == (A, 92.9, 45.0, 2, 5)


def test_every_check_with_its_counts_and_compliance_ids(history_store):
    rows = {r.check: r for r in figures(history_store).checks}

    assert (rows["instance_types"].evaluated, rows["instance_types"].failed) == (12, 1)
    assert (rows["root_mfa"].evaluated, rows["root_mfa"].failed) == (1, 0)
    assert rows["root_mfa"].cis == ("1.5", "1.6")
    assert rows["root_mfa"].security_hub == ("IAM.9", "IAM.6")
    assert (rows["user_mfa"].judged, rows["user_mfa"].evaluated) == (True, None)
    assert (rows["daily_spend"].judged, rows["daily_spend"].open) == (False, 1)
    severities = [r.severity for r in figures(history_store).checks]
    assert severities == sorted(severities, reverse=True)


def test_what_changed_is_replayed_as_of_the_weeks_end(history_store):
    c = figures(history_store).changes

    assert [i.resource.rsplit("/", 1)[-1] for i in c.new.items] == [
        "i-2", "i-3", "arn:aws:ce::111122223333:daily-spend", "sg-1"]
    assert (c.new.total, c.resolved.total, c.still_open.total) == (4, 2, 1)
    assert [i.check for i in c.resolved.items] == ["root_mfa", "instance_types"]
    assert c.still_open.items[0].at == at(12, 9)
    (muted,) = c.muted.items
    assert (muted.reason, muted.by, muted.until) == (
        "break-glass", None, datetime(2027, 1, 1, tzinfo=timezone.utc))
    (acked,) = c.acknowledged.items
    assert (acked.reason, acked.at) == ("on it", at(19, 8, 30))
    assert c.open_by_severity == {"high": 4}


def test_an_earlier_week_is_replayed_as_it_stood_then(history_store):
    c = figures(history_store, "2026-W46").changes

    assert (c.new.total, c.resolved.total) == (2, 0)  # root MFA, i-1
    assert c.open_by_severity == {"critical": 1, "high": 1}
    assert c.muted.total == 1


def test_incidents_against_the_goal(history_store):
    inc = figures(history_store).incidents

    assert (inc.total, inc.fixed, inc.within_target, inc.judged) == (2, 2, 1, 2)
    assert inc.share == 0.5 < inc.goal_share == 0.75
    assert [(i.id, i.time_to_fix_s, i.within_target) for i in inc.items] == [
        (1, 1200.0, True), (2, 10800.0, False)]
    assert inc.fix_median_s == 6000.0


def test_spend_by_service_and_account_week_over_week(history_store):
    s = figures(history_store).spend

    assert (s.week_usd, s.previous_usd) == (1260.0, 770.0)
    assert [(a.name, a.usd, a.previous_usd) for a in s.by_service] == [
        ("Amazon EC2", 1190.0, 700.0), ("Amazon S3", 70.0, 70.0)]
    assert [(a.name, a.usd, a.previous_usd) for a in s.by_account] == [
        (A, 1120.0, 770.0), (B, 140.0, 0.0)]
    assert (s.month, s.month_to_date_usd) == ("2026-11", 2030.0)
    # rate: (Nov 15 $110 + six days of $180) / 7 = $170; Nov 1-21 $1,850, today $180, 8 more days
    assert s.forecast_usd == 1850 + 180 + 170 * 8
    assert (s.peak.account, s.peak.usd_per_hour, s.peak.at) == (A, 6.8, at(18, 3, 0))
    assert [i.check for i in s.findings.items] == ["daily_spend"]


def test_costguards_own_week(history_store):
    u = figures(history_store).upkeep

    assert (u.cycles, u.incomplete, u.unrecorded) == (4, 1, 0)
    assert [(s.source, s.runs, s.failed) for s in u.sources] == [
        ("cost", 1, 0), ("inventory", 3, 1)]
    assert [(c.channel, c.sent, c.failed, c.dead) for c in u.channels] == [
        ("security-email", 2, 2, 1)]
    assert (u.ce_requests, u.ce_usd) == (6, 0.06)


def test_an_empty_store_gives_an_empty_week(store):
    f = figures(store)

    assert (f.score, f.previous_score, f.changes.new.total, f.incidents.total) == (
        None, None, 0, 0)
    assert (f.spend.has_data, f.spend.peak, f.upkeep.cycles) == (False, None, 0)
    assert all(r.evaluated is None for r in f.checks)


def test_the_same_week_computed_twice_is_identical(history_store):
    assert figures(history_store) == figures(history_store, now=datetime(2027, 3, 1,
                                                                         tzinfo=timezone.utc))


def test_severity_weights_double_with_each_step():
    from costguard.reports.posture import WEIGHTS

    assert [WEIGHTS[s] for s in sorted(Severity)] == [1, 2, 4, 8, 16]
