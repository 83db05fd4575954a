"""Checkout that cannot be gamed, through the real path: the shopper's own token on the Me
endpoints of the commercetools stand-in, which calls the real service app as its API
Extension on cart writes and on order creation; Yotpo is its stand-in. Nothing is faked
between commercetools and the connector (tests/checkout/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from event.app import create_app as create_event_app
from event.settings import EventSettings
from job.consumptions import release_orphans
from job.settings import JobSettings
from service.order_guard import ConsumptionRecords
from shared.domain.loyalty_fields import OWNED_CART_FIELDS
from shared.domain.loyalty_fields import CartFields as F
from shared.errors import CommercetoolsPermanentError
from shared.runtime import Runtime, build_runtime
from shared.settings import load_settings
from tests.checkout.harness import (
    SECRET,
    Checkout,
    Shopper,
    ShopperRefused,
    fields,
    loyalty_error,
    reward_discounts,
    running_checkout,
)
from tests.integration.world import World, push, start_world

LOYALTY_TYPE = {"typeId": "type", "key": "yotpo-loyalty-order"}


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def checkout(world: World) -> Iterator[Checkout]:
    with running_checkout(world) as running:
        yield running


def granting_calls(world: World, since: int) -> list[dict[str, Any]]:
    """Yotpo calls since `since` that could grant or take back a reward."""
    return [
        r
        for r in world.yotpo.requests_since(since)
        if r.get("method") != "GET" and "redemption" in str(r.get("path", ""))
    ]


def deliver(world: World, order_id: str) -> None:
    """Every message of the order so far, pushed to the real event app."""
    event = create_event_app(
        load_settings(EventSettings, {**world.env, "OIDC_VERIFICATION": "off"})
    ).test_client()
    for message in world.messages(order_id):
        assert event.post("/event", json=push(message)).status_code < 300


def send_to_yotpo(world: World, order: dict[str, Any]) -> dict[str, Any]:
    """Pay the order and hand its messages to the real event app; the order Yotpo got."""
    world.storefront.pay(order)
    deliver(world, order["id"])
    sent = [o for o in world.yotpo_orders() if o.get("order_id") == order.get("orderNumber")]
    if not sent:
        sent = [o for o in world.yotpo_orders() if o.get("order_id") == order["id"]]
    (yotpo_order,) = sent
    return yotpo_order


# --- 1. forged reward fields on the shopper's own cart -------------------------------------
def test_forged_reward_fields_on_a_shoppers_own_cart_grant_nothing(checkout):
    world = checkout.world
    victim = checkout.member("victim@example.com", 800)
    victims = world.storefront.request_reward(
        world.storefront.cart([("SKU-HOODIE", 1)], customer=victim), 1
    )
    stolen = fields(victims)
    assert stolen[F.REWARD_STATUS] == "applied"
    checkout.member("mallory@example.com", 800)
    mallory = checkout.shopper("mallory@example.com")
    cart = mallory.cart([("SKU-HOODIE", 2)])
    before = len(world.yotpo.requests_since(0))

    forged = mallory.update(
        cart,
        {
            "action": "setCustomType",
            "type": LOYALTY_TYPE,
            "fields": {
                F.REWARD_CODE: stolen[F.REWARD_CODE],
                F.REWARD_AMOUNT: 99999999,
                F.REWARD_KIND: "fixed",
                F.REDEMPTION_ID: stolen[F.REDEMPTION_ID],
            },
        },
    )

    assert forged["directDiscounts"] == []
    assert forged["totalPrice"] == cart["totalPrice"]
    assert fields(forged)[F.REWARD_STATUS] == "invalid"
    assert not set(OWNED_CART_FIELDS) & set(fields(forged))
    assert world.yotpo.requests_since(before) == []  # no Yotpo call at all
    (redemption,) = world.yotpo_account()["redemptions"]
    assert redemption["status"] == "active"  # the victim's reward is untouched

    order = mallory.order(forged)
    assert order["directDiscounts"] == []
    assert order["totalPrice"] == cart["totalPrice"]
    assert not set(OWNED_CART_FIELDS) & set(fields(order))
    assert world.yotpo.requests_since(before) == []  # no Yotpo call at all
    sent = send_to_yotpo(world, order)
    assert not sent.get("coupon_code")
    assert [r["status"] for r in world.yotpo_account()["redemptions"]] == ["active"]


def test_forged_owned_fields_without_code_or_seal_wake_the_extension_and_are_wiped(checkout):
    """The cart trigger condition names every connector-owned field (service/install.py), so
    forged fields without a code or seal are wiped from the cart, and the order carries no
    discount and tells Yotpo of no reward."""
    world = checkout.world
    victim = checkout.member("victim2@example.com", 800)
    victims = world.storefront.request_reward(
        world.storefront.cart([("SKU-HOODIE", 1)], customer=victim), 1
    )
    checkout.member("trudy@example.com", 800)
    trudy = checkout.shopper("trudy@example.com")
    cart = trudy.cart([("SKU-BOOK", 1)])
    before = len(world.yotpo.requests_since(0))
    forged = trudy.update(
        cart,
        {
            "action": "setCustomType",
            "type": LOYALTY_TYPE,
            "fields": {
                F.REWARD_AMOUNT: 500,
                F.REWARD_KIND: "fixed",
                F.REDEMPTION_ID: fields(victims)[F.REDEMPTION_ID],
            },
        },
    )
    assert forged["directDiscounts"] == [] and forged["totalPrice"] == cart["totalPrice"]
    assert not set(OWNED_CART_FIELDS) & set(fields(forged))  # wiped by the cart extension
    assert fields(forged)[F.REWARD_STATUS] == "invalid"
    order = trudy.order(forged)
    assert order["directDiscounts"] == [] and order["totalPrice"] == cart["totalPrice"]
    assert F.REWARD_CODE not in fields(order) and F.REWARD_SEAL not in fields(order)
    sent = send_to_yotpo(world, order)
    assert not sent.get("coupon_code")
    # Cancelling the order gives nobody's points back: the forged redemption id is not believed.
    world.storefront.cancel(world.storefront.order(order["id"]))
    deliver(world, order["id"])
    assert granting_calls(world, before) == []
    assert [r["status"] for r in world.yotpo_account()["redemptions"]] == ["active"]


def test_a_shopper_order_keeps_its_real_reward_consumed_at_placement(checkout):
    world = checkout.world
    checkout.member("ann@example.com", 800)
    ann = checkout.shopper("ann@example.com")
    cart = ann.cart([("SKU-HOODIE", 1)])
    cart = ann.update(
        cart,
        {"action": "setCustomType", "type": LOYALTY_TYPE},
        {"action": "setCustomField", "name": F.REQUESTED_OPTION, "value": "1"},
    )
    assert reward_discounts(cart) == [500]
    assert checkout.balance("ann@example.com") == 800  # delayed deduction
    order = ann.order(cart)
    assert reward_discounts(order) == [500]
    assert fields(order)[F.REWARD_STATUS] == "consumed"
    assert checkout.balance("ann@example.com") == 300  # spent when the order was placed
    assert send_to_yotpo(world, order)["coupon_code"] == fields(order)[F.REWARD_CODE]


def test_a_shopper_inflating_their_own_sealed_reward_gets_the_sealed_one_back(checkout):
    world = checkout.world
    checkout.member("zed@example.com", 800)
    zed = checkout.shopper("zed@example.com")
    cart = zed.update(
        zed.cart([("SKU-HOODIE", 1)]),
        {"action": "setCustomType", "type": LOYALTY_TYPE},
        {"action": "setCustomField", "name": F.REQUESTED_OPTION, "value": "1"},
    )
    applied = fields(cart)
    before = len(world.yotpo.requests_since(0))
    tampered = zed.update(
        cart,
        {"action": "setCustomField", "name": F.REWARD_AMOUNT, "value": 99999},
        {"action": "setCustomField", "name": F.REWARD_KIND, "value": "fixed"},
        {"action": "setCustomField", "name": F.REDEMPTION_ID, "value": "999"},
    )
    assert reward_discounts(tampered) == [500]
    assert tampered["totalPrice"] == cart["totalPrice"]
    assert fields(tampered) == applied  # rewritten from the seal
    assert world.yotpo.requests_since(before) == []
    order = zed.order(tampered)
    assert reward_discounts(order) == [500]
    assert fields(order)[F.REWARD_AMOUNT] == 500
    assert checkout.balance("zed@example.com") == 300


# --- 2. the same points for two rewards -----------------------------------------------------
def test_an_unpaid_order_and_a_second_cart_never_get_two_rewards_for_500_points(checkout):
    world = checkout.world
    checkout.member("dan@example.com", 600)
    dan = checkout.shopper("dan@example.com")

    def with_reward(items: list[tuple[str, int]]) -> dict[str, Any]:
        return dan.update(
            dan.cart(items),
            {"action": "setCustomType", "type": LOYALTY_TYPE},
            {"action": "setCustomField", "name": F.REQUESTED_OPTION, "value": "1"},
        )

    cart_a = with_reward([("SKU-HOODIE", 1)])
    order_a = dan.order(cart_a)  # placed, not paid: the event app has told Yotpo nothing
    assert fields(order_a)[F.REWARD_STATUS] == "consumed"
    assert checkout.balance("dan@example.com") == 100
    with pytest.raises(ShopperRefused) as refused:
        with_reward([("SKU-BOOK", 1)])
    assert loyalty_error(refused.value) == "not_enough_points"
    live = [r for r in world.yotpo_account()["redemptions"] if r["status"] != "cancelled"]
    assert [r["reward_text"] for r in live] == [fields(order_a)[F.REWARD_CODE]]


def test_of_two_carts_redeemed_before_either_order_only_the_first_order_is_placed(checkout):
    world = checkout.world
    checkout.member("eve@example.com", 600)
    eve = checkout.shopper("eve@example.com")
    carts = [
        eve.update(
            eve.cart([(sku, 1)]),
            {"action": "setCustomType", "type": LOYALTY_TYPE},
            {"action": "setCustomField", "name": F.REQUESTED_OPTION, "value": "1"},
        )
        for sku in ("SKU-HOODIE", "SKU-BOOK")
    ]
    assert [reward_discounts(c) for c in carts] == [[500], [500]]
    first = eve.order(carts[0])
    with pytest.raises(ShopperRefused) as refused:
        eve.order(carts[1])
    assert refused.value.status == 400
    assert refused.value.errors[0]["code"] == "ExtensionBadResponse"
    assert loyalty_error(refused.value) == "reward_no_longer_available"
    # The refused order does not exist and its cart is still open.
    assert world.ct.get_by_id("carts", carts[1]["id"])["cartState"] == "Active"
    assert [o["id"] for o in world.ct.query("orders")["results"]] == [first["id"]]
    assert checkout.balance("eve@example.com") == 100


def without_id(discount: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in discount.items() if k != "id"}


@pytest.mark.parametrize(
    "fault",
    [{"error_next": 50, "error_status": 503}, {"hang_next": 50, "hang_seconds": 20}],
    ids=["yotpo-503", "yotpo-hangs"],
)
def test_yotpo_down_at_placement_refuses_the_order_in_time_and_keeps_the_cart(checkout, fault):
    """Fail closed (docs/adr/0021): the order is refused by the extension itself, within
    commercetools' timeout (its own 400, not ExtensionNoResponse), and can be placed later."""
    world = checkout.world
    checkout.member("otto@example.com", 800)
    otto = checkout.shopper("otto@example.com")
    cart = otto.update(
        otto.cart([("SKU-HOODIE", 1)]),
        {"action": "setCustomType", "type": LOYALTY_TYPE},
        {"action": "setCustomField", "name": F.REQUESTED_OPTION, "value": "1"},
    )
    world.yotpo.set_faults(fault)
    try:
        with pytest.raises(ShopperRefused) as refused:
            otto.order(cart)
    finally:
        world.yotpo.release_hangs()
        world.yotpo.set_faults({})
    assert refused.value.errors[0]["code"] == "ExtensionBadResponse"
    assert loyalty_error(refused.value) == "loyalty_service_unavailable"
    assert world.ct.query("orders")["results"] == []
    assert world.ct.get_by_id("carts", cart["id"])["cartState"] == "Active"
    assert checkout.balance("otto@example.com") == 800
    order = otto.order(cart)
    assert fields(order)[F.REWARD_STATUS] == "consumed"
    assert checkout.balance("otto@example.com") == 300


