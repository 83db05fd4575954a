"""The real event app against both stand-ins: exactly once, whatever Pub/Sub does."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from flask.testing import FlaskClient

from event.app import create_app
from event.settings import EventSettings
from sandbox.commercetools.state import Faults
from shared.deadletters import DEAD_LETTER_CONTAINER, record_key
from shared.orders.ledger_store import LEDGER_CONTAINER
from shared.settings import load_settings
from tests.integration.world import World, push

# Local runs turn OIDC verification off explicitly (deployed apps refuse to start without it).
LOCAL = {"OIDC_VERIFICATION": "off"}


def event_settings(world: World, **env: str) -> EventSettings:
    return load_settings(EventSettings, {**world.env, **LOCAL, **env})


def event_app(world: World, **env: str) -> FlaskClient:
    return create_app(event_settings(world, **env)).test_client()


def deliver(client: FlaskClient, notification: dict[str, Any], **kwargs: Any) -> int:
    return client.post("/event", json=push(notification, **kwargs)).status_code


def paid_order(world: World, email: str = "jane@example.com", currency: str = "EUR"):
    shop = world.storefront
    customer = shop.sign_up(email, "Jane", "Doe")
    cart = shop.cart([("SKU-HOODIE", 1), ("SKU-MUG", 2)], currency=currency, customer=customer)
    order = shop.place_order(cart, order_number=f"ORD-{random.randrange(10**6)}")
    shop.pay(order)
    return customer, shop.order(order["id"])


def test_an_order_earns_once_however_often_its_messages_arrive(world):
    client = event_app(world)
    customer, order = paid_order(world)
    messages = world.messages(order["id"])
    assert {"OrderCreated", "OrderPaymentStateChanged"} <= {m["type"] for m in messages}
    storm = messages * 3
    random.Random(7).shuffle(storm)
    for message in storm:
        assert deliver(client, message) in (200, 204)

    (sent,) = world.yotpo_orders()
    assert sent["order_id"] == order["orderNumber"]
    assert sent["total_amount_cents"] == order["taxedPrice"]["totalGross"]["centAmount"]
    member = world.yotpo_customer(customer["email"])
    assert member["points_balance"] == order["taxedPrice"]["totalGross"]["centAmount"] // 100
    assert world.duplicates() == {"orders": {}, "refunds": {}}


def test_refunds_are_deltas_and_cancellation_takes_the_rest(world):
    client = event_app(world)
    customer, order = paid_order(world)
    total = order["taxedPrice"]["totalGross"]["centAmount"]
    for message in world.messages(order["id"]):
        deliver(client, message)

    world.storefront.refund(order, 1000)
    world.storefront.refund(order, 550)
    payment_id = order["paymentInfo"]["payments"][0]["id"]
    for message in world.messages(payment_id) * 2:
        deliver(client, message)
    assert sorted(r["total_amount_cents"] for r in world.yotpo_refunds()) == [550, 1000]

    world.storefront.cancel(order)
    for message in world.messages(order["id"]):
        deliver(client, message)
    refunds = world.yotpo_refunds()
    assert sorted(r["total_amount_cents"] for r in refunds) == sorted([550, 1000, total - 1550])
    assert world.yotpo_customer(customer["email"])["points_balance"] == 0
    assert world.duplicates() == {"orders": {}, "refunds": {}}


def test_concurrent_deliveries_of_one_message_send_once(world):
    client = event_app(world)
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    statuses: list[int] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        # A fresh app per thread, as separate instances would be.
        statuses.append(deliver(event_app(world), paid))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Losers of the race either saw the work done (200) or in flight (503 → redelivered).
    assert set(statuses) <= {200, 503}
    while deliver(client, paid) != 200:
        pass
    assert len(world.yotpo_orders()) == 1
    assert world.duplicates() == {"orders": {}, "refunds": {}}


def test_messages_that_cannot_move_points_are_acked_without_io(world):
    client = event_app(world)
    before = len(world.ct_state.recorded_requests()["requests"])
    notification = {
        "notificationType": "Message",
        "type": "OrderBillingAddressSet",
        "resource": {"typeId": "order", "id": "whatever"},
    }
    assert deliver(client, notification) == 204
    assert deliver(client, {"notificationType": "ResourceCreated", "resource": {}}) == 204
    assert len(world.ct_state.recorded_requests()["requests"]) == before
    assert world.yotpo.requests_since(0) == []


def test_not_an_envelope_is_a_400(world):
    client = event_app(world)
    # 415 when the base app checks the content type first.
    assert client.post("/event", data="nope", content_type="text/plain").status_code in (400, 415)
    assert client.post("/event", data="nope", content_type="application/json").status_code == 400
    response = client.post("/event", json={"message": {"data": "x", "messageId": ""}})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_envelope"


@pytest.mark.parametrize("status", [500, 503])
def test_yotpo_outage_is_retried_then_completes(world, status):
    client = event_app(world)
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    world.yotpo.set_faults({"error_next": 20, "error_status": status})
    assert deliver(client, paid) == 503
    world.yotpo.set_faults({})
    assert deliver(client, paid) == 200
    assert len(world.yotpo_orders()) == 1


def test_yotpo_hang_answers_inside_the_deadline(world):
    client = event_app(world, EVENT_DEADLINE_SECONDS="1.5")
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    world.yotpo.set_faults({"hang_next": 1, "hang_seconds": 20})
    assert deliver(client, paid) == 503
    world.yotpo.release_hangs()
    world.yotpo.set_faults({})
    assert deliver(client, paid) == 200
    assert len(world.yotpo_orders()) == 1


def test_commercetools_outage_is_retried(world):
    client = event_app(world)
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    world.ct_state.set_faults(Faults(error_next=20, error_status=503))
    assert deliver(client, paid) == 503
    world.ct_state.set_faults(Faults())
    assert deliver(client, paid) == 200
    assert len(world.yotpo_orders()) == 1


def test_yotpo_refusal_is_dead_lettered_and_acked_then_replayed(world):
    client = event_app(world)
    _, order = paid_order(world, currency="JPY")
    world.set_yotpo_currencies({"EUR": 2})
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    assert deliver(client, paid) == 200  # acked: no poison loop
    dead = world.ct.query("custom-objects", where=f'container = "{DEAD_LETTER_CONTAINER}"')[
        "results"
    ]
    assert len(dead) == 1 and dead[0]["value"]["status"] == "dead"
    assert dead[0]["value"]["failure"] == "permanent"
    ledger = world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
    (op,) = ledger["ops"].values()
    assert op["status"] == "FAILED" and "422" in op["error"]
    assert world.yotpo_orders() == []


def test_replay_sends_what_failed_once_the_cause_is_fixed(world):
    from event.replay import replay

    settings = event_settings(world)
    app = create_app(settings)
    client = app.test_client()
    _, order = paid_order(world, currency="JPY")
    world.set_yotpo_currencies({"EUR": 2})
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    assert deliver(client, paid) == 200
    processor = app.extensions["event_processor"]
    assert len(replay(processor, dry_run=True).listed) == 1

    world.set_yotpo_currencies({"EUR": 2, "JPY": 0})
    report = replay(processor)
    assert len(report.replayed) == 1 and not report.still_failing
    (sent,) = world.yotpo_orders()
    assert sent["currency_code"] == "JPY"
    assert list(processor.failures.dead_letters()) == []
    assert replay(processor).replayed == []  # nothing left, nothing sent twice
    assert len(world.yotpo_orders()) == 1


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except-clause sees it."""


