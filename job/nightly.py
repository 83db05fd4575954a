"""The nightly run: which customers to look at, inside a time and rate budget.

Each customer is written back from the loyalty provider of its store (issue #18: "point
balance read back to commercetools", through the same port as checkout and webhooks): the
account of its first store that has one of its own, else `default`
(`shared.customers.writeback.customer_account`). Every customer goes through the one
write-back, `CustomerWriteback`, which asks the provider port's `member_state` (ADR 0097):
Yotpo's member record gives balance, tier and referral code, a provider without tiers
(Voyado, LOYALTY_PROVIDERS) the balance alone. Each provider's calls run on its own client
and limiter at the job's share of that provider's rate (`job.clients`), and are counted apart
(`provider_calls`).

A provider account that keeps failing (`OUTAGE_AFTER` transient failures in a row, after its
client's own retries) is left alone for the rest of the run, apart from one probe every
`OUTAGE_PROBE_SECONDS`: its customers are *handed back* (counted in `handed_back`, the account
and its error in `providers_unavailable`) instead of each waiting out the client's retries, and
the rest of the run goes on. Handed-back customer ids are kept in the checkpoint (at most
`HANDED_BACK_LIMIT`) and looked at first by the next run (`handed_back_retried`); past the
limit the rolling slice still reaches everyone within NIGHTLY_COVERAGE_NIGHTS.

A *pass* looks at three kinds of customers, in phases:

1. `orders`  — customers of orders modified since the previous pass started (their balance or
   tier most likely moved);
2. `expired` — customers whose stored tier end date has passed (Yotpo moved them down or
   renewed them, maybe without a webhook reaching us);
3. `slice`   — a rolling slice of everyone else, so that every customer is looked at within
   `NIGHTLY_COVERAGE_NIGHTS` passes even if every webhook was lost.

The slice is an id cursor over all customers that survives between passes: each pass takes
the next ⌈customers / N⌉ ids after it, wrapping around at the end. Compared with "hash of the
id mod N == night", it reads only the slice from commercetools rather than every customer
every night, and a pass that overran its budget simply continues the next night without
shifting which customers the following nights cover.

Everything streams (`CommercetoolsClient.iterate` pages by id): memory does not grow with the
number of customers. The only set kept is a bounded one of customers already written back in
this run, so a customer with five modified orders is looked at once.

The pass's position (phase, id cursor, slice progress) is checkpointed in the task's custom
object together with its lock (`job.state.TaskCheckpoint`): a run stopped by its budget, or a
crash, continues where it stopped; a second runner finds the lock held and leaves.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from job.clients import JobClients, order_reconciler
from job.consumptions import release_orphans
from job.failures import JobDeadLetters
from job.nightly_customers import HANDED_BACK_LIMIT, BudgetExhausted, CustomerLooks
from job.nightly_outages import (
    OUTAGE_AFTER,
    OUTAGE_PROBE_SECONDS,
    ProviderOutages,
)
from job.nightly_state import (
    RECENT_LIMIT,
    NightlyCursor,
    NightlySummary,
    Outcome,
    PassState,
    Phase,
    RecentlyDone,
    nights_for_full_coverage,
)
from job.pool import OrderedPool
from job.settings import JobSettings
from job.state import AlreadyRunning, LockLost, TaskCheckpoint
from job.stuck import StuckReport, recover_stuck
from shared.commercetools import CommercetoolsClient, after_id, literal
from shared.customers.writeback import CustomerWriteback
from shared.deadletters import DeadLetterStore
from shared.domain.customers.writeback_diff import format_datetime
from shared.domain.loyalty_fields import CustomerFields
from shared.errors import (
    PermanentError,
    TransientError,
    describe,
)
from shared.logs import log_event, log_failure

logger = logging.getLogger(__name__)

# The run's state and its outage tracking live in job/nightly_state.py and
# job/nightly_outages.py; these names stay importable from here.
_Outages = ProviderOutages
__all__ = [
    "HANDED_BACK_LIMIT",
    "NIGHTLY_TASK",
    "OUTAGE_AFTER",
    "OUTAGE_PROBE_SECONDS",
    "RECENT_LIMIT",
    "NightlyCursor",
    "NightlyJob",
    "NightlySummary",
    "Outcome",
    "PassState",
    "Phase",
    "nights_for_full_coverage",
]

# The stored names (checkpoint key, dead-letter task) keep the word of the first release, so
# a cursor and dead letters written before the nightly run was renamed stay readable.
NIGHTLY_TASK = "reconcile"
# On the very first pass there is no previous one: look at the orders of the last day.
FIRST_PASS_LOOKBACK = timedelta(days=1)
ORDER_PAGE = 100  # orders are large; only their customerId is needed
CUSTOMER_PAGE = 200
CHECKPOINT_EVERY = 50
CHECKPOINT_SECONDS = 10.0


class NightlyJob:
    def __init__(
        self,
        settings: JobSettings,
        clients: JobClients,
        *,
        writeback: CustomerWriteback | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        lock_lease_seconds: float | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._ct: CommercetoolsClient = clients.commercetools
        self._now = now
        self._monotonic = monotonic
        # One write-back for every provider: each customer is handed the provider of its store.
        self.writeback = writeback or CustomerWriteback(
            clients.commercetools,
            clients.runtime.provider_for_store,
            type_key=settings.customer_type_key,
            tier_groups=settings.tier_groups(),
            # The member is named as orders name it (MEMBER_ID_SOURCE, docs/adr/0010).
            identity=settings.member_identity(),
            now=now,
            monotonic=monotonic,
        )
        self._lock_lease = lock_lease_seconds
        self.orders = order_reconciler(settings, clients, now=now, monotonic=monotonic)
        self.dead_letters = JobDeadLetters(
            DeadLetterStore(clients.commercetools), settings.ctp_project_key, task=NIGHTLY_TASK
        )
        self._checkpoint_every = checkpoint_every
        self._checkpoint_seconds = checkpoint_seconds
        # Stop early enough that the next Yotpo call surely fits (one limiter token + slack).
        self._reserve = 0.5 + 1.0 / settings.job_rate_per_second

    # --- the run ---------------------------------------------------------------------------------
    def run(self, budget_seconds: float | None = None) -> NightlySummary:
        budget = (
            budget_seconds
            if budget_seconds is not None
            else (self._settings.nightly_budget_seconds)
        )
        run = _Run(self, budget)
        summary = run.execute()
        log_event(
            logger,
            "job.nightly.summary",
            level=logging.ERROR if summary.outcome == "misconfigured" else logging.INFO,
            **summary.as_dict(),
        )
        return summary

    def checkpoint(self) -> TaskCheckpoint:
        kwargs: dict[str, Any] = {"now": self._now}
        if self._lock_lease is not None:
            kwargs["lease_seconds"] = self._lock_lease
        return TaskCheckpoint(self._ct, NIGHTLY_TASK, **kwargs)

    # --- candidates (streams) ------------------------------------------------------------------
    def modified_orders(self, since: datetime, after: str | None) -> Iterator[Mapping[str, Any]]:
        where = f"lastModifiedAt > {literal(format_datetime(since))} and customerId is defined"
        return self._ct.iterate("orders", where=after_id(where, after), page_size=ORDER_PAGE)

    def expired_tiers(self, moment: datetime, after: str | None) -> Iterator[Mapping[str, Any]]:
        ends = literal(format_datetime(moment))
        where = f"custom(fields({CustomerFields.TIER_ENDS_AT} < {ends}))"
        return self._ct.iterate("customers", where=after_id(where, after), page_size=CUSTOMER_PAGE)

    def customers_after(self, after: str | None) -> Iterator[Mapping[str, Any]]:
        return self._ct.iterate("customers", where=after_id(None, after), page_size=CUSTOMER_PAGE)

    def customer_count(self) -> int:
        return int(self._ct.query("customers", limit=1, with_total=True).get("total") or 0)

    def slice_quota(self, customers: int | None = None) -> int:
        total = self.customer_count() if customers is None else customers
        return math.ceil(total / self._settings.nightly_coverage_nights)

    def capacity_per_run(self, budget_seconds: float) -> int:
        """Customers one run can look at: one Yotpo call each, at the job's rate share."""
        return int(budget_seconds * self._settings.job_rate_per_second)

    def nights_for_full_coverage(self, customers: int, budget_seconds: float) -> int:
        settings = self._settings
        return nights_for_full_coverage(
            customers,
            budget_seconds=budget_seconds,
            rate_per_second=settings.job_rate_per_second,
            coverage_nights=settings.nightly_coverage_nights,
        )


