"""Backfill: historical orders (and their refunds) through the same reconciler as live events.

Every order goes through `shared.orders.reconciler.OrderReconciler`, the one path that tells Yotpo
about orders: the ledger it keeps per order is what makes backfill and live traffic unable to
double count (an order already sent live finds its ledger done and sends nothing).

Orders are paged by id inside the range; the position is checkpointed in a custom object per
range (`backfill-<digest of range>`, with a lock, `job.state.TaskCheckpoint`), so an interrupted
backfill — budget, crash, Ctrl-C — continues where it stopped when started again with the same
range. Orders that failed transiently are kept (bounded) in the cursor and retried first on
the next run. Yotpo calls go through the job's clients, at the job's share of the rate limit.

`dry_run` plans only: the pure planner against each order's stored ledger, printing what would
be sent. It sends nothing and writes nothing (no ledger, no cursor, no lock).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from job.clients import JobClients, order_reconciler
from job.failures import JobDeadLetters, OrderFailure, failed_ops
from job.orders import OrderRange, Progress, count_orders, orders_with_ledgers, plan_for
from job.pool import OrderedPool
from job.settings import JobSettings
from job.state import AlreadyRunning, LockLost, TaskCheckpoint
from shared.commercetools import after_id
from shared.deadletters import DeadLetterStore
from shared.domain.money import format_minor
from shared.errors import NotFoundError, PermanentError, TransientError, describe
from shared.logs import log_event, log_failure
from shared.orders.reconciler import ReconcileOutcome

logger = logging.getLogger(__name__)

MAX_RETRY_IDS = 1000
# Failures named in the summary (all are counted, dead-lettered and logged).
MAX_LISTED_FAILURES = 200
CHECKPOINT_EVERY = 50
CHECKPOINT_SECONDS = 10.0
# Leave room for one more order's calls before the budget ends.
_RESERVE_SECONDS = 1.0

Outcome = Literal[
    "complete",
    "budget_exhausted",
    "already_running",
    "already_complete",
    "lock_lost",
    "interrupted",
    "planned",
    "misconfigured",
]


@dataclass
class BackfillSummary:
    outcome: Outcome
    range: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    orders: int = 0  # looked at in this run
    sent_orders: int = 0
    sent_refunds: int = 0
    sent_customers: int = 0
    up_to_date: int = 0
    skipped: int = 0
    failed: int = 0
    retry_later: int = 0  # failed transiently; retried first by the next run
    dead_lettered: int = 0  # refused for good: `python -m event replay` resends them
    yotpo_calls: int = 0
    ct_calls: int = 0
    duration_seconds: float = 0.0
    error: str | None = None
    rate_share_per_second: float | None = None  # the Yotpo rate this run was given
    failures: list[OrderFailure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and k != "failures"}
        data["failures"] = [f.as_dict() for f in self.failures]
        return data

    def note_failure(self, failure: OrderFailure) -> None:
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append(failure)


class _BudgetExhausted(Exception):
    pass


class Backfill:
    def __init__(
        self,
        settings: JobSettings,
        clients: JobClients,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        out: Callable[[str], None] = print,
        progress: Callable[[int | None], Progress] | None = None,
        lock_lease_seconds: float | None = None,
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._ct = clients.commercetools
        self._now = now
        self._monotonic = monotonic
        self._out = out
        self._progress = progress or (lambda total: Progress(total))
        self._lock_lease = lock_lease_seconds
        self.dead_letters = JobDeadLetters(
            DeadLetterStore(clients.commercetools), settings.ctp_project_key, task="backfill"
        )
        self.reconciler = order_reconciler(settings, clients, now=now, monotonic=monotonic)

    # --- dry run -------------------------------------------------------------------------------
    def dry_run(self, order_range: OrderRange) -> BackfillSummary:
        """Print what a backfill would send; send and write nothing."""
        summary = BackfillSummary(outcome="planned", range=order_range.as_dict(), dry_run=True)
        started, ct_before = self._monotonic(), self._clients.ct_calls.value
        config = self._settings.planner_config()
        now = self._now()
        for order, ledger in orders_with_ledgers(self._ct, order_range.where()):
            summary.orders += 1
            view, plan = plan_for(
                order, ledger, self._clients.runtime, config, now, view_of=self.reconciler.view_of
            )
            name = view.order_number or view.id
            if plan.skipped_reason:
                summary.skipped += 1
                self._out(f"{name}: skipped ({plan.skipped_reason})")
                continue
            if plan.empty:
                summary.up_to_date += 1
                continue
            for op in plan.new_ops:
                amount = (
                    f" {format_minor(op.amount_cents, view.currency)}"
                    if op.amount_cents is not None
                    else ""
                )
                self._out(f"{name}: would send {op.kind} {op.key}{amount}")
                if op.kind == "order":
                    summary.sent_orders += 1
                elif op.kind == "refund":
                    summary.sent_refunds += 1
                else:
                    summary.sent_customers += 1
        summary.ct_calls = self._clients.ct_calls.value - ct_before
        summary.duration_seconds = round(self._monotonic() - started, 3)
        return summary

    # --- the real thing --------------------------------------------------------------------------
    def run(
        self,
        order_range: OrderRange,
        *,
        budget_seconds: float | None = None,
        restart: bool = False,
    ) -> BackfillSummary:
        run = _Run(self, order_range, budget_seconds)
        summary = run.execute(restart=restart)
        log_event(logger, "job.backfill.summary", **summary.as_dict())
        return summary

    def checkpoint(self, order_range: OrderRange) -> TaskCheckpoint:
        kwargs: dict[str, Any] = {"now": self._now}
        if self._lock_lease is not None:
            kwargs["lease_seconds"] = self._lock_lease
        return TaskCheckpoint(self._ct, order_range.key(), **kwargs)


class _Run:
    """One invocation: lock, retries, the range from the cursor, checkpoints, summary.

    Orders are worked on `JOB_CONCURRENCY` at a time (`job.pool.OrderedPool`); results
    come back in order, so the cursor only moves past orders that are finished.
    """

    def __init__(
        self, backfill: Backfill, order_range: OrderRange, budget_seconds: float | None
    ) -> None:
        self.b = backfill
        self.range = order_range
        self.started = backfill._monotonic()
        self.deadline = None if budget_seconds is None else self.started + budget_seconds
        self.ct_before = backfill._clients.ct_calls.value
        self.yotpo_before = backfill._clients.yotpo_calls.value
        self.summary = BackfillSummary(
            outcome="complete",
            range=order_range.as_dict(),
            rate_share_per_second=backfill._settings.job_rate_per_second,
        )
        self.cursor: dict[str, Any] = {}
        self.since_checkpoint = 0
        self.last_checkpoint = self.started
        self._lock = threading.Lock()  # the summary and the retry list, across workers

    def execute(self, *, restart: bool) -> BackfillSummary:
        checkpoint = self.b.checkpoint(self.range)
        try:
            stored = checkpoint.acquire()
        except AlreadyRunning as exc:
            return self._finish("already_running", str(exc))
        self.checkpoint = checkpoint
        self.cursor = {} if restart else stored
        self.cursor.update(self.range.as_dict())
        try:
            if self.cursor.get("complete") and not self.cursor.get("retry"):
                checkpoint.release(self.cursor)
                return self._finish("already_complete", "run with restart to go through it again")
            outcome: Outcome = "complete"
            try:
                self._retry_failed()
                self._orders()
                self.cursor["complete"] = True
            except _BudgetExhausted:
                outcome = "budget_exhausted"
            finally:
                self.progress_done()
            checkpoint.release(self.cursor)
        except LockLost as exc:
            return self._finish("lock_lost", str(exc))
        except TransientError as exc:
            return self._finish("interrupted", describe(exc))
        except PermanentError as exc:
            # commercetools refused the range query itself: free the lock for the next try.
            with contextlib.suppress(Exception):
                checkpoint.release(self.cursor)
            return self._finish("misconfigured", describe(exc))
        return self._finish(outcome)

    def _pool(self) -> OrderedPool[str, None]:
        return OrderedPool(self.b._settings.job_concurrency)

    def _retry_failed(self) -> None:
        retry = list(self.cursor.get("retry") or [])
        self.cursor["retry"] = []
        not_done = list(retry)
        exhausted = False
        with self._pool() as pool:
            for order_id in retry:
                finished = pool.submit(order_id, lambda o=order_id: self._one(o))
                exhausted = self._collect(finished, not_done) or exhausted
                if exhausted:
                    break
            exhausted = self._collect(pool.drain(), not_done) or exhausted
        if exhausted:
            # Keep the ones not retried (or cut short) for the next run.
            with self._lock:
                self.cursor["retry"] = [*not_done, *self.cursor["retry"]][:MAX_RETRY_IDS]
            raise _BudgetExhausted

    @staticmethod
    def _collect(finished: Any, not_done: list[str]) -> bool:
        exhausted = False
        for order_id, done in finished:
            try:
                done.result()
            except _BudgetExhausted:
                exhausted = True
                continue
            if order_id in not_done:
                not_done.remove(order_id)
        return exhausted

    def _orders(self) -> None:
        where = self.range.where()
        self.progress = self.b._progress(count_orders(self.b._ct, where))
        done = int(self.cursor.get("done") or 0)
        self.progress.step(done)
        stopped = False

        def settle(finished: Any) -> None:
            nonlocal done, stopped
            for order_id, result in finished:
                try:
                    result.result()
                except _BudgetExhausted:
                    stopped = True
                if stopped:
                    continue  # the cursor stays before the first order not finished
                done += 1
                self.cursor["after"] = order_id
                self.cursor["done"] = done
                self.progress.step(done)
                self._maybe_save()

        with self._pool() as pool:
            to_do = self.b._ct.iterate("orders", where=after_id(where, self.cursor.get("after")))
            for order in to_do:
                order_id = str(order["id"])
                settle(pool.submit(order_id, lambda o=order_id: self._one(o)))
                if stopped:
                    break
            settle(pool.drain())
        if stopped:
            raise _BudgetExhausted

    def progress_done(self) -> None:
        progress = getattr(self, "progress", None)
        if progress is not None:
            progress.finish()

    def _out_of_time(self) -> bool:
        return self.deadline is not None and self.deadline - self.b._monotonic() < _RESERVE_SECONDS

    def _one(self, order_id: str) -> None:
        """One order through the reconciler (runs on a worker thread)."""
        if self._out_of_time():
            raise _BudgetExhausted
        try:
            outcome = self.b.reconciler.reconcile(order_id, deadline=self.deadline)
        except NotFoundError:
            self._count(orders=1, skipped=1)
            return
        except TransientError as exc:
            if self._out_of_time():
                raise _BudgetExhausted from None  # cut short by the budget: again next run
            self._transient(order_id, exc)
            return
        except PermanentError as exc:
            self._permanent(order_id, order_id, describe(exc))
            return
        self._settled(order_id, outcome)

    def _settled(self, order_id: str, outcome: ReconcileOutcome) -> None:
        counts = {"orders": 1, "sent_orders": 0, "sent_refunds": 0, "sent_customers": 0}
        for key in outcome.sent:
            kind = key.split(":", 1)[0]
            slot = {"order": "sent_orders", "refund": "sent_refunds"}.get(kind, "sent_customers")
            counts[slot] += 1
        name = (outcome.ledger.yotpo_order_id if outcome.ledger else None) or order_id
        # What Yotpo refused now, or refused in an earlier run and nobody replayed since: either
        # way a dead letter makes it resendable after the fix.
        refused = list(outcome.failed) or failed_ops(outcome.ledger)
        if refused:
            self._count(**counts)
            reasons = "; ".join(f"{key}: {error}" for key, error in refused)
            self._permanent(order_id, name, reasons, counted=True)
            return
        if outcome.outcome == "skipped":
            counts["skipped"] = 1
        elif outcome.outcome == "up_to_date":
            counts["up_to_date"] = 1
        self._count(**counts)

    def _transient(self, order_id: str, exc: TransientError) -> None:
        with self._lock:
            self.summary.orders += 1
            self.summary.retry_later += 1
            retry = list(self.cursor.get("retry") or [])
            full = len(retry) >= MAX_RETRY_IDS
            if order_id not in retry and not full:
                self.cursor["retry"] = [*retry, order_id]
        log_failure(
            logger, "job.backfill.order_failed", exc, outcome="retry_later", order_id=order_id
        )
        if full:
            # No room left to retry it next run: a dead letter keeps it resendable.
            buried = self.b.dead_letters.bury(order_id, describe(exc), failure="transient")
            self._note(OrderFailure(order_id, order_id, "transient", describe(exc), buried))

    def _permanent(self, order_id: str, name: str, error: str, *, counted: bool = False) -> None:
        if not counted:
            self._count(orders=1)
        with self._lock:
            self.summary.failed += 1
        log_event(
            logger,
            "job.backfill.order_failed",
            level=logging.ERROR,
            order_id=order_id,
            error=error,
            failure="permanent",
            outcome="failed",
        )
        buried = self.b.dead_letters.bury(order_id, error, failure="permanent")
        self._note(OrderFailure(order_id, name, "permanent", error, buried))

    def _note(self, failure: OrderFailure) -> None:
        with self._lock:
            if failure.dead_lettered:
                self.summary.dead_lettered += 1
            self.summary.note_failure(failure)

    def _count(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self.summary, name, getattr(self.summary, name) + value)

    def _maybe_save(self) -> None:
        self.since_checkpoint += 1
        now = self.b._monotonic()
        if self.since_checkpoint >= CHECKPOINT_EVERY or now - self.last_checkpoint >= (
            CHECKPOINT_SECONDS
        ):
            with self._lock:
                cursor = dict(self.cursor)
            self.checkpoint.save(cursor)
            self.since_checkpoint = 0
            self.last_checkpoint = now

    def _finish(self, outcome: Outcome, error: str | None = None) -> BackfillSummary:
        summary = self.summary
        summary.outcome = outcome
        summary.error = error
        summary.ct_calls = self.b._clients.ct_calls.value - self.ct_before
        summary.yotpo_calls = self.b._clients.yotpo_calls.value - self.yotpo_before
        summary.duration_seconds = round(self.b._monotonic() - self.started, 3)
        return summary