# --- 3. the reward next to the shopper's own discounts ---------------------------------------
def _discount_code(world: World, code: str) -> None:
    discount = world.ct.create(
        "cart-discounts",
        {
            "name": {"en": "10 % off with a code"},
            "value": {"type": "relative", "permyriad": 1000},
            "cartPredicate": "true",
            "target": {"type": "lineItems", "predicate": "true"},
            "sortOrder": "0.4",
            "requiresDiscountCode": True,
        },
    )
    world.ct.create(
        "discount-codes",
        {"code": code, "cartDiscounts": [{"typeId": "cart-discount", "id": discount["id"]}]},
    )


def test_stacking_a_code_and_a_reward_prices_both(checkout):
    world = checkout.world
    _discount_code(world, "SAVE10")
    customer = checkout.member("stack@example.com", 800)
    shop = world.storefront
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
    undiscounted = cart["totalPrice"]["centAmount"]
    cart = shop.add_code(cart, "SAVE10")
    with_code = cart["totalPrice"]["centAmount"]
    assert with_code < undiscounted
    cart = shop.request_reward(cart, 1)
    assert [c["state"] for c in cart["discountCodes"]] == ["MatchesCart"]
    assert reward_discounts(cart) == [500]
    assert cart["directDiscountsIgnoreCartDiscounts"] is False
    assert cart["totalPrice"]["centAmount"] == with_code - 500
    order = shop.place_order(cart, "STACK-1")
    assert order["totalPrice"]["centAmount"] == with_code - 500
    assert fields(order)[F.REWARD_STATUS] == "consumed"


