"""One customer's look in a nightly run (`job/nightly.py`): the per-customer half of `_Run`.

Each customer is claimed once per run (`RecentlyDone`), written back by the one write-back
(`CustomerWriteback`, through the provider port) from the provider of its store
(`customer_account` over `Runtime.provider_for_store`), and counted in the run's summary. A
customer of a provider other than Yotpo is handed back when its provider account is out
(`job/nightly_outages.py`); a Yotpo customer whose look-up fails is counted as failed, as the
run always did (its account's own limiter and retries already spread the load). The work runs
on the pool's worker threads; the counts are kept under `_counts`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from job.nightly_outages import HandedBack, ProviderOutages, from_provider
from job.nightly_state import NightlyCursor, NightlySummary, RecentlyDone
from shared.customers.writeback import WritebackResult, customer_account
from shared.errors import NotFoundError, PermanentError, TransientError, describe
from shared.logs import log_event, log_failure
from shared.runtime import ProviderRoute

if TYPE_CHECKING:
    from job.nightly import NightlyJob

# The events are the nightly run's: they keep its logger.
logger = logging.getLogger("job.nightly")
# Handed-back customers remembered for the next run (bounded: the checkpoint stays small).
HANDED_BACK_LIMIT = 1_000


class BudgetExhausted(Exception):
    """The run's time is up: stop before the next customer, keep the cursor on it."""


class CustomerLooks:
    """The per-customer work of a run; `_Run` (job/nightly.py) sets the state it reads."""

    job: NightlyJob
    deadline: float
    summary: NightlySummary
    cursor: NightlyCursor
    recent: RecentlyDone
    outages: ProviderOutages
    again: set[str]
    _counts: threading.Lock

    def _out_of_time(self) -> bool:
        return self.deadline - self.job._monotonic() < self.job._reserve

    def _hand_back(self, customer_id: str) -> None:
        """Remember a handed-back customer for the next run (the caller holds `_counts`)."""
        self.again.add(customer_id)
        kept = self.cursor.handed_back
        if customer_id not in kept and len(kept) < HANDED_BACK_LIMIT:
            kept.append(customer_id)

    # --- one customer ----------------------------------------------------------------------------
    def _claim(self, customer_id: str) -> bool:
        """True the first time this run meets the customer (the main thread only)."""
        if customer_id in self.recent:
            return False
        self.recent.add(customer_id)
        return True

    def _customer_work(self, customer: Mapping[str, Any]) -> Callable[[], None] | None:
        customer_id = str(customer["id"])
        if not self._claim(customer_id):
            return None
        return self._work(customer_id, lambda d: self._sync(customer, d))

    def _by_id(self, customer_id: str) -> Callable[[float], WritebackResult]:
        def sync(deadline: float) -> WritebackResult:
            try:
                customer = self.job._ct.get_by_id("customers", customer_id)
            except NotFoundError:
                return WritebackResult(customer_id, "customer_gone")
            return self._sync(customer, deadline)

        return sync

    def _sync(self, customer: Mapping[str, Any], deadline: float) -> WritebackResult:
        """One customer through the provider of its store (runs on a worker thread)."""
        route = customer_account(customer, self.job._clients.runtime.provider_for_store)
        if route is None:
            # No account at all: the write-back answers `no_account` (after its type check).
            return self.job.writeback.sync_customer(customer, deadline=deadline)
        if route.yotpo is not None:
            return self.job.writeback.sync_customer(customer, route.provider, deadline=deadline)
        return self._watched_sync(customer, route, deadline)

    def _watched_sync(
        self, customer: Mapping[str, Any], route: ProviderRoute, deadline: float
    ) -> WritebackResult:
        """The write-back of a customer whose provider account may be out for this run."""
        account = f"{route.provider.name}:{route.key}"
        error = self.outages.down(account)
        if error is not None:
            raise HandedBack(account, error)
        try:
            result = self.job.writeback.sync_customer(customer, route.provider, deadline=deadline)
        except TransientError as exc:
            if not from_provider(exc) or self._out_of_time():
                raise  # commercetools, or the budget: as for any customer
            error = describe(exc)
            self.outages.failed(account, error)
            raise HandedBack(account, error) from exc
        self.outages.succeeded(account)
        return result

    def _work(
        self, customer_id: str, sync: Callable[[float], WritebackResult]
    ) -> Callable[[], None]:
        return lambda: self._look(customer_id, sync)

    def _look(self, customer_id: str, work: Callable[[float], WritebackResult]) -> None:
        """One customer's write-back (runs on a worker thread)."""
        if self._out_of_time():
            raise BudgetExhausted
        try:
            result = work(self.deadline)
        except HandedBack as handed:
            with self._counts:
                self.summary.handed_back += 1
                self._hand_back(customer_id)
            log_event(
                logger,
                "job.customer_handed_back",
                level=logging.WARNING,
                customer_id=customer_id,
                account=handed.account,
                error=handed.error,
                outcome="handed_back",
                retry="next_run",
            )
            return
        except (TransientError, PermanentError) as exc:
            if isinstance(exc, TransientError) and self._out_of_time():
                raise BudgetExhausted from None  # cut short by the budget: look again next run
            with self._counts:
                self.summary.failed += 1
            log_failure(
                logger, "job.customer_failed", exc, outcome="failed", customer_id=customer_id
            )
            return
        with self._counts:
            self.summary.checked += 1
            if result.wrote:
                self.summary.changed += 1
            elif result.outcome == "not_a_member":
                self.summary.not_members += 1
