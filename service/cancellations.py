"""Reward codes Yotpo asked to cancel (a second delayed reward spent the same points).

Recorded by the webhook receiver, looked up by the checkout extension on the next update of a
cart that carries the code, which then drops the reward.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from shared.commercetools import CommercetoolsClient

CANCELLED_CODES_CONTAINER = "yotpo-loyalty-cancelled-codes"
_KEY_UNSAFE = re.compile(r"[^-_~.a-zA-Z0-9]")


def _key(code: str) -> str:
    return _KEY_UNSAFE.sub("_", code)[:256]


class CancelledCodes:
    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def record(self, code: str, *, redemption_id: Any, customer_id: Any) -> None:
        self._ct.put_custom_object(
            CANCELLED_CODES_CONTAINER,
            _key(code),
            {
                "code": code,
                "redemptionId": None if redemption_id is None else str(redemption_id),
                "customerId": None if customer_id is None else str(customer_id),
                "cancelledAt": datetime.now(UTC).isoformat(),
            },
            version=None,
        )

    def contains(self, code: str) -> bool:
        found = self._ct.get_custom_object(CANCELLED_CODES_CONTAINER, _key(code))
        return found is not None and found.get("value", {}).get("code") == code
