"""The rate limiter on fake time: the average rate, the per-window cap, and threads."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest

from costguard.collectors.rate_limit import RateLimiter


class FakeTime:
    """A clock that only moves when the limiter sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def grant_times(limiter: RateLimiter, time: FakeTime, n: int) -> list[float]:
    times = []
    for _ in range(n):
        limiter.acquire()
        times.append(time.now)
    return times


def most_in_any_window(times: list[float], width: float) -> int:
    """The most grants in any half-open window [t, t + width) starting at a grant."""
    return max(sum(1 for u in times if t <= u < t + width) for t in times)


def test_ten_acquires_at_two_per_second_take_four_seconds_and_never_three_in_a_second():
    time = FakeTime()
    limiter = RateLimiter(rate_per_s=2.0, burst=2, clock=time.clock, sleep=time.sleep)

    times = grant_times(limiter, time, 10)

    assert times[-1] >= 4.0
    assert most_in_any_window(times, 1.0) == 2
    assert times == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]


def test_burst_one_spaces_requests_by_the_period():
    time = FakeTime()
    limiter = RateLimiter(rate_per_s=2.0, burst=1, clock=time.clock, sleep=time.sleep)

    times = grant_times(limiter, time, 6)

    gaps = [b - a for a, b in pairwise(times)]
    assert gaps == [0.5] * 5
    assert most_in_any_window(times, 1.0) == 2


def test_after_a_pause_the_burst_is_available_again_without_sleeping():
    time = FakeTime()
    limiter = RateLimiter(rate_per_s=2.0, burst=2, clock=time.clock, sleep=time.sleep)
    grant_times(limiter, time, 4)
    time.now += 10.0
    slept_before = len(time.sleeps)

    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 0.0
    assert len(time.sleeps) == slept_before
    assert limiter.acquire() == pytest.approx(1.0)


def test_a_partly_elapsed_wait_is_only_the_rest():
    time = FakeTime()
    limiter = RateLimiter(rate_per_s=2.0, burst=1, clock=time.clock, sleep=time.sleep)
    limiter.acquire()
    time.now += 0.3

    assert limiter.acquire() == pytest.approx(0.2)


def test_threads_get_distinct_slots():
    """The clock stands still and sleeps do not advance it, so each thread's wait is the slot
    it reserved: eight threads must get eight different slots, 0.5 s apart."""
    limiter = RateLimiter(rate_per_s=2.0, burst=1, clock=lambda: 0.0, sleep=lambda _: None)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        wait = limiter.acquire()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == [0.5 * i for i in range(8)]


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (2.0, 0)])
def test_nonsense_settings_are_refused(rate, burst):
    with pytest.raises(ValueError, match="rate_per_s"):
        RateLimiter(rate_per_s=rate, burst=burst)
