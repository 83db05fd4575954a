"""The job's own clients: the loyalty provider ones at the job's share of the rate limit, all
counted.

Live traffic (event and service apps) keeps the rest of each account's budget: the job runs in
its own process with a limiter at `JOB_RATE_SHARE × YOTPO_RATE_LIMIT_PER_SECOND` for Yotpo,
and at the same share of their documented rate for other providers (LOYALTY_PROVIDERS).
Every HTTP exchange (retries included) is counted, for the run summaries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from job.settings import JobSettings
from shared.commercetools import CommercetoolsClient
from shared.orders.reconciler import OrderReconciler
from shared.runtime import Runtime, build_runtime


@dataclass
class CallCounter:
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def value(self) -> int:
        with self._lock:
            return self._count


class CountingSession(requests.Session):
    def __init__(self, counter: CallCounter, pool_size: int = 8) -> None:
        super().__init__()
        self.counter = counter
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.counter.add()
        return super().request(*args, **kwargs)


@dataclass(frozen=True)
class JobClients:
    runtime: Runtime
    ct_calls: CallCounter
    yotpo_calls: CallCounter
    # Calls to other providers, by provider name (LOYALTY_PROVIDERS).
    provider_calls: dict[str, CallCounter] = field(default_factory=dict)

    @property
    def commercetools(self) -> CommercetoolsClient:
        return self.runtime.commercetools


def build_job_clients(settings: JobSettings) -> JobClients:
    counters = {"commercetools": CallCounter(), "yotpo": CallCounter()}
    runtime = build_runtime(
        settings,
        yotpo_rate_per_second=settings.job_rate_per_second,
        # Every worker thread and the page reader hold a connection at once.
        sessions=lambda service: CountingSession(
            counters.setdefault(service, CallCounter()),
            pool_size=max(8, settings.job_concurrency + 2),
        ),
    )
    others = {k: v for k, v in counters.items() if k not in ("commercetools", "yotpo")}
    return JobClients(runtime, counters["commercetools"], counters["yotpo"], others)


def order_reconciler(settings: JobSettings, clients: JobClients, **clock: Any) -> OrderReconciler:
    """The one order reconciler the job's tasks share: the event app's planner settings, lease
    and reward seal key, on the job's clients (and rate share). `clock`: `now=`/`monotonic=`."""
    return OrderReconciler(
        clients.runtime,
        settings.planner_config(),
        lease_seconds=settings.ledger_lease_seconds,
        seal_key=settings.reward_seal_key(),
        **clock,
    )