def test_exclusive_refuses_a_reward_on_a_cart_with_a_code(world):
    with running_checkout(world, REWARD_STACKING="exclusive") as checkout:
        _discount_code(world, "SAVE10")
        customer = checkout.member("excl@example.com", 800)
        shop = world.storefront
        cart = shop.add_code(shop.cart([("SKU-HOODIE", 1)], customer=customer), "SAVE10")
        with pytest.raises(CommercetoolsPermanentError) as refused:
            shop.request_reward(cart, 1)
        assert refused.value.status == 400
        assert loyalty_error(refused.value) == "discount_code_conflict"
        assert world.ct.get_by_id("carts", cart["id"]) == cart
        assert world.yotpo_account()["redemptions"] == []


@pytest.mark.parametrize("stacking", ["stack", "exclusive"])
def test_a_gift_line_item_discount_from_elsewhere_is_kept_byte_for_byte(world, stacking):
    with running_checkout(world, REWARD_STACKING=stacking) as checkout:
        customer = checkout.member(f"gift-{stacking}@example.com", 800)
        shop = world.storefront
        cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
        gift = {
            "value": {
                "type": "giftLineItem",
                "product": {"typeId": "product", "id": cart["lineItems"][0]["productId"]},
                "variantId": 1,
            }
        }
        # Another connector (a promotions engine) owns this discount.
        cart = shop.update_cart(cart, {"action": "setDirectDiscounts", "discounts": [gift]})
        (theirs,) = cart["directDiscounts"]
        cart = shop.request_reward(cart, 1)
        # setDirectDiscounts takes drafts and replaces the list, so commercetools gives every
        # kept discount a new `id` (CartSetDirectDiscountsAction); all else stays as it was.
        assert without_id(cart["directDiscounts"][0]) == without_id(theirs)
        assert reward_discounts(cart) == [500]
        cart = shop.drop_reward(cart)
        assert [without_id(d) for d in cart["directDiscounts"]] == [without_id(theirs)]


