"""What the ledger tests share: the real event app against both stand-ins, with a clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from event.envelope import Delivery, parse_delivery
from event.processor import EventProcessor
from event.settings import EventSettings
from shared.deadletters import DEAD_LETTER_CONTAINER
from shared.domain.orders.ledger import OrderLedger
from shared.orders.ledger_store import LEDGER_CONTAINER, LedgerStore
from shared.runtime import Runtime, build_runtime
from shared.settings import load_settings
from tests.integration.world import World, push

# Local runs turn OIDC verification off explicitly (deployed apps refuse to start without it).
LOCAL = {"OIDC_VERIFICATION": "off"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def settings_for(world: World, **env: str) -> EventSettings:
    return load_settings(EventSettings, {**world.env, **LOCAL, **env})


def processor_for(
    world: World, *, clock: Callable[[], datetime] | None = None, **env: str
) -> tuple[EventProcessor, Runtime]:
    settings = settings_for(world, **env)
    runtime = build_runtime(settings)
    kwargs: dict[str, Any] = {"now": clock} if clock else {}
    return EventProcessor(settings, runtime, **kwargs), runtime


def delivery(notification: dict[str, Any], *, attempt: int | None = None, **kw: Any) -> Delivery:
    return parse_delivery(push(notification, attempt=attempt, **kw))


def paid_order(world: World, email: str = "jane@example.com") -> tuple[dict, dict]:
    shop = world.storefront
    customer = shop.sign_up(email, "Jane", "Doe")
    cart = shop.cart([("SKU-HOODIE", 1), ("SKU-MUG", 2)], customer=customer)
    order = shop.place_order(cart, order_number=f"ORD-{random.randrange(10**9)}")
    shop.pay(order)
    return customer, shop.order(order["id"])


def ledger_of(world: World, order_id: str) -> OrderLedger:
    return LedgerStore(world.ct).read(order_id)[0]


def stored_ledger(world: World, order_id: str) -> dict[str, Any]:
    return world.ct.get_custom_object(LEDGER_CONTAINER, order_id)["value"]


def dead_letters(world: World) -> list[dict[str, Any]]:
    found = world.ct.query(f"custom-objects/{DEAD_LETTER_CONTAINER}", limit=500)["results"]
    return [o["value"] for o in found if o["value"]["status"] == "dead"]


def failure_records(world: World) -> list[dict[str, Any]]:
    return [
        o["value"]
        for o in world.ct.query(f"custom-objects/{DEAD_LETTER_CONTAINER}", limit=500)["results"]
    ]
