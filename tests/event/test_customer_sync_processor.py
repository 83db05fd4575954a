"""`shared.customers.sync.CustomerSync` on its own, against both stand-ins: the processor the
event app hands customer messages to."""

from __future__ import annotations

from event.settings import EventSettings
from shared.customers.sync import CustomerSync
from shared.domain.customers.customer_sync import CustomerSyncConfig
from shared.runtime import build_runtime
from shared.settings import load_settings
from tests.integration.world import World

LOCAL = {"OIDC_VERIFICATION": "off"}


def _sync(world: World) -> CustomerSync:
    runtime = build_runtime(load_settings(EventSettings, {**world.env, **LOCAL}))
    return CustomerSync(runtime, CustomerSyncConfig())


def _upserts(world: World) -> list[dict]:
    return [
        r
        for r in world.yotpo.requests_since(0)
        if r["method"] == "POST" and r["path"].endswith("/customers")
    ]


def test_a_customer_becomes_a_member_once(world):
    created = world.ct.create(
        "customers", {"email": "cy@example.com", "firstName": "Cy", "password": "x1!"}
    )
    customer = created.get("customer", created)

    detail = _sync(world).sync(customer["id"], deadline=float("inf"))

    assert detail == f"customer {customer['id']}: upserted in 1 account(s)"
    member = world.yotpo_customer("cy@example.com")
    assert member is not None and member["first_name"] == "Cy"
    assert len(_upserts(world)) == 1


def test_a_deleted_customer_calls_nobody(world):
    detail = _sync(world).sync("no-such-customer", deadline=float("inf"))

    assert detail == "customer no-such-customer no longer exists"
    assert _upserts(world) == []
