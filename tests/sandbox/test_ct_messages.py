"""Messages with their real fields, and their delivery to subscriptions (direct push)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, jsonify, request

from event.envelope import parse_delivery
from sandbox.commercetools import StandInState, create_app
from sandbox.commercetools.delivery import Deliverer
from sandbox.serving import ServerThread
from tests.sandbox.test_commercetools_standin import Api, fast_delivery, new_state

TOPIC = "commercetools-loyalty"
DESTINATION = {"type": "GoogleCloudPubSub", "projectId": "sandbox-gcp", "topic": TOPIC}


class Receiver:
    """A push endpoint like the event app's: parses each envelope; fails on demand."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: list[Any] = []
        self.fail_first: set[str] = set()
        self.seen: Counter[str] = Counter()

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/event")
        def event() -> Any:
            delivery = parse_delivery(request.get_json())
            with self.lock:
                self.seen[delivery.message_id] += 1
                first = self.seen[delivery.message_id] == 1
                self.deliveries.append(delivery)
            kind = delivery.message_type or delivery.notification_type
            if first and kind in self.fail_first:
                return jsonify({"error": "try again"}), 500
            return "", 204

        return app

    def notifications(self, kind: str) -> list[dict[str, Any]]:
        return [
            d.notification
            for d in self.deliveries
            if (d.message_type or d.notification_type) == kind
        ]


@pytest.fixture
def api() -> Iterator[Api]:
    state: StandInState = new_state()
    yield Api(create_app(state).test_client(), state)
    state.close()


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    receiver = Receiver()
    with ServerThread(receiver.app()) as server:
        api.client.post(
            "/_sandbox/push-endpoints", json={"topic": TOPIC, "url": f"{server.url}/event"}
        )
        yield receiver
        api.state.deliverer.wait_idle(10)


def wait_for_deliveries(api: Api) -> None:
    body = api.client.post("/_sandbox/deliveries/wait?timeout=20").json
    assert body["idle"] is True, body


def messages_of(api: Api, resource_id: str) -> list[dict[str, Any]]:
    return api.get(
        "messages", where=f'resource(id = "{resource_id}")', sort="sequenceNumber asc", limit=100
    )["results"]


def placed_order(api: Api, number: str = "1001") -> dict[str, Any]:
    customer = api.post("customers", {"email": "buyer@example.com", "customerNumber": "C-9"})[
        "customer"
    ]
    cart = api.post(
        "carts",
        {
            "currency": "EUR",
            "customerId": customer["id"],
            "customerEmail": customer["email"],
            "lineItems": [{"sku": "SKU-TSHIRT", "quantity": 2}],
        },
    )
    return api.post("orders", {"id": cart["id"], "version": cart["version"], "orderNumber": number})


