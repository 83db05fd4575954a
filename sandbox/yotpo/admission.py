"""Admission of one authenticated API request of the Yotpo stand-in: the API key check, then
injected faults (hang, 429, 5xx) and the account's rate limit, each answering instead of the
program; and serving the latency or hang the verdict asks for."""

from __future__ import annotations

import math

from sandbox.yotpo.core import EngineCore
from sandbox.yotpo.faults import Admission
from sandbox.yotpo.state import Account


class AdmissionApi(EngineCore):
    """Whether an API request reaches the program (`authenticate`, `admit`)."""

    def authenticate(self, guid: str | None, api_key: str | None) -> bool:
        with self._lock:
            account = self._accounts.get(guid or "")
            return account is not None and bool(api_key) and account.config.api_key == api_key

    def admit(self, guid: str, path: str) -> Admission:
        """Decide whether an injected fault or the rate limit answers this request instead."""
        with self._lock:
            account = self._accounts.get(guid)
            if account is None:  # removed by a reset since authentication
                return Admission(reject_status=401, reject_message="unknown account")
            scopes = [s for s in (self._faults.get(guid), self._faults.get(None)) if s]
            matching = [s for s in scopes if s.matches(path)]
            latency = sum(s.config.latency_ms for s in matching)
            for state in matching:
                if state.hang_next > 0:
                    state.hang_next -= 1
                    state.injected += 1
                    return Admission(latency_ms=latency, hang_seconds=state.config.hang_seconds)
            for state in matching:
                if state.rate_limited_next > 0:
                    state.rate_limited_next -= 1
                    state.injected += 1
                    reset = str(state.config.retry_after_seconds)
                    return Admission(
                        reject_status=429,
                        reject_message="rate limit exceeded (injected)",
                        headers={
                            "ratelimit-limit": str(account.program.rate_limit_per_second),
                            "ratelimit-remaining": "0",
                            "ratelimit-reset": reset,
                        },
                        latency_ms=latency,
                    )
            for state in matching:
                inject = False
                if state.error_next > 0:
                    state.error_next -= 1
                    inject = True
                elif state.config.error_rate > 0:
                    inject = state.rng.random() < state.config.error_rate
                if inject:
                    state.injected += 1
                    return Admission(
                        reject_status=state.config.error_status,
                        reject_message="injected fault",
                        latency_ms=latency,
                    )
            return self._rate_limit(account, latency)

    def _rate_limit(self, account: Account, latency: int) -> Admission:
        limit = account.program.rate_limit_per_second
        if limit == 0:
            return Admission(latency_ms=latency)
        now = self._clock()
        window = account.rate_window
        if now >= window.started + 1.0:
            window.started, window.count = now, 0
        reset = str(max(1, math.ceil(window.started + 1.0 - now)))
        if window.count >= limit:
            return Admission(
                reject_status=429,
                reject_message="rate limit exceeded",
                headers={
                    "ratelimit-limit": str(limit),
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": reset,
                },
                latency_ms=latency,
            )
        window.count += 1
        return Admission(
            headers={
                "ratelimit-limit": str(limit),
                "ratelimit-remaining": str(limit - window.count),
                "ratelimit-reset": reset,
            },
            latency_ms=latency,
        )

    def pause(self, seconds: float) -> None:
        """Serve injected latency (through the injected `sleep`)."""
        if seconds > 0:
            self._sleep(seconds)

    def hang(self, seconds: float) -> bool:
        """Hold a request for `seconds`; True if `release_hangs` (server stop) cut it short."""
        with self._hang_release:
            generation = self._hang_generation
            released = self._hang_release.wait_for(
                lambda: self._hang_generation != generation, timeout=seconds
            )
        return bool(released)