class _Run(CustomerLooks):
    """One invocation: lock, phases from the stored position, checkpoints, summary."""

    def __init__(self, job: NightlyJob, budget_seconds: float) -> None:
        self.job = job
        self.budget = budget_seconds
        self.started = job._monotonic()
        self.deadline = self.started + budget_seconds
        self.ct_before = job._clients.ct_calls.value
        self.yotpo_before = job._clients.yotpo_calls.value
        self.providers_before = {k: c.value for k, c in job._clients.provider_calls.items()}
        self.outages = ProviderOutages(job._monotonic)
        self.again: set[str] = set()  # customers handed back in this run
        self.summary = NightlySummary(outcome="complete")
        self.recent = RecentlyDone()
        self.cursor = NightlyCursor()
        self.since_checkpoint = 0
        self.last_checkpoint = self.started
        self.summary.rate_share_per_second = job._settings.job_rate_per_second
        self.stuck = StuckReport()
        self._counts = threading.Lock()  # the summary, across workers

    def execute(self) -> NightlySummary:
        checkpoint = self.job.checkpoint()
        try:
            self.job.writeback.target()  # a missing custom type fails the run, not each customer
        except PermanentError as exc:
            return self._finish("misconfigured", error=str(exc))
        try:
            self.cursor = NightlyCursor.model_validate(checkpoint.acquire())
        except AlreadyRunning as exc:
            return self._finish("already_running", error=str(exc))
        self.checkpoint = checkpoint
        outcome: Outcome = "complete"
        try:
            try:
                self._recover_stuck()
                self._release_consumptions()
                self._passes()
            except BudgetExhausted:
                outcome = "budget_exhausted"
            self.summary.phase = self.cursor.current.phase if self.cursor.current else None
            checkpoint.release(self._stored())
        except LockLost as exc:
            return self._finish("lock_lost", error=str(exc))
        except TransientError as exc:
            # commercetools failed under a page read or a checkpoint: the lock runs out and the
            # next run continues from the last checkpoint.
            return self._finish("interrupted", error=describe(exc))
        except PermanentError as exc:
            # commercetools refused a query (a scope or predicate problem): free the lock so
            # the run after the fix does not wait for it.
            with contextlib.suppress(Exception):
                checkpoint.release(self._stored())
            return self._finish("misconfigured", error=describe(exc))
        return self._finish(outcome)

    # --- phases ----------------------------------------------------------------------------------
    def _recover_stuck(self) -> None:
        """Orders whose operations outlived their claim: re-sent now, not on a next message."""
        settings = self.job._settings
        try:
            stuck = recover_stuck(
                self.job.orders.ledger_store,
                self.job.orders,
                now=self.job._now(),
                lease=timedelta(seconds=settings.ledger_lease_seconds),
                dead_letters=self.job.dead_letters,
                deadline=self.deadline,
                out_of_time=self._out_of_time,
            )
        except PermanentError as exc:  # the write-back must not wait for this
            log_failure(logger, "job.stuck_query_failed", exc, outcome="skipped")
            stuck = StuckReport()
        self.stuck = stuck
        self.summary.stuck_found = len(stuck.orders)
        self.summary.stuck_recovered = stuck.count("recovered")

    def _release_consumptions(self) -> None:
        """Points held for a cart whose order commercetools refused after the checkout consumed
        its reward come back once no order appeared (ADR 0022); under the run's lock, so one
        runner at a time, and never blocking the write-back."""
        try:
            released = release_orphans(
                self.job._clients.commercetools, self.job._clients.runtime, now=self.job._now()
            )
        except (PermanentError, TransientError) as exc:
            log_failure(logger, "job.consumptions_failed", exc, outcome="skipped")
            return
        self.summary.consumptions_released = released.released

    def _passes(self) -> None:
        current = self.cursor.current
        if current is None:
            now = self.job._now()
            customers = self.job.customer_count()
            current = PassState(
                started_at=now,
                since=self.cursor.last_pass_started_at or now - FIRST_PASS_LOOKBACK,
                slice_quota=self.job.slice_quota(customers),
                customers=customers,
            )
            self.cursor.current = current
            self._save()
        self._log_coverage(current)  # every run, a resumed pass too
        self._handed_back_phase()
        if current.phase == "orders":
            self._orders_phase(current)
            current.phase, current.after = "expired", None
            self._save()
        if current.phase == "expired":
            self._expired_phase(current)
            current.phase, current.after = "slice", None
            self._save()
        self._slice_phase(current)
        self.cursor.last_pass_started_at = current.started_at
        self.cursor.passes_completed += 1
        self.cursor.current = None

    def _log_coverage(self, current: PassState) -> None:
        """How many nights until every customer was looked at, at the current settings."""
        settings = self.job._settings
        customers = current.customers
        if customers is None:  # a pass started before the count was kept: from its slice
            customers = current.slice_quota * settings.nightly_coverage_nights
        capacity = self.job.capacity_per_run(self.budget)
        nights = self.job.nights_for_full_coverage(customers, self.budget)
        self.summary.nights_for_full_coverage = nights
        fields = {
            "customers": customers,
            "slice": current.slice_quota,
            "capacity_per_run": capacity,
            "rate_per_second": settings.job_rate_per_second,
            "budget_seconds": self.budget,
            "coverage_nights": settings.nightly_coverage_nights,
            "nights_for_full_coverage": nights,
        }
        log_event(logger, "job.nightly.coverage", outcome="planned", **fields)
        if current.slice_quota > capacity:
            log_event(
                logger,
                "job.nightly.coverage_at_risk",
                level=logging.WARNING,
                outcome="coverage_at_risk",
                detail=(
                    f"full coverage takes {nights} nights, not "
                    f"{settings.nightly_coverage_nights}: raise NIGHTLY_BUDGET_SECONDS or "
                    "JOB_RATE_SHARE, or NIGHTLY_COVERAGE_NIGHTS"
                ),
                **fields,
            )

    def _pool(self) -> OrderedPool[str, None]:
        return OrderedPool(self.job._settings.job_concurrency)

    def _run_ordered(
        self,
        items: Iterator[tuple[str, Callable[[], None] | None]],
        on_done: Callable[[str], None],
    ) -> None:
        """Work items on the pool; `on_done(tag)` in order for each finished one (the cursor).

        An item whose work is None needs none (a customer already looked at) but still moves
        the cursor in its turn. The first item stopped by the budget stops the phase: the
        cursor stays before it, so the next run starts there.
        """
        stopped = False

        def settle(finished: Iterator[tuple[str, Any]]) -> None:
            nonlocal stopped
            for tag, done in finished:
                try:
                    done.result()
                except BudgetExhausted:
                    stopped = True
                if not stopped:
                    on_done(tag)

        with self._pool() as pool:
            for tag, work in items:
                settle(pool.submit(tag, work or (lambda: None)))
                if stopped:
                    break
            settle(pool.drain())
        if stopped:
            raise BudgetExhausted

    def _handed_back_phase(self) -> None:
        """Customers an earlier run handed back (their provider was out), first. Each leaves
        the list once looked at, unless it is handed back again."""
        waiting = list(self.cursor.handed_back)
        if not waiting:
            return

        def items() -> Iterator[tuple[str, Callable[[], None] | None]]:
            for customer_id in waiting:
                work = self._by_id(customer_id) if self._claim(customer_id) else None
                yield customer_id, (self._work(customer_id, work) if work else None)

        def done(customer_id: str) -> None:
            with self._counts:
                if customer_id not in self.again:
                    self.cursor.handed_back.remove(customer_id)
                self.summary.handed_back_retried += 1
            self._maybe_save()

        self._run_ordered(items(), done)

    def _orders_phase(self, current: PassState) -> None:
        def items() -> Iterator[tuple[str, Callable[[], None] | None]]:
            for order in self.job.modified_orders(current.since, current.after):
                customer_id = order.get("customerId")
                work = None
                if customer_id and self._claim(str(customer_id)):
                    work = self._work(str(customer_id), self._by_id(str(customer_id)))
                yield str(order["id"]), work

        def done(order_id: str) -> None:
            current.after = order_id
            self._maybe_save()

        self._run_ordered(items(), done)

    def _expired_phase(self, current: PassState) -> None:
        def items() -> Iterator[tuple[str, Callable[[], None] | None]]:
            for customer in self.job.expired_tiers(current.started_at, current.after):
                yield str(customer["id"]), self._customer_work(customer)

        def done(customer_id: str) -> None:
            current.after = customer_id
            self._maybe_save()

        self._run_ordered(items(), done)

    def _slice_phase(self, current: PassState) -> None:
        wraps = 0
        while current.slice_done < current.slice_quota:
            seen = False
            handed_in = current.slice_done

            def items() -> Iterator[tuple[str, Callable[[], None] | None]]:
                nonlocal seen, handed_in
                for customer in self.job.customers_after(self.cursor.slice_after):
                    if handed_in >= current.slice_quota:
                        return
                    seen = True
                    handed_in += 1
                    yield str(customer["id"]), self._customer_work(customer)

            def done(customer_id: str) -> None:
                self.cursor.slice_after = customer_id
                current.slice_done += 1
                self._maybe_save()

            self._run_ordered(items(), done)
            if current.slice_done >= current.slice_quota:
                return
            # The end of the id space: the slice goes on from the first customer.
            self.cursor.slice_after = None
            wraps += 1
            if not seen and wraps > 1:
                return  # fewer customers than the quota counted (deleted meanwhile)

    # --- checkpoints -----------------------------------------------------------------------------
    def _stored(self) -> dict[str, Any]:
        with self._counts:  # workers add handed-back customers meanwhile
            return self.cursor.model_dump(mode="json")

    def _save(self) -> None:
        self.checkpoint.save(self._stored())
        self.since_checkpoint = 0
        self.last_checkpoint = self.job._monotonic()

    def _maybe_save(self) -> None:
        self.since_checkpoint += 1
        due = self.since_checkpoint >= self.job._checkpoint_every or (
            self.job._monotonic() - self.last_checkpoint >= self.job._checkpoint_seconds
        )
        if due:
            self._save()

    def _finish(self, outcome: Outcome, error: str | None = None) -> NightlySummary:
        summary = self.summary
        summary.outcome = outcome
        summary.error = error
        summary.ct_calls = self.job._clients.ct_calls.value - self.ct_before
        summary.yotpo_calls = self.job._clients.yotpo_calls.value - self.yotpo_before
        counters = self.job._clients.provider_calls
        if counters:
            summary.provider_calls = {
                name: counter.value - self.providers_before.get(name, 0)
                for name, counter in sorted(counters.items())
            }
        if self.outages.unavailable:
            summary.providers_unavailable = dict(sorted(self.outages.unavailable.items()))
        summary.duration_seconds = round(self.job._monotonic() - self.started, 3)
        return summary
