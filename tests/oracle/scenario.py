"""Part (b) of the oracle's collection: a short end-to-end run of the real apps on the
stand-ins, recording every payload the commercetools stand-in takes or serves.

The install scripts of all three apps, a shopper's cart asking for a reward (the real service
app answers as the API Extension), the order, its payment, a partial refund and a return, an
in-store sale and refund through the POS API, every message delivered to the real event app,
and the ledger custom objects the event app writes.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from event.app import create_app as create_event_app
from event.install import post_deploy as event_post_deploy
from event.settings import EventSettings
from job.install import post_deploy as job_post_deploy
from job.settings import JobSettings
from sandbox.commercetools.state import Observation
from sandbox.serving import ServerThread
from service.app import create_app as create_service_app
from service.install import post_deploy as service_post_deploy
from service.settings import ServiceSettings
from shared.runtime import build_runtime
from shared.settings import load_settings
from tests.integration.world import GUID, World, push, start_world

POS_SECRET = "oracle-till-secret-0123456789"


def _deliver(world: World, event: Any, *resource_ids: str) -> None:
    for resource_id in resource_ids:
        for message in world.messages(resource_id):
            status = event.post("/event", json=push(message)).status_code
            assert status in (200, 204), f"the event app answered {status}"


def _member(world: World, email: str, points: int) -> dict[str, Any]:
    customer = world.storefront.sign_up(email, "Sam", "Shopper")
    world.yotpo.upsert_customer(GUID, {"id": customer["id"], "email": email})
    world.yotpo.adjust_points(
        GUID, {"customer_id": customer["id"], "point_adjustment_amount": points}
    )
    return customer


def _promotions(world: World) -> None:
    automatic = world.ct.create(
        "cart-discounts",
        {
            "key": "oracle-five-off",
            "name": {"en": "5 EUR off orders over 50 EUR"},
            "value": {"type": "absolute", "money": [{"currencyCode": "EUR", "centAmount": 500}]},
            "cartPredicate": 'totalPrice > "50.00 EUR"',
            "target": {"type": "totalPrice"},
            "sortOrder": "0.2",
        },
    )
    coded = world.ct.create(
        "cart-discounts",
        {
            "name": {"en": "10 % off mugs"},
            "value": {"type": "relative", "permyriad": 1000},
            "cartPredicate": "true",
            "target": {"type": "lineItems", "predicate": 'sku = "SKU-MUG"'},
            "sortOrder": "0.3",
            "requiresDiscountCode": True,
        },
    )
    world.ct.create(
        "discount-codes",
        {
            "code": "ORACLE10",
            "cartDiscounts": [{"typeId": "cart-discount", "id": coded["id"]}],
            "maxApplications": 100,
            "maxApplicationsPerCustomer": 1,
        },
    )
    world.ct.update(
        "cart-discounts",
        automatic["id"],
        automatic["version"],
        [{"action": "changeStackingMode", "stackingMode": "Stacking"}],
    )
    world.ct.query("cart-discounts", where='key = "oracle-five-off"')
    world.ct.query("discount-codes", where='code = "ORACLE10"')


def _shopper_cart(world: World, email: str) -> None:
    """A shopper's own cart through /me/carts with a password-flow token."""
    token = requests.post(
        f"{world.ct_server.url}/oauth/sandbox/customers/token",
        auth=("test", "test-secret"),
        data={"grant_type": "password", "username": email, "password": "x1!"},
        timeout=10,
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    base = f"{world.ct_server.url}/sandbox/me/carts"
    created = requests.post(
        base,
        json={"currency": "EUR", "country": "DE", "lineItems": [{"sku": "SKU-MUG"}]},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    cart = created.json()
    updated = requests.post(
        f"{base}/{cart['id']}",
        json={
            "version": cart["version"],
            "actions": [
                {
                    "action": "setCustomType",
                    "type": {"typeId": "type", "key": "yotpo-loyalty-order"},
                },
                {
                    "action": "changeLineItemQuantity",
                    "lineItemId": cart["lineItems"][0]["id"],
                    "quantity": 3,
                },
            ],
        },
        headers=headers,
        timeout=10,
    )
    assert updated.status_code == 200, updated.text
    requests.get(base, headers=headers, timeout=10).raise_for_status()


def run_scenario() -> list[Observation]:
    world = start_world()
    world.ct_state.config.observe = True
    env = {
        **world.env,
        "EXTENSION_SECRET": "oracle-extension-secret",
        "OIDC_VERIFICATION": "off",
        "YOTPO_CURRENCIES": "EUR",
        "VIP_TIER_GROUPS": json.dumps({"Gold": "oracle-vip-gold"}),
        "POS_API_KEYS": json.dumps({"till": {"secret": POS_SECRET, "store": "berlin"}}),
    }
    settings = load_settings(ServiceSettings, env)
    service = create_service_app(settings, build_runtime(settings))
    server = ServerThread(service).start()
    try:
        service_post_deploy(world.ct, {"CONNECT_SERVICE_URL": f"{server.url}/service"}, settings)
        event_post_deploy(
            world.ct, {"CONNECT_GCP_PROJECT_ID": "oracle", "CONNECT_GCP_TOPIC_NAME": "topic"}
        )
        job_post_deploy(world.ct, {}, load_settings(JobSettings, env))
        event = create_event_app(load_settings(EventSettings, env)).test_client()

        shop = world.storefront
        customer = _member(world, "sam@example.com", 800)
        # The merchant's own promotions: a cart discount and a code that unlocks another.
        _promotions(world)
        world.ct_state.config.payload_not_included_types = frozenset({"OrderCreated"})
        cart = shop.cart([("SKU-HOODIE", 2), ("SKU-MUG", 1)], customer=customer)
        cart = shop.update_cart(
            cart,
            {
                "action": "setDirectDiscountsIgnoreCartDiscounts",
                "directDiscountsIgnoreCartDiscounts": False,
            },
            {"action": "addDiscountCode", "code": "ORACLE10"},
        )
        cart = shop.request_reward(cart, 1)
        _shopper_cart(world, "sam@example.com")
        order = shop.place_order(cart, order_number="ORACLE-1")
        shop.pay(order)
        shop.refund(order, 500)
        shop.return_and_refund(order, 1, 1)
        paid = shop.order(order["id"])
        payments = [p["id"] for p in paid["paymentInfo"]["payments"]]
        _deliver(world, event, order["id"], customer["id"], *payments)

        pos = service.test_client()
        headers = {"Authorization": f"Bearer {POS_SECRET}"}
        sale = {
            "request_id": "s-1",
            "order_number": "BER-0001",
            "email": "sam@example.com",
            "currency": "EUR",
            "lines": [{"sku": "SKU-MUG", "name": "Mug", "quantity": 2, "unit_price_minor": 1250}],
        }
        answer = pos.post("/loyalty/orders", json=sale, headers=headers)
        assert answer.status_code == 201, answer.get_json()
        refund = {"request_id": "r-1", "order_number": "BER-0001", "amount_minor": 1250}
        answer = pos.post("/loyalty/refunds", json=refund, headers=headers)
        assert answer.status_code == 202, answer.get_json()

        # Read back everything the scenario touched, as a consumer of the API would.
        for collection in (
            "carts",
            "orders",
            "payments",
            "customers",
            "types",
            "extensions",
            "cart-discounts",
            "discount-codes",
        ):
            world.ct.query(collection, limit=500)
        world.ct.query("subscriptions", limit=500)
        world.ct.query("customer-groups", limit=500)
        world.ct.query("messages", limit=500, sort="createdAt asc")
        for container in ("yotpo-loyalty-ledger",):
            world.ct.query(f"custom-objects/{container}", limit=500)
        return world.ct_state.observed()
    finally:
        server.stop()
        world.close()
