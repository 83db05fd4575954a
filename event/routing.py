"""Which commercetools messages matter, and what each one is a reason to look at.

Pure: a notification in, a unit of work out. `HANDLED_MESSAGE_TYPES` is the one list the
handler and the Subscription install script both use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain import values

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
    {
        "CustomerCreated",
        "CustomerEmailChanged",
        "CustomerFirstNameSet",
        "CustomerLastNameSet",
        # A birthday change alone is a reason to look (Yotpo birthday campaigns).
        "CustomerDateOfBirthSet",
    }
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


FOREIGN_PROJECT = "notification of another project"


@dataclass(frozen=True)
class Malformed:
    """The message cannot be what commercetools sends: dead-letter it and acknowledge."""

    reason: str


Work = ReconcileOrder | ReconcilePaymentOrders | SyncCustomer | Ignore | Malformed


def route(notification: dict[str, Any], *, project_key: str | None = None) -> Work:
    """What `notification` is a reason to look at.

    With `project_key`, a notification of another project (or of none) is ignored: message
    contents are input, and only our own project's messages may make us act.
    """
    notification_type = notification.get("notificationType")
    if project_key is not None and notification.get("projectKey") != project_key:
        return Ignore(FOREIGN_PROJECT)
    if notification_type == "ResourceCreated":
        return Ignore("subscription test notification")
    if notification_type != "Message":
        return Ignore(f"notification type {str(notification_type)[:64]!r} is not handled")
    resource = notification.get("resource")
    if not isinstance(resource, dict):
        return Malformed("'resource' is not an object")
    # When the payload was too large, commercetools leaves it out together with `type`, and
    # says which message it was in `payloadNotIncluded.payloadType` (release note 2018-06-08,
    # https://docs.commercetools.com/api/releases ; RAML type PayloadNotIncluded).
    payload_missing = notification.get("payloadNotIncluded")
    if payload_missing is not None and not isinstance(payload_missing, dict):
        return Malformed("'payloadNotIncluded' is not an object")
    message_type = values.text(notification.get("type"))
    if message_type is None and payload_missing is not None:
        message_type = values.text(payload_missing.get("payloadType"))
    if message_type is None and not isinstance(notification.get("type"), str | None):
        return Malformed("'type' is not a string")
    message_type = message_type or ""
    type_id, resource_id = resource.get("typeId"), resource.get("id")
    if resource_id is not None and not isinstance(resource_id, str):
        return Malformed("'resource.id' is not a string")
    if not resource_id:
        return Ignore("message without a resource id")
    if type_id == "order" and message_type in ORDER_MESSAGES:
        return ReconcileOrder(resource_id)
    if type_id == "payment" and message_type in PAYMENT_MESSAGES:
        return _payment_work(notification, message_type, resource_id)
    if type_id == "customer" and message_type in CUSTOMER_MESSAGES:
        return SyncCustomer(resource_id)
    shown = message_type[:64] or "message"
    return Ignore(f"{shown} on {str(type_id)[:32]} cannot change loyalty state")


# Transactions that can move points: a successful Charge can make an order paid (the planner's
# `paid` trigger — commercetools never sets `paymentState` by itself), a successful Refund
# takes points back. PaymentTransactionAddedMessage carries the whole Transaction
# (https://docs.commercetools.com/api/message-types#paymenttransactionaddedmessage).
_MOVING_TRANSACTIONS = frozenset({"Charge", "Refund"})


def _payment_work(notification: dict[str, Any], message_type: str, payment_id: str) -> Work:
    # When the payload was left out (payloadNotIncluded) we cannot tell what happened, so we
    # look anyway: a look that finds nothing sends nothing.
    if notification.get("payloadNotIncluded") is not None:
        return ReconcilePaymentOrders(payment_id)
    if message_type == "PaymentTransactionAdded":
        transaction = notification.get("transaction")
        if not isinstance(transaction, dict):
            return Malformed("'transaction' is not an object")
        kind = values.text(transaction.get("type"))
        if kind in _MOVING_TRANSACTIONS and transaction.get("state") == "Success":
            return ReconcilePaymentOrders(payment_id)
        return Ignore("payment transaction is not a successful charge or refund")
    if notification.get("state") == "Success":
        return ReconcilePaymentOrders(payment_id)
    return Ignore("payment transaction did not succeed")
