"""The client-side limit of one Yotpo account: every thread calling that account draws from it.

Yotpo documents its limit as requests per second per account (10/s, "Guidelines and
conventions", https://loyaltyapi.yotpo.com/reference/guidelines-and-conventions). The limiter
is a sliding window: at most `burst` grants in any window of `burst / rate` seconds. With the
default burst (one second's worth of requests, rounded up) a burst of 10 goes out at once after
idle time and no window of one second ever holds more than 10 — the documented limit is never
exceeded, unlike a token bucket, whose full bucket plus a second of refill allows twice the rate.

The server's own view comes back in `ratelimit-remaining` / `ratelimit-reset` (same page):
`observe()` keeps it, so callers hold off before Yotpo answers 429 when other processes share
the account; `pause_until()` holds everyone after a 429.

A limiter lives in one process, but the limit is the account's: every gunicorn worker of every
instance (and the job) spends it. A process therefore runs at its share, `process_rate()`: the
account's rate divided by the processes that share it (`YOTPO_RATE_SHARERS`, else the
`WEB_CONCURRENCY` that deploy/gunicorn.conf.py exports to its workers). Sliding windows of
`rate / n` in each of `n` processes never put more than `rate` grants in any second together;
a process that assumed it was alone would, with two workers, send up to twice the limit and
live off 429s.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import YotpoTransientError

_EPSILON = 1e-9


class RateBudgetExhausted(YotpoTransientError):
    """The next grant cannot come before the caller's deadline (nothing was sent).

    `ready_in`: seconds until it would have come. The Yotpo client raises it as its own
    `YotpoRateLimited`, which is what callers match.
    """

    def __init__(self, message: str, *, ready_in: float) -> None:
        super().__init__(message)
        self.ready_in = max(0.0, ready_in)


class YotpoRateShareSettings(BaseSettings):
    """How many processes spend one Yotpo account's rate limit at once."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    yotpo_rate_sharers: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Processes spending one Yotpo account's rate limit at once (gunicorn workers x "
            "instances); each runs at YOTPO_RATE_LIMIT_PER_SECOND divided by this. "
            "Default: WEB_CONCURRENCY (the workers of one instance)"
        ),
    )


def worker_count(env: Mapping[str, str] | None = None) -> int:
    """gunicorn workers of this instance (`WEB_CONCURRENCY`, exported by the gunicorn config)."""
    raw = (env if env is not None else os.environ).get("WEB_CONCURRENCY", "").strip()
    try:
        return max(1, int(raw))
    except ValueError:
        return 1


def rate_sharers(settings: object, env: Mapping[str, str] | None = None) -> int:
    """The processes sharing the account: YOTPO_RATE_SHARERS, else WEB_CONCURRENCY."""
    configured = getattr(settings, "yotpo_rate_sharers", None)
    if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 1:
        return configured
    return worker_count(env)


def process_rate(account_rate: float, sharers: int) -> float:
    """This process's share of an account's rate (requests per second)."""
    return account_rate / max(1, sharers)


def default_burst(rate_per_second: float) -> int:
    """One second's worth of requests, rounded up (at least one).

    The window is then at least a second long, so no second holds more than this burst, and
    the long-run rate is still exactly `rate_per_second` (a share of 2.5/s is 3 per 1.2 s,
    never 4 in one second as a burst of 2 per 0.8 s would allow)."""
    return max(1, math.ceil(rate_per_second - _EPSILON))


# A grant is counted here when the call leaves; Yotpo counts it when it arrives. Arrival delays
# vary by some milliseconds (the network, a busy machine), so a burst sent exactly one window
# after the last can land in Yotpo's same second and draw a 429. Widening each window by this
# much absorbs that variation at a cost of about 2 % of the rate.
ARRIVAL_GUARD_SECONDS = 0.02


class RateLimiter:
    def __init__(
        self,
        rate_per_second: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        guard_seconds: float = 0.0,
    ) -> None:
        if not rate_per_second > 0 or math.isinf(rate_per_second):
            raise ValueError("rate_per_second must be a positive finite number")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_second = float(rate_per_second)
        self.burst = burst if burst is not None else default_burst(rate_per_second)
        if not 0 <= guard_seconds < 1 or math.isnan(guard_seconds):
            raise ValueError("guard_seconds must be in [0, 1)")
        # `burst` grants per window keep the long-run rate exactly `rate_per_second` (slightly
        # under it with a guard: never over).
        self.window_seconds = self.burst / self.rate_per_second + guard_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._granted: deque[float] = deque()
        self._paused_until = -math.inf
        # What the server last said: requests left until `_server_reset_at`.
        self._server_remaining: int | None = None
        self._server_reset_at = -math.inf

    def acquire(self, deadline: float | None = None) -> None:
        """Take one grant, waiting for it; raise at once if it cannot come before `deadline`."""
        while True:
            with self._lock:
                now = self._clock()
                ready_at = self._ready_at(now)
                if ready_at <= now + _EPSILON:
                    self._granted.append(now)
                    if self._server_remaining is not None:
                        self._server_remaining -= 1
                    return
            if deadline is not None and ready_at > deadline:
                raise RateBudgetExhausted("rate limit budget exhausted", ready_in=ready_at - now)
            # Sleep outside the lock; whoever wakes first takes the grant, the rest look again.
            self._sleep(ready_at - now)

    def pause_until(self, t: float) -> None:
        """Hold every caller until clock value `t` (the server said our budget is spent)."""
        with self._lock:
            self._paused_until = max(self._paused_until, t)

    def observe(self, remaining: int, reset_seconds: float) -> None:
        """The server's count: `remaining` requests until `reset_seconds` from now.

        Only a lower count than ours matters (other processes spend the same account); the
        next grant past zero waits for the reset instead of collecting a 429.
        """
        if remaining < 0 or not math.isfinite(reset_seconds) or reset_seconds < 0:
            return
        with self._lock:
            now = self._clock()
            reset_at = now + reset_seconds
            if self._server_remaining is None or self._server_reset_at <= now:
                self._server_remaining, self._server_reset_at = remaining, reset_at
            else:
                # Answers arrive out of order: keep the most cautious count of this window.
                self._server_remaining = min(self._server_remaining, remaining)
                self._server_reset_at = max(self._server_reset_at, reset_at)

    @property
    def paused_until(self) -> float | None:
        with self._lock:
            return self._paused_until if self._paused_until > self._clock() else None

    def _ready_at(self, now: float) -> float:
        horizon = now - self.window_seconds
        while self._granted and self._granted[0] <= horizon + _EPSILON:
            self._granted.popleft()
        ready = now
        if len(self._granted) >= self.burst:
            # The oldest grant of a full window must leave it first.
            ready = self._granted[len(self._granted) - self.burst] + self.window_seconds
        if self._server_reset_at <= now:
            self._server_remaining = None
        elif self._server_remaining is not None and self._server_remaining <= 0:
            ready = max(ready, self._server_reset_at)
        return max(ready, self._paused_until)
