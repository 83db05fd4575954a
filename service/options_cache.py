"""The program-wide reward lists of a loyalty account, cached briefly per account.

The rewards port reads them through this cache (`RewardsCache`, shared/providers/rewards.py;
the checkout passes one `OptionsCache` to every store's account): a Yotpo program's whole
list of redemption options, which only explains a refusal ("unknown reward" vs "not enough
points"), and the ids of its in-store-only options, which Yotpo lists only under
`is_offline=true` (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options).
They change when the merchant edits the program, so a few seconds of staleness
(`REDEMPTION_OPTIONS_CACHE_SECONDS`) cost nothing, while asking on every redemption or
refusal would spend the account's 10 req/s
(https://loyaltyapi.yotpo.com/reference/guidelines-and-conventions) on the same answer.
The member-specific list is never cached: it depends on the balance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

Options = list[dict[str, Any]]


class OptionsCache:
    def __init__(
        self, ttl_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Options]] = {}

    def fresh(self, account: str) -> Options | None:
        with self._lock:
            entry = self._entries.get(account)
        if entry is None or self._clock() - entry[0] > self._ttl:
            return None
        return entry[1]

    def get(self, account: str, load: Callable[[], Options]) -> Options:
        """The cached list, else `load()`'s (stored only when it succeeds)."""
        cached = self.fresh(account)
        if cached is not None:
            return cached
        options = load()
        if self._ttl > 0:
            with self._lock:
                self._entries[account] = (self._clock(), options)
        return options
