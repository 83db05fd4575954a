"""Reconcile one order with Yotpo: the ledger protocol of the architecture page.

1. read the ledger (with its version) and the current order;
2. plan = what Yotpo should know − what the ledger says it was told (pure planner);
3. write new operations as *pending* with a compare-and-set (lost race → start again);
4. send each operation this worker claimed, then mark it done (compare-and-set again);
5. a pending operation older than the lease (its worker died) is claimed and sent again.

Every caller — live events, the backfill, in-store sales — goes through here, so nothing can
be told to Yotpo twice by two different paths.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.commercetools import CommercetoolsClient
from shared.domain.ledger_state import UNCLAIMED, LedgerOp, OpStatus, OrderLedger
from shared.domain.order_view import order_view
from shared.domain.planner import AccountView, PlannerConfig, plan_order
from shared.errors import (
    ConcurrentModificationError,
    PermanentError,
    TransientError,
    YotpoTransientError,
    describe,
)
from shared.ledger import LedgerStore
from shared.logs import log_event
from shared.runtime import Runtime, YotpoRoute
from shared.yotpo import YotpoClient

logger = logging.getLogger(__name__)

ORDER_EXPAND = ("paymentInfo.payments[*]", "discountCodes[*].discountCode")
_ROUNDS = 6
# Starting a Yotpo call we cannot see the end of turns a clean retry into an ambiguous one.
_MIN_CALL_SECONDS = 0.5


class OrderInProgress(TransientError):
    """Another worker holds this order's pending operations; look again after its lease."""


@dataclass(frozen=True)
class ReconcileOutcome:
    order_id: str
    sent: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    skipped_reason: str | None = None
    blocked_reason: str | None = None
    ledger: OrderLedger | None = field(default=None, compare=False, repr=False)

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        if self.sent:
            return "sent"
        if self.skipped_reason:
            return "skipped"
        return "up_to_date"


