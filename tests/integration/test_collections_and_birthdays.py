"""Item collections and birthdays end to end: the real event app against both stand-ins.

The commercetools stand-in serves Product Projections with their Categories
(https://docs.commercetools.com/api/projects/productProjections) and keeps customers'
`dateOfBirth` (https://docs.commercetools.com/api/projects/customers), so the connector's own
reads of both run over HTTP here, with nothing stubbed.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from event.app import create_app
from event.settings import EventSettings
from shared.settings import load_settings
from tests.integration.world import World, push

LOCAL = {"OIDC_VERIFICATION": "off"}


def _event_app(world: World) -> FlaskClient:
    return create_app(load_settings(EventSettings, {**world.env, **LOCAL})).test_client()


def _deliver_new(world: World, client: FlaskClient, resource_id: str, seen: set[str]) -> list[str]:
    """Deliver the resource's messages not delivered yet; their types, in order."""
    delivered = []
    for message in world.messages(resource_id):
        if message["id"] in seen:
            continue
        seen.add(message["id"])
        assert client.post("/event", json=push(message)).status_code in (200, 204)
        delivered.append(message["type"])
    return delivered


def _seed_catalogue(world: World) -> None:
    answer = requests.post(
        f"{world.ct_server.url}/_sandbox/products",
        json={
            "categories": [
                {"key": "outdoor", "name": {"en": "Outdoor", "de": "Draußen"}},
                {
                    "key": "tents",
                    "name": {"en": "Tents & shelters", "de": "Zelte & Unterstände"},
                    "slug": {"en": "tents", "de": "zelte"},
                    "parent": "outdoor",
                },
            ],
            "products": [
                {
                    "sku": "SKU-TENT",
                    "name": {"en": "Tent for two", "de": "Zelt für zwei"},
                    "prices": {"EUR": 19900},
                    "categories": ["tents", "outdoor"],
                },
                {"sku": "SKU-STICKER", "name": {"en": "Sticker"}, "prices": {"EUR": 150}},
            ],
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _yotpo_posts(world: World, suffix: str) -> list[dict[str, Any]]:
    return [
        r
        for r in world.yotpo.requests_since(0)
        if r["method"] == "POST" and r["path"].endswith(suffix)
    ]


def _events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "json_fields", {}).get("event", r.getMessage()) for r in caplog.records]


def test_an_order_reaches_yotpo_with_its_items_collections(world, caplog):
    caplog.set_level(logging.INFO)
    _seed_catalogue(world)
    client = _event_app(world)
    shop = world.storefront
    customer = shop.sign_up("camper@example.com", "Cam", "Per")
    cart = shop.cart([("SKU-TENT", 1), ("SKU-MUG", 2), ("SKU-STICKER", 1)], customer=customer)
    order = shop.place_order(cart, order_number="CAMP-1")
    shop.pay(order)
    _deliver_new(world, client, order["id"], set())

    (sent,) = _yotpo_posts(world, "/orders")
    items = {item["name"]: item for item in sent["json"]["items"]}
    # Category keys, in the product's order; the default catalogue's mug is in "home".
    assert items["Tent for two"]["collections"] == "tents,outdoor"
    assert items["Enamel mug"]["collections"] == "home"
    assert "collections" not in items["Sticker"]  # a product in no category
    assert "order.collections_unread" not in _events(caplog)
    # The connector read them with its own query over HTTP.
    reads = [
        r
        for r in world.ct_state.recorded_requests()["requests"]
        if r["path"] == "/sandbox/product-projections"
    ]
    assert reads and all(r["status"] == 200 for r in reads)
    assert "expand=categories" in reads[0]["query"]


