"""The service app with the in-store API, against both stand-ins, and the real event app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from event.app import create_app as create_event_app
from event.settings import EventSettings
from service.app import create_app
from service.install import OWN_CART_TYPE_KEY
from service.settings import ServiceSettings
from shared.domain.loyalty_fields import CART_FIELD_DEFINITIONS
from shared.install import ensure_type_fields
from shared.runtime import build_runtime
from shared.settings import load_settings
from tests.integration.world import GUID, World, push, start_world

BERLIN_SECRET = "berlin-till-secret-0123456789"
MUNICH_SECRET = "munich-till-secret-0123456789"
POS_KEYS = {
    "berlin_till": {"secret": BERLIN_SECRET, "store": "berlin"},
    "munich_till": {"secret": MUNICH_SECRET, "store": "munich"},
}


Settings = ServiceSettings


class Pos:
    """A POS terminal of one store: the loyalty API with that store's key."""

    def __init__(self, client: FlaskClient, secret: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {secret}"}

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(f"/loyalty{path}", query_string=params, headers=self.headers)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(f"/loyalty{path}", json=body, headers=self.headers)


class Shop:
    """The world plus the service app (with the in-store API) and the event app."""

    def __init__(self, world: World, app: Flask) -> None:
        self.world = world
        self.app = app
        self.client = app.test_client()
        self.berlin = Pos(self.client, BERLIN_SECRET)
        self.munich = Pos(self.client, MUNICH_SECRET)
        event_env = {**world.env, "OIDC_VERIFICATION": "off"}
        self.event = create_event_app(load_settings(EventSettings, event_env)).test_client()

    def member(self, email: str, points: int, **customer: Any) -> dict[str, Any]:
        draft = {"email": email, "firstName": "Sam", "lastName": "Shopper", **customer}
        created = self.world.ct.create("customers", draft)["customer"]
        self.world.yotpo.upsert_customer(GUID, {"id": created["id"], "email": email})
        if points:
            self.world.yotpo.adjust_points(
                GUID, {"customer_id": created["id"], "point_adjustment_amount": points}
            )
        return created

    def balance(self, email: str) -> int:
        return self.world.yotpo_customer(email)["points_balance"]

    def deliver(self, *resource_ids: str) -> None:
        """Every message of these resources to the event app, as a Subscription would."""
        for resource_id in resource_ids:
            for message in self.world.messages(resource_id):
                status = self.event.post("/event", json=push(message)).status_code
                assert status in (200, 204), status

    def order(self, order_number: str) -> dict[str, Any]:
        found = self.world.ct.query(
            "orders",
            where=f'orderNumber = "{order_number}"',
            expand=["paymentInfo.payments[*]"],
        )["results"]
        assert len(found) == 1
        return found[0]

    def payment_ids(self, order_number: str) -> list[str]:
        return [p["id"] for p in self.order(order_number)["paymentInfo"]["payments"]]


def shop_env(world: World, **extra: str) -> dict[str, str]:
    return {
        **world.env,
        "EXTENSION_SECRET": "extension-secret-value",
        "POS_API_KEYS": json.dumps(POS_KEYS),
        # The sandbox program's currencies minus one (GBP), so refusals can be shown.
        "YOTPO_CURRENCIES": "EUR,USD,JPY,KWD",
        # Flows redeem and reverse in quick succession; the limit itself has its own test.
        "POS_REDEMPTIONS_PER_SECOND": "100",
        "OIDC_VERIFICATION": "off",
        **extra,
    }


def build_app(world: World, **extra: str) -> Flask:
    settings = load_settings(Settings, shop_env(world, **extra))
    runtime = build_runtime(settings)
    return create_app(settings, runtime)


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[World]:
    # Starting and stopping the two servers costs about a second: once per module, and a
    # reset of both stand-ins before each test keeps the tests independent.
    started = start_world()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def world(stand_ins: World) -> World:
    stand_ins.ct_state.reset()
    stand_ins.yotpo.reset()
    # The connector's order fields, as the service app's post-deploy script installs them.
    ensure_type_fields(
        stand_ins.ct,
        key=OWN_CART_TYPE_KEY,
        name="Loyalty (Yotpo) cart and order fields",
        resource_type_ids=["order"],
        definitions=CART_FIELD_DEFINITIONS,
    )
    return stand_ins


@pytest.fixture
def shop(world: World) -> Shop:
    return Shop(world, build_app(world))
