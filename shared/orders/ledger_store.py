"""The ledger store: what Yotpo has been told about each order, in commercetools custom objects.

One custom object per order (container `yotpo-loyalty-ledger`, key = order id). Every write is
a compare-and-set on the object's version, which is how two instances processing the same
order at once find out that one of them must start again.
"""

from __future__ import annotations

from shared.commercetools import CommercetoolsClient
from shared.domain.orders.ledger import OrderLedger

LEDGER_CONTAINER = "yotpo-loyalty-ledger"
# Every ledger holding a PENDING operation carries `has_pending: true` (a derived field written
# with it). Ledgers written before that field existed have none: they are looked at too and
# filtered here, until their next write adds it. Query predicates on custom-object values:
# https://docs.commercetools.com/api/predicates/query ; the per-container endpoint
# `GET /custom-objects/{container}` (the cross-container query is deprecated):
# https://docs.commercetools.com/api/projects/custom-objects
PENDING_PREDICATE = "value(has_pending = true) or value(has_pending is not defined)"
_PAGE = 500


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

    def orders_with_pending(self, limit: int = 500) -> list[OrderLedger]:
        """Up to `limit` ledgers holding a PENDING operation, in id order of their objects.

        The nightly run and `audit` use it to find claims that outlived their worker
        (`OrderLedger.stuck_ops`), without waiting for another message of the order.
        """
        if limit < 1:
            return []
        found: list[OrderLedger] = []
        for obj in self._ct.iterate(
            f"custom-objects/{LEDGER_CONTAINER}",
            where=PENDING_PREDICATE,
            page_size=min(_PAGE, max(limit, 1)),
        ):
            ledger = OrderLedger.model_validate(obj["value"])
            if ledger.has_pending:
                found.append(ledger)
                if len(found) >= limit:
                    break
        return found
