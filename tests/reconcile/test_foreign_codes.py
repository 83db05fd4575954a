"""The reconciler's advisory check of an order's reward codes (`flag_foreign_codes`): once per
order, on the look that first plans its earning, and never in the way of its points."""

from __future__ import annotations

import logging

from event.app import create_app
from event.settings import EventSettings
from shared.domain.checkout.coupons import code_key
from shared.settings import load_settings
from tests.integration.world import World, push

LOCAL = {"OIDC_VERIFICATION": "off"}
CODE = "YS-BATCH-0001"  # an in-store batch code: no record of ours, so Yotpo is asked


def _order_with_code(world: World) -> dict:
    ct = world.ct
    discount = ct.create(
        "cart-discounts",
        {
            "key": "h8-batch",
            "name": {"en": "Batch reward"},
            "value": {"type": "absolute", "money": [{"currencyCode": "EUR", "centAmount": 300}]},
            "target": {"type": "totalPrice"},
            "cartPredicate": "1 = 1",
            "sortOrder": "0.71",
            "requiresDiscountCode": True,
            "isActive": True,
        },
    )
    ct.create(
        "discount-codes",
        {
            "key": code_key(CODE),
            "code": CODE,
            "cartDiscounts": [{"typeId": "cart-discount", "id": discount["id"]}],
            "isActive": True,
        },
    )
    shop = world.storefront
    customer = shop.sign_up("ivy@example.com", "Ivy", "Shopper")
    cart = shop.add_code(shop.cart([("SKU-HOODIE", 1)], customer=customer), CODE)
    order = shop.place_order(cart, order_number="CODE-1")
    shop.pay(order)
    return order


def _code_lookups(world: World) -> list[dict]:
    return [r for r in world.yotpo.requests_since(0) if r["path"].endswith("/redemption_codes")]


def _deliver(world: World, order: dict, times: int) -> None:
    client = create_app(load_settings(EventSettings, {**world.env, **LOCAL})).test_client()
    for message in world.messages(order["id"]) * times:
        assert client.post("/event", json=push(message)).status_code in (200, 204)


def test_an_orders_codes_are_checked_once_however_often_it_is_delivered(world):
    order = _order_with_code(world)
    _deliver(world, order, times=3)

    assert len(_code_lookups(world)) == 1
    assert [o["order_id"] for o in world.yotpo_orders()] == ["CODE-1"]


def test_a_failing_code_lookup_never_holds_up_the_points(world, caplog):
    world.yotpo.set_faults({"path_prefix": "/redemption_codes", "error_next": 5})
    order = _order_with_code(world)
    with caplog.at_level(logging.WARNING):
        _deliver(world, order, times=2)

    assert len(_code_lookups(world)) == 1  # one attempt, no retry for an advisory look-up
    assert [o["order_id"] for o in world.yotpo_orders()] == ["CODE-1"]
    assert "coupon.ownership_unchecked" in caplog.text
