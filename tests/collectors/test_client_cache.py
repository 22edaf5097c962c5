"""One bounded cache of botocore clients for the whole process: least recently used out first,
shared by every account's Aws, safe under runtime.concurrency threads, and a client made again
after eviction still counted and logged."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from costguard.collectors.client_cache import CLIENTS, DEFAULT_LIMIT, ClientCache
from costguard.collectors.session import CALL_LOG_ENV, Aws
from costguard.runtime.bootstrap import load_setup
from costguard.runtime.cycle import Engine

OTHER_ACCOUNT = "210987654321"


@pytest.fixture
def clients() -> Iterator[ClientCache]:
    """The process's cache, empty, its limit restored afterwards."""
    limit = CLIENTS.limit
    CLIENTS.clear()
    yield CLIENTS
    CLIENTS.resize(limit)


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        yield Aws.from_environment(region="us-east-1")


def test_the_least_recently_used_client_goes_first():
    cache = ClientCache(limit=3)
    for name in "abc":
        cache.put((1, name, "r"), name)
    assert cache.get((1, "a", "r")) == "a"  # now the most recent

    cache.put((1, "d", "r"), "d")

    assert [k[1] for k in cache.order()] == ["c", "a", "d"]
    assert cache.get((1, "b", "r")) is None
    assert cache.evicted == 1
    cache.resize(1)
    assert [k[1] for k in cache.order()] == ["d"]
    assert cache.evicted == 3
    with pytest.raises(ValueError, match="at least 1"):
        cache.resize(0)


def test_the_config_default_is_the_cache_s_own():
    """`runtime.client_cache` left out must mean what the cache does on its own (a daemon
    started without a config key would otherwise differ from one reloaded with it)."""
    from costguard.settings.sections import RuntimeConfig

    assert ClientCache().limit == DEFAULT_LIMIT == RuntimeConfig().client_cache


def test_every_account_s_clients_share_one_limit(aws, clients):
    clients.resize(2)
    other = aws.assume(f"arn:aws:iam::{OTHER_ACCOUNT}:role/costguard-audit")
    ec2 = aws.client("ec2")
    other_ec2 = other.client("ec2")

    iam = aws.client("iam")  # the third client: the oldest, this account's EC2, goes

    assert len(clients) == 2
    assert other.client("ec2") is other_ec2 and aws.client("iam") is iam
    remade = aws.client("ec2")
    assert remade is not ec2 and remade.meta.region_name == "us-east-1"
    assert other.account_id() == OTHER_ACCOUNT  # each account's clients are its own
    assert aws.account_id() != OTHER_ACCOUNT


