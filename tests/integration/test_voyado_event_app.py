"""The real event app against the commercetools, Yotpo and Voyado stand-ins over real HTTP:
a store on Voyado Engage, exactly once, whatever Pub/Sub does (issue #18).

Voyado receipts are immutable and deduplicated for good on `uniqueReceiptId`
(https://developer.voyado.com/en/receipts/receipts---field-definitions.html); a refund or a
cancellation is a RETURN receipt of its own (https://developer.voyado.com/en/transactions/
register-a-return.html). "Exactly once" here means one stored receipt per operation, points
moved once, and no resend except where Voyado drops it as a duplicate.
"""

from __future__ import annotations

import random
import threading
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from event.app import create_app
from event.settings import EventSettings
from sandbox.stack import VOYADO_POINTS_PER_EURO, VOYADO_STORE
from shared.orders.ledger_store import LEDGER_CONTAINER
from shared.settings import load_settings
from tests.integration.world import World, push

LOCAL = {"OIDC_VERIFICATION": "off"}


def event_settings(world: World, **env: str) -> EventSettings:
    return load_settings(EventSettings, {**world.env, **LOCAL, **env})


def event_app(world: World, **env: str) -> FlaskClient:
    return create_app(event_settings(world, **env)).test_client()


def deliver(client: FlaskClient, notification: dict[str, Any], **kwargs: Any) -> int:
    return client.post("/event", json=push(notification, **kwargs)).status_code


def deliver_all(client: FlaskClient, world: World, resource_id: str) -> list[int]:
    return [deliver(client, m) for m in world.messages(resource_id)]


def voyado_customer(world: World, email: str = "nils@example.com") -> dict[str, Any]:
    """A customer of the Voyado store whom the tenant knew before the connector: the contact
    is seeded in the stand-in (the connector finds it and never makes a second one); a
    customer Voyado does not know yet is `test_a_customer_of_the_voyado_store_becomes_a_contact`.
    """
    created = world.ct.create(
        "customers",
        {
            "email": email,
            "firstName": "Nils",
            "lastName": "Holm",
            "password": "x1!",
            "stores": [{"typeId": "store", "key": VOYADO_STORE}],
        },
    )
    customer = created.get("customer", created)
    world.voyado_server.seed_contact(email=email, firstName="Nils", lastName="Holm")
    return customer


def voyado_order(
    world: World, customer: dict[str, Any], items: list[tuple[str, int]] | None = None
) -> dict[str, Any]:
    shop = world.storefront
    cart = shop.cart(
        items or [("SKU-HOODIE", 1), ("SKU-MUG", 2)], customer=customer, store=VOYADO_STORE
    )
    order = shop.place_order(cart, order_number=f"VOY-{random.randrange(10**6)}")
    shop.pay(order)
    return shop.order(order["id"])