def test_order_lifecycle_emits_the_real_messages_in_sequence(api: Api) -> None:
    order = placed_order(api)
    payment = api.post(
        "payments", {"amountPlanned": {"currencyCode": "EUR", "centAmount": 4758}, "key": "pay-1"}
    )
    line = order["lineItems"][0]["id"]
    order = api.update("orders", order, {"action": "changeOrderState", "orderState": "Confirmed"})
    order = api.update(
        "orders",
        order,
        {"action": "changePaymentState", "paymentState": "Paid"},
        {"action": "changeShipmentState", "shipmentState": "Shipped"},
    )
    order = api.update(
        "orders",
        order,
        {"action": "addPayment", "payment": {"typeId": "payment", "id": payment["id"]}},
    )
    order = api.update(
        "orders",
        order,
        {
            "action": "addReturnInfo",
            "items": [{"quantity": 1, "lineItemId": line, "shipmentState": "Advised"}],
            "returnTrackingId": "RT-1",
        },
    )
    return_item = order["returnInfo"][0]["items"][0]
    assert (
        return_item["id"]
        # Advised items start NonRefundable (ReturnPaymentState, RAML enum description).
        and return_item["paymentState"] == "NonRefundable"
        and return_item["type"] == "LineItemReturnItem"
    )
    order = api.update(
        "orders",
        order,
        {
            "action": "setReturnShipmentState",
            "returnItemId": return_item["id"],
            "shipmentState": "Returned",
        },
        {
            "action": "setReturnPaymentState",
            "returnItemId": return_item["id"],
            "paymentState": "Refunded",
        },
    )
    order = api.update("orders", order, {"action": "setCustomerEmail", "email": "new@example.com"})
    assert order["returnInfo"][0]["items"][0]["paymentState"] == "Refunded"

    messages = messages_of(api, order["id"])
    assert [m["type"] for m in messages] == [
        "OrderCreated",
        "OrderStateChanged",
        "OrderPaymentStateChanged",
        "OrderShipmentStateChanged",
        "OrderPaymentAdded",
        "ReturnInfoAdded",
        "OrderReturnShipmentStateChanged",
        "OrderCustomerEmailSet",
    ]
    assert [m["sequenceNumber"] for m in messages] == list(range(1, 9))
    assert [m["resourceVersion"] for m in messages] == [1, 2, 3, 3, 4, 5, 6, 7]
    assert order["lastMessageSequenceNumber"] == 8
    for message in messages:
        assert (
            message["version"] == 1
            and message["id"]
            and message["createdAt"]
            and message["lastModifiedAt"]
        )
        assert message["resource"] == {"typeId": "order", "id": order["id"]}
        assert message["resourceUserProvidedIdentifiers"] == {"orderNumber": "1001"}
    created, state, paid, shipped, added, returned, return_shipped, email = messages
    assert created["order"]["id"] == order["id"] and created["order"]["orderState"] == "Open"
    assert (state["orderState"], state["oldOrderState"]) == ("Confirmed", "Open")
    assert paid["paymentState"] == "Paid" and "oldPaymentState" not in paid
    assert shipped["shipmentState"] == "Shipped"
    # `paymentRef` in the current spec (OrderPaymentAddedMessage, api-reference 2025-11-11).
    assert added["paymentRef"] == {"typeId": "payment", "id": payment["id"]}
    assert "payment" not in added
    assert returned["returnInfo"]["returnTrackingId"] == "RT-1"
    assert returned["returnInfo"]["items"][0]["id"] == return_item["id"]
    assert (return_shipped["returnItemId"], return_shipped["returnShipmentState"]) == (
        return_item["id"],
        "Returned",
    )
    assert (email["email"], email["oldEmail"]) == ("new@example.com", "buyer@example.com")

    expanded = api.get(f"orders/{order['id']}", expand="paymentInfo.payments[*]")
    assert expanded["paymentInfo"]["payments"][0]["obj"]["key"] == "pay-1"
    found = api.get("orders", where=f'paymentInfo(payments(id = "{payment["id"]}"))')
    assert [o["id"] for o in found["results"]] == [order["id"]]


def test_payment_and_customer_messages(api: Api) -> None:
    payment = api.post(
        "payments",
        {
            "amountPlanned": {"currencyCode": "JPY", "centAmount": 5000},
            "transactions": [
                {
                    "type": "Charge",
                    "amount": {"currencyCode": "JPY", "centAmount": 5000},
                    "state": "Success",
                }
            ],
        },
    )
    assert payment["transactions"][0]["id"]
    payment = api.update(
        "payments",
        payment,
        {
            "action": "addTransaction",
            "transaction": {
                "type": "Refund",
                "amount": {"currencyCode": "JPY", "centAmount": 2000},
                "interactionId": "psp-7",
            },
        },
    )
    refund = payment["transactions"][1]
    assert refund["state"] == "Initial" and refund["amount"]["fractionDigits"] == 0
    payment = api.update(
        "payments",
        payment,
        {"action": "changeTransactionState", "transactionId": refund["id"], "state": "Success"},
    )
    created, added, changed = messages_of(api, payment["id"])
    assert created["type"] == "PaymentCreated" and created["payment"]["id"] == payment["id"]
    assert added["type"] == "PaymentTransactionAdded" and added["transaction"] == {
        **refund,
        "state": "Initial",
    }
    assert changed["type"] == "PaymentTransactionStateChanged"
    assert (changed["transactionId"], changed["state"]) == (refund["id"], "Success")

    group = api.post("customer-groups", {"groupName": "Gold", "key": "gold"})
    customer = api.post("customers", {"email": "ann@example.com", "customerNumber": "C-1"})[
        "customer"
    ]
    api.update(
        "customers",
        customer,
        {"action": "changeEmail", "email": "ann@example.org"},
        {"action": "setFirstName", "firstName": "Ann"},
        {"action": "setLastName", "lastName": "Lee"},
        {
            "action": "setCustomerGroup",
            "customerGroup": {"typeId": "customer-group", "id": group["id"]},
        },
    )
    messages = messages_of(api, customer["id"])
    assert [m["type"] for m in messages] == [
        "CustomerCreated",
        "CustomerEmailChanged",
        "CustomerFirstNameSet",
        "CustomerLastNameSet",
        "CustomerGroupSet",
    ]
    assert messages[0]["customer"]["email"] == "ann@example.com"
    assert (messages[1]["email"], messages[1]["oldEmail"]) == ("ann@example.org", "ann@example.com")
    assert messages[2]["firstName"] == "Ann" and messages[3]["lastName"] == "Lee"
    assert messages[4]["customerGroup"] == {"typeId": "customer-group", "id": group["id"]}
    assert all(m["resourceUserProvidedIdentifiers"] == {"customerNumber": "C-1"} for m in messages)


