"""A blocking rate limiter for APIs with a fixed request rate (CloudTrail LookupEvents: 2/s).

botocore's adaptive retry mode slows down only after AWS has throttled; an API whose limit is
fixed and shared by everyone in the account is better not hit at all, so callers wait here
before each request.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """A token bucket of `burst` tokens where each token comes back `burst / rate_per_s`
    seconds after it was taken.

    The classic bucket refills continuously, so after a pause it lets `burst` requests through
    at once and then one every `1 / rate` seconds: 3 requests within the first second at
    rate 2/s and burst 2, which "never above 2 per second" forbids. Returning each token a
    fixed time after use keeps the same average rate and guarantees at most `burst` requests
    in any window of `burst / rate_per_s` seconds; with `burst=1` requests are spaced at
    least `1 / rate_per_s` apart.

    Thread-safe: each caller reserves its slot under the lock and sleeps outside it, so
    threads sharing a limiter (one per account and region) are served in arrival order.
    `clock` and `sleep` are injectable so tests run on fake time.
    """

    def __init__(
        self,
        rate_per_s: float = 2.0,
        burst: int = 2,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be positive and burst at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._period = burst / rate_per_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._granted: deque[float] = deque(maxlen=burst)

    def acquire(self) -> float:
        """Wait until a request may be sent; returns how long this call slept (seconds)."""
        with self._lock:
            now = self._clock()
            at = now
            if len(self._granted) == self.burst:
                # The oldest of the last `burst` grants must be a full period old.
                at = max(now, self._granted[0] + self._period)
            self._granted.append(at)
        wait = at - now
        if wait > 0:
            self._sleep(wait)
        return wait
