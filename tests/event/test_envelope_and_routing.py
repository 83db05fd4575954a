from __future__ import annotations

import base64
import json

import pytest

from event.envelope import EnvelopeError, parse_delivery
from event.routing import (
    HANDLED_MESSAGE_TYPES,
    Ignore,
    ReconcileOrder,
    ReconcilePaymentOrders,
    SyncCustomer,
    route,
)


def envelope(notification: object, **extra: object) -> dict:
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    return {
        "message": {"data": data, "attributes": {}, "messageId": "1234", "publishTime": "t"},
        "subscription": "projects/p/subscriptions/s",
        **extra,
    }


def message(type_: str, type_id: str, **fields: object) -> dict:
    return {
        "notificationType": "Message",
        "type": type_,
        "resource": {"typeId": type_id, "id": "res-1"},
        "sequenceNumber": 3,
        "resourceVersion": 3,
        **fields,
    }


def test_parses_a_push_envelope():
    delivery = parse_delivery(envelope(message("OrderCreated", "order"), deliveryAttempt=4))
    assert delivery.message_id == "1234"
    assert delivery.delivery_attempt == 4
    assert delivery.message_type == "OrderCreated"
    assert delivery.reference["resource"] == {"typeId": "order", "id": "res-1"}


def test_delivery_attempt_from_attribute_when_not_in_body():
    body = envelope(message("OrderCreated", "order"))
    body["message"]["attributes"]["googclient_deliveryattempt"] = "2"
    assert parse_delivery(body).delivery_attempt == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": {}},
        {"message": {"data": "", "messageId": "1"}},
        {"message": {"data": "not base64!!", "messageId": "1"}},
        {"message": {"data": base64.b64encode(b"[1,2]").decode(), "messageId": "1"}},
        {"message": {"data": base64.b64encode(b"{oops").decode(), "messageId": "1"}},
        [1, 2],
    ],
)
def test_rejects_what_is_not_an_envelope(body):
    with pytest.raises(EnvelopeError):
        parse_delivery(body)


def test_routes_order_messages_to_a_reconciliation():
    for type_ in HANDLED_MESSAGE_TYPES["order"]:
        assert route(message(type_, "order")) == ReconcileOrder("res-1")


def test_refund_transactions_route_to_their_orders():
    added = message(
        "PaymentTransactionAdded", "payment", transaction={"type": "Refund", "state": "Success"}
    )
    assert route(added) == ReconcilePaymentOrders("res-1")
    charge = message(
        "PaymentTransactionAdded", "payment", transaction={"type": "Charge", "state": "Success"}
    )
    assert isinstance(route(charge), Ignore)
    changed = message(
        "PaymentTransactionStateChanged", "payment", transactionId="t", state="Success"
    )
    assert route(changed) == ReconcilePaymentOrders("res-1")
    pending = message(
        "PaymentTransactionStateChanged", "payment", transactionId="t", state="Pending"
    )
    assert isinstance(route(pending), Ignore)
    no_payload = message(
        "PaymentTransactionAdded", "payment", payloadNotIncluded={"reason": "size"}
    )
    assert route(no_payload) == ReconcilePaymentOrders("res-1")


def test_customer_messages_sync_the_member():
    for type_ in HANDLED_MESSAGE_TYPES["customer"]:
        assert route(message(type_, "customer")) == SyncCustomer("res-1")


@pytest.mark.parametrize(
    "notification",
    [
        {"notificationType": "ResourceCreated", "resource": {"typeId": "subscription"}},
        message("OrderBillingAddressSet", "order"),
        message("CustomerAddressAdded", "customer"),
        message("ProductPublished", "product"),
        {"notificationType": "ResourceUpdated", "resource": {"typeId": "order", "id": "x"}},
        {"notificationType": "Message", "type": "OrderCreated", "resource": {"typeId": "order"}},
    ],
)
def test_everything_else_is_ignored(notification):
    assert isinstance(route(notification), Ignore)