def test_subscription_delivers_test_notification_messages_and_redelivers(
    api: Api, receiver: Receiver
) -> None:
    receiver.fail_first = {"OrderCreated"}
    subscription = api.post(
        "subscriptions",
        {
            "key": "loyalty",
            "destination": DESTINATION,
            "messages": [
                {"resourceTypeId": "order", "types": ["OrderCreated", "OrderPaymentStateChanged"]}
            ],
        },
    )
    wait_for_deliveries(api)
    [test_note] = receiver.notifications("ResourceCreated")
    assert test_note["resource"] == {"typeId": "subscription", "id": subscription["id"]}
    assert test_note["projectKey"] == "sandbox"

    order = placed_order(api)
    api.update(
        "orders",
        order,
        {"action": "changePaymentState", "paymentState": "Paid"},
        {"action": "changeOrderState", "orderState": "Confirmed"},
    )
    wait_for_deliveries(api)

    created = [d for d in receiver.deliveries if d.message_type == "OrderCreated"]
    assert [d.delivery_attempt for d in created] == [1, 2]
    assert created[0].message_id == created[1].message_id
    note = created[1].notification
    assert note["notificationType"] == "Message" and note["projectKey"] == "sandbox"
    assert note["resource"] == {"typeId": "order", "id": order["id"]}
    assert note["order"]["orderNumber"] == "1001" and note["sequenceNumber"] == 1
    assert created[0].subscription.startswith("projects/sandbox-gcp/subscriptions/")
    [paid] = receiver.notifications("OrderPaymentStateChanged")
    assert paid["paymentState"] == "Paid" and paid["resourceVersion"] == 2
    assert receiver.notifications("OrderStateChanged") == []  # not subscribed
    assert receiver.notifications("CustomerCreated") == []

    log = api.client.get("/_sandbox/deliveries").json
    assert log["pending"] == 0
    by_type = {d["type"]: d for d in log["deliveries"]}
    assert by_type["OrderCreated"]["attempts"] == 2 and by_type["OrderCreated"]["lastStatus"] == 204
    assert by_type["OrderCreated"]["state"] == "delivered"


def test_subscription_updates_and_change_notifications(api: Api, receiver: Receiver) -> None:
    subscription = api.post(
        "subscriptions",
        {"key": "changes", "destination": DESTINATION, "changes": [{"resourceTypeId": "customer"}]},
    )
    subscription = api.post(
        "subscriptions/key=changes",
        {
            "version": 1,
            "actions": [
                {
                    "action": "setMessages",
                    "messages": [{"resourceTypeId": "customer", "types": []}],
                },
                {"action": "setChanges", "changes": [{"resourceTypeId": "customer"}]},
            ],
        },
    )
    assert subscription["version"] == 2 and subscription["messages"] == [
        {"resourceTypeId": "customer", "types": []}
    ]
    customer = api.post("customers", {"email": "c@example.com"})["customer"]
    api.update("customers", customer, {"action": "setLastName", "lastName": "Z"})
    wait_for_deliveries(api)
    # Deliveries run concurrently: compare what arrived, not in which order.
    created = {n["resource"]["id"] for n in receiver.notifications("ResourceCreated")}
    assert created == {subscription["id"], customer["id"]}
    [updated] = receiver.notifications("ResourceUpdated")
    assert (updated["version"], updated["oldVersion"]) == (2, 1)
    assert len(receiver.notifications("CustomerCreated")) == 1
    assert len(receiver.notifications("CustomerLastNameSet")) == 1

    status, error = api.error(
        "POST",
        "subscriptions",
        {"destination": {"type": "SQS"}, "messages": [{"resourceTypeId": "order"}]},
    )
    assert status == 400 and error["errors"][0]["code"] == "InvalidInput"
    assert api.ok("DELETE", "subscriptions/key=changes", version=2)["key"] == "changes"


