"""The event app trusts no message and routes what commercetools really sends
(payloadNotIncluded.payloadType, https://docs.commercetools.com/api/releases/2018-06-08-payloadnotincluded;
a Charge added as Success, https://docs.commercetools.com/api/message-types#paymenttransactionaddedmessage).

The real app (Flask test client) against both stand-ins.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from event.app import create_app
from event.settings import EventSettings
from shared.deadletters import DEAD_LETTER_CONTAINER
from shared.settings import load_settings
from tests.integration.world import PROJECT, World, push

LOCAL = {"OIDC_VERIFICATION": "off"}


def client_for(world: World, **env: str):
    settings = load_settings(EventSettings, {**world.env, **LOCAL, **env})
    return create_app(settings).test_client()


def paid_order(world: World, currency: str = "EUR") -> dict[str, Any]:
    shop = world.storefront
    customer = shop.sign_up(f"h{random.randrange(10**9)}@example.com", "Hos", "Tile")
    cart = shop.cart([("SKU-HOODIE", 1)], currency=currency, customer=customer)
    order = shop.place_order(cart, order_number=f"H-{random.randrange(10**9)}")
    shop.pay(order)
    return shop.order(order["id"])


def records(world: World) -> list[dict[str, Any]]:
    found = world.ct.query(f"custom-objects/{DEAD_LETTER_CONTAINER}", limit=500)["results"]
    return [o["value"] for o in found]


def refund_added(payment_id: str) -> dict[str, Any]:
    return {
        "notificationType": "Message",
        "projectKey": PROJECT,
        "id": f"n-{random.randrange(10**9)}",
        "type": "PaymentTransactionAdded",
        "resource": {"typeId": "payment", "id": payment_id},
        "transaction": {"type": "Refund", "state": "Success"},
    }


def yotpo_writes(world: World) -> list[dict[str, Any]]:
    return [r for r in world.yotpo.requests_since(0) if r["method"] != "GET"]


@pytest.mark.parametrize(
    "payment_id", ['nope")) or id is defined or paymentInfo(payments(id = "nope', 'x"', "\\"]
)
def test_a_payment_id_cannot_widen_the_order_query(world, payment_id):
    client = client_for(world)
    paid_order(world)
    paid_order(world)
    before = len(yotpo_writes(world))
    response = client.post("/event", json=push(refund_added(payment_id)))
    # The id is a literal: no order holds it, nothing is reconciled, nothing leaks.
    assert response.status_code == 200
    assert response.get_json() == {"outcome": "processed", "code": "processed"}
    assert len(yotpo_writes(world)) == before
    assert records(world) == []


def test_the_payment_query_finds_the_order_holding_it(world):
    client = client_for(world)
    order = paid_order(world)
    payment_id = order["paymentInfo"]["payments"][0]["id"]
    assert client.post("/event", json=push(refund_added(payment_id))).status_code == 200
    assert [o["order_id"] for o in world.yotpo_orders()] == [order["orderNumber"]]


@pytest.mark.parametrize("project_key", ["someone-elses-project", None, ""])
def test_messages_of_another_project_are_acked_and_ignored(world, project_key):
    client = client_for(world)
    customer = world.storefront.sign_up("victim@example.com", "Vic", "Tim")
    created = next(m for m in world.messages(customer["id"]) if m["type"] == "CustomerCreated")
    foreign = {k: v for k, v in created.items() if k != "projectKey"}
    if project_key is not None:
        foreign["projectKey"] = project_key
    before = len(world.ct_state.recorded_requests()["requests"])
    assert client.post("/event", json=push(foreign)).status_code == 204
    assert world.yotpo.requests_since(0) == []
    assert len(world.ct_state.recorded_requests()["requests"]) == before


def _envelope_with_data(data: str, message_id: str) -> dict[str, Any]:
    return {"message": {"data": data, "messageId": message_id}, "subscription": "s"}


def _b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.b64encode(raw).decode()


MALFORMED = {
    "resource a string": _b64({"notificationType": "Message", "projectKey": PROJECT,
                               "type": "OrderCreated", "resource": "order"}),
    "resource a list": _b64({"notificationType": "Message", "projectKey": PROJECT,
                             "type": "OrderCreated", "resource": ["order", "x"]}),
    "transaction a string": _b64({"notificationType": "Message", "projectKey": PROJECT,
                                  "type": "PaymentTransactionAdded", "transaction": "Refund",
                                  "resource": {"typeId": "payment", "id": "p"}}),
    "deep arrays": _b64(b"[" * 100_000),
    "deep objects": _b64(b'{"a":' * 50_000),
    "not base64": "%%%",
    "not json": _b64(b"{oops"),
    "not an object": _b64([1, 2]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_messages_are_dead_lettered_and_acked_for_good(world, case):
    client = client_for(world)
    body = _envelope_with_data(MALFORMED[case], f"bad-{case}")
    for _ in range(2):  # redelivered or not, always the same: acked, never a 4xx/5xx loop
        response = client.post("/event", json=body)
        assert response.status_code == 200
        assert response.get_json() == {"outcome": "dead_letter", "code": "malformed_message"}
    (record,) = records(world)
    assert record["status"] == "dead" and record["failure"] == "permanent"
    assert record["message_id"] == f"bad-{case}"
    assert world.yotpo.requests_since(0) == []


@pytest.mark.parametrize("raw", ["²", "1" * 5000, "-1", "abc"])
def test_an_odd_delivery_attempt_attribute_is_no_poison(world, raw):
    client = client_for(world)
    order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    body = push(paid)
    body["message"]["attributes"]["googclient_deliveryattempt"] = raw
    assert client.post("/event", json=body).status_code == 200
    assert len(world.yotpo_orders()) == 1


@pytest.mark.parametrize("message_id", ["a\nb", "x" * 70_000, "\r\nSet-Cookie: a=b", "ü ñ"])
def test_unusual_message_ids_become_a_safe_bounded_correlation_id(world, message_id):
    client = client_for(world)
    order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    response = client.post("/event", json=push(paid, message_id=message_id))
    assert response.status_code == 200
    shown = response.headers["X-Correlation-ID"]
    assert len(shown) <= 100 and shown.isascii() and "\n" not in shown and " " not in shown
    (sent,) = [r for r in world.yotpo.requests_since(0) if r["path"].endswith("/orders")]
    assert sent["correlation_id"] == shown  # the same safe id on the outgoing call


def test_answers_carry_no_upstream_error_text(world):
    client = client_for(world)
    order = paid_order(world, currency="JPY")
    world.set_yotpo_currencies({"EUR": 2})
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    response = client.post("/event", json=push(paid))
    assert response.status_code == 200
    assert response.get_json() == {"outcome": "dead_letter", "code": "permanent_failure"}
    text = response.get_data(as_text=True)
    assert "422" not in text and PROJECT not in text and "Yotpo" not in text
    (record,) = records(world)
    assert "422" in record["error"]  # the operator still sees why


def test_transient_failure_answers_carry_no_upstream_error_text(world):
    client = client_for(world)
    order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    world.yotpo.set_faults({"error_next": 20, "error_status": 503})
    response = client.post("/event", json=push(paid))
    assert response.status_code == 503
    assert response.get_json() == {"outcome": "retry", "code": "transient_failure"}


def test_dead_letters_of_ids_differing_in_unsafe_characters_do_not_collide(world):
    client = client_for(world)
    for message_id in ("COLLIDE B", "COLLIDE_B", "COLLIDE/B"):
        body = _envelope_with_data(MALFORMED["not json"], message_id)
        assert client.post("/event", json=body).status_code == 200
    assert sorted(r["message_id"] for r in records(world)) == [
        "COLLIDE B",
        "COLLIDE/B",
        "COLLIDE_B",
    ]


def test_an_order_message_without_its_payload_is_routed_by_payload_type(world):
    """commercetools leaves out a too-large payload with its `type`, and names it in
    `payloadNotIncluded.payloadType` (release note 2018-06-08; RAML PayloadNotIncluded)."""
    client = client_for(world)
    order = paid_order(world)
    created = next(
        m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged"
    )
    stripped = {
        "notificationType": "Message",
        "projectKey": PROJECT,
        "id": created["id"],
        "version": 1,
        "sequenceNumber": created["sequenceNumber"],
        "resource": created["resource"],
        "resourceVersion": created["resourceVersion"],
        "createdAt": created["createdAt"],
        "lastModifiedAt": created["lastModifiedAt"],
        "payloadNotIncluded": {"reason": "Payload too large.", "payloadType": "OrderCreated"},
    }
    assert client.post("/event", json=push(stripped)).status_code == 200
    assert [o["order_id"] for o in world.yotpo_orders()] == [order["orderNumber"]]


def test_a_successful_charge_added_to_a_payment_earns(world):
    """A PSP that adds {Charge, Success} in one step and never sets paymentState."""
    client = client_for(world)
    order = paid_order(world)
    payment_id = order["paymentInfo"]["payments"][0]["id"]
    charge = {**refund_added(payment_id), "transaction": {"type": "Charge", "state": "Success"}}
    assert client.post("/event", json=push(charge)).status_code == 200
    assert [o["order_id"] for o in world.yotpo_orders()] == [order["orderNumber"]]


def _with_reward_return(world, order, *, coupon_code: str | None):
    """The order's ledger given a reward return for its member, its order op carrying
    `coupon_code` (the planner plans one only for an order that carried the reward's code)."""
    from shared.domain.orders.ledger import UNCLAIMED, LedgerOp
    from shared.orders.ledger_store import LedgerStore

    store = LedgerStore(world.ct)
    ledger, version = store.read(order["id"])
    order_op = ledger.order_op
    assert order_op is not None
    member = order_op.payload["customer_id"]
    ops = dict(ledger.ops)
    if coupon_code:
        ops[order_op.key] = order_op.model_copy(
            update={"payload": {**order_op.payload, "coupon_code": coupon_code}}
        )
    now = datetime.now(UTC)
    points_back = LedgerOp(
        key="reward_return:test",
        kind="reward_return",
        payload={"customer_id": member, "point_adjustment_amount": 50},
        created_at=now,
        updated_at=UNCLAIMED,
    )
    ops[points_back.key] = points_back
    store.write(ledger.model_copy(update={"ops": ops}), version)


def _reconciler(world):
    from shared.orders.reconciler import OrderReconciler
    from shared.runtime import build_runtime

    settings = load_settings(EventSettings, {**world.env, **LOCAL})
    return OrderReconciler(build_runtime(settings), settings.planner_config(), lease_seconds=60)


def _adjusts(world):
    return [r for r in world.yotpo.requests_since(0) if r["path"].endswith("/points/adjust")]


def test_a_reward_return_operation_is_sent_as_a_points_adjustment(world):
    client = client_for(world)
    order = paid_order(world)
    for message in world.messages(order["id"]):
        client.post("/event", json=push(message))
    _with_reward_return(world, order, coupon_code="LOY-TEST")

    assert "reward_return:test" in _reconciler(world).reconcile(order["id"]).sent
    (adjust,) = _adjusts(world)
    assert adjust["json"]["point_adjustment_amount"] == 50


def test_a_reward_return_without_an_order_that_used_the_reward_is_refused(world):
    # Only an order Yotpo accepted with the reward's code proves the points were spent.
    client = client_for(world)
    order = paid_order(world)
    for message in world.messages(order["id"]):
        client.post("/event", json=push(message))
    _with_reward_return(world, order, coupon_code=None)

    outcome = _reconciler(world).reconcile(order["id"])
    assert [key for key, _ in outcome.failed] == ["reward_return:test"]
    assert _adjusts(world) == []
