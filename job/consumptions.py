"""Give back the points of rewards consumed at order placement whose order never appeared.

The order guard (`service/order_guard.py`; its records: `service/consumption_records.py`)
redeems a cart's reward with immediate deduction
when the order is created and records the redemption first (container
`yotpo-loyalty-consumptions`, one record per cart). commercetools can still refuse that order
after the extension answered: another order extension answers 400, a concurrent placement gets
409, the request times out (https://docs.commercetools.com/api/projects/api-extensions). A
retry of the same cart reuses the record; a cart that is never ordered leaves the shopper's
points spent on nothing. This sweep cancels those redemptions in Yotpo (Approve Redemption
Cancellation gives spent points back,
https://loyaltyapi.yotpo.com/reference/approve-redemption-cancellation).

Per record, older than `older_than` since it was last written (the guard touches it whenever
a retry reuses it):

1. claim it: a versioned write to `releasing`
   (https://docs.commercetools.com/api/projects/custom-objects#create-or-update-customobject).
   Of two runners, or a runner and a shopper's retry, only one write succeeds; the other side
   leaves the record alone. The guard never reuses a `releasing` record.
2. look for the cart's order (`orders?where=cart(id="…")`). An order that carries this
   redemption consumed it: the record is deleted. Otherwise the redemption is orphaned.
3. cancel the orphan in Yotpo with its code as `reward_text` (through the rewards port,
   `RewardsAccount.cancel`, the record's `account`), then mark the record `released`.
   Yotpo refusing (e.g. the code was used meanwhile) marks it `release_failed` for an operator;
   Yotpo or commercetools unreachable leaves it claimed, and a later run claims it again.

Cancelling an already cancelled redemption is what a crashed runner's successor may do; the
Yotpo stand-in answers it as a no-op, which is what makes the sweep safe to repeat.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from service.consumption_records import (
    PENDING,
    RELEASE_FAILED,
    RELEASED,
    RELEASING,
    Consumption,
    ConsumptionRecords,
)
from shared.commercetools import CommercetoolsClient, literal
from shared.domain.loyalty_fields import CartFields as F
from shared.errors import ConcurrentModificationError, PermanentError, TransientError, describe
from shared.logs import log_event
from shared.providers.rewards import Redeemed, rewards_account
from shared.runtime import Runtime

logger = logging.getLogger(__name__)

DEFAULT_OLDER_THAN: Final = timedelta(hours=1)
# What one record came to (the summary's `results`).
ORDERED: Final = "ordered"
RETRY: Final = "retry"
CONTENDED: Final = "contended"
ORPHANED: Final = "orphaned"


@dataclass
class ReleaseSummary:
    examined: int = 0
    young: int = 0
    released: int = 0
    ordered: int = 0
    contended: int = 0
    retry: int = 0
    failed: int = 0
    unreadable: int = 0
    settled: int = 0  # released or failed by an earlier run
    orphaned: int = 0  # found, not released (`release=False`: the audit's look-only mode)
    error: str | None = None  # the container could not be read to the end
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "retry" if self.retry or self.error else "done"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome}


def release_orphans(
    ct: CommercetoolsClient,
    runtime: Runtime,
    *,
    now: datetime,
    older_than: timedelta = DEFAULT_OLDER_THAN,
    release: bool = True,
) -> ReleaseSummary:
    """Release every consumed redemption whose order did not appear within `older_than`.

    With `release=False` nothing is written or cancelled: orphans are only counted and listed
    (`orphaned`), for an audit run without recovery."""
    records = ConsumptionRecords(ct)
    summary = ReleaseSummary()
    try:
        _sweep(ct, runtime, records, summary, now, older_than, release)
    except (TransientError, PermanentError) as exc:
        summary.error = describe(exc)
    log_event(
        logger,
        "job.consumptions_swept",
        level=logging.WARNING if summary.outcome == "retry" else logging.INFO,
        **{k: v for k, v in summary.as_dict().items() if k not in ("results", "outcome")},
        outcome=summary.outcome,
    )
    return summary


def _sweep(
    ct: CommercetoolsClient,
    runtime: Runtime,
    records: ConsumptionRecords,
    summary: ReleaseSummary,
    now: datetime,
    older_than: timedelta,
    release: bool,
) -> None:
    for record in records.all():
        summary.examined += 1
        if record is None:
            summary.unreadable += 1
            continue
        if record.status not in (PENDING, RELEASING):
            summary.settled += 1
            continue
        if now - max(record.created_at, record.touched_at) < older_than:
            summary.young += 1
            continue
        outcome = _release_one(ct, runtime, records, record, now) if release else _look(ct, record)
        setattr(summary, outcome, getattr(summary, outcome) + 1)
        summary.results.append(
            {"cartId": record.cart_id, "redemptionId": record.redemption_id, "result": outcome}
        )


def _look(ct: CommercetoolsClient, record: Consumption) -> str:
    try:
        return ORDERED if _ordered_with(ct, record) else ORPHANED
    except (TransientError, PermanentError) as exc:
        _log(record, RETRY, exc)
        return RETRY


def _ordered_with(ct: CommercetoolsClient, record: Consumption) -> bool:
    """Whether the record's cart has an order that carries the recorded redemption."""
    page = ct.query("orders", where=f"cart(id={literal(record.cart_id)})", limit=1)
    orders = page.get("results") or []
    return bool(orders) and _carries(orders[0], record.redemption_id)


