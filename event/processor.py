"""One delivery in, one decision out: acknowledge, or ask Pub/Sub to deliver it again.

Failure rule (after Adyen's integration): transient failures answer non-2xx so Pub/Sub
redelivers, until the message has failed too often; permanent failures are recorded as dead
letters, logged at ERROR and acknowledged. Nothing loops forever, nothing is lost silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from event.envelope import Delivery
from event.routing import (
    Ignore,
    ReconcileOrder,
    ReconcilePaymentOrders,
    SyncCustomer,
    Work,
    route,
)
from event.settings import EventSettings
from shared.deadletters import DeadLetterStore
from shared.domain.customer_sync import customer_payload
from shared.errors import NotFoundError, PermanentError, describe
from shared.logs import log_event
from shared.reconcile import OrderReconciler, ReconcileOutcome
from shared.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    status: int  # the HTTP status Pub/Sub sees: 2xx acknowledges, anything else redelivers
    outcome: str
    detail: str = ""

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
        self.reconciler = OrderReconciler(
            runtime,
            settings.planner_config(),
            lease_seconds=settings.ledger_lease_seconds,
            now=now,
            monotonic=monotonic,
        )
        self.failures = DeadLetterStore(runtime.commercetools)

    def handle(self, delivery: Delivery) -> Decision:
        work = route(delivery.notification)
        if isinstance(work, Ignore):
            # No network I/O for anything that cannot move points.
            return Decision(204, "ignored", work.reason)
        deadline = self._monotonic() + self._settings.event_deadline_seconds
        try:
            detail = self._do(work, deadline)
        except PermanentError as exc:
            return self._bury(delivery, exc, failure="permanent")
        except Exception as exc:  # every other failure is worth a retry
            return self._retry_or_bury(delivery, exc)
        return Decision(200, "processed", detail)

    def _do(self, work: Work, deadline: float) -> str:
        if isinstance(work, ReconcileOrder):
            return self._reconcile(work.order_id, deadline)
        if isinstance(work, ReconcilePaymentOrders):
            order_ids = self.orders_holding_payment(work.payment_id)
            if not order_ids:
                return "no order holds this payment"
            return "; ".join(self._reconcile(order_id, deadline) for order_id in order_ids)
        if isinstance(work, SyncCustomer):
            return self._sync_customer(work.customer_id, deadline)
        raise TypeError(f"no handler for {work!r}")

    def orders_holding_payment(self, payment_id: str) -> list[str]:
        found = self._runtime.commercetools.query(
            "orders", where=f'paymentInfo(payments(id = "{payment_id}"))', limit=20
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

    def _sync_customer(self, customer_id: str, deadline: float) -> str:
        try:
            customer = self._runtime.commercetools.get_by_id("customers", customer_id)
        except NotFoundError:
            return f"customer {customer_id} no longer exists"
        payload = customer_payload(customer)
        if payload is None:
            log_event(logger, "customer.skipped", customer_id=customer_id, reason="no_email")
            return f"customer {customer_id} has no email"
        store_keys = [s.get("key") for s in customer.get("stores") or []] or [None]
        routes = {}
        for key in store_keys:
            found = self._runtime.yotpo_for_store(key)
            if found is not None:
                routes[id(found.client)] = found
        for found in routes.values():
            remaining = deadline - self._monotonic()
            found.client.bounded(max(remaining, 0.0)).upsert_customer(payload)
        log_event(
            logger,
            "customer.synced",
            customer_id=customer_id,
            accounts=sorted(r.key for r in routes.values()),
            outcome="sent" if routes else "skipped",
        )
        return f"customer {customer_id}: upserted in {len(routes)} account(s)"

    def _retry_or_bury(self, delivery: Delivery, exc: Exception) -> Decision:
        error = describe(exc)
        attempts = delivery.delivery_attempt
        if attempts is None:
            try:
                attempts = self.failures.count_failure(
                    delivery.message_id, delivery.reference, delivery.notification, error
                ).attempts
            except Exception:  # commercetools itself may be what is down
                attempts = 0
        if attempts >= self._settings.max_delivery_attempts:
            return self._bury(delivery, exc, failure="transient", attempts=attempts)
        log_event(
            logger,
            "delivery.retry",
            level=logging.WARNING,
            message=delivery.reference,
            error=error,
            attempt=attempts,
            max_attempts=self._settings.max_delivery_attempts,
            retry=True,
            outcome="redeliver",
        )
        return Decision(503, "retry", error)

    def _bury(
        self, delivery: Delivery, exc: Exception, *, failure: str, attempts: int | None = None
    ) -> Decision:
        error = describe(exc)
        try:
            self.failures.bury(
                delivery.message_id,
                delivery.reference,
                delivery.notification,
                error=error,
                failure="permanent" if failure == "permanent" else "transient",
                attempts=attempts or delivery.delivery_attempt or 1,
            )
        except Exception as store_exc:
            # Without a record the message must not be dropped: let Pub/Sub keep it.
            log_event(
                logger,
                "deadletter.write_failed",
                level=logging.ERROR,
                message=delivery.reference,
                error=f"{type(store_exc).__name__}: {store_exc}",
                retry=True,
                outcome="redeliver",
            )
            return Decision(503, "retry", error)
        log_event(
            logger,
            "delivery.dead_lettered",
            level=logging.ERROR,
            message=delivery.reference,
            error=error,
            failure=failure,
            attempt=attempts or delivery.delivery_attempt,
            retry=False,
            outcome="dead_letter",
        )
        return Decision(200, "dead_letter", error)