def test_deliveries_give_up_after_bounded_attempts_and_drop_without_an_endpoint() -> None:
    state = new_state(delivery=fast_delivery(max_attempts=3))
    api = Api(create_app(state).test_client(), state)
    app = Flask("always-down")
    app.post("/event")(lambda: ("down", 503))
    with ServerThread(app) as server:
        api.client.post(
            "/_sandbox/push-endpoints", json={"topic": TOPIC, "url": f"{server.url}/event"}
        )
        api.post(
            "subscriptions",
            {
                "key": "down",
                "destination": DESTINATION,
                "messages": [{"resourceTypeId": "customer", "types": []}],
            },
        )
        wait_for_deliveries(api)
    api.post(
        "subscriptions",
        {
            "key": "nowhere",
            "destination": {**DESTINATION, "topic": "unrouted"},
            "messages": [{"resourceTypeId": "payment", "types": []}],
        },
    )
    wait_for_deliveries(api)
    first, second = api.client.get("/_sandbox/deliveries").json["deliveries"]
    assert (first["state"], first["attempts"], first["lastStatus"]) == ("failed", 3, 503)
    assert (second["state"], second["lastError"]) == ("dropped", "no push endpoint for topic")
    state.close()


def test_emulator_mode_publishes_to_the_destination_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import pubsub_v1

    calls: list[tuple[str, Any]] = []

    class Published:
        def result(self, timeout: float) -> str:
            return "emulator-id-1"

    class FakePublisher:
        def create_topic(self, name: str) -> None:
            calls.append(("create_topic", name))

        def publish(self, topic: str, data: bytes) -> Published:
            calls.append(("publish", (topic, json.loads(data))))
            return Published()

    monkeypatch.setattr(pubsub_v1, "PublisherClient", FakePublisher)
    deliverer = Deliverer(fast_delivery(use_emulator=True))
    for n in range(2):
        deliverer.submit(
            DESTINATION,
            {"notificationType": "Message", "type": "OrderCreated", "id": f"m-{n}"},
            "loyalty",
        )
    assert deliverer.wait_idle(10)
    deliverer.close()
    topic = f"projects/sandbox-gcp/topics/{TOPIC}"
    assert calls.count(("create_topic", topic)) == 1
    published = sorted(c[1][1]["id"] for c in calls if c[0] == "publish")
    assert published == ["m-0", "m-1"]
    assert all(r["state"] == "delivered" and r["mode"] == "emulator" for r in deliverer.records())


def test_order_customer_and_return_info_replacement_messages(api: Api) -> None:
    order = placed_order(api)
    other = api.post("customers", {"email": "other@example.com"})["customer"]
    previous = order["customerId"]
    order = api.update("orders", order, {"action": "setCustomerId", "customerId": other["id"]})
    line = order["lineItems"][0]["id"]
    order = api.update(
        "orders",
        order,
        {
            "action": "setReturnInfo",
            "items": [
                {"items": [{"quantity": 2, "lineItemId": line, "shipmentState": "Returned"}]}
            ],
        },
    )
    customer_set, return_set = messages_of(api, order["id"])[1:]
    assert customer_set["type"] == "OrderCustomerSet"
    assert customer_set["customer"] == {"typeId": "customer", "id": other["id"]}
    assert customer_set["oldCustomer"] == {"typeId": "customer", "id": previous}
    assert return_set["type"] == "ReturnInfoSet"
    assert return_set["returnInfo"][0]["items"][0]["quantity"] == 2
    status, error = api.error(
        "POST",
        f"orders/{order['id']}",
        {
            "version": order["version"],
            "actions": [{"action": "changeOrderState", "orderState": "Lost"}],
        },
    )
    assert status == 400 and error["errors"][0]["code"] == "InvalidJsonInput"
