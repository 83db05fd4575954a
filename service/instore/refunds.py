"""In-store refunds — of in-store or online orders — recorded in commercetools, never sent to
the loyalty provider from here.

A refund is a successful Refund transaction on the order's payment; commercetools emits
`PaymentTransactionAdded` and the event app sends the refund through the provider port (a
Yotpo refund against the order's own Yotpo order id — the online order's, for an online order
returned in a shop; a Voyado return receipt), keyed on the transaction id and capped at what
the order earned.

Exactly once: the transaction's `interactionId` is `<key id>-<request id>`, so a retried call
finds its own transaction and adds nothing. Every refund of one order is added to the same
payment with its version, so two concurrent refunds cannot both pass the "refundable" check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.instore.access import Principal
from service.instore.commerce import visible_order
from service.instore.models import RefundRequest
from service.instore.problems import refused, request_id_reused
from service.instore.replays import request_key
from shared.commercetools import CommercetoolsClient
from shared.domain.money import currency_digits, minor_units, money_currency, typed_money
from shared.errors import (
    CommercetoolsPermanentError,
    CommercetoolsTransientError,
    ConcurrentModificationError,
)
from shared.logs import log_event
from shared.runtime import Runtime

logger = logging.getLogger(__name__)

_ROUNDS = 5
# Refunds not yet failed still take their share: a pending refund may succeed.
_COUNTED_REFUND_STATES = frozenset({"Initial", "Pending", "Success"})
POS_PAYMENT_KEY_PREFIX = "pos-refunds-"


def _payments(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for reference in (order.get("paymentInfo") or {}).get("payments") or []:
        payment = reference.get("obj") if isinstance(reference, Mapping) else None
        if isinstance(payment, dict):
            found.append(payment)
    return found


def _transactions(order: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for payment in _payments(order):
        for txn in payment.get("transactions") or []:
            if isinstance(txn, dict):
                yield payment, txn


@dataclass(frozen=True)
class Position:
    """What was paid for an order and what is left to give back, in minor units."""

    currency: str
    total_minor: int
    paid_minor: int
    refunded_minor: int

    @property
    def refundable_minor(self) -> int:
        return max(self.paid_minor - self.refunded_minor, 0)


def position(order: Mapping[str, Any]) -> Position:
    """Charges captured (or, with none recorded, the order total — in-store sales are paid at
    the till) minus refunds that have not failed. Pure."""
    taxed = order.get("taxedPrice") or {}
    total_money = taxed.get("totalGross") or order["totalPrice"]
    currency = money_currency(total_money)
    total = minor_units(total_money)
    charged = refunded = 0
    for _, txn in _transactions(order):
        amount = txn.get("amount") or {}
        if money_currency(amount) != currency:
            continue  # not this order's money; commercetools keeps one currency per order
        if txn.get("type") == "Charge" and txn.get("state") == "Success":
            charged += minor_units(amount)
        elif txn.get("type") == "Refund" and txn.get("state") in _COUNTED_REFUND_STATES:
            refunded += minor_units(amount)
    return Position(currency, total, charged or total, refunded)


def own_transaction(order: Mapping[str, Any], interaction_id: str) -> dict[str, Any] | None:
    return next(
        (
            txn
            for _, txn in _transactions(order)
            if txn.get("type") == "Refund" and txn.get("interactionId") == interaction_id
        ),
        None,
    )


def refund_payment(order: Mapping[str, Any]) -> dict[str, Any] | None:
    """The payment refunds go to: the one that was charged, else the first, else None."""
    payments = _payments(order)
    charged = [
        p
        for p in payments
        if any(
            t.get("type") == "Charge" and t.get("state") == "Success"
            for t in p.get("transactions") or []
        )
    ]
    return (charged or payments or [None])[0]


def order_summary(order: Mapping[str, Any]) -> dict[str, Any]:
    where = position(order)
    return {
        "order_id": order["id"],
        "order_number": order.get("orderNumber"),
        "store": (order.get("store") or {}).get("key"),
        "currency": where.currency,
        "fraction_digits": currency_digits(where.currency),
        "total_minor": where.total_minor,
        "refunded_minor": where.refunded_minor,
        "refundable_minor": where.refundable_minor,
    }


class RefundDesk:
    def __init__(self, commercetools: CommercetoolsClient, runtime: Runtime) -> None:
        self._ct = commercetools
        self._runtime = runtime

    def summary(self, principal: Principal, order_number: str) -> dict[str, Any]:
        # The summary is what a refund starts from: the same orders as a refund may touch.
        order = visible_order(self._ct, self._runtime, principal, order_number, to_refund=True)
        return order_summary(order)

    def refund(self, principal: Principal, request: RefundRequest) -> dict[str, Any]:
        interaction_id = request_key(principal, request.request_id)
        for _ in range(_ROUNDS):
            order = visible_order(
                self._ct, self._runtime, principal, request.order_number, to_refund=True
            )
            where = position(order)
            mine = own_transaction(order, interaction_id)
            if mine is not None:
                if minor_units(mine["amount"]) != request.amount_minor:
                    raise request_id_reused()
                return self._answer(order, mine, where.currency)
            if request.amount_minor > where.refundable_minor:
                raise refused(
                    "refund_exceeds_refundable",
                    f"at most {where.refundable_minor} can be refunded on this order",
                    refundable_minor=where.refundable_minor,
                )
            payment = refund_payment(order) or self._attach_payment(order, where)
            if payment is None:
                continue  # the order changed while the payment was attached: look again
            transaction = {
                "type": "Refund",
                "amount": typed_money(where.currency, request.amount_minor),
                "state": "Success",
                "interactionId": interaction_id,
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            try:
                updated = self._ct.update(
                    "payments",
                    payment["id"],
                    payment["version"],
                    [{"action": "addTransaction", "transaction": transaction}],
                )
            except ConcurrentModificationError:
                continue  # another refund (or a retry of this one) came first: check again
            added = next(
                t
                for t in reversed(updated.get("transactions") or [])
                if t.get("interactionId") == interaction_id
            )
            log_event(
                logger,
                "pos.refund",
                key_id=principal.key_id,
                store=principal.store,
                order_id=order["id"],
                order_number=request.order_number,
                order_store=(order.get("store") or {}).get("key"),
                amount_minor=request.amount_minor,
                currency=where.currency,
                transaction_id=added["id"],
                request_id=request.request_id,
                outcome="recorded",
            )
            return self._answer(order, added, where.currency)
        raise CommercetoolsTransientError("the order kept changing; try again")

    def _attach_payment(self, order: dict[str, Any], where: Position) -> dict[str, Any] | None:
        """The order's refund payment, created and added to it (in-store sales have none).

        Its key derives from the order, so concurrent first refunds share one payment.
        """
        key = f"{POS_PAYMENT_KEY_PREFIX}{order['id']}"
        draft = {
            "key": key,
            "amountPlanned": typed_money(where.currency, where.paid_minor),
            "paymentMethodInfo": {"method": "in-store", "name": {"en": "In-store"}},
        }
        try:
            payment = self._ct.create("payments", draft)
        except CommercetoolsPermanentError as exc:
            if "DuplicateField" not in exc.codes:
                raise
            payment = self._ct.get_by_key("payments", key)
        try:
            self._ct.update(
                "orders",
                order["id"],
                order["version"],
                [{"action": "addPayment", "payment": {"typeId": "payment", "id": payment["id"]}}],
            )
        except ConcurrentModificationError:
            return None
        return payment

    @staticmethod
    def _answer(order: Mapping[str, Any], txn: Mapping[str, Any], currency: str) -> dict:
        return {
            "status": "recorded",
            "transaction_id": txn["id"],
            "order_id": order["id"],
            "order_number": order.get("orderNumber"),
            "amount_minor": minor_units(txn["amount"]),
            "currency": currency,
        }
