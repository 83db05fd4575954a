"""Orders whose operations are stuck: PENDING past their lease, or handed back and never taken.

A claim normally ends with its worker (done, failed, or handed back for the redelivery). If the
worker died, or the order's messages stopped coming, the operation would wait for a message that
may never arrive. The nightly run and `audit` look for them (`LedgerStore.orders_with_pending`,
`OrderLedger.stuck_ops`) and send each through `OrderReconciler.reconcile`, which claims an
operation past its lease exactly as a redelivery would: the compare-and-set on the ledger lets
one claimer win, so a live worker and the job can never both send it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from job.failures import JobDeadLetters
from shared.domain.customers.writeback_diff import format_datetime
from shared.errors import NotFoundError, PermanentError, TransientError, describe
from shared.logs import log_event
from shared.orders.ledger_store import LedgerStore
from shared.orders.reconciler import OrderReconciler

logger = logging.getLogger(__name__)

STUCK_LIMIT = 500

Result = Literal["recovered", "still_pending", "failed", "gone", "listed"]


@dataclass(frozen=True)
class StuckOrder:
    order_id: str
    name: str
    operations: tuple[str, ...]
    since: str  # the oldest claim (or hand-back) among them
    result: Result
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "order": self.name,
            "operations": list(self.operations),
            "since": self.since,
            "result": self.result,
            "detail": self.detail,
        }


@dataclass
class StuckReport:
    orders: list[StuckOrder] = field(default_factory=list)

    def count(self, result: Result) -> int:
        return sum(1 for o in self.orders if o.result == result)

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": len(self.orders),
            "recovered": self.count("recovered"),
            "orders": [o.as_dict() for o in self.orders],
        }


def recover_stuck(
    store: LedgerStore,
    reconciler: OrderReconciler | None,
    *,
    now: datetime,
    lease: timedelta,
    dead_letters: JobDeadLetters | None = None,
    deadline: float | None = None,
    out_of_time: Callable[[], bool] = lambda: False,
    limit: int = STUCK_LIMIT,
) -> StuckReport:
    """Find stuck orders; with a reconciler, re-send each (None: only list them)."""
    report = StuckReport()
    for ledger in store.orders_with_pending(limit):
        stuck = ledger.stuck_ops(now, lease)
        if not stuck:
            continue  # a live claim: its worker is on it
        name = ledger.yotpo_order_id or ledger.order_id
        keys = tuple(op.key for op in stuck)
        since = format_datetime(min(op.updated_at for op in stuck))
        if reconciler is None or out_of_time():
            report.orders.append(StuckOrder(ledger.order_id, name, keys, since, "listed"))
            continue
        result, detail = _resend(reconciler, ledger.order_id, deadline)
        if result == "failed" and dead_letters is not None:
            dead_letters.bury(ledger.order_id, detail, failure="permanent")
        log_event(
            logger,
            "job.stuck_order",
            level=logging.WARNING if result != "recovered" else logging.INFO,
            order_id=ledger.order_id,
            operations=list(keys),
            since=since,
            outcome=result,
            error=detail or None,
        )
        report.orders.append(StuckOrder(ledger.order_id, name, keys, since, result, detail))
    return report


def _resend(
    reconciler: OrderReconciler, order_id: str, deadline: float | None
) -> tuple[Result, str]:
    try:
        outcome = reconciler.reconcile(order_id, deadline=deadline)
    except NotFoundError:
        return "gone", "the order no longer exists"
    except TransientError as exc:
        return "still_pending", describe(exc)
    except PermanentError as exc:
        return "failed", describe(exc)
    if outcome.failed:
        return "failed", "; ".join(f"{key}: {error}" for key, error in outcome.failed)
    return "recovered", ""
