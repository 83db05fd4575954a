"""One delivery in, one decision out: acknowledge, or ask Pub/Sub to deliver it again.

Failure rule (ADR 0002): transient failures answer non-2xx so Pub/Sub redelivers, until the
message has failed too often *and* for longer than the ledger lease; permanent failures and
malformed messages are recorded as dead letters, logged at ERROR and acknowledged. Waiting for
another worker's live claim on the order is not a failure at all: it answers 503 with
Retry-After and never counts toward the dead-letter threshold. Nothing loops forever, nothing
is lost silently. Answers carry a short code; the full error goes to the log and the dead
letter only.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from event.envelope import Delivery
from event.routing import (
    FOREIGN_PROJECT,
    Ignore,
    Malformed,
    ReconcileOrder,
    ReconcilePaymentOrders,
    SyncCustomer,
    Work,
    route,
)
from event.settings import EventSettings
from shared.commercetools import literal  # the one escaping helper for predicate literals
from shared.customers.sync import CustomerSync
from shared.deadletters import DeadLetterStore
from shared.errors import NotFoundError, PermanentError, YotpoTransientError, describe
from shared.logs import log_event
from shared.orders.reconciler import (
    DeliveryBudgetUsedUp,
    OrderInProgress,
    OrderReconciler,
    ReconcileOutcome,
    YotpoThrottled,
)
from shared.runtime import Runtime
from shared.yotpo import YotpoRateLimited

logger = logging.getLogger(__name__)

# The order(s) the delivery in progress is about. Every log line written meanwhile — ours, the
# reconciler's, the commercetools and Yotpo clients' call lines, the app's request line —
# carries `order_id`, so one search finds an order's lines across all its messages.
_ORDER_IDS: ContextVar[list[str] | None] = ContextVar("event_order_ids", default=None)
# Logger filters run only for records created on that very logger, so each one is named.
_ORDER_LOGGERS = (
    __name__,
    "event.pull",
    "shared.orders.reconciler",
    "shared.yotpo",
    "shared.commercetools",
    "shared.webapp",
)


class _OrderIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        orders = _ORDER_IDS.get()
        if orders:
            fields = getattr(record, "json_fields", None)
            fields = dict(fields) if isinstance(fields, dict) else {}
            fields.setdefault("order_id", orders[0])
            if len(orders) > 1:
                fields.setdefault("order_ids", list(orders))
            record.json_fields = fields
        return True


def _install_order_filter() -> None:
    for name in _ORDER_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _OrderIdFilter) for f in target.filters):
            target.addFilter(_OrderIdFilter())


@contextmanager
def order_log_scope() -> Iterator[list[str]]:
    """Tag log lines with the order ids found while the block runs (a request, a pull)."""
    token = _ORDER_IDS.set([])
    try:
        yield _ORDER_IDS.get() or []
    finally:
        _ORDER_IDS.reset(token)


# How many orders one payment may be reconciled for in one delivery (a payment belongs to one
# order in practice; the bound keeps a crafted message from fanning out).
_ORDERS_PER_PAYMENT = 20


@dataclass(frozen=True)
class Decision:
    status: int  # the HTTP status Pub/Sub sees: 2xx acknowledges, anything else redelivers
    outcome: str
    detail: str = ""  # for operators (logs, replay reports); never sent back to the caller
    code: str = ""  # what the answer says
    retry_after: float | None = None  # seconds, for a deferred delivery

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300


class EventProcessor:
    def __init__(
        self,
        settings: EventSettings,
        runtime: Runtime,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._runtime = runtime
        self._monotonic = monotonic
        self._now = now
        self.reconciler = OrderReconciler(
            runtime,
            settings.planner_config(),
            lease_seconds=settings.ledger_lease_seconds,
            seal_key=settings.reward_seal_key(),
            now=now,
            monotonic=monotonic,
        )
        self.customers = CustomerSync(runtime, settings.customer_sync_config(), monotonic=monotonic)
        self.failures = DeadLetterStore(runtime.commercetools)
        _install_order_filter()
        # A message is given up on only after failing for longer than a claim can block it.
        self._give_up_after = timedelta(seconds=2 * settings.ledger_lease_seconds)

    def handle(self, delivery: Delivery) -> Decision:
        if _ORDER_IDS.get() is not None:  # inside a caller's scope (the app's request)
            return self._handle(delivery)
        with order_log_scope():
            return self._handle(delivery)

    def _handle(self, delivery: Delivery) -> Decision:
        if delivery.malformed:
            return self._bury(delivery, delivery.malformed, [], code="malformed_message")
        work = route(delivery.notification, project_key=self._settings.ctp_project_key)
        if isinstance(work, Malformed):
            return self._bury(delivery, work.reason, [], code="malformed_message")
        if isinstance(work, Ignore):
            if work.reason == FOREIGN_PROJECT:
                log_event(
                    logger,
                    "delivery.ignored",
                    message=delivery.reference,
                    reason=work.reason,
                    outcome="ignored",
                )
            # No network I/O for anything that cannot move points.
            return Decision(204, "ignored", work.reason, code="ignored")
        deadline = self._monotonic() + self._settings.event_deadline_seconds
        orders = _ORDER_IDS.get()
        if orders is None:
            orders = []
        try:
            detail = self._do(work, deadline, orders)
        except (OrderInProgress, DeliveryBudgetUsedUp) as exc:
            return self._defer(delivery, exc, orders)
        except YotpoTransientError as exc:
            if _throttled(exc):
                return self._defer(delivery, exc, orders)
            return self._retry_or_bury(delivery, exc, orders)
        except PermanentError as exc:
            return self._bury(delivery, describe(exc), orders, code="permanent_failure")
        except Exception as exc:  # every other failure is worth a retry
            return self._retry_or_bury(delivery, exc, orders)
        log_event(
            logger,
            "delivery.processed",
            message=delivery.reference,
            **_orders_field(orders),
            outcome="processed",
        )
        return Decision(200, "processed", detail, code="processed")

    def _do(self, work: Work, deadline: float, orders: list[str]) -> str:
        if isinstance(work, ReconcileOrder):
            orders.append(work.order_id)
            return self._reconcile(work.order_id, deadline)
        if isinstance(work, ReconcilePaymentOrders):
            order_ids = self.orders_holding_payment(work.payment_id)
            if not order_ids:
                return "no order holds this payment"
            orders.extend(order_ids)
            return "; ".join(self._reconcile(order_id, deadline) for order_id in order_ids)
        if isinstance(work, SyncCustomer):
            return self.customers.sync(work.customer_id, deadline=deadline)
        raise TypeError(f"no handler for {work!r}")

    def orders_holding_payment(self, payment_id: str) -> list[str]:
        found = self._runtime.commercetools.query(
            "orders",
            where=f"paymentInfo(payments(id = {literal(payment_id)}))",
            limit=_ORDERS_PER_PAYMENT,
        )
        return [order["id"] for order in found["results"]]

    def _reconcile(self, order_id: str, deadline: float) -> str:
        try:
            outcome = self.reconciler.reconcile(order_id, deadline=deadline)
        except NotFoundError:
            log_event(logger, "order.gone", order_id=order_id, outcome="ignored")
            return f"order {order_id} no longer exists"
        self._log_outcome(outcome)
        if outcome.failed:
            keys = ", ".join(f"{k}: {e}" for k, e in outcome.failed)
            raise PermanentError(f"order {order_id}: Yotpo refused {keys}")
        return f"order {order_id}: {outcome.outcome}"

    def _log_outcome(self, outcome: ReconcileOutcome) -> None:
        fields: dict[str, object] = {"order_id": outcome.order_id, "outcome": outcome.outcome}
        if outcome.sent:
            fields["sent"] = list(outcome.sent)
        if outcome.skipped_reason:
            fields["reason"] = outcome.skipped_reason
        if outcome.blocked_reason:
            fields["blocked"] = outcome.blocked_reason
        log_event(logger, "order.reconciled", **fields)

    def _defer(self, delivery: Delivery, exc: Exception, orders: list[str]) -> Decision:
        """Not the message's fault: come back later, and do not count it as a failure."""
        retry_after = max(1.0, float(getattr(exc, "retry_after", 1.0)))
        if isinstance(exc, OrderInProgress):
            code = "order_in_progress"
        elif isinstance(exc, YotpoThrottled) or _throttled(exc):
            code = "rate_limited"
        else:
            code = "time_budget_used_up"
        log_event(
            logger,
            "delivery.deferred",
            message=delivery.reference,
            **_orders_field(orders),
            error=describe(exc),
            reason=code,
            attempt=delivery.delivery_attempt,
            retry=True,
            retry_after_seconds=math.ceil(retry_after),
            outcome="redeliver",
        )
        return Decision(503, "deferred", describe(exc), code=code, retry_after=retry_after)

    def _retry_or_bury(self, delivery: Delivery, exc: Exception, orders: list[str]) -> Decision:
        error = describe(exc)
        # Our own count of this message's failures, not Pub/Sub's delivery attempt: that one
        # also counts the deferred deliveries, which are no failure of the message.
        failing_since = delivery.publish_time
        try:
            record = self.failures.count_failure(
                delivery.message_id, delivery.reference, delivery.notification, error
            )
        except Exception:  # commercetools itself may be what is down
            attempts = delivery.delivery_attempt or 0
        else:
            attempts = record.attempts
            failing_since = failing_since or record.first_seen
        now = self._now()
        if failing_since is not None and failing_since > now:
            failing_since = None  # a publish time from the future cannot hold a message back
        too_often = attempts >= self._settings.max_delivery_attempts
        too_long = failing_since is None or now - failing_since >= self._give_up_after
        if too_often and too_long:
            return self._bury(delivery, error, orders, code="too_many_failures", attempts=attempts)
        log_event(
            logger,
            "delivery.retry",
            level=logging.WARNING,
            message=delivery.reference,
            **_orders_field(orders),
            error=error,
            attempt=attempts,
            max_attempts=self._settings.max_delivery_attempts,
            retry=True,
            outcome="redeliver",
        )
        return Decision(503, "retry", error, code="transient_failure")

    def _bury(
        self,
        delivery: Delivery,
        error: str,
        orders: list[str],
        *,
        code: str,
        attempts: int | None = None,
    ) -> Decision:
        failure = "transient" if code == "too_many_failures" else "permanent"
        try:
            self.failures.bury(
                delivery.message_id,
                delivery.reference,
                delivery.notification,
                error=error,
                failure=failure,
                attempts=attempts or delivery.delivery_attempt or 1,
            )
        except Exception as store_exc:
            # Without a record the message must not be dropped: let Pub/Sub keep it.
            log_event(
                logger,
                "deadletter.write_failed",
                level=logging.ERROR,
                message=delivery.reference,
                **_orders_field(orders),
                error=describe(store_exc),
                retry=True,
                outcome="redeliver",
            )
            return Decision(503, "retry", error, code="dead_letter_write_failed")
        log_event(
            logger,
            "delivery.dead_lettered",
            level=logging.ERROR,
            message=delivery.reference,
            **_orders_field(orders),
            error=error,
            failure=failure,
            reason=code,
            attempt=attempts or delivery.delivery_attempt,
            retry=False,
            outcome="dead_letter",
        )
        return Decision(200, "dead_letter", error, code=code)


def _throttled(exc: Exception) -> bool:
    """Yotpo's rate limit (a 429 whose reset lies past our deadline, or the client's limiter
    out of budget): the account is busy, this message is fine. Waiting never dead-letters it.
    """
    return isinstance(exc, YotpoThrottled | YotpoRateLimited)


def _orders_field(orders: list[str]) -> dict[str, object]:
    """The order id(s) a log line is about, so an order's lines can be found across messages."""
    if not orders:
        return {}
    if len(orders) == 1:
        return {"order_id": orders[0]}
    return {"order_id": orders[0], "order_ids": list(orders)}
