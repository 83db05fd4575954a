"""Yotpo cancellation requests the connector could not honour, for the audit.

Yotpo asks the shop to cancel an unused reward code (webhook
`swell/point_redemption/cancellation_request`, Loyalty webhooks reference:
https://loyaltyapi.yotpo.com/reference/webhooks). When an order already used the code the
service app leaves the order alone and writes a record (a custom object); the audit lists those
records so the merchant can settle the points by hand (the order got the discount, Yotpo did
not deduct the points).

The record belongs to the service app's webhook receiver (`service/cancellations.py`,
`CancellationRefusals`: container `yotpo-loyalty-cancellation-refusals`, value `{code,
redemptionId, customerId, orderId, orderNumber, reason, recordedAt}` with `reason`
`used_by_order` or `yotpo_refused:<status>`). The container name is taken from there; the
value is read leniently (camelCase or snake_case), so a record a later version extends still
shows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.commercetools import CommercetoolsClient, literal
from shared.domain.customers.writeback_diff import parse_datetime

DEFAULT_CONTAINER = "yotpo-loyalty-cancellation-refusals"

REASONS = {
    "used_by_order": (
        "an order already used the code, so Yotpo's cancellation was not approved: the order "
        "kept the reward and Yotpo did not give the points back; settle the points by hand"
    ),
}


def container() -> str:
    try:
        from service import cancellations
    except Exception:  # the job image may not ship the service app
        return DEFAULT_CONTAINER
    return str(getattr(cancellations, "CANCELLATION_REFUSALS_CONTAINER", DEFAULT_CONTAINER))


def explain(reason: str | None) -> str:
    """The record's reason code as a merchant reads it."""
    if not reason:
        return REASONS["used_by_order"]
    if reason in REASONS:
        return REASONS[reason]
    if reason.startswith("yotpo_refused:"):
        status = reason.removeprefix("yotpo_refused:")
        return (
            f"Yotpo refused to approve the cancellation (HTTP {status}); the code was left "
            "as it was: approve or reject the request in the Yotpo admin"
        )
    return reason


@dataclass(frozen=True)
class RefusedCancellation:
    code: str
    order: str  # the order that used the code (number or id)
    customer_id: str | None
    redemption_id: str | None
    requested_at: datetime | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "order": self.order,
            "customer_id": self.customer_id,
            "redemption_id": self.redemption_id,
            "requested_at": self.requested_at.isoformat() if self.requested_at else None,
            "reason": self.reason,
        }


def _field(value: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        found = value.get(name)
        if found is not None and str(found).strip():
            return str(found)
    return None


def parse_record(value: Mapping[str, Any]) -> RefusedCancellation | None:
    code = _field(value, "code", "rewardCode", "reward_code")
    if code is None:
        return None
    order = _field(value, "orderNumber", "order_number", "orderId", "order_id") or "?"
    when = _field(value, "requestedAt", "requested_at", "recordedAt", "recorded_at", "at")
    return RefusedCancellation(
        code=code,
        order=order,
        customer_id=_field(value, "customerId", "customer_id"),
        redemption_id=_field(value, "redemptionId", "redemption_id"),
        requested_at=parse_datetime(when) if when else None,
        reason=explain(_field(value, "reason", "detail")),
    )


def refused_cancellations(
    ct: CommercetoolsClient, *, since: datetime, until: datetime | None = None
) -> Iterator[RefusedCancellation]:
    """Records of the range (by when Yotpo asked); records without a time are always shown."""
    for obj in ct.iterate("custom-objects", where=f"container = {literal(container())}"):
        record = parse_record(obj.get("value") or {})
        if record is None:
            continue
        moment = record.requested_at
        if moment is not None and (moment < since or (until is not None and moment >= until)):
            continue
        yield record
