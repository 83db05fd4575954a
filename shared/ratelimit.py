"""A token bucket per Yotpo account: every thread calling that account draws from it.

The default burst of one token spaces calls evenly, so no window of a second ever holds more
than the configured rate; a larger burst trades that guarantee for lower latency after idle time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from shared.errors import YotpoTransientError

_EPSILON = 1e-9


class RateLimiter:
    def __init__(
        self,
        rate_per_second: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate_per_second > 0 or math.isinf(rate_per_second):
            raise ValueError("rate_per_second must be a positive finite number")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_second = float(rate_per_second)
        self.burst = burst if burst is not None else 1
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = clock()
        self._paused_until = -math.inf

    def acquire(self, deadline: float | None = None) -> None:
        """Take one token, waiting for it; raise at once if it cannot come before `deadline`."""
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                ready_at = self._ready_at(now)
                if ready_at <= now:
                    self._tokens -= 1.0
                    return
            if deadline is not None and ready_at > deadline:
                raise YotpoTransientError("rate limit budget exhausted")
            # Sleep outside the lock; whoever wakes first takes the token, the rest look again.
            self._sleep(ready_at - now)

    def pause_until(self, t: float) -> None:
        """Hold every caller until clock value `t` (the server said our budget is spent)."""
        with self._lock:
            self._paused_until = max(self._paused_until, t)

    @property
    def paused_until(self) -> float | None:
        with self._lock:
            return self._paused_until if self._paused_until > self._clock() else None

    def _refill(self, now: float) -> None:
        if now > self._updated:
            gained = (now - self._updated) * self.rate_per_second
            self._tokens = min(float(self.burst), self._tokens + gained)
            self._updated = now

    def _ready_at(self, now: float) -> float:
        missing = 1.0 - self._tokens
        # Float refills land a hair short of a whole token; waiting for that hair could spin.
        ready = now if missing <= _EPSILON else now + missing / self.rate_per_second
        return max(ready, self._paused_until)
