"""Who is calling (bearer secret → POS key and its store) and how often they may look up."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from service.instore.settings import PosKey


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
        scheme, _, token = (authorization or "").partition(" ")
        given = token.strip().encode()
        if scheme.lower() != "bearer" or not given:
            return None
        found: Principal | None = None
        for key_id, secret, store in self._keys:
            if hmac.compare_digest(given, secret) and found is None:
                found = Principal(key_id, store)
        return found


class LookupThrottle:
    """A token bucket per POS key, in this process: a stuck terminal cannot drain the Yotpo
    budget the whole store shares. Instances do not coordinate; the limit is per instance."""

    def __init__(self, rate_per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate_per_second > 0 or math.isinf(rate_per_second):
            raise ValueError("rate_per_second must be a positive finite number")
        self._rate = rate_per_second
        # A burst of one second's worth lets a page load make its few calls at once.
        self._burst = max(1.0, rate_per_second)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, updated)

    def take(self, key_id: str) -> float:
        """0 when the call may go ahead (a token is taken), else seconds until one is free."""
        with self._lock:
            now = self._clock()
            tokens, updated = self._buckets.get(key_id, (self._burst, now))
            tokens = min(self._burst, tokens + max(0.0, now - updated) * self._rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self._rate
