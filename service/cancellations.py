"""Reward codes whose redemption was cancelled, and cancellations that could not be honoured.

`CancelledCodes` (container `yotpo-loyalty-cancelled-codes`, key: the code made key-safe):
written by the webhook receiver before it approves a customer's cancellation request in Yotpo
(https://loyaltyapi.yotpo.com/reference/redemption-cancellation-request), looked up by the
checkout extension on the next update of a cart that carries the code, which then drops it.

`CancellationRefusals` (container `yotpo-loyalty-cancellation-refusals`, same key): a
cancellation request that was not approved because an order already used the code, or
because Yotpo refused the approval. Value:
`{code, redemptionId, customerId, orderId, orderNumber, reason, recordedAt}` where `reason` is
`used_by_order` or `yotpo_refused:<status>`. The audit lists these.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from shared.commercetools import CommercetoolsClient
from shared.domain import values

CANCELLED_CODES_CONTAINER = "yotpo-loyalty-cancelled-codes"
CANCELLATION_REFUSALS_CONTAINER = "yotpo-loyalty-cancellation-refusals"
_KEY_UNSAFE = re.compile(r"[^-_~.a-zA-Z0-9]")


def _key(code: str) -> str:
    return _KEY_UNSAFE.sub("_", code)[:256]


def _text(value: Any) -> str | None:
    # A record keeps its caller's ids as text whatever their JSON type (Yotpo's integer ids).
    return None if value is None else values.text(str(value))


class CancelledCodes:
    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def record(self, code: str, *, redemption_id: Any, customer_id: Any) -> None:
        self._ct.put_custom_object(
            CANCELLED_CODES_CONTAINER,
            _key(code),
            {
                "code": code,
                "redemptionId": _text(redemption_id),
                "customerId": _text(customer_id),
                "cancelledAt": datetime.now(UTC).isoformat(),
            },
            version=None,
        )

    def contains(self, code: str) -> bool:
        found = self._ct.get_custom_object(CANCELLED_CODES_CONTAINER, _key(code))
        return found is not None and found.get("value", {}).get("code") == code


class CancellationRefusals:
    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def record(
        self,
        code: str,
        *,
        redemption_id: Any,
        customer_id: Any,
        order_id: Any,
        order_number: Any,
        reason: str,
    ) -> None:
        self._ct.put_custom_object(
            CANCELLATION_REFUSALS_CONTAINER,
            _key(code),
            {
                "code": code,
                "redemptionId": _text(redemption_id),
                "customerId": _text(customer_id),
                "orderId": _text(order_id),
                "orderNumber": _text(order_number),
                "reason": reason,
                "recordedAt": datetime.now(UTC).isoformat(),
            },
            version=None,
        )

    def get(self, code: str) -> dict[str, Any] | None:
        found = self._ct.get_custom_object(CANCELLATION_REFUSALS_CONTAINER, _key(code))
        if found is None or found.get("value", {}).get("code") != code:
            return None
        return dict(found["value"])
