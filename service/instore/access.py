"""Who is calling (bearer secret → POS key and its store) and how often they may call.

Rate limits are token buckets in this process. gunicorn runs several worker processes per
instance, so each worker takes its share (`rate / workers`, `workers` from `WEB_CONCURRENCY`,
which deploy/gunicorn.conf.py sets for the app it serves): the configured figure then holds
per instance. Instances do not coordinate: with N instances a key may make up to N times the
figure — size it as the wanted total divided by the service's maximum instance count
(docs/adr/0064-pos-rate-limits.md).
"""

from __future__ import annotations

import hmac
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from service.instore.settings import PosKey

# RFC 9110 §11.4: `credentials = auth-scheme [ 1*SP token68 ]`; only spaces and tabs around it
# are layout. Anything else (U+00A0, other Unicode spaces) is part of what the caller sent.
_LAYOUT = " \t"
# A bucket not touched for this long is full again: forget it (bounded memory).
_FORGET_AFTER_SECONDS = 600.0
_MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Principal:
    """The POS key a request authenticated with, and the store it acts for."""

    key_id: str
    store: str


class Keyring:
    def __init__(self, keys: Mapping[str, PosKey]) -> None:
        self._keys = [
            (key_id, key.secret.get_secret_value().encode(), key.store)
            for key_id, key in keys.items()
        ]

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The key whose secret the `Authorization: Bearer` header carries, else None.

        Every secret is compared, in constant time, whatever matched: neither the answer time
        nor an early exit tells a caller which key (or how much of one) it guessed.
        """
        scheme, _, token = (authorization or "").strip(_LAYOUT).partition(" ")
        given = token.strip(_LAYOUT).encode("utf-8", "surrogateescape")
        if scheme.lower() != "bearer" or not given:
            return None
        found: Principal | None = None
        for key_id, secret, store in self._keys:
            if hmac.compare_digest(given, secret) and found is None:
                found = Principal(key_id, store)
        return found


def worker_count(env: Mapping[str, str] | None = None) -> int:
    """Worker processes sharing this instance's limits (`WEB_CONCURRENCY`, default 1)."""
    raw = (env if env is not None else os.environ).get("WEB_CONCURRENCY", "").strip()
    try:
        value = int(raw)
    except ValueError:
        return 1
    return max(1, value)


class Throttle:
    """Token buckets by name (a key id, a client address), refilled at `rate_per_second`.

    `share` divides the rate among the processes that enforce the same limit (gunicorn
    workers); the burst stays at least one call so a slow rate still lets calls through.
    """

    def __init__(
        self,
        rate_per_second: float,
        *,
        share: int = 1,
        burst_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate_per_second > 0 or math.isinf(rate_per_second):
            raise ValueError("rate_per_second must be a positive finite number")
        if share < 1:
            raise ValueError("share must be at least 1")
        self._rate = rate_per_second / share
        # A burst of one second's worth lets a page load make its few calls at once.
        self._burst = max(1.0, self._rate * burst_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, updated)

    @property
    def rate(self) -> float:
        """Calls per second this process allows per name."""
        return self._rate

    def take(self, name: str, cost: float = 1.0) -> float:
        """0 when the call may go ahead (tokens are taken), else seconds until it could."""
        with self._lock:
            now = self._clock()
            if len(self._buckets) > _MAX_BUCKETS:
                self._forget(now)
            tokens, updated = self._buckets.get(name, (self._burst, now))
            tokens = min(self._burst, tokens + max(0.0, now - updated) * self._rate)
            cost = min(cost, self._burst)
            if tokens >= cost:
                self._buckets[name] = (tokens - cost, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (cost - tokens) / self._rate

    def blocked(self, name: str) -> float:
        """Seconds until `name` has a token again (0: it has one), taking nothing."""
        with self._lock:
            now = self._clock()
            tokens, updated = self._buckets.get(name, (self._burst, now))
            tokens = min(self._burst, tokens + max(0.0, now - updated) * self._rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate

    def _forget(self, now: float) -> None:
        stale = [n for n, (_, at) in self._buckets.items() if now - at > _FORGET_AFTER_SECONDS]
        for name in stale:
            del self._buckets[name]
        if len(self._buckets) > _MAX_BUCKETS:
            # Under a flood of distinct names, start over rather than grow without bound.
            self._buckets.clear()


class LookupThrottle(Throttle):
    """A token bucket per POS key: a stuck terminal cannot drain the Yotpo budget the whole
    store shares (kept under its old name; `Throttle` is the general form)."""

    def __init__(
        self,
        rate_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        share: int = 1,
    ) -> None:
        super().__init__(rate_per_second, share=share, clock=clock)
