"""Re-run dead letters once an operator has fixed what made them fail.

`python -m event replay [--dry-run]`. Each dead letter's notification goes through the same
processor as a live delivery; the failed operations of its order(s) are reset first so the
ledger lets them be sent again. Replaying cannot double-count: the ledger still knows
everything that was sent.

Dead letters the job wrote (a backfill or nightly run that could not finish an order; see
`job/failures.py`) carry no real message: their order is reconciled directly, through the same
`OrderReconciler`, and a refusal updates the same record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from event.envelope import Delivery
from event.processor import EventProcessor
from event.routing import ReconcileOrder, ReconcilePaymentOrders, route
from job.failures import job_order_id
from shared.cli.progress import ProgressBar
from shared.deadletters import FailureRecord
from shared.errors import NotFoundError, PermanentError, TransientError, describe


@dataclass(frozen=True)
class Listed:
    """One dead letter as an operator sees it before replaying."""

    message_id: str
    source: str  # "live" (a commercetools message) or "job"
    subject: str  # "order <id>", "payment <id>", ...
    failure: str
    attempts: int
    last_seen: datetime
    error: str


@dataclass
class ReplayReport:
    replayed: list[str] = field(default_factory=list)
    still_failing: list[tuple[str, str]] = field(default_factory=list)
    listed: list[Listed] = field(default_factory=list)


def replay(
    processor: EventProcessor,
    *,
    dry_run: bool = False,
    progress: Callable[[int], ProgressBar] | None = None,
) -> ReplayReport:
    report = ReplayReport()
    records = list(processor.failures.dead_letters())
    if dry_run:
        report.listed = [_listed(record) for record in records]
        return report
    bar = progress(len(records)) if progress else None
    for record in records:
        if bar is not None:
            bar.step()
        _replay_one(processor, record, report)
    if bar is not None:
        bar.finish()
    return report


def _replay_one(processor: EventProcessor, record: FailureRecord, report: ReplayReport) -> None:
    order_id = job_order_id(record)
    if order_id is not None:
        _replay_job_order(processor, record, order_id, report)
        return
    for found in _orders_of(processor, record.notification):
        processor.reconciler.reset_failures(found)
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


def _replay_job_order(
    processor: EventProcessor, record: FailureRecord, order_id: str, report: ReplayReport
) -> None:
    reconciler = processor.reconciler
    try:
        reconciler.reset_failures(order_id)
        outcome = reconciler.reconcile(order_id)
    except NotFoundError:
        processor.failures.forget(record.message_id)  # the order is gone: nothing to send
        report.replayed.append(record.message_id)
        return
    except TransientError as exc:
        report.still_failing.append((record.message_id, describe(exc)))
        return
    except PermanentError as exc:
        _still_refused(processor, record, describe(exc), report)
        return
    if outcome.failed:
        reasons = "; ".join(f"{key}: {error}" for key, error in outcome.failed)
        _still_refused(processor, record, reasons, report)
        return
    processor.failures.forget(record.message_id)
    report.replayed.append(record.message_id)


def _still_refused(
    processor: EventProcessor, record: FailureRecord, error: str, report: ReplayReport
) -> None:
    processor.failures.bury(
        record.message_id,
        record.reference,
        record.notification,
        error=error,
        failure="permanent",
        attempts=record.attempts + 1,
    )
    report.still_failing.append((record.message_id, error))


def _listed(record: FailureRecord) -> Listed:
    order_id = job_order_id(record)
    if order_id is not None:
        source, subject = "job", f"order {order_id}"
    else:
        resource = record.notification.get("resource") or {}
        source = "live"
        subject = f"{resource.get('typeId') or '?'} {resource.get('id') or '?'}"
    return Listed(
        message_id=record.message_id,
        source=source,
        subject=subject,
        failure=record.failure,
        attempts=record.attempts,
        last_seen=record.last_seen,
        error=record.error,
    )


def _orders_of(processor: EventProcessor, notification: dict) -> list[str]:
    work = route(notification)
    if isinstance(work, ReconcileOrder):
        return [work.order_id]
    if isinstance(work, ReconcilePaymentOrders):
        return processor.orders_holding_payment(work.payment_id)
    return []