def test_an_item_whose_product_is_gone_is_sent_without_collections(world):
    _seed_catalogue(world)
    client = _event_app(world)
    shop = world.storefront
    customer = shop.sign_up("nocats@example.com", "No", "Cats")
    order = shop.place_order(shop.cart([("SKU-TENT", 1)], customer=customer))
    shop.pay(order)
    # The product was deleted after the order: the query answers, without it.
    catalogue = world.ct_state.catalogue
    kept = {sku: p for sku, p in catalogue.products.items() if sku != "SKU-TENT"}
    world.ct_state.set_catalogue(dataclasses.replace(catalogue, products=kept))
    _deliver_new(world, client, order["id"], set())
    (sent,) = _yotpo_posts(world, "/orders")
    (item,) = sent["json"]["items"]
    assert item["name"] == "Tent for two" and "collections" not in item


def test_a_customer_with_a_date_of_birth_gets_its_birthday_in_yotpo(world):
    client = _event_app(world)
    customer = world.storefront.sign_up(
        "bea@example.com", "Bea", "Born", date_of_birth="1990-03-14"
    )
    seen: set[str] = set()
    assert _deliver_new(world, client, customer["id"], seen) == ["CustomerCreated"]

    assert world.yotpo_customer("bea@example.com")["birthday"] == {
        "day": 14,
        "month": 3,
        "year": 1990,
    }
    (call,) = _yotpo_posts(world, "/customer_birthdays")
    assert call["json"] == {
        "customer_email": "bea@example.com",
        "day": 14,
        "month": 3,
        "year": 1990,
    }


def test_a_customer_message_after_set_date_of_birth_updates_it(world):
    client = _event_app(world)
    shop = world.storefront
    customer = shop.sign_up("ivy@example.com", "Ivy", "Later", date_of_birth="1990-03-14")
    seen: set[str] = set()
    _deliver_new(world, client, customer["id"], seen)

    shop.set_date_of_birth(customer["id"], "1988-11-02")
    shop.update_customer(customer["id"], {"action": "setLastName", "lastName": "Changed"})
    delivered = _deliver_new(world, client, customer["id"], seen)
    assert delivered == ["CustomerDateOfBirthSet", "CustomerLastNameSet"]

    assert world.yotpo_customer("ivy@example.com")["birthday"] == {
        "day": 2,
        "month": 11,
        "year": 1988,
    }
    assert [c["json"]["year"] for c in _yotpo_posts(world, "/customer_birthdays")][-1] == 1988


def test_set_date_of_birth_alone_updates_the_birthday(world):
    client = _event_app(world)
    shop = world.storefront
    customer = shop.sign_up("una@example.com", "Una", "Alone", date_of_birth="1990-03-14")
    seen: set[str] = set()
    _deliver_new(world, client, customer["id"], seen)

    shop.set_date_of_birth(customer["id"], "1992-05-20")
    assert _deliver_new(world, client, customer["id"], seen) == ["CustomerDateOfBirthSet"]
    assert world.yotpo_customer("una@example.com")["birthday"] == {
        "day": 20,
        "month": 5,
        "year": 1992,
    }


def test_without_a_product_scope_the_order_goes_without_collections(world, caplog):
    # An API client without view_products / view_published_products: the projections read
    # is 403 (RAML securedBy), the order is sent anyway and the miss is logged.
    caplog.set_level(logging.INFO)
    scopes = (
        "manage_orders",
        "manage_customers",
        "manage_payments",
        "manage_key_value_documents",
        "view_discount_codes",
        "view_cart_discounts",
        "view_types",
    )
    env = {**world.env, **LOCAL, "CTP_SCOPE": " ".join(f"{s}:sandbox" for s in scopes)}
    client = create_app(load_settings(EventSettings, env)).test_client()
    shop = world.storefront
    customer = shop.sign_up("noscope@example.com", "No", "Scope")
    order = shop.place_order(shop.cart([("SKU-MUG", 1)], customer=customer))
    shop.pay(order)
    _deliver_new(world, client, order["id"], set())

    (sent,) = _yotpo_posts(world, "/orders")
    assert "collections" not in sent["json"]["items"][0]
    assert "order.collections_unread" in _events(caplog)
    refused = [
        r
        for r in world.ct_state.recorded_requests()["requests"]
        if r["path"] == "/sandbox/product-projections"
    ]
    assert refused and all(r["status"] == 403 for r in refused)