def test_a_worker_killed_between_pending_and_done_is_completed_once(world, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from event.processor import EventProcessor
    from shared.orders.reconciler import OrderReconciler
    from shared.runtime import build_runtime

    settings = event_settings(world, LEDGER_LEASE_SECONDS="30")
    clock = [datetime(2026, 11, 23, 12, 0, tzinfo=UTC)]
    processor = EventProcessor(settings, build_runtime(settings), now=lambda: clock[0])
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    delivery = parse(paid)

    real_send = OrderReconciler._send

    def die(client, op):
        raise WorkerKilled

    monkeypatch.setattr(OrderReconciler, "_send", staticmethod(die))
    with pytest.raises(WorkerKilled):
        processor.handle(delivery)
    monkeypatch.setattr(OrderReconciler, "_send", staticmethod(real_send))
    ledger = world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
    assert [op["status"] for op in ledger["ops"].values()] == ["PENDING"]

    # Inside the lease the operation may still be in flight elsewhere: redeliver later.
    assert processor.handle(delivery).status == 503
    assert world.yotpo_orders() == []
    clock[0] += timedelta(seconds=31)
    assert processor.handle(delivery).status == 200
    assert processor.handle(delivery).status == 200
    assert len(world.yotpo_orders()) == 1


def parse(notification):
    from event.envelope import parse_delivery

    return parse_delivery(push(notification))


def test_currency_the_account_does_not_take_is_skipped_and_acked(world):
    client = event_app(world, YOTPO_CURRENCIES="EUR")
    _, order = paid_order(world, currency="JPY")
    for message in world.messages(order["id"]):
        assert deliver(client, message) in (200, 204)
    assert world.yotpo_orders() == []
    ledger = world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
    assert ledger["skipped_reason"] == "currency_not_enabled"


def test_customer_messages_keep_one_member_across_an_email_change(world):
    client = event_app(world)
    customer = world.storefront.sign_up("ann@example.com", "Ann", "Lee")
    for message in world.messages(customer["id"]):
        assert deliver(client, message) == 200
    member = world.yotpo_customer("ann@example.com")
    assert member is not None and member["first_name"] == "Ann"

    current = world.ct.get_by_id("customers", customer["id"])
    world.ct.update(
        "customers",
        customer["id"],
        current["version"],
        [{"action": "changeEmail", "email": "ann.lee@example.com"}],
    )
    for message in world.messages(customer["id"]):
        assert deliver(client, message) == 200
    assert world.yotpo_customer("ann@example.com") is None
    moved = world.yotpo_customer("ann.lee@example.com")
    assert moved is not None and moved["member_no"] == member["member_no"]


def test_guest_order_assigned_to_a_customer_joins_the_member(world):
    client = event_app(world)
    shop = world.storefront
    cart = shop.cart([("SKU-BOOK", 1)], email="guest@example.com")
    order = shop.place_order(cart, order_number="GUEST-1")
    shop.pay(order)
    for message in world.messages(order["id"]):
        deliver(client, message)
    assert world.yotpo_orders()[0]["order_id"] == "GUEST-1"

    customer = shop.sign_up("guest@example.com", "Gus", "Guest")
    current = world.ct.get_by_id("orders", order["id"])
    world.ct.update(
        "orders",
        order["id"],
        current["version"],
        [{"action": "setCustomerId", "customerId": customer["id"]}],
    )
    for message in world.messages(order["id"]) * 2:
        deliver(client, message)
    member = world.yotpo_customer("guest@example.com")
    assert member["points_balance"] > 0
    upserts = [
        r
        for r in world.yotpo.requests_since(0)
        if r["path"].endswith("/customers") and r["method"] == "POST"
    ]
    assert len(upserts) == 1 and upserts[0]["json"]["id"] == customer["id"]


def test_transient_failures_are_dead_lettered_after_the_attempt_limit(world):
    client = event_app(world, MAX_DELIVERY_ATTEMPTS="3")
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    world.yotpo.set_faults({"error_next": 1000, "error_status": 500})
    assert deliver(client, paid, attempt=1) == 503
    assert deliver(client, paid, attempt=2) == 503
    assert deliver(client, paid, attempt=3) == 200  # given up on: acked, kept for replay
    dead = world.ct.query("custom-objects", where=f'container = "{DEAD_LETTER_CONTAINER}"')
    (record,) = dead["results"]
    assert record["value"]["failure"] == "transient" and record["value"]["attempts"] == 3


def test_without_a_delivery_attempt_the_failure_record_counts(world):
    client = event_app(world, MAX_DELIVERY_ATTEMPTS="2")
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    world.yotpo.set_faults({"error_next": 1000, "error_status": 503})
    assert deliver(client, paid, message_id="m-1") == 503
    assert deliver(client, paid, message_id="m-1") == 200
    record = world.ct.get_custom_object(DEAD_LETTER_CONTAINER, record_key("m-1"))
    assert record["value"]["status"] == "dead"


def test_rate_limited_yotpo_is_waited_out(world):
    client = event_app(world)
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    world.yotpo.set_faults({"rate_limited_next": 1, "retry_after_seconds": 1})
    assert deliver(client, paid) == 200
    assert len(world.yotpo_orders()) == 1
    statuses = [r["status"] for r in world.yotpo.requests_since(0)]
    assert statuses == [429, 200]


def test_a_refund_waiting_for_anothers_order_call_is_handed_back(world):
    """The order call is in flight on another worker when a refund appears: this worker
    must not send the refund first, and must not sit on it until its lease runs out."""
    from datetime import UTC, datetime

    from shared.domain.orders.ledger import UNCLAIMED
    from shared.domain.orders.order_view import order_view
    from shared.domain.orders.planner import AccountView, plan_order
    from shared.orders.reconciler import ORDER_EXPAND, OrderInProgress, OrderReconciler
    from shared.runtime import build_runtime

    settings = event_settings(world)
    reconciler = OrderReconciler(
        build_runtime(settings), settings.planner_config(), lease_seconds=60
    )
    _, order = paid_order(world)
    store = reconciler.ledger_store
    ledger, version = store.read(order["id"])
    # Another worker planned the order call (before any refund existed) and claimed it now.
    view = order_view(world.ct.get_by_id("orders", order["id"], expand=list(ORDER_EXPAND)))
    plan = plan_order(
        view, ledger, settings.planner_config(), AccountView(key="default"), datetime.now(UTC)
    )
    store.write(plan.apply(ledger), version)
    world.storefront.refund(order, 700)

    with pytest.raises(OrderInProgress):
        reconciler.reconcile(order["id"])
    ledger, _ = store.read(order["id"])
    refund = next(op for op in ledger.ops.values() if op.kind == "refund")
    assert refund.status == "PENDING" and refund.updated_at == UNCLAIMED
    assert world.yotpo_refunds() == []