def points_of(paid_minor: int) -> int:
    """The tenant's points model on one EUR line: floor(gross paid x points per euro)."""
    return int(Decimal(paid_minor) * VOYADO_POINTS_PER_EURO // 100)


def earned_by(order: dict[str, Any]) -> int:
    return sum(
        points_of(line["taxedPrice"]["totalGross"]["centAmount"]) for line in order["lineItems"]
    )


def balance(world: World, email: str) -> Decimal:
    contact = world.voyado_contact(email)
    assert contact is not None, f"no Voyado contact for {email}"
    return world.voyado_balance(contact["id"])


def paid_message(world: World, order: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")


def total_of(receipt: dict[str, Any]) -> int:
    """A receipt's totalGrossPrice (decimal major units) in EUR cents."""
    return int(Decimal(str(receipt["totalGrossPrice"])) * 100)


# --- the storm ---------------------------------------------------------------------------------
def test_an_order_earns_once_however_often_its_messages_arrive(voyado_world):
    world = voyado_world
    client = event_app(world)
    customer = voyado_customer(world)
    order = voyado_order(world, customer)
    messages = world.messages(order["id"])
    assert {"OrderCreated", "OrderPaymentStateChanged"} <= {m["type"] for m in messages}
    storm = messages * 3
    random.Random(7).shuffle(storm)
    for message in storm:
        assert deliver(client, message) in (200, 204)
    world.voyado_process()

    number = order["orderNumber"]
    (receipt,) = world.voyado_receipts(number)
    assert receipt["uniqueReceiptId"] == number
    assert total_of(receipt) == order["taxedPrice"]["totalGross"]["centAmount"]
    assert [i["type"] for i in receipt["items"]] == ["PURCHASE", "PURCHASE"]
    assert len(world.voyado_receipt_posts(number)) == 1  # sent once, not dropped as a duplicate
    assert world.voyado_state()["duplicateReceipts"] == 0
    assert balance(world, customer["email"]) == earned_by(order)
    # Nothing of the Voyado store's order went to Yotpo.
    assert world.yotpo_orders() == []


# --- refunds and cancellation ------------------------------------------------------------------
def test_a_refunded_return_is_a_return_receipt_of_its_units_and_cancellation_returns_the_rest(
    voyado_world,
):
    """REFUND_SOURCE=returns, as ADR 0085 advises for Voyado stores: the return receipt names
    the returned units, Voyado matches them to the purchase by sku and gives back what they
    earned (https://developer.voyado.com/en/transactions/register-a-return.html); the
    cancellation returns every unit left."""
    world = voyado_world
    client = event_app(world, REFUND_SOURCE="returns")
    customer = voyado_customer(world)
    order = voyado_order(world, customer, [("SKU-HOODIE", 2), ("SKU-MUG", 1)])
    total = order["taxedPrice"]["totalGross"]["centAmount"]
    deliver_all(client, world, order["id"])
    world.voyado_process()
    before = balance(world, customer["email"])
    assert before == earned_by(order)

    line = order["lineItems"][0]
    one = line["taxedPrice"]["totalGross"]["centAmount"] // line["quantity"]
    world.storefront.return_and_refund(order, 0, 1)
    world.storefront.refund(order, one)
    for message in world.messages(order["id"]) * 2:
        deliver(client, message)
    deliver_all(client, world, order["paymentInfo"]["payments"][0]["id"])
    world.voyado_process()
    number = order["orderNumber"]
    (returned,) = [r for r in world.voyado_receipts(number) if r["uniqueReceiptId"] != number]
    assert returned["uniqueReceiptId"].startswith(f"{number}:refund:")
    assert total_of(returned) == -one
    assert [(i["type"], i["sku"], i["quantity"]) for i in returned["items"]] == [
        ("RETURN", line["variant"]["sku"], -1)
    ]
    # A refund is a delta: what one hoodie earned (one point of slack: Voyado floors by line).
    taken = before - balance(world, customer["email"])
    assert abs(taken - points_of(one)) <= 1

    world.storefront.cancel(order)
    for message in world.messages(order["id"]) * 2:
        deliver(client, message)
    world.voyado_process()
    receipts = {r["uniqueReceiptId"]: r for r in world.voyado_receipts(number)}
    assert total_of(receipts[f"{number}:cancel"]) == -(total - one)
    assert sum(total_of(r) for r in receipts.values()) == 0
    assert balance(world, customer["email"]) == 0
    assert len(receipts) == 3 and world.voyado_state()["duplicateReceipts"] == 0


def test_refunds_by_payment_amount_are_deltas_and_cancellation_returns_the_rest(voyado_world):
    """REFUND_SOURCE=payments (the default): two partial refunds by amount, redelivered, are
    two return receipts of exactly those amounts; the cancellation then returns the rest."""
    world = voyado_world
    client = event_app(world)
    customer = voyado_customer(world)
    order = voyado_order(world, customer)
    total = order["taxedPrice"]["totalGross"]["centAmount"]
    deliver_all(client, world, order["id"])

    world.storefront.refund(order, 1000)
    world.storefront.refund(order, 550)
    payment_id = order["paymentInfo"]["payments"][0]["id"]
    for message in world.messages(payment_id) * 2:
        deliver(client, message)
    world.voyado_process()
    number = order["orderNumber"]
    returns = [r for r in world.voyado_receipts(number) if r["uniqueReceiptId"] != number]
    assert sorted(total_of(r) for r in returns) == [-1000, -550]
    assert all(r["uniqueReceiptId"].startswith(f"{number}:refund:") for r in returns)
    assert all(any(i["type"] == "RETURN" for i in r["items"]) for r in returns)
    # Points come back as deltas too: what the refunded money earned (Voyado floors by line,
    # so one point of slack per line of each receipt).
    taken = earned_by(order) - balance(world, customer["email"])
    slack = sum(len(r["items"]) for r in returns)
    assert abs(taken - points_of(1550)) <= slack, f"refunds of 15.50 took {taken} points"

    world.storefront.cancel(order)
    for message in world.messages(order["id"]) * 2:
        deliver(client, message)
    world.voyado_process()
    ledger = world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
    failed = {k: op.get("error") for k, op in ledger["ops"].items() if op["status"] != "DONE"}
    assert failed == {}, f"operations not done: {failed}"
    receipts = {r["uniqueReceiptId"]: r for r in world.voyado_receipts(number)}
    assert total_of(receipts[f"{number}:cancel"]) == -(total - 1550)
    assert sum(total_of(r) for r in receipts.values()) == 0
    assert balance(world, customer["email"]) == 0
    assert world.voyado_state()["duplicateReceipts"] == 0


# --- concurrency and crashes -------------------------------------------------------------------
def test_concurrent_deliveries_of_one_message_send_once(voyado_world):
    world = voyado_world
    customer = voyado_customer(world)
    order = voyado_order(world, customer)
    paid = paid_message(world, order)
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
    client = event_app(world)
    for _ in range(20):
        if deliver(client, paid) == 200:
            break
    else:
        pytest.fail("the order never settled")
    world.voyado_process()
    number = order["orderNumber"]
    assert len(world.voyado_receipt_posts(number)) == 1
    assert len(world.voyado_receipts(number)) == 1
    assert balance(world, customer["email"]) == earned_by(order)


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except-clause sees it."""


def test_a_worker_killed_between_pending_and_done_is_completed_once(voyado_world, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from event.envelope import parse_delivery
    from event.processor import EventProcessor
    from shared.orders.reconciler import OrderReconciler
    from shared.runtime import build_runtime

    world = voyado_world
    settings = event_settings(world, LEDGER_LEASE_SECONDS="30")
    clock = [datetime(2026, 11, 23, 12, 0, tzinfo=UTC)]
    processor = EventProcessor(settings, build_runtime(settings), now=lambda: clock[0])
    customer = voyado_customer(world)
    order = voyado_order(world, customer)
    delivery = parse_delivery(push(paid_message(world, order)))

    real_send = OrderReconciler._send

    def die(provider, op):
        raise WorkerKilled

    monkeypatch.setattr(OrderReconciler, "_send", staticmethod(die))
    with pytest.raises(WorkerKilled):
        processor.handle(delivery)
    monkeypatch.setattr(OrderReconciler, "_send", staticmethod(real_send))
    ledger = world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
    assert [(op["kind"], op["status"], op["provider"]) for op in ledger["ops"].values()] == [
        ("customer", "PENDING", "voyado"),  # the receipt's contact first
        ("order", "PENDING", "voyado"),
    ]

    # Inside the lease the operation may still be in flight elsewhere: redeliver later.
    assert processor.handle(delivery).status == 503
    number = order["orderNumber"]
    assert world.voyado_receipt_posts(number) == []
    clock[0] += timedelta(seconds=31)
    assert processor.handle(delivery).status == 200
    assert processor.handle(delivery).status == 200
    world.voyado_process()
    assert len(world.voyado_receipt_posts(number)) == 1
    assert len(world.voyado_receipts(number)) == 1
    assert balance(world, customer["email"]) == earned_by(order)


def test_an_ambiguous_send_is_resent_and_voyado_drops_the_duplicate(voyado_world):
    """The receipt is stored but its answer is lost (a 503 after the commit): the connector
    cannot tell, so it sends the receipt again; Voyado ignores a repeated uniqueReceiptId, so
    the order earns once."""
    world = voyado_world
    client = event_app(world)
    customer = voyado_customer(world)
    order = voyado_order(world, customer)
    paid = paid_message(world, order)
    world.voyado_server.engine.set_faults(
        {"path_prefix": "/api/v3/receipts", "commit_next": 1, "commit_status": 503}
    )
    statuses = [deliver(client, paid)]
    while statuses[-1] != 200 and len(statuses) < 5:
        statuses.append(deliver(client, paid))
    assert statuses[-1] == 200, statuses
    world.voyado_process()

    number = order["orderNumber"]
    posts = world.voyado_receipt_posts(number)
    assert [p["status"] for p in posts][:1] == [503] and len(posts) == 2
    assert posts[0]["fault"] == "commit-then-drop"
    assert world.voyado_state()["duplicateReceipts"] == 1
    assert len(world.voyado_receipts(number)) == 1
    assert balance(world, customer["email"]) == earned_by(order)
    ledger = world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
    assert [(op["kind"], op["status"]) for op in ledger["ops"].values()] == [
        ("customer", "DONE"),
        ("order", "DONE"),
    ]


# --- one project, two providers ----------------------------------------------------------------
def test_a_store_on_yotpo_and_a_store_on_voyado_each_get_their_own_provider(voyado_world):
    world = voyado_world
    client = event_app(world)
    shop = world.storefront
    nils = voyado_customer(world)
    jane = shop.sign_up("jane@example.com", "Jane", "Doe")
    deliver_all(client, world, jane["id"])
    deliver_all(client, world, nils["id"])
    on_voyado = voyado_order(world, nils)
    yotpo_cart = shop.cart([("SKU-BOOK", 1)], customer=jane)
    on_yotpo = shop.place_order(yotpo_cart, order_number=f"YOT-{random.randrange(10**6)}")
    shop.pay(on_yotpo)
    on_yotpo = shop.order(on_yotpo["id"])
    for order in (on_voyado, on_yotpo):
        assert all(status in (200, 204) for status in deliver_all(client, world, order["id"]))
    world.voyado_process()

    assert [o["order_id"] for o in world.yotpo_orders()] == [on_yotpo["orderNumber"]]
    assert world.yotpo_customer("jane@example.com")["points_balance"] > 0
    # The Voyado store's customer is no Yotpo member, and its order no Yotpo order.
    assert world.yotpo_customer(nils["email"]) is None
    assert [r["uniqueReceiptId"] for r in world.voyado_receipts()] == [on_voyado["orderNumber"]]
    assert balance(world, nils["email"]) == earned_by(on_voyado)
    for order, provider, account in (
        (on_voyado, "voyado", VOYADO_STORE),
        (on_yotpo, "yotpo", "default"),
    ):
        ledger = world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
        assert ledger["account"] == account
        assert {op["provider"] for op in ledger["ops"].values()} == {provider}


def test_the_event_app_reads_loyalty_providers(voyado_world):
    from shared.runtime import build_runtime

    settings = load_settings(EventSettings, {**voyado_world.env, **LOCAL})
    route = build_runtime(settings).provider_for_store(VOYADO_STORE)
    assert route is not None and route.provider.name == "voyado"
    assert build_runtime(settings).provider_for_store(None).provider.name == "yotpo"


# --- members: a Voyado contact before the first receipt -----------------------------------------


def test_a_customer_of_the_voyado_store_becomes_a_contact(voyado_world):
    world = voyado_world
    client = event_app(world)
    created = world.ct.create(
        "customers",
        {
            "email": "ingrid@example.com",
            "firstName": "Ingrid",
            "lastName": "Berg",
            "password": "x1!",
            "stores": [{"typeId": "store", "key": VOYADO_STORE}],
        },
    )
    customer = created.get("customer", created)
    for status in deliver_all(client, world, customer["id"]):
        assert status in (200, 204)
    contact = world.voyado_contact("ingrid@example.com")
    assert contact is not None
    assert contact["attributes"].get("firstName") == "Ingrid"
    assert world.yotpo_customer("ingrid@example.com") is None


def test_an_order_of_a_customer_voyado_does_not_know_yet_still_earns(voyado_world):
    """Under either answer Voyado may give a receipt whose contact it does not know (refused
    at once, or accepted and dropped in the batch), the order's points must not be lost."""
    world = voyado_world
    client = event_app(world)
    created = world.ct.create(
        "customers",
        {
            "email": "olof@example.com",
            "firstName": "Olof",
            "lastName": "Lind",
            "password": "x1!",
            "stores": [{"typeId": "store", "key": VOYADO_STORE}],
        },
    )
    customer = created.get("customer", created)
    deliver_all(client, world, customer["id"])
    order = voyado_order(world, customer)
    for _ in range(2):
        deliver_all(client, world, order["id"])
    world.voyado_process()
    assert [r["uniqueReceiptId"] for r in world.voyado_receipts()] == [order["orderNumber"]]
    assert balance(world, customer["email"]) == earned_by(order)


def test_a_guest_order_makes_its_contact_first_and_earns_once(voyado_world):
    """A receipt must name a contact Voyado holds: a guest's is made from the order's email
    before its receipt, under either answer Voyado may give a receipt of an unknown contact."""
    world = voyado_world
    client = event_app(world)
    shop = world.storefront
    cart = shop.cart([("SKU-HOODIE", 1)], email="guest.gunnar@example.com", store=VOYADO_STORE)
    order = shop.place_order(cart, order_number=f"VOY-G-{random.randrange(10**6)}")
    shop.pay(order)
    order = shop.order(order["id"])
    for _ in range(2):
        deliver_all(client, world, order["id"])
    world.voyado_process()
    assert [r["uniqueReceiptId"] for r in world.voyado_receipts()] == [order["orderNumber"]]
    contact = world.voyado_contact("guest.gunnar@example.com")
    assert contact is not None
    assert balance(world, "guest.gunnar@example.com") == earned_by(order)
