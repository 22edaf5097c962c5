"""What costguard itself spends on Cost Explorer in a month: 30 simulated days of cost cycles.

Replays cost cycles on a fake clock (every 6 h by default, as `schedule.cost` ships) against
moto's Cost Explorer, with daemon restarts (every 31 hours, and a crash loop of five on day 10)
that each run a cycle at once, all sharing one SQLite store, and counts the requests costguard
sends and the dollars AWS would bill for them ($0.01 each). Hourly data is enabled by default
(the dearer case); `--no-hourly` answers HOURLY requests as an account without the opt-in.

moto answers GetCostAndUsage from results seeded through its API. It has no GetCostForecast and
does not model the hourly opt-in, so botocore before-call handlers (what Stubber uses) answer
those with responses shaped as AWS documents them.

Usage: python bench/ce_month.py [--days 30] [--every-hours 6] [--max-calls 12] [--no-hourly]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SEED_URL = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"
FORECAST = {
    "Total": {"Amount": "2450.00", "Unit": "USD"},
    "ForecastResultsByTime": [
        {
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
            "MeanValue": "2450.00",
            "PredictionIntervalLowerBound": "2200.00",
            "PredictionIntervalUpperBound": "2700.00",
        }
    ],
}


RESTART_EVERY = timedelta(hours=31)
CRASH_LOOP = START + timedelta(days=10, hours=3)


def cycles(days: int, every: timedelta) -> list[tuple[datetime, bool]]:
    """(time, restarted) of each cost cycle, in time order: one every `every`; a daemon
    restart (which runs a cycle at once) every 31 hours at 17 past the hour; and a crash loop
    of five restarts a minute apart on day 10."""
    end = START + timedelta(days=days)
    scheduled = [(START + every * n, False) for n in range(int((end - START) / every))]
    restarts = [
        (START + RESTART_EVERY * n + timedelta(minutes=17), True)
        for n in range(1, int((end - START) / RESTART_EVERY) + 1)
    ]
    crash_loop = [(CRASH_LOOP + timedelta(minutes=n), True) for n in range(5)]
    return sorted(c for c in scheduled + restarts + crash_loop if c[0] < end)


def seed_results(count: int) -> None:
    """Queue one plausible daily answer per request moto will see."""
    import requests

    result = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
                "Total": {},
                "Groups": [
                    {
                        "Keys": ["Amazon Elastic Compute Cloud - Compute", "123456789012"],
                        "Metrics": {"UnblendedCost": {"Amount": "81.60", "Unit": "USD"}},
                    }
                ],
                "Estimated": True,
            }
        ]
    }
    answer = requests.post(SEED_URL, json={"results": [result] * count}, timeout=5)
    answer.raise_for_status()


OPT_IN = {
    "Error": {
        "Code": "AccessDeniedException",
        "Message": "Hourly data granularity is an opt-in only feature. You can enable this "
        "feature from the PAYER account's Cost Explorer Settings page.",
    },
    "ResponseMetadata": {"HTTPStatusCode": 400},
}


def answer_what_moto_lacks(aws, hourly: bool) -> None:
    """GetCostForecast answers FORECAST; without `hourly`, HOURLY requests are refused."""
    from botocore.awsrequest import AWSResponse

    def forecast(**_):
        return AWSResponse(None, 200, {}, None), json.loads(json.dumps(FORECAST))

    def usage(params, **_):  # params is the serialized request; its body is the JSON sent
        if hourly or json.loads(params["body"])["Granularity"] != "HOURLY":
            return None  # moto answers
        return AWSResponse(None, 400, {}, None), json.loads(json.dumps(OPT_IN))

    events = aws.client("ce", "us-east-1").meta.events
    events.register("before-call.ce.GetCostForecast", forecast)
    events.register("before-call.ce.GetCostAndUsage", usage)


def replay(days: int, every: timedelta, max_calls: int, hourly: bool, db: Path) -> dict:
    from moto import mock_aws

    from costguard.collectors.cost_explorer import CostCollector
    from costguard.collectors.session import Aws
    from costguard.spend.ce_budget import CeBudget
    from costguard.store import Store

    plan = cycles(days, every)
    now = [START]
    with mock_aws(), Store.open(f"sqlite:///{db}") as store:
        aws = Aws.from_environment(region="us-east-1")
        seed_results(3 * len(plan))
        answer_what_moto_lacks(aws, hourly)
        budget = CeBudget(store, max_calls_per_day=max_calls, clock=lambda: now[0])
        per_day: Counter[str] = Counter(
            {f"{START + timedelta(days=d):%Y-%m-%d}": 0 for d in range(days)}
        )
        collector, refused = None, 0
        for moment, restarted in plan:
            now[0] = moment
            if collector is None or restarted:
                refused += collector.refused if collector else 0
                collector = CostCollector(
                    aws, "123456789012", clock=lambda: now[0], store=store, budget=budget
                )
            before = collector.calls_made
            collector.hourly()
            collector.daily()
            collector.forecast()
            per_day[f"{moment:%Y-%m-%d}"] += collector.calls_made - before
        refused += collector.refused if collector else 0
        return {"plan": plan, "per_day": per_day, "calls": dict(aws.calls), "refused": refused}


def report(result: dict, days: int, every: timedelta, max_calls: int, hourly: bool) -> None:
    per_day, calls = result["per_day"], result["calls"]
    total = sum(per_day.values())
    restarts = sum(1 for _, restarted in result["plan"] if restarted)
    naive = 3 * len(result["plan"])
    print(f"Cost Explorer requests costguard sent over {days} simulated days (moto CE, fake clock)")
    print(
        f"schedule: a cost cycle every {every.total_seconds() / 3600:g} h, plus {restarts} "
        f"daemon restarts that each run one at once (every 31 h, and a crash loop of 5 on "
        f"day 10); hourly data {'enabled' if hourly else 'not enabled'}; budget {max_calls} "
        "requests/day"
    )
    print(
        f"requests per day: max {max(per_day.values())}, mean "
        f"{statistics.mean(per_day.values()):.1f}, min {min(per_day.values())}"
    )
    print(
        f"requests in total: {total} (GetCostAndUsage {calls.get('ce:GetCostAndUsage', 0)}, "
        f"GetCostForecast {calls.get('ce:GetCostForecast', 0)}); refused by the budget: "
        f"{result['refused']}"
    )
    print(f"cost: ${total * 0.01:.2f} for the {days} days (ceiling ${max_calls * days * 0.01:.2f})")
    print(
        f"without the stored-data cache and the budget (3 requests a cycle): {naive} requests, "
        f"${naive * 0.01:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--every-hours", type=float, default=6.0)
    parser.add_argument("--max-calls", type=int, default=12)
    parser.add_argument("--no-hourly", action="store_true")
    args = parser.parse_args()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    every = timedelta(hours=args.every_hours)
    logging.getLogger("costguard").setLevel(logging.ERROR)  # refusals are counted below
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "costguard.db"
        result = replay(args.days, every, args.max_calls, not args.no_hourly, db)
    report(result, args.days, every, args.max_calls, not args.no_hourly)
    return 0


if __name__ == "__main__":
    sys.exit(main())
