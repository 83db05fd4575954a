"""Re-run dead letters once an operator has fixed what made them fail.

`python -m event replay [--dry-run]`. Each dead letter's notification goes through the same
processor as a live delivery; the failed operations of its order(s) are reset first so the
ledger lets them be sent again. Replaying cannot double-count: the ledger still knows
everything that was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from event.envelope import Delivery
from event.processor import EventProcessor
from event.routing import ReconcileOrder, ReconcilePaymentOrders, route


@dataclass
class ReplayReport:
    replayed: list[str] = field(default_factory=list)
    still_failing: list[tuple[str, str]] = field(default_factory=list)
    listed: list[tuple[str, str]] = field(default_factory=list)


def replay(processor: EventProcessor, *, dry_run: bool = False) -> ReplayReport:
    report = ReplayReport()
    for record in list(processor.failures.dead_letters()):
        if dry_run:
            report.listed.append((record.message_id, record.error))
            continue
        for order_id in _orders_of(processor, record.notification):
            processor.reconciler.reset_failures(order_id)
        decision = processor.handle(
            Delivery(
                message_id=record.message_id,
                subscription="replay",
                delivery_attempt=None,
                notification=record.notification,
            )
        )
        if decision.outcome in ("processed", "ignored"):
            processor.failures.forget(record.message_id)
            report.replayed.append(record.message_id)
        else:
            report.still_failing.append((record.message_id, decision.detail))
    return report


def _orders_of(processor: EventProcessor, notification: dict) -> list[str]:
    work = route(notification)
    if isinstance(work, ReconcileOrder):
        return [work.order_id]
    if isinstance(work, ReconcilePaymentOrders):
        return processor.orders_holding_payment(work.payment_id)
    return []
