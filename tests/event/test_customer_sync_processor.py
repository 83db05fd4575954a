"""`shared.customers.sync.CustomerSync` on its own, against the stand-ins: the processor the
event app hands customer messages to, one path through the provider port for every provider."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from event.settings import EventSettings
from sandbox.stack import VOYADO_STORE
from shared.customers.sync import CustomerSync
from shared.domain.customers.customer_sync import CustomerSyncConfig
from shared.errors import TransientError
from shared.runtime import Runtime, YotpoRoute, build_runtime
from shared.settings import load_settings
from tests.contracts.yotpo_fixtures import fixture
from tests.integration.world import World, start_world

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


# --- one sync for every provider (issue #18): a Yotpo store's customer and a Voyado store's ---

JANE_ID = "ct-cust-1"  # the contract fixtures' member (its id is its commercetools id)


@pytest.fixture
def both_world() -> Iterator[World]:
    """The stand-ins with Voyado too: the store `VOYADO_STORE` on Voyado, the rest on Yotpo."""
    started = start_world(voyado=True)
    try:
        yield started
    finally:
        started.close()


def _jane() -> dict[str, Any]:
    """The customer whose member is the contract fixture's, as commercetools answers it (its
    groups expanded, https://docs.commercetools.com/api/projects/customers#customer)."""
    return {
        "id": JANE_ID,
        "version": 4,
        "email": "jane@example.com",
        "firstName": "Jane",
        "lastName": "Doe",
        "createdAt": "2026-11-01T10:00:00.000Z",
        "dateOfBirth": "1990-03-14",
        "addresses": [{"id": "home", "country": "DE", "mobile": "+49 151 1234 5678"}],
        "defaultBillingAddressId": "home",
        "customerGroup": {"typeId": "customer-group", "id": "g-1", "obj": {"key": "vip"}},
        "custom": {"type": {"typeId": "type", "id": "t-1"}, "fields": {"loyaltyOptIn": True}},
        "stores": [{"typeId": "store", "key": "berlin"}, {"typeId": "store", "key": "munich"}],
    }


def _yotpo_calls(world: World) -> list[dict[str, Any]]:
    return [r for r in world.yotpo.requests_since(0) if r["method"] != "GET"]


def test_one_sync_serves_a_yotpo_stores_customer_and_a_voyado_stores_through_the_port(
    both_world,
):
    world = both_world
    built = build_runtime(load_settings(EventSettings, {**world.env, **LOCAL}))
    # Jane's two stores are configured as accounts of their own on the one Yotpo account (one
    # client, as `build_runtime` shares it): one member, told once.
    default = built.routes["default"]
    stores = {k: YotpoRoute(k, default.account, default.client) for k in ("berlin", "munich")}
    runtime = Runtime(
        commercetools=built.commercetools,
        routes={"default": default, **stores},
        providers=built.providers,
    )
    sync = CustomerSync(runtime, CustomerSyncConfig(opt_in_policy="customer_field"))
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
    ingrid = created.get("customer", created)

    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        # Every call reaches the stand-ins but Jane's read, answered with her whole profile.
        rsps.add_passthru(re.compile(rf"http://127\.0\.0\.1:\d+/(?!.*/customers/{JANE_ID}).*"))
        rsps.get(re.compile(rf".*/customers/{JANE_ID}(\?.*)?$"), json=_jane())
        assert sync.sync(JANE_ID, deadline=float("inf")) == (
            f"customer {JANE_ID}: upserted in 1 account(s)"
        )
        assert sync.sync(ingrid["id"], deadline=float("inf")) == (
            f"customer {ingrid['id']}: upserted in 1 account(s)"
        )

    # Yotpo received exactly the fixtures' requests, the upsert before the birthday
    # (https://loyaltyapi.yotpo.com/reference/set-customer-birthday names the member by email).
    upsert, birthday = fixture("upsert_customer"), fixture("set_customer_birthday")
    calls = _yotpo_calls(world)
    assert [(c["method"], c["path"].removeprefix("/api/v2")) for c in calls] == [
        (upsert["method"], upsert["path"]),
        (birthday["method"], birthday["path"]),
    ]
    sent_upsert, sent_birthday = calls[0]["json"], calls[1]["json"]
    expected = dict(upsert["request"]["body"])
    expected.pop("opted_in_at")  # documented, never sent: Yotpo stamps the opt-in itself
    assert sent_upsert == expected
    assert list(sent_upsert) == list(expected)
    assert set(upsert["request"]["required"]) <= set(sent_upsert)
    assert set(sent_upsert) <= set(upsert["request"]["documented"])
    assert sent_birthday == birthday["request"]["body"]
    assert set(sent_birthday) <= set(birthday["request"]["documented"])
    assert world.yotpo_customer("jane@example.com")["birthday"] == {
        "day": 14,
        "month": 3,
        "year": 1990,
    }

    # The Voyado store's customer became a contact, and Yotpo heard nothing of her.
    contact = world.voyado_contact("ingrid@example.com")
    assert contact is not None and contact["attributes"].get("firstName") == "Ingrid"
    assert world.voyado_contact("jane@example.com") is None
    assert world.yotpo_customer("ingrid@example.com") is None
    assert len(calls) == 2


def test_a_deadline_already_past_calls_no_provider(both_world):
    world = both_world
    runtime = build_runtime(load_settings(EventSettings, {**world.env, **LOCAL}))
    sync = CustomerSync(runtime, CustomerSyncConfig(), monotonic=lambda: 100.0)
    for email, stores in (("late@example.com", []), ("sen@example.com", [VOYADO_STORE])):
        created = world.ct.create(
            "customers",
            {
                "email": email,
                "password": "x1!",
                "stores": [{"typeId": "store", "key": k} for k in stores],
            },
        )
        customer = created.get("customer", created)
        # What is left of the deadline is nothing: a transient failure, the message retried.
        with pytest.raises(TransientError):
            sync.sync(customer["id"], deadline=99.0)
    assert _yotpo_calls(world) == []
    assert world.voyado_contact("sen@example.com") is None
