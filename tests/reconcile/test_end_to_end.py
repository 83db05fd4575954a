"""The planner's stories through the real reconciler wiring (customer read, seal key,
expansions), the real event app and both stand-ins: no monkeypatching of the wiring."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from event.app import create_app
from event.settings import EventSettings
from shared.domain.loyalty_fields import CartFields
from shared.settings import load_settings
from tests.integration.test_service_app import SECRET, fields
from tests.integration.world import World, push

LOCAL = {"OIDC_VERIFICATION": "off"}


def _event_app(world: World, **env: str) -> FlaskClient:
    return create_app(load_settings(EventSettings, {**world.env, **LOCAL, **env})).test_client()


def _deliver_all(client: FlaskClient, world: World, resource_id: str, times: int = 1) -> None:
    for message in world.messages(resource_id) * times:
        assert client.post("/event", json=push(message)).status_code in (200, 204)


def _adjust_calls(world: World) -> list[dict[str, Any]]:
    return [r for r in world.yotpo.requests_since(0) if r["path"].endswith("/points/adjust")]


def test_a_guest_order_linked_to_an_account_under_another_email_moves_all_its_points(world):
    client = _event_app(world)
    shop = world.storefront
    order = shop.place_order(
        shop.cart([("SKU-BOOK", 1)], email="carol.guest@example.com"), order_number="GUEST-2"
    )
    shop.pay(order)
    _deliver_all(client, world, order["id"])
    earned = world.yotpo_customer("carol.guest@example.com")["points_balance"]
    assert earned > 0

    carol = shop.sign_up("carol@example.com", "Carol", "Customer")
    current = world.ct.get_by_id("orders", order["id"])
    world.ct.update(
        "orders",
        order["id"],
        current["version"],
        [{"action": "setCustomerId", "customerId": carol["id"]}],
    )
    _deliver_all(client, world, order["id"], times=2)

    assert world.yotpo_customer("carol.guest@example.com")["points_balance"] == 0
    assert world.yotpo_customer("carol@example.com")["points_balance"] == earned
    assert [o["order_id"] for o in world.yotpo_orders()] == ["GUEST-2", "GUEST-2-2"]
    assert not any(world.duplicates().values())


def test_a_cancelled_reward_order_gives_the_points_back_once(checkout):
    world = checkout.world
    client = _event_app(world, EXTENSION_SECRET=SECRET)
    shop = world.storefront
    customer = checkout.member("sam@example.com", 800)
    cart = shop.request_reward(shop.cart([("SKU-HOODIE", 1), ("SKU-MUG", 1)], customer=customer), 1)
    assert fields(cart).get(CartFields.REWARD_SEAL), "the checkout sealed the reward"
    order = shop.place_order(cart, order_number="RWD-9")
    shop.pay(order)
    _deliver_all(client, world, order["id"])
    assert checkout.balance("sam@example.com") < 800  # 500 spent, some earned

    world.storefront.cancel(world.storefront.order(order["id"]))
    _deliver_all(client, world, order["id"], times=2)

    assert checkout.balance("sam@example.com") == 800
    # The member's starting points came through the engine, not HTTP: one call is ours.
    (adjust,) = _adjust_calls(world)
    assert adjust["json"]["point_adjustment_amount"] == 500


def test_a_reward_order_without_the_seal_key_gives_nothing_back(checkout):
    # Without EXTENSION_SECRET the event app cannot open the seal: the reward on the order is
    # shopper-writable text, so a cancellation returns no points (ADR 0020).
    world = checkout.world
    client = _event_app(world)
    shop = world.storefront
    customer = checkout.member("una@example.com", 800)
    cart = shop.request_reward(shop.cart([("SKU-HOODIE", 1), ("SKU-MUG", 1)], customer=customer), 1)
    order = shop.place_order(cart, order_number="RWD-10")
    shop.pay(order)
    _deliver_all(client, world, order["id"])
    world.storefront.cancel(world.storefront.order(order["id"]))
    _deliver_all(client, world, order["id"])

    assert _adjust_calls(world) == []
    assert checkout.balance("una@example.com") == 300


def test_subtotal_earning_with_a_reward_counts_the_discount_once(checkout):
    world = checkout.world
    client = _event_app(world, AMOUNT_BASE="subtotal")
    shop = world.storefront
    customer = checkout.member("sub@example.com", 800)
    cart = shop.request_reward(shop.cart([("SKU-HOODIE", 1)], customer=customer), 1)
    order = shop.place_order(cart, order_number="SUB-1")
    shop.pay(order)
    _deliver_all(client, world, order["id"])

    (sent,) = world.yotpo_orders()
    placed = world.ct.get_by_id("orders", order["id"])
    lines_net = sum(li["taxedPrice"]["totalNet"]["centAmount"] for li in placed["lineItems"])
    assert sent["total_amount_cents"] == lines_net
    assert 0 < lines_net < placed["taxedPrice"]["totalGross"]["centAmount"]
