"""The poller's pacing in long bursts, on a simulated clock: how many evaluations a burst
costs and how much of the drain they take (figures from a real drain: docs/benchmarks.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costguard.runtime import pollers
from costguard.runtime.pollers import Pacer, handle

INTAKE_S = 0.0005
"""Simulated seconds to store one event (about what the benchmark's drain spends)."""
JUDGE_S = 20e-6
"""Simulated seconds an evaluation spends per event of the look-back."""


@dataclass
class Burst:
    """What draining a burst of full receives cost under a pacer."""

    evaluations: int = 0
    judged: int = 0
    """Events read by all evaluations together (each reads the whole look-back)."""
    judging_s: float = 0.0
    total_s: float = 0.0


def drain(events: int) -> Burst:
    """Drain `events` ten a receive, as the poller does, on a clock that advances only by the
    simulated cost of storing and judging."""
    now = [0.0]
    pacer, burst = Pacer(clock=lambda: now[0]), Burst()
    stored = read = 0
    for _ in range(events // 10):
        now[0] += 10 * INTAKE_S
        stored += 10
        if pacer.evaluate_now(10, look_back=read):  # the history holds what was last read
            with pacer.evaluating():
                now[0] += JUDGE_S * stored
            burst.evaluations += 1
            burst.judged += stored
            burst.judging_s += JUDGE_S * stored
            read = stored
    burst.total_s = now[0]
    return burst


def test_in_a_long_burst_evaluations_grow_with_the_logarithm_and_their_work_linearly():
    sizes = (10_000, 100_000, 1_000_000)
    bursts = {n: drain(n) for n in sizes}
    counts = [bursts[n].evaluations for n in sizes]
    # tenfold events add about as many evaluations each time: logarithmic growth
    assert counts[0] < counts[1] < counts[2]
    assert counts[2] - counts[1] <= (counts[1] - counts[0]) + 5
    assert counts[2] < 80
    for n, burst in bursts.items():
        assert burst.judged <= 8 * n  # each event is read by a bounded number of evaluations
        assert burst.judging_s <= 0.25 * burst.total_s  # a bounded share of the drain


def test_a_fixed_two_second_cap_alone_made_a_long_burst_quadratic(monkeypatch):
    """What the spacing rule fixes (and proof the simulation can tell): with the time cap
    fixed at MAX_DEFER_S, the work per event grows with the burst."""
    monkeypatch.setattr(pollers, "SPACING", 0.0)
    small, large = drain(100_000), drain(1_000_000)
    assert large.judged / 1_000_000 > 5 * small.judged / 100_000
    assert large.judging_s > 0.5 * large.total_s


def test_a_quiet_receive_is_judged_at_once_even_after_a_long_evaluation():
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    with pacer.evaluating():
        now[0] += 30.0  # an evaluation of a huge look-back
    assert pacer.max_defer() == pollers.SPACING * 30.0
    now[0] += 1.0
    assert not pacer.evaluate_now(10, look_back=1_000_000)  # mid-burst: deferred
    assert pacer.evaluate_now(4, look_back=1_000_000)  # the queue went quiet: judged now


def test_the_cap_stays_at_two_seconds_while_evaluations_are_cheap():
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    with pacer.evaluating():
        now[0] += 0.1
    assert pacer.max_defer() == pollers.MAX_DEFER_S
    assert not pacer.evaluate_now(10, look_back=1_000_000)
    now[0] += pollers.MAX_DEFER_S
    assert pacer.evaluate_now(10, look_back=1_000_000)


@dataclass
class Engine:
    """An engine stand-in: the look-back's size, and an evaluation that takes clock time."""

    now: list[float]
    cost: float
    fail: bool = False
    calls: list[bool] = field(default_factory=list)

    @property
    def latest(self) -> Any:
        return type("Latest", (), {"events": type("History", (), {"api": {}})()})()

    def ingest(self, queue: Any, received: list[Any], *, evaluate: bool) -> Any:
        self.calls.append(evaluate)
        if evaluate:
            self.now[0] += self.cost
            if self.fail:
                raise RuntimeError("the store went away")
        return "result" if evaluate else None


def test_handle_times_each_evaluation_and_restarts_the_count_even_when_it_fails():
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    engine = Engine(now, cost=3.0)
    assert handle(engine, None, [object()] * 10, pacer) == "result"  # empty look-back: judged
    assert engine.calls == [True] and pacer.cost == 3.0 and pacer.deferred == 0

    engine.fail, engine.cost = True, 5.0
    with pytest.raises(RuntimeError):
        handle(engine, None, [object()] * 3, pacer)
    assert pacer.cost == 5.0 and pacer.deferred == 0 and pacer.since is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10), st.floats(0.0, 0.5), st.floats(0.0, 20.0)),
                min_size=1, max_size=300))
def test_no_stored_event_waits_past_the_bound_and_a_quiet_receive_is_judged_at_once(steps):
    """Any sequence of receives (size, seconds to store it, seconds an evaluation would take):
    a receive of fewer than ten is judged at once, and in a burst the first event stored
    after an evaluation waits at most max(MAX_DEFER_S, SPACING x that evaluation's duration)
    plus the receive that runs past it."""
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    waiting_since: float | None = None
    bound = pollers.MAX_DEFER_S
    for size, storing, judging in steps:
        decided_at = now[0]
        judged = pacer.evaluate_now(size, look_back=1_000_000)  # the count rule never fires
        now[0] += storing
        if size < 10:
            assert judged
        if not judged:
            waiting_since = decided_at if waiting_since is None else waiting_since
            continue
        if waiting_since is not None:
            assert decided_at - waiting_since <= bound + 0.5
        with pacer.evaluating():
            now[0] += judging
        waiting_since, bound = None, max(pollers.MAX_DEFER_S, pollers.SPACING * judging)


def test_after_a_long_evaluation_not_even_the_quarter_rule_judges_before_its_spacing():
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    with pacer.evaluating():
        now[0] += 3.0
    decisions = []
    for _ in range(30):  # from the tenth receive on, the quarter rule is met (100 of 400)
        decisions.append(pacer.evaluate_now(10, look_back=400))
        now[0] += 0.5
    first = decisions.index(True)
    assert first * 0.5 >= pollers.SPACING * 3.0  # only once 12 s have passed
    assert not any(decisions[:first])