# --- an order refused after the reward was consumed -----------------------------------------
def _job_runtime(world: World) -> Runtime:
    return build_runtime(load_settings(JobSettings, {**world.env, "OIDC_VERIFICATION": "off"}))


def test_an_order_refused_by_another_extension_costs_the_shopper_no_points(checkout):
    """Extensions without dependencies run concurrently, so the loyalty extension consumes the
    reward without knowing that the merchant's own check refuses the order
    (https://docs.commercetools.com/api/projects/api-extensions). A retry of the cart reuses
    that redemption (the points are spent once); a cart that is never ordered has its points
    given back by the sweep (job/consumptions.py)."""
    from flask import Flask, jsonify

    from sandbox.serving import ServerThread

    world = checkout.world
    verdict = {"refuse": True}
    fraud = Flask("fraud-check")

    @fraud.post("/check")
    def check() -> Any:
        if verdict["refuse"]:
            return jsonify(
                {"errors": [{"code": "InvalidInput", "message": "Held for review"}]}
            ), 400
        return jsonify({"actions": []}), 200

    with ServerThread(fraud) as server:
        # The merchant's own order check, registered like any other (no dependencies: it runs
        # concurrently with the loyalty extension).
        world.ct.create(
            "extensions",
            {
                "key": "fraud-check",
                "destination": {"type": "HTTP", "url": f"{server.url}/check"},
                "triggers": [{"resourceTypeId": "order", "actions": ["Create"]}],
            },
        )

        def with_reward(shopper: Shopper) -> dict[str, Any]:
            return shopper.update(
                shopper.cart([("SKU-HOODIE", 1)]),
                {"action": "setCustomType", "type": LOYALTY_TYPE},
                {"action": "setCustomField", "name": F.REQUESTED_OPTION, "value": "1"},
            )

        checkout.member("fay@example.com", 800)
        checkout.member("gus@example.com", 800)
        fay = checkout.shopper("fay@example.com")
        gus = checkout.shopper("gus@example.com")
        fays, guss = with_reward(fay), with_reward(gus)
        for shopper, cart in ((fay, fays), (gus, guss)):
            with pytest.raises(ShopperRefused) as refused:
                shopper.order(cart)
            assert "Held for review" in str(refused.value.body)
        assert world.ct.query("orders")["results"] == []
        # Consumed and recorded: held for a retry of the same cart, not spent twice.
        held = {r.cart_id: r for r in ConsumptionRecords(world.ct).all() if r is not None}
        assert {c: r.status for c, r in held.items()} == {
            fays["id"]: "pending",
            guss["id"]: "pending",
        }
        assert checkout.balance("fay@example.com") == 300

        verdict["refuse"] = False
        before = len(world.yotpo.requests_since(0))
        order = fay.order(fays)  # the review clears it; fay places the order again
        assert fields(order)[F.REWARD_STATUS] == "consumed"
        assert fields(order)[F.REWARD_CODE] == held[fays["id"]].code
        assert granting_calls(world, before) == []  # the same redemption, not a new one
        assert checkout.balance("fay@example.com") == 300

        # Gus never tries again. The sweep, once the records are old enough, gives his points
        # back and leaves fay's, whose order carries the redemption.
        runtime = _job_runtime(world)
        young = release_orphans(world.ct, runtime, now=datetime.now(UTC))
        assert (young.young, young.released) == (2, 0)
        later = datetime.now(UTC) + timedelta(hours=2)
        swept = release_orphans(world.ct, runtime, now=later)
        assert (swept.released, swept.ordered, swept.retry, swept.failed) == (1, 1, 0, 0)
        assert checkout.balance("gus@example.com") == 800
        assert checkout.balance("fay@example.com") == 300
        gone = {r.cart_id: r.status for r in ConsumptionRecords(world.ct).all() if r is not None}
        assert gone == {guss["id"]: "released"}
        assert send_to_yotpo(world, order)["coupon_code"] == fields(order)[F.REWARD_CODE]
        again = release_orphans(world.ct, runtime, now=later)
        assert (again.released, again.settled) == (0, 1)  # nothing is given back twice
        assert checkout.balance("gus@example.com") == 800

        # Gus's cart still holds its sealed reward: placing it now redeems afresh.
        order = gus.order(guss)
        assert fields(order)[F.REWARD_STATUS] == "consumed"
        assert checkout.balance("gus@example.com") == 300


