"""Which commercetools messages matter, and what each one is a reason to look at.

Pure: a notification in, a unit of work out. `HANDLED_MESSAGE_TYPES` is the one list the
handler and the Subscription install script both use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ORDER_MESSAGES: frozenset[str] = frozenset(
    {
        "OrderCreated",
        "OrderImported",
        "OrderPaymentStateChanged",
        "OrderShipmentStateChanged",
        "OrderStateChanged",
        "OrderStateTransition",
        "OrderCustomerSet",
        "OrderCustomerEmailSet",
        "OrderEditApplied",
        "OrderLineItemRemoved",
        "OrderPaymentAdded",
        "ReturnInfoAdded",
        "ReturnInfoSet",
        "OrderReturnShipmentStateChanged",
    }
)
PAYMENT_MESSAGES: frozenset[str] = frozenset(
    {"PaymentTransactionAdded", "PaymentTransactionStateChanged"}
)
CUSTOMER_MESSAGES: frozenset[str] = frozenset(
    {"CustomerCreated", "CustomerEmailChanged", "CustomerFirstNameSet", "CustomerLastNameSet"}
)
HANDLED_MESSAGE_TYPES: dict[str, frozenset[str]] = {
    "order": ORDER_MESSAGES,
    "payment": PAYMENT_MESSAGES,
    "customer": CUSTOMER_MESSAGES,
}


@dataclass(frozen=True)
class ReconcileOrder:
    order_id: str


@dataclass(frozen=True)
class ReconcilePaymentOrders:
    """A refund may have landed on a payment: reconcile every order that holds it."""

    payment_id: str


@dataclass(frozen=True)
class SyncCustomer:
    customer_id: str


@dataclass(frozen=True)
class Ignore:
    reason: str


Work = ReconcileOrder | ReconcilePaymentOrders | SyncCustomer | Ignore


def route(notification: dict[str, Any]) -> Work:
    notification_type = notification.get("notificationType")
    if notification_type == "ResourceCreated":
        return Ignore("subscription test notification")
    if notification_type != "Message":
        return Ignore(f"notification type {notification_type!r} is not handled")
    message_type = str(notification.get("type", ""))
    resource = notification.get("resource") or {}
    type_id, resource_id = resource.get("typeId"), resource.get("id")
    if not resource_id:
        return Ignore("message without a resource id")
    if type_id == "order" and message_type in ORDER_MESSAGES:
        return ReconcileOrder(str(resource_id))
    if type_id == "payment" and message_type in PAYMENT_MESSAGES:
        return _payment_work(notification, message_type, str(resource_id))
    if type_id == "customer" and message_type in CUSTOMER_MESSAGES:
        return SyncCustomer(str(resource_id))
    return Ignore(f"{message_type or 'message'} on {type_id} cannot change loyalty state")


def _payment_work(notification: dict[str, Any], message_type: str, payment_id: str) -> Work:
    # Only successful refunds move points. When the payload was left out (payloadNotIncluded)
    # we cannot tell, so we look anyway: a look that finds nothing sends nothing.
    if notification.get("payloadNotIncluded"):
        return ReconcilePaymentOrders(payment_id)
    if message_type == "PaymentTransactionAdded":
        transaction = notification.get("transaction") or {}
        if transaction.get("type") == "Refund" and transaction.get("state") == "Success":
            return ReconcilePaymentOrders(payment_id)
        return Ignore("payment transaction is not a successful refund")
    if notification.get("state") == "Success":
        return ReconcilePaymentOrders(payment_id)
    return Ignore("payment transaction did not succeed")
