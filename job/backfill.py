"""Backfill: historical orders (and their refunds) through the same reconciler as live events.

Every order goes through `shared.reconcile.OrderReconciler`, the one path that tells Yotpo
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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from job.clients import JobClients
from job.orders import OrderRange, Progress, after, count_orders, orders_with_ledgers, plan_for
from job.settings import JobSettings
from job.state import AlreadyRunning, LockLost, TaskCheckpoint
from shared.domain.money import format_minor
from shared.errors import NotFoundError, PermanentError, TransientError, describe
from shared.logs import log_event, log_failure
from shared.reconcile import OrderReconciler

logger = logging.getLogger(__name__)

MAX_RETRY_IDS = 1000
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
    yotpo_calls: int = 0
    ct_calls: int = 0
    duration_seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


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
        self.reconciler = OrderReconciler(
            clients.runtime,
            settings.planner_config(),
            lease_seconds=settings.ledger_lease_seconds,
            now=now,
            monotonic=monotonic,
        )

    # --- dry run -------------------------------------------------------------------------------
    def dry_run(self, order_range: OrderRange) -> BackfillSummary:
        """Print what a backfill would send; send and write nothing."""
        summary = BackfillSummary(outcome="planned", range=order_range.as_dict(), dry_run=True)
        started, ct_before = self._monotonic(), self._clients.ct_calls.value
        config = self._settings.planner_config()
        now = self._now()
        for order, ledger in orders_with_ledgers(self._ct, order_range.where()):
            summary.orders += 1
            view, plan = plan_for(order, ledger, self._clients.runtime, config, now)
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
    def __init__(
        self, backfill: Backfill, order_range: OrderRange, budget_seconds: float | None
    ) -> None:
        self.b = backfill
        self.range = order_range
        self.started = backfill._monotonic()
        self.deadline = None if budget_seconds is None else self.started + budget_seconds
        self.ct_before = backfill._clients.ct_calls.value
        self.yotpo_before = backfill._clients.yotpo_calls.value
        self.summary = BackfillSummary(outcome="complete", range=order_range.as_dict())
        self.cursor: dict[str, Any] = {}
        self.since_checkpoint = 0
        self.last_checkpoint = self.started

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

    def _retry_failed(self) -> None:
        retry = list(self.cursor.get("retry") or [])
        self.cursor["retry"] = []
        for position, order_id in enumerate(retry):
            try:
                self._one(order_id)
            except _BudgetExhausted:
                # Keep the ones not yet retried for the next run.
                self.cursor["retry"] = [*retry[position:], *self.cursor["retry"]][:MAX_RETRY_IDS]
                raise

    def _orders(self) -> None:
        where = self.range.where()
        self.progress = self.b._progress(count_orders(self.b._ct, where))
        done = int(self.cursor.get("done") or 0)
        self.progress.step(done)
        for order in self.b._ct.iterate("orders", where=after(where, self.cursor.get("after"))):
            self._one(str(order["id"]))
            done += 1
            self.cursor["after"] = str(order["id"])
            self.cursor["done"] = done
            self.progress.step(done)
            self._maybe_save()

    def progress_done(self) -> None:
        progress = getattr(self, "progress", None)
        if progress is not None:
            progress.finish()

    def _one(self, order_id: str) -> None:
        if self.deadline is not None and self.deadline - self.b._monotonic() < _RESERVE_SECONDS:
            raise _BudgetExhausted
        self.summary.orders += 1
        try:
            outcome = self.b.reconciler.reconcile(order_id, deadline=self.deadline)
        except NotFoundError:
            self.summary.skipped += 1
            return
        except TransientError as exc:
            if self.deadline is not None and self.deadline - self.b._monotonic() < (
                _RESERVE_SECONDS
            ):
                self.summary.orders -= 1
                raise _BudgetExhausted from None
            self.summary.retry_later += 1
            retry = list(self.cursor.get("retry") or [])
            if order_id not in retry and len(retry) < MAX_RETRY_IDS:
                self.cursor["retry"] = [*retry, order_id]
            log_failure(
                logger, "job.backfill.order_failed", exc, outcome="retry_later", order_id=order_id
            )
            return
        except PermanentError as exc:
            self.summary.failed += 1
            log_failure(
                logger, "job.backfill.order_failed", exc, outcome="failed", order_id=order_id
            )
            return
        for key in outcome.sent:
            kind = key.split(":", 1)[0]
            if kind == "order":
                self.summary.sent_orders += 1
            elif kind == "refund":
                self.summary.sent_refunds += 1
            else:
                self.summary.sent_customers += 1
        if outcome.failed:
            self.summary.failed += 1  # recorded on the order's ledger; the audit shows it
        elif outcome.outcome == "skipped":
            self.summary.skipped += 1
        elif outcome.outcome == "up_to_date":
            self.summary.up_to_date += 1

    def _maybe_save(self) -> None:
        self.since_checkpoint += 1
        now = self.b._monotonic()
        if self.since_checkpoint >= CHECKPOINT_EVERY or now - self.last_checkpoint >= (
            CHECKPOINT_SECONDS
        ):
            self.checkpoint.save(self.cursor)
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