# --- 4. a consumed reward comes back when its order is cancelled before Yotpo heard of it ------


def test_an_order_cancelled_before_payment_gives_its_consumed_reward_back_once(checkout):
    # The reward is consumed (immediate deduction) when the order is placed; the order is
    # cancelled before the earning trigger (paid) held, so Yotpo never received it. The event app
    # verifies the sealed reward with the service's secret and gives the 500 points back, once.
    world = checkout.world
    checkout.member("cal@example.com", 800)
    cal = checkout.shopper("cal@example.com")
    cart = cal.cart([("SKU-HOODIE", 1)])
    cart = cal.update(
        cart,
        {"action": "setCustomType", "type": LOYALTY_TYPE},
        {"action": "setCustomField", "name": F.REQUESTED_OPTION, "value": "1"},
    )
    order = cal.order(cart)
    assert fields(order)[F.REWARD_STATUS] == "consumed"
    assert checkout.balance("cal@example.com") == 300
    world.storefront.cancel(world.storefront.order(order["id"]))
    event = create_event_app(
        load_settings(
            EventSettings,
            {**world.env, "OIDC_VERIFICATION": "off", "EXTENSION_SECRET": SECRET},
        )
    ).test_client()
    for _ in range(2):  # a redelivery of every message finds nothing left to send
        for message in world.messages(order["id"]):
            assert event.post("/event", json=push(message)).status_code < 300
    assert checkout.balance("cal@example.com") == 800
    assert world.yotpo_orders() == []  # never earned: nothing but the points went to Yotpo
