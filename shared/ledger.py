"""The ledger store: what Yotpo has been told about each order, in commercetools custom objects.

One custom object per order (container `yotpo-loyalty-ledger`, key = order id). Every write is
a compare-and-set on the object's version, which is how two instances processing the same
order at once find out that one of them must start again.
"""

from __future__ import annotations

from shared.commercetools import CommercetoolsClient
from shared.domain.ledger_state import OrderLedger

LEDGER_CONTAINER = "yotpo-loyalty-ledger"


class LedgerStore:
    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def read(self, order_id: str) -> tuple[OrderLedger, int]:
        """The order's ledger and its version; version 0 means no ledger exists yet."""
        found = self._ct.get_custom_object(LEDGER_CONTAINER, order_id)
        if found is None:
            return OrderLedger(order_id=order_id), 0
        return OrderLedger.model_validate(found["value"]), int(found["version"])

    def write(self, ledger: OrderLedger, version: int) -> int:
        """Store `ledger` if nobody wrote since `version` (0: only if absent); the new version.

        Raises ConcurrentModificationError when someone else wrote first.
        """
        stored = self._ct.put_custom_object(
            LEDGER_CONTAINER, ledger.order_id, ledger.model_dump(mode="json"), version=version
        )
        return int(stored["version"])