def _release_one(
    ct: CommercetoolsClient,
    runtime: Runtime,
    records: ConsumptionRecords,
    record: Consumption,
    now: datetime,
) -> str:
    try:
        claimed = records.write(replace(record, status=RELEASING, touched_at=now))
    except ConcurrentModificationError:
        # A retry of the cart reused it, or another runner claimed it: theirs now.
        return CONTENDED
    except (TransientError, PermanentError) as exc:
        _log(record, RETRY, exc)
        return RETRY
    try:
        ordered = _ordered_with(ct, record)
    except (TransientError, PermanentError) as exc:
        _log(record, RETRY, exc)
        return RETRY
    if ordered:
        _settle(records, claimed, delete=True)
        _log(record, ORDERED)
        return ORDERED
    route = runtime.provider_account(record.account)
    rewards = rewards_account(route.provider) if route is not None else None
    if rewards is None:
        _settle(records, replace(claimed, status=RELEASE_FAILED))
        _log(record, "failed", detail="no provider account configured for the record")
        return "failed"
    try:
        # Through the rewards port like every give-back (shared/providers/rewards.py).
        rewards.cancel(Redeemed(redemption_id=record.redemption_id, code=record.code))
    except TransientError as exc:
        _log(record, RETRY, exc)
        return RETRY
    except PermanentError as exc:
        _settle(records, replace(claimed, status=RELEASE_FAILED))
        _log(record, "failed", exc)
        return "failed"
    _settle(records, replace(claimed, status=RELEASED))
    _log(record, RELEASED)
    return RELEASED


def _carries(order: dict[str, Any], redemption_id: str) -> bool:
    fields = (order.get("custom") or {}).get("fields") or {}
    return str(fields.get(F.REDEMPTION_ID) or "") == redemption_id


def _settle(records: ConsumptionRecords, claimed: Consumption, *, delete: bool = False) -> None:
    """Write the claimed record's end state; a lost write means the guard replaced the record
    with a newer redemption after the claim, which is then that record's business."""
    try:
        if delete:
            records.delete(claimed)
        else:
            records.write(claimed)
    except (TransientError, PermanentError) as exc:
        log_event(
            logger,
            "job.consumption_not_settled",
            level=logging.WARNING,
            cart_id=claimed.cart_id,
            redemption_id=claimed.redemption_id,
            status=claimed.status,
            error=describe(exc),
            outcome="left_claimed",
        )


def _log(
    record: Consumption, outcome: str, exc: Exception | None = None, detail: str | None = None
) -> None:
    fields: dict[str, Any] = {
        "cart_id": record.cart_id,
        "redemption_id": record.redemption_id,
        "account": record.account,
        "outcome": outcome,
    }
    if exc is not None:
        fields["error"] = describe(exc)
    if detail:
        fields["detail"] = detail
    if outcome == "failed":
        fields["retry"] = "needs_operator"
    level = logging.WARNING if outcome in ("failed", RETRY) else logging.INFO
    log_event(logger, "job.consumption_release", level=level, **fields)
