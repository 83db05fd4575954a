"""The real service app as an HTTP server, called by the commercetools stand-in as an API
Extension on cart updates and order creation, talking to the Yotpo stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from event.app import create_app as create_event_app
from event.settings import EventSettings
from service.app import create_app
from service.install import EXTENSION_KEY, pre_undeploy
from service.webhooks import WEBHOOK_SECRET_HEADER
from shared.domain.loyalty_fields import CartFields as F
from shared.errors import CommercetoolsPermanentError
from shared.settings import load_settings
from tests.checkout.harness import (
    SECRET,
    WEBHOOK_SECRET,
    Checkout,
    fields,
    loyalty_error,
    reward_discounts,
    running_checkout,
)
from tests.integration.world import World, push


@pytest.fixture
def checkout(world: World) -> Iterator[Checkout]:
    with running_checkout(world) as running:
        yield running


def test_install_is_idempotent_and_updates_in_place(checkout):
    assert checkout.install() == {"type": "unchanged", "extension": "unchanged"}
    before = checkout.world.ct.get_by_key("extensions", EXTENSION_KEY)
    assert checkout.install(f"{checkout.server.url}/moved/service")["extension"] == "updated"
    after = checkout.world.ct.get_by_key("extensions", EXTENSION_KEY)
    assert after["id"] == before["id"]
    assert after["destination"]["url"].endswith("/moved/service")
    assert pre_undeploy(checkout.world.ct, {}, checkout.settings) == {"extension": "removed"}
    assert pre_undeploy(checkout.world.ct, {}, checkout.settings) == {"extension": "absent"}


def test_a_reward_is_applied_ordered_and_deducted(checkout):
    world = checkout.world
    shop = world.storefront
    customer = checkout.member("sam@example.com", 800)
    cart = shop.cart([("SKU-HOODIE", 1), ("SKU-MUG", 1)], customer=customer)
    cart = shop.request_reward(cart, 1)
    assert reward_discounts(cart) == [500]
    assert fields(cart)[F.REWARD_STATUS] == "applied"
    assert checkout.balance("sam@example.com") == 800  # delayed deduction: nothing yet

    # The stand-in calls the order-Create extension: the reward is consumed at placement,
    # under a code redeemed with immediate deduction (service/order_guard.py).
    order = shop.place_order(cart, order_number="RWD-1")
    code = fields(order)[F.REWARD_CODE]
    assert code != fields(cart)[F.REWARD_CODE]
    assert fields(order)[F.REWARD_STATUS] == "consumed"
    assert reward_discounts(order) == [500]
    assert checkout.balance("sam@example.com") == 300
    shop.pay(order)
    event = create_event_app(
        load_settings(EventSettings, {**world.env, "OIDC_VERIFICATION": "off"})
    ).test_client()
    for message in world.messages(order["id"]):
        event.post("/event", json=push(message))
    (sent,) = world.yotpo_orders()
    assert sent["coupon_code"] == code
    paid = order["taxedPrice"]["totalGross"]["centAmount"]
    assert checkout.balance("sam@example.com") == 800 - 500 + paid // 100  # paid: after reward


@pytest.mark.parametrize(
    ("points", "option", "anonymous", "expected"),
    [
        (800, 1, True, "customer_required"),
        (100, 1, False, "not_enough_points"),
        (5000, 99, False, "unknown_option"),
        (5000, 4, False, "not_eligible"),  # in-store only
        (5000, 2, False, "below_minimum"),
    ],
)
def test_refusals_reach_the_storefront_and_leave_the_cart_alone(
    checkout, points, option, anonymous, expected
):
    shop = checkout.world.storefront
    customer = checkout.member("rita@example.com", points)
    items = [("SKU-MUG", 1)]
    cart = shop.cart(items) if anonymous else shop.cart(items, customer=customer)
    with pytest.raises(CommercetoolsPermanentError) as refused:
        shop.request_reward(cart, option)
    assert refused.value.status == 400
    assert loyalty_error(refused.value) == expected
    unchanged = checkout.world.ct.get_by_id("carts", cart["id"])
    assert unchanged["version"] == cart["version"]


def test_yotpo_hanging_fails_the_redemption_in_time(checkout):
    shop = checkout.world.storefront
    customer = checkout.member("hank@example.com", 800)
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
    checkout.world.yotpo.set_faults({"hang_next": 5, "hang_seconds": 20})
    with pytest.raises(CommercetoolsPermanentError) as refused:
        shop.request_reward(cart, 1)
    checkout.world.yotpo.release_hangs()
    # The extension answered itself within commercetools' timeout (its own 400 with a
    # loyaltyError), not ExtensionNoResponse: the 20 s hang was cut by its Yotpo budget.
    assert refused.value.errors[0]["code"] == "ExtensionBadResponse"
    assert loyalty_error(refused.value) == "loyalty_service_unavailable"


def test_yotpo_errors_fail_the_redemption_but_not_other_updates(checkout):
    shop = checkout.world.storefront
    customer = checkout.member("err@example.com", 800)
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
    checkout.world.yotpo.set_faults({"error_next": 50, "error_status": 503})
    with pytest.raises(CommercetoolsPermanentError) as refused:
        shop.request_reward(cart, 1)
    assert loyalty_error(refused.value) == ("loyalty_service_unavailable")
    updated = shop.update_cart(cart, {"action": "addLineItem", "sku": "SKU-MUG", "quantity": 1})
    assert len(updated["lineItems"]) == 2


def test_later_updates_keep_the_reward_consistent(checkout):
    shop = checkout.world.storefront
    customer = checkout.member("pat@example.com", 5000)
    cart = shop.cart([("SKU-HOODIE", 1), ("SKU-BOOK", 1)], customer=customer)  # 74.45
    cart = shop.request_reward(cart, 2)  # 10% over €50
    assert reward_discounts(cart) == [744]
    cart = shop.update_cart(cart, {"action": "addLineItem", "sku": "SKU-MUG", "quantity": 1})
    assert reward_discounts(cart) == [834]
    book = next(li for li in cart["lineItems"] if li["variant"]["sku"] == "SKU-BOOK")
    cart = shop.update_cart(cart, {"action": "removeLineItem", "lineItemId": book["id"]})
    assert reward_discounts(cart) == [589]
    hoodie = next(li for li in cart["lineItems"] if li["variant"]["sku"] == "SKU-HOODIE")
    cart = shop.update_cart(cart, {"action": "removeLineItem", "lineItemId": hoodie["id"]})
    assert reward_discounts(cart) == []
    assert fields(cart)[F.REWARD_STATUS] == "below_minimum"
    assert F.REQUESTED_OPTION not in fields(cart)


def test_unsetting_the_request_removes_the_reward_and_keeps_shopper_discounts(checkout):
    shop = checkout.world.storefront
    customer = checkout.member("kim@example.com", 800)
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
    foreign = {"value": {"type": "relative", "permyriad": 1000}, "target": {"type": "totalPrice"}}
    cart = shop.update_cart(cart, {"action": "setDirectDiscounts", "discounts": [foreign]})
    cart = shop.request_reward(cart, 1)
    assert len(cart["directDiscounts"]) == 2
    cart = shop.drop_reward(cart)
    assert [d["value"]["type"] for d in cart["directDiscounts"]] == ["relative"]
    assert fields(cart)[F.REWARD_STATUS] == "removed"
    assert F.REWARD_CODE not in fields(cart)


def place_order(checkout: Checkout, cart: dict[str, Any], number: str) -> dict[str, Any]:
    """Place an order from `cart` through the stand-in, which calls the connector's
    order-Create API Extension before the order is stored (a 400 refuses it, a 200's actions
    are applied to it)."""
    try:
        return checkout.world.storefront.place_order(cart, number)
    except CommercetoolsPermanentError as exc:
        raise OrderRefused(loyalty_error(exc)) from exc


class OrderRefused(Exception):
    pass


def test_points_cannot_be_spent_twice_across_an_unpaid_order(checkout):
    """600 points; order A uses a 500-point reward and stays unpaid (earning waits for the
    payment); cart B asks for the same reward. Never two rewards for 500 points."""
    world = checkout.world
    shop = world.storefront
    customer = checkout.member("dan@example.com", 600)
    cart_a = shop.request_reward(shop.cart([("SKU-HOODIE", 1)], customer=customer), 1)
    assert reward_discounts(cart_a) == [500]
    order_a = place_order(checkout, cart_a, "TWICE-A")
    # Consumed at placement: the points are gone although Yotpo has not seen the order.
    assert checkout.balance("dan@example.com") == 100
    assert fields(order_a)[F.REWARD_STATUS] == "consumed"
    assert fields(order_a)[F.REWARD_CODE] != fields(cart_a)[F.REWARD_CODE]

    cart_b = shop.cart([("SKU-BOOK", 1)], customer=customer)
    with pytest.raises(CommercetoolsPermanentError) as refused:
        shop.request_reward(cart_b, 1)
    assert loyalty_error(refused.value) == ("not_enough_points")
    usable = [
        r
        for r in world.yotpo_account()["redemptions"]
        if r["status"] != "cancelled" and r["customer_id"] == customer["id"]
    ]
    assert [(r["reward_text"], r["points_deducted"]) for r in usable] == [
        (fields(order_a)[F.REWARD_CODE], True)
    ]


def test_of_two_carts_holding_the_same_points_only_one_order_gets_the_reward(checkout):
    shop = checkout.world.storefront
    customer = checkout.member("eve@example.com", 600)
    first = shop.request_reward(shop.cart([("SKU-HOODIE", 1)], customer=customer), 1)
    second = shop.request_reward(shop.cart([("SKU-BOOK", 1)], customer=customer), 1)
    assert reward_discounts(first) == [500] and reward_discounts(second) == [500]
    place_order(checkout, first, "PAIR-1")
    with pytest.raises(OrderRefused) as refused:
        place_order(checkout, second, "PAIR-2")
    assert str(refused.value) == "reward_no_longer_available"
    assert checkout.balance("eve@example.com") == 100


@pytest.mark.parametrize("currency", ["JPY", "KWD"])
def test_a_base_currency_reward_is_refused_on_other_currency_carts(checkout, currency):
    checkout.world.set_yotpo_currencies({"EUR": 2, "JPY": 0, "KWD": 3})
    shop = checkout.world.storefront
    customer = checkout.member(f"{currency.lower()}@example.com", 5000)
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer, currency=currency)
    for option in (1, 2):  # fixed €5; 10 % with a €50 minimum
        with pytest.raises(CommercetoolsPermanentError) as refused:
            shop.request_reward(cart, option)
        assert loyalty_error(refused.value) == ("currency_not_supported")
    assert checkout.world.yotpo_account()["redemptions"] == []


def test_webhook_needs_the_shared_secret(checkout):
    import requests

    url = f"{checkout.server.url}/yotpo/webhooks"
    body = {"topic": "swell/point_redemption/cancellation_request", "reward_text": "X"}
    assert requests.post(url, json=body, timeout=5).status_code == 401
    wrong = {WEBHOOK_SECRET_HEADER: "nope"}
    assert requests.post(url, json=body, headers=wrong, timeout=5).status_code == 401
    right = {WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}
    assert requests.post(url, json={"x": 1}, headers=right, timeout=5).status_code == 400


def test_endpoint_contract(checkout):
    client = create_app(checkout.settings).test_client()
    cart = {"id": "c", "version": 1, "lineItems": [], "totalPrice": None}
    body = {"action": "Update", "resource": {"typeId": "cart", "id": "c", "obj": cart}}
    auth = {"Authorization": f"Bearer {SECRET}"}
    assert client.post("/service", json=body).status_code == 401
    assert (
        client.post("/service", json=body, headers={"Authorization": "Bearer x"}).status_code == 401
    )
    bad = client.post("/service", data="{", content_type="application/json", headers=auth)
    assert bad.status_code == 400 and bad.get_json()["error"]
    unknown = client.post("/service", json={**body, "action": "Delete"}, headers=auth)
    assert unknown.status_code == 400
    before = len(checkout.world.yotpo.requests_since(0))
    ok = client.post("/service", json=body, headers=auth)
    assert ok.status_code == 200 and ok.get_json() == {"actions": []}
    assert len(checkout.world.yotpo.requests_since(0)) == before


def test_the_trigger_condition_keeps_plain_carts_away(checkout):
    ext = checkout.world.ct.get_by_key("extensions", EXTENSION_KEY)
    assert "loyaltyRedemptionOptionId is defined" in ext["triggers"][0]["condition"]
    shop = checkout.world.storefront
    cart = shop.cart([("SKU-MUG", 1)])
    shop.update_cart(cart, {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1})
    assert checkout.calls.extension_calls == 0
    customer = checkout.member("cond@example.com", 800)
    shop.request_reward(shop.cart([("SKU-HOODIE", 1)], customer=customer), 1)
    assert checkout.calls.extension_calls == 1
    # An order from a cart without reward fields does not reach the order trigger either.
    shop.place_order(shop.cart([("SKU-MUG", 1)], customer=customer))
    assert checkout.calls.extension_calls == 1


def test_with_immediate_deduction_a_dropped_reward_gives_its_points_back(world):
    with running_checkout(world, DELAY_POINTS_DEDUCTION="false") as fixture:
        shop = world.storefront
        customer = fixture.member("imm@example.com", 800)
        cart = shop.request_reward(shop.cart([("SKU-HOODIE", 1)], customer=customer), 1)
        assert reward_discounts(cart) == [500]
        assert fixture.balance("imm@example.com") == 300  # deducted at once
        cart = shop.drop_reward(cart)
        assert reward_discounts(cart) == []
        assert fixture.balance("imm@example.com") == 800  # returned