def test_a_client_made_again_is_counted_and_logged(aws, clients, tmp_path, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv(CALL_LOG_ENV, str(log))
    logged = Aws.from_environment(region="us-east-1")  # the log is hooked when an Aws is made
    clients.resize(1)
    first = logged.client("ec2")
    first.describe_regions()
    logged.client("iam").get_account_summary()  # evicts EC2's client

    again = logged.client("ec2")
    again.describe_regions()

    assert again is not first
    assert logged.calls == Counter({"ec2:DescribeRegions": 2, "iam:GetAccountSummary": 1})
    operations = [json.loads(line)["operation"] for line in log.read_text().splitlines()]
    assert operations == ["DescribeRegions", "GetAccountSummary", "DescribeRegions"]


def test_release_drops_only_that_account_s_clients_and_a_freed_aws_leaves(aws, clients):
    other = aws.assume(f"arn:aws:iam::{OTHER_ACCOUNT}:role/costguard-audit")
    aws.client("ec2")
    kept = other.client("ec2")

    aws.release_clients()

    assert len(clients) == 1 and other.client("ec2") is kept
    del other, kept
    gc.collect()
    assert len(clients) == 0


def test_a_collection_inside_the_cache_s_lock_frees_an_aws_without_deadlock(aws, clients):
    """A collection can run in any thread at any allocation, also one holding the cache's lock
    (inside put): the finalizer of a freed Aws must not wait for that lock."""
    doomed = [aws.assume(f"arn:aws:iam::{OTHER_ACCOUNT}:role/costguard-audit")]
    doomed[0].client("ec2")

    def collect_holding_the_lock() -> None:
        with clients._lock:
            doomed.clear()
            gc.collect()

    worker = threading.Thread(target=collect_holding_the_lock, daemon=True)
    worker.start()
    worker.join(timeout=10)

    assert not worker.is_alive()
    assert len(clients) == 0


class FakeSession:
    """Just what Aws uses of a boto3 session, making cheap clients and noticing two threads
    making one at once (boto3 sessions are not thread-safe when they create clients)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.region_name = "us-east-1"
        self.events = _NoEvents()
        self.making = 0
        self.overlaps = 0
        self.made = 0

    def client(self, service: str, region_name: str, config: Any) -> Any:
        self.making += 1
        if self.making > 1:
            self.overlaps += 1
        time.sleep(0.001)  # a window for another thread to enter
        self.made += 1
        self.making -= 1
        return (self.name, service, region_name)


class _NoEvents:
    def register_first(self, *_: Any) -> None:
        return None

    register = register_first


def test_concurrent_units_get_their_own_clients_and_the_limit_holds(clients):
    clients.resize(5)
    sessions = [FakeSession(f"account-{n}") for n in range(3)]
    accounts = [Aws(s) for s in sessions]  # type: ignore[arg-type]
    wrong: list[Any] = []
    sizes: list[int] = []

    def unit(worker: int) -> None:
        for n in range(60):
            account = accounts[(worker + n) % 3]
            service, region = ("ec2", "iam")[n % 2], f"region-{(worker * n) % 4}"
            client = account.client(service, region)
            if client != (sessions[accounts.index(account)].name, service, region):
                wrong.append(client)
            sizes.append(len(clients))

    threads = [threading.Thread(target=unit, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert wrong == []
    assert max(sizes) <= 5
    assert sum(s.overlaps for s in sessions) == 0
    assert clients.evicted > 0 and sum(s.made for s in sessions) > 5  # evicted, made again


def test_loading_the_config_sets_the_process_s_limit_runtime_client_cache(clients, tmp_path: Path):
    config = tmp_path / "costguard.yml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n"
                      "runtime: {client_cache: 7}\n")
    load_setup(str(config))  # every command, and the daemon's reload, loads its setup so

    assert clients.limit == 7


def test_a_daemon_cycle_over_an_organization_with_a_tiny_cache(clients, tmp_path: Path):
    """Two clients for four accounts x two regions on four threads: every unit's client is
    evicted and made again, and each cycle still reads every unit, each call counted once."""
    import boto3

    from costguard.model import Source
    from costguard.store import Store
    from tests.collectors.test_accounts import ROLE, member_client

    with mock_aws():
        org = boto3.client("organizations", region_name="us-east-1")
        org.create_organization(FeatureSet="ALL")
        members = [org.create_account(AccountName=f"m{n}", Email=f"m{n}@example.com")
                   ["CreateAccountStatus"]["AccountId"] for n in range(3)]
        member_client(members[2], "ec2").run_instances(
            ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro")
        config = tmp_path / "costguard.yml"
        config.write_text(
            f"aws: {{regions: [us-east-1, eu-west-1], organization: {{role_name: {ROLE}}}}}\n"
            f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n"
            "runtime: {concurrency: 4, client_cache: 2}\n")
        setup = load_setup(str(config))
        base = Aws.from_environment(region="us-east-1")
        engine = Engine(setup.config, setup.policies, Store.open(setup.config.database_url),
                        aws=base, registry=setup.registry)

        results = [engine.run_cycle([Source.INVENTORY], notify=False) for _ in range(2)]
        engine.store.close()

    assert [r.complete for r in results] == [True, True]
    assert [len(r.gathered.inventory) for r in results] == [8, 8]
    assert base.calls["ec2:DescribeInstances"] == 16
    seen = {i.account for r in results for inv in r.gathered.inventory for i in inv.instances}
    assert seen == {members[2]}
    assert len(clients) <= 2 and clients.evicted >= 8
