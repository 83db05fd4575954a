from __future__ import annotations

import base64
import json

import pytest

from event.envelope import EnvelopeError, correlation_for, parse_delivery
from event.routing import (
    HANDLED_MESSAGE_TYPES,
    Ignore,
    Malformed,
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
        {"message": {"data": "x", "messageId": ""}},
        {"message": {"data": 1, "messageId": "1"}},
        {"message": "nope"},
        [1, 2],
    ],
)
def test_rejects_what_is_not_an_envelope(body):
    with pytest.raises(EnvelopeError):
        parse_delivery(body)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("not base64!!", "not base64"),
        (base64.b64encode(b"[1,2]").decode(), "not a JSON object"),
        (base64.b64encode(b"{oops").decode(), "not JSON"),
        (base64.b64encode(b"\xff\xfe").decode(), "not JSON"),
        (base64.b64encode(b"[" * 100_000).decode(), "nested too deeply"),
        (base64.b64encode(b'{"a":' * 50_000).decode(), "nested too deeply"),
    ],
)
def test_an_envelope_whose_message_cannot_be_read_is_a_malformed_delivery(data, why):
    # Pub/Sub redelivers anything but 2xx: such a message must be dead-lettered, not refused.
    delivery = parse_delivery({"message": {"data": data, "messageId": "77"}})
    assert delivery.message_id == "77"
    assert delivery.malformed is not None and why in delivery.malformed
    assert delivery.notification == {}


@pytest.mark.parametrize("raw", ["\u00b2", "-1", "1e3", "9" * 5000, "", " 2", "0"])
def test_an_unusable_delivery_attempt_attribute_is_ignored(raw):
    body = envelope(message("OrderCreated", "order"))
    body["message"]["attributes"]["googclient_deliveryattempt"] = raw
    assert parse_delivery(body).delivery_attempt is None


@pytest.mark.parametrize("value", ["²", True, -3, 1.5, {"a": 1}, "7"])
def test_an_unusable_delivery_attempt_field_is_ignored(value):
    delivery = parse_delivery(envelope(message("OrderCreated", "order"), deliveryAttempt=value))
    assert delivery.delivery_attempt == (7 if value == "7" else None)


@pytest.mark.parametrize(
    "message_id", ["a\nb", "x" * 70_000, "id with spaces", "ü-ñ", "\r\nSet-Cookie: a=b"]
)
def test_message_ids_are_sanitised_and_bounded_before_they_become_a_header(message_id):
    correlation = correlation_for(message_id)
    assert len(correlation) <= 100
    assert correlation.isascii() and all(c.isalnum() or c in "-_.~" for c in correlation)
    assert correlation != correlation_for(message_id + "!")  # distinct ids stay distinct
    body = envelope(message("OrderCreated", "order"))
    body["message"]["messageId"] = message_id
    delivery = parse_delivery(body)
    assert delivery.message_id == message_id  # the record keeps the id as Pub/Sub sent it
    assert len(delivery.reference["messageId"]) <= 100


def test_a_real_pubsub_message_id_is_kept_as_it_is():
    assert correlation_for("12345678901234") == "msg-12345678901234"


def test_publish_time_is_read_with_nanoseconds():
    body = envelope(message("OrderCreated", "order"))
    body["message"]["publishTime"] = "2021-02-26T19:13:55.749123456Z"
    published = parse_delivery(body).publish_time
    assert published is not None and published.year == 2021 and published.microsecond == 749123
    body["message"]["publishTime"] = "yesterday"
    assert parse_delivery(body).publish_time is None


def test_the_reference_survives_a_notification_of_the_wrong_shape():
    body = envelope({"notificationType": "Message", "resource": "order", "type": ["x"]})
    reference = parse_delivery(body).reference
    assert reference["resource"] == {"typeId": "", "id": ""}
    assert reference["type"] == "Message"


def test_routes_order_messages_to_a_reconciliation():
    for type_ in HANDLED_MESSAGE_TYPES["order"]:
        assert route(message(type_, "order")) == ReconcileOrder("res-1")


def test_successful_charge_and_refund_transactions_route_to_their_orders():
    for kind in ("Refund", "Charge"):
        added = message(
            "PaymentTransactionAdded", "payment", transaction={"type": kind, "state": "Success"}
        )
        assert route(added) == ReconcilePaymentOrders("res-1")
    authorization = message(
        "PaymentTransactionAdded",
        "payment",
        transaction={"type": "Authorization", "state": "Success"},
    )
    assert isinstance(route(authorization), Ignore)
    pending_charge = message(
        "PaymentTransactionAdded", "payment", transaction={"type": "Charge", "state": "Pending"}
    )
    assert isinstance(route(pending_charge), Ignore)
    changed = message(
        "PaymentTransactionStateChanged", "payment", transactionId="t", state="Success"
    )
    assert route(changed) == ReconcilePaymentOrders("res-1")
    pending = message(
        "PaymentTransactionStateChanged", "payment", transactionId="t", state="Pending"
    )
    assert isinstance(route(pending), Ignore)


def without_payload(payload_type: str, type_id: str) -> dict:
    """As commercetools sends a message whose payload was too large: no `type`, and
    `payloadNotIncluded: {reason, payloadType}` (release note 2018-06-08, RAML)."""
    return {
        "notificationType": "Message",
        "projectKey": "p",
        "id": "msg-1",
        "resource": {"typeId": type_id, "id": "res-1"},
        "sequenceNumber": 3,
        "resourceVersion": 3,
        "payloadNotIncluded": {"reason": "Payload too large.", "payloadType": payload_type},
    }


def test_messages_without_payload_route_by_their_payload_type():
    assert route(without_payload("OrderCreated", "order")) == ReconcileOrder("res-1")
    assert route(without_payload("PaymentTransactionAdded", "payment")) == (
        ReconcilePaymentOrders("res-1")
    )
    assert route(without_payload("CustomerCreated", "customer")) == SyncCustomer("res-1")
    assert isinstance(route(without_payload("ProductPublished", "product")), Ignore)


@pytest.mark.parametrize(
    "notification",
    [
        message("OrderCreated", "order", projectKey="someone-elses-project"),
        message("CustomerCreated", "customer"),  # no projectKey at all
        message("CustomerCreated", "customer", projectKey=["p"]),
    ],
)
def test_notifications_of_another_project_are_ignored(notification):
    assert route(notification, project_key="p") == Ignore("notification of another project")


def test_notifications_of_our_project_are_handled():
    ours = message("OrderCreated", "order", projectKey="p")
    assert route(ours, project_key="p") == ReconcileOrder("res-1")


@pytest.mark.parametrize(
    "notification",
    [
        {**message("OrderCreated", "order"), "resource": "order"},
        {**message("OrderCreated", "order"), "resource": ["order"]},
        {**message("OrderCreated", "order"), "resource": {"typeId": "order", "id": {"a": 1}}},
        {**message("OrderCreated", "order"), "type": {"a": 1}},
        message("PaymentTransactionAdded", "payment", transaction="Refund"),
        message("PaymentTransactionAdded", "payment", transaction=[1]),
        message("PaymentTransactionAdded", "payment", payloadNotIncluded="big"),
    ],
)
def test_messages_of_the_wrong_shape_are_malformed(notification):
    assert isinstance(route(notification), Malformed)


def test_an_unhashable_transaction_type_is_not_a_crash():
    weird = message(
        "PaymentTransactionAdded", "payment", transaction={"type": ["Refund"], "state": "Success"}
    )
    assert isinstance(route(weird), Ignore)


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