class OrderReconciler:
    def __init__(
        self,
        runtime: Runtime,
        config: PlannerConfig,
        *,
        lease_seconds: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = runtime
        self._ct: CommercetoolsClient = runtime.commercetools
        self._ledger = LedgerStore(runtime.commercetools)
        self._config = config
        self._lease = timedelta(seconds=lease_seconds)
        self._now = now
        self._monotonic = monotonic

    @property
    def ledger_store(self) -> LedgerStore:
        return self._ledger

    def reset_failures(self, order_id: str) -> int:
        """Operator replay: the order's failed operations become pending again; how many."""
        ledger, version = self._ledger.read(order_id)
        failed = sum(1 for op in ledger.ops.values() if op.status == OpStatus.FAILED)
        if failed:
            self._settle(ledger, version, lambda lg: lg.reset_failed(self._now()))
        return failed

    def reconcile(self, order_id: str, *, deadline: float | None = None) -> ReconcileOutcome:
        """Bring Yotpo up to date with the order as it is now. Raises TransientError to retry."""
        for _ in range(_ROUNDS):
            ledger, version = self._ledger.read(order_id)
            order = self._ct.get_by_id("orders", order_id, expand=list(ORDER_EXPAND))
            view = order_view(order)
            route = self._runtime.yotpo_for_store(view.store_key)
            account = (
                AccountView(key=route.key, currencies=frozenset(route.account.currencies))
                if route
                else None
            )
            now = self._now()
            plan = plan_order(view, ledger, self._config, account, now)
            updated = plan.apply(ledger)
            claimed = [op.key for op in plan.new_ops]
            updated, reclaimed = self._reclaim_stale(updated, exclude=claimed, now=now)
            claimed += reclaimed
            if updated != ledger:
                try:
                    version = self._ledger.write(updated, version)
                except ConcurrentModificationError:
                    continue
            if not claimed:
                busy = [op.key for op in updated.ops.values() if op.status == OpStatus.PENDING]
                if busy:
                    raise OrderInProgress(
                        f"order {order_id}: {', '.join(busy)} pending with another worker"
                    )
                return ReconcileOutcome(
                    order_id,
                    skipped_reason=updated.skipped_reason,
                    blocked_reason=updated.blocked_reason,
                    ledger=updated,
                )
            if route is None:  # the planner never creates work for an unrouted order
                raise PermanentError(f"order {order_id}: no Yotpo account for its store")
            ordered = [key for key in updated.ops if key in set(claimed)]
            return self._execute(updated, version, ordered, route, deadline)
        raise ConcurrentModificationError(
            f"order {order_id}: ledger kept changing under us", current_version=None
        )

    def _reclaim_stale(
        self, ledger: OrderLedger, *, exclude: Sequence[str], now: datetime
    ) -> tuple[OrderLedger, list[str]]:
        stale = [
            op.key
            for op in ledger.ops.values()
            if op.status == OpStatus.PENDING
            and op.key not in exclude
            and op.updated_at <= now - self._lease
        ]
        if not stale:
            return ledger, []
        ops = dict(ledger.ops)
        for key in stale:
            ops[key] = ops[key].model_copy(update={"updated_at": now})
        return ledger.model_copy(update={"ops": ops}), stale

    def _execute(
        self,
        ledger: OrderLedger,
        version: int,
        keys: Sequence[str],
        route: YotpoRoute,
        deadline: float | None,
    ) -> ReconcileOutcome:
        sent: list[str] = []
        failed: list[tuple[str, str]] = []
        for position, key in enumerate(keys):
            op = ledger.ops[key]
            try:
                blocker = self._blocker(ledger, op)
            except OrderInProgress:
                # Hand back what we claimed, so the redelivery need not wait out the lease.
                unsent = list(keys[position:])
                self._settle(ledger, version, lambda lg, rest=unsent: _release_all(lg, rest))
                raise
            if blocker:
                ledger, version = self._settle(
                    ledger, version, lambda lg, k=key, b=blocker: lg.mark_failed(k, b, self._now())
                )
                failed.append((key, blocker))
                continue
            try:
                self._send(self._client(route, deadline), op)
            except PermanentError as exc:
                error = describe(exc)
                ledger, version = self._settle(
                    ledger, version, lambda lg, k=key, e=error: lg.mark_failed(k, e, self._now())
                )
                failed.append((key, error))
                log_event(
                    logger,
                    "yotpo.operation_failed",
                    level=logging.ERROR,
                    order_id=ledger.order_id,
                    operation=key,
                    error=error,
                    outcome="failed_permanently",
                )
                continue
            except Exception:
                # Hand the operation back so the redelivery retries it at once, not after the
                # lease. Best effort: if this write fails too, the lease still frees it.
                try:
                    self._settle(ledger, version, lambda lg, k=key: _release(lg, k))
                except Exception:  # the original failure is what matters
                    logger.warning("could not release %s of order %s", key, ledger.order_id)
                raise
            ledger, version = self._settle(
                ledger, version, lambda lg, k=key: lg.mark_done(k, self._now())
            )
            sent.append(key)
            log_event(
                logger,
                "yotpo.operation_sent",
                order_id=ledger.order_id,
                operation=key,
                kind=op.kind,
                amount_cents=op.amount_cents,
                account=route.key,
                outcome="sent",
            )
        return ReconcileOutcome(
            ledger.order_id,
            sent=tuple(sent),
            failed=tuple(failed),
            skipped_reason=ledger.skipped_reason,
            blocked_reason=ledger.blocked_reason,
            ledger=ledger,
        )

    @staticmethod
    def _blocker(ledger: OrderLedger, op: LedgerOp) -> str | None:
        if op.kind != "refund":
            return None
        order_op = next((o for o in ledger.ops.values() if o.kind == "order"), None)
        if order_op is None or order_op.status == OpStatus.FAILED:
            return "the order was not accepted by Yotpo; fix it and replay"
        if order_op.status == OpStatus.PENDING:
            raise OrderInProgress(f"order {ledger.order_id}: order not yet recorded in Yotpo")
        return None

    def _client(self, route: YotpoRoute, deadline: float | None) -> YotpoClient:
        if deadline is None:
            return route.client
        remaining = deadline - self._monotonic()
        if remaining < _MIN_CALL_SECONDS:
            raise YotpoTransientError("delivery time budget used up; continuing on redelivery")
        return route.client.bounded(remaining)

    @staticmethod
    def _send(client: YotpoClient, op: LedgerOp) -> None:
        if op.kind == "order":
            client.create_order(op.payload)
        elif op.kind == "refund":
            client.create_refund(op.payload)
        elif op.kind == "customer":
            client.upsert_customer(op.payload)
        else:  # a ledger written by a newer version of the connector
            raise PermanentError(f"unknown operation kind {op.kind!r}")

    def _settle(
        self,
        ledger: OrderLedger,
        version: int,
        change: Callable[[OrderLedger], OrderLedger],
    ) -> tuple[OrderLedger, int]:
        """Write `change(ledger)`; on a lost race apply the same change to the fresh ledger."""
        candidate = change(ledger)
        for _ in range(_ROUNDS):
            try:
                return candidate, self._ledger.write(candidate, version)
            except ConcurrentModificationError:
                fresh, version = self._ledger.read(ledger.order_id)
                candidate = change(fresh)
        raise ConcurrentModificationError(
            f"order {ledger.order_id}: ledger kept changing under us", current_version=None
        )


def _release_all(ledger: OrderLedger, keys: Sequence[str]) -> OrderLedger:
    for key in keys:
        ledger = _release(ledger, key)
    return ledger


def _release(ledger: OrderLedger, key: str) -> OrderLedger:
    op = ledger.ops.get(key)
    if op is None or op.status != OpStatus.PENDING:
        return ledger
    ops = dict(ledger.ops)
    ops[key] = op.model_copy(update={"updated_at": UNCLAIMED})
    return ledger.model_copy(update={"ops": ops})
