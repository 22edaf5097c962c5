"""`/metrics` and `/healthz` served over real HTTP from the store's state."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from costguard.model import Finding, Severity
from costguard.runtime.bootstrap import load_setup, open_store
from costguard.runtime.cycle import Engine
from costguard.runtime.metrics import serve
from costguard.spend.ce_budget import CeOperation

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path: Path):
    config = tmp_path / "costguard.yml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n")
    setup = load_setup(config)
    store = open_store(setup.config)
    yield Engine(setup.config, setup.policies, store)
    store.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def finding(resource: str, severity: Severity) -> Finding:
    return Finding(check="instance_types", policy="p", severity=severity,
                   account="123456789012", region="us-east-1", resource=resource, title="t")


def test_metrics_report_findings_cost_explorer_and_the_outbox(engine: Engine) -> None:
    store = engine.store
    scan = store.start_scan(NOW)
    store.reconcile(scan_id=scan, now=NOW, scopes=set(), findings=[
        finding("i-1", Severity.HIGH), finding("i-2", Severity.HIGH),
        finding("i-3", Severity.CRITICAL)])
    for _ in range(3):
        engine.budget.record(CeOperation.GET_COST_AND_USAGE)
    server = serve(engine, "127.0.0.1:0")
    try:
        status, text = get(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
    assert status == 200
    lines = set(text.splitlines())
    assert 'costguard_findings_open{severity="high",status="open"} 2.0' in lines
    assert 'costguard_findings_open{severity="critical",status="open"} 1.0' in lines
    assert "costguard_cost_explorer_requests_today 3.0" in lines
    assert "costguard_cost_explorer_usd_today 0.03" in lines
    assert 'costguard_notifications{status="pending"} 0.0' in lines


def test_healthz_names_a_failing_source(engine: Engine) -> None:
    from costguard.model import Source
    from costguard.runtime.gather import Gathered
    from costguard.runtime.source_health import HealthBook

    server = serve(engine, "127.0.0.1:0")
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        assert get(f"{url}/healthz") == (200, json.dumps({"status": "ok", "failing": []}))
        gathered = Gathered()
        scope = (Source.INVENTORY, "123456789012", "eu-west-1")
        gathered.attempted.add(scope)
        gathered.fail(scope, RuntimeError("AccessDenied"))
        HealthBook(engine.store).update(gathered, [], [], NOW)
        status, body = get(f"{url}/healthz")
        assert status == 503
        assert json.loads(body) == {"status": "degraded", "failing": [
            "inventory 123456789012/eu-west-1: AccessDenied"]}
        assert get(f"{url}/nothing")[0] == 404
    finally:
        server.shutdown()


MEMBER = "444455556666"


def collected(engine: Engine, at: datetime, *scopes: tuple, failed: tuple = ()) -> None:
    """Record one cycle's outcome for these (source, account, region) scopes in the store."""
    from costguard.runtime.gather import Gathered
    from costguard.runtime.source_health import HealthBook

    gathered = Gathered()
    for scope in (*scopes, *failed):
        gathered.attempted.add(scope)
    gathered.complete.update(scopes)
    for scope in failed:
        gathered.fail(scope, RuntimeError("AccessDenied"))
    HealthBook(engine.store).update(gathered, [], [], at)


def test_healthz_fails_when_one_account_s_source_is_three_intervals_behind(engine) -> None:
    """Inventory polls every 60 s by default: one member is 3.5 minutes behind, the
    management account current; only the member is named."""
    from datetime import timedelta

    from costguard.model import Source

    now = [NOW]
    engine.clock = lambda: now[0]
    own = (Source.INVENTORY, "123456789012", "us-east-1")
    member = (Source.INVENTORY, MEMBER, "us-east-1")
    collected(engine, NOW - timedelta(minutes=2), own, member)
    server = serve(engine, "127.0.0.1:0")
    url = f"http://127.0.0.1:{server.server_port}/healthz"
    try:
        assert get(url)[0] == 200  # two intervals behind: not yet stale
        collected(engine, NOW, own)
        now[0] = NOW + timedelta(seconds=90)
        status, body = get(url)
    finally:
        server.shutdown()
    assert status == 503
    assert json.loads(body)["failing"] == [
        f"inventory {MEMBER}/us-east-1: stale, last collected 2026-11-22T11:58:00Z "
        "(4 intervals of 60s ago)"]


def test_metrics_count_collections_failures_and_last_success_per_account_and_source(
        engine) -> None:
    from costguard.model import Source

    east = (Source.INVENTORY, MEMBER, "us-east-1")
    west = (Source.INVENTORY, MEMBER, "eu-west-1")
    collected(engine, NOW, east, west)
    collected(engine, NOW, east, failed=(west,))
    server = serve(engine, "127.0.0.1:0")
    try:
        text = get(f"http://127.0.0.1:{server.server_port}/metrics")[1]
    finally:
        server.shutdown()
    lines = set(text.splitlines())
    labels = f'account="{MEMBER}",source="inventory"'
    assert f"costguard_collections_total{{{labels}}} 4.0" in lines
    assert f"costguard_collection_failures_total{{{labels}}} 1.0" in lines
    [success] = [x for x in lines
                 if x.startswith(f"costguard_last_success_timestamp_seconds{{{labels}}}")]
    assert float(success.rsplit(" ", 1)[1]) == NOW.timestamp()


def test_metrics_count_aws_calls_per_service_and_operation(engine) -> None:
    engine.aws._counter.add("ec2:DescribeInstances")
    engine.aws._counter.add("ec2:DescribeInstances")
    engine.aws._counter.add("sts:AssumeRole")
    server = serve(engine, "127.0.0.1:0")
    try:
        text = get(f"http://127.0.0.1:{server.server_port}/metrics")[1]
    finally:
        server.shutdown()
    lines = set(text.splitlines())
    assert 'costguard_aws_calls_total{operation="DescribeInstances",service="ec2"} 2.0' in lines
    assert 'costguard_aws_calls_total{operation="AssumeRole",service="sts"} 1.0' in lines
