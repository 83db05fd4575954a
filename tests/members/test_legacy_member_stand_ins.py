"""A merchant migrating with legacy member ids (`MEMBER_ID_SOURCE=externalId`,
docs/adr/0010-member-identity.md): the Yotpo member exists only under the id the old platform
gave it, and the commercetools customer carries that id as `externalId` (commercetools' field
for "an identifier in an external system",
https://docs.commercetools.com/api/projects/customers#customer).

Against both stand-ins: commercetools calls the real service app as an API Extension on cart
updates; the till calls its in-store API. A checkout redemption and a till redemption both
succeed and take the points from the legacy member; with the default source the same member is
not found, so nothing is spent (the failure the setting exists for).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from sandbox.serving import ServerThread
from service.app import create_app
from service.install import post_deploy
from service.settings import ServiceSettings
from shared.domain.loyalty_fields import CartFields as F
from shared.errors import CommercetoolsPermanentError
from shared.settings import load_settings
from tests.instore.conftest import BERLIN_SECRET, Pos, build_app
from tests.integration.world import GUID, World

SECRET = "extension-secret-value"
LEGACY_ID = "legacy-0042"
CHECKOUT_REWARD = 1  # the stand-in's "€5 off": 500 points, 500 cents off
IN_STORE_REWARD = "4"  # the stand-in's "€10 in-store reward": 1000 points, 1000 cents off


def legacy_customer(world: World, email: str) -> dict[str, Any]:
    """A commercetools customer imported from the old platform, with its id as externalId."""
    customer = world.storefront.sign_up(email, "Ada", "Lovelace")
    # The stand-in keeps only the draft fields it models; the migration's import wrote
    # `externalId`, so the stored customer gets it as the API would hold it.
    stored = world.ct_state.store.get("customers", customer["id"])
    assert stored is not None
    world.ct_state.store.put("customers", {**stored, "externalId": LEGACY_ID})
    assert world.ct.get_by_id("customers", customer["id"])["externalId"] == LEGACY_ID
    return customer


def legacy_member(world: World, email: str, points: int) -> None:
    """The Yotpo member the old platform created: under the legacy id, not the commercetools one."""
    world.yotpo.upsert_customer(GUID, {"id": LEGACY_ID, "email": email})
    world.yotpo.adjust_points(GUID, {"customer_id": LEGACY_ID, "point_adjustment_amount": points})


def member_balance(world: World, member_id: str) -> int | None:
    found = [c for c in world.yotpo_account()["customers"] if c.get("id") == member_id]
    return found[0]["points_balance"] if found else None


def redemptions_of(world: World, member_id: str) -> list[dict[str, Any]]:
    return [r for r in world.yotpo_account()["redemptions"] if r["customer_id"] == member_id]


@contextmanager
def checkout_app(world: World, **env: str) -> Iterator[ServerThread]:
    """The service app as commercetools' cart extension (the install script registers it)."""
    settings = load_settings(
        ServiceSettings,
        {
            **world.env,
            "EXTENSION_SECRET": SECRET,
            "LOYALTY_CALL_BUDGET_MS": "800",
            "EXTENSION_TIMEOUT_MS": "1500",
            "REWARD_BASE_CURRENCY": "EUR",
            **env,
        },
    )
    server = ServerThread(create_app(settings)).start()
    try:
        post_deploy(world.ct, {"CONNECT_SERVICE_URL": f"{server.url}/service"}, settings)
        yield server
    finally:
        server.stop()


def order_extension(server: ServerThread, cart: dict[str, Any], number: str) -> Any:
    """The order-Create extension call commercetools makes (the stand-in calls extensions on
    carts only, so the test plays its part for the order)."""
    obj = {
        "id": f"order-of-{cart['id']}",
        "orderNumber": number,
        "cart": {"typeId": "cart", "id": cart["id"]},
        "customerId": cart.get("customerId"),
        "customerEmail": cart.get("customerEmail"),
        "totalPrice": cart["totalPrice"],
        "custom": cart.get("custom"),
    }
    return requests.post(
        f"{server.url}/service",
        json={"action": "Create", "resource": {"typeId": "order", "id": obj["id"], "obj": obj}},
        headers={"Authorization": f"Bearer {SECRET}"},
        timeout=5,
    )


def fields(resource: dict[str, Any]) -> dict[str, Any]:
    return (resource.get("custom") or {}).get("fields") or {}


def test_a_checkout_redemption_spends_the_legacy_members_points(world: World) -> None:
    email = "ada@example.com"
    customer = legacy_customer(world, email)
    legacy_member(world, email, 800)
    assert world.yotpo_account()["customers"][0]["id"] == LEGACY_ID  # no member under ct id

    with checkout_app(world, MEMBER_ID_SOURCE="externalId") as server:
        shop = world.storefront
        cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
        cart = shop.request_reward(cart, CHECKOUT_REWARD)
        assert fields(cart)[F.REWARD_STATUS] == "applied"
        assert [d["value"]["money"][0]["centAmount"] for d in cart["directDiscounts"]] == [500]
        (delayed,) = redemptions_of(world, LEGACY_ID)
        assert delayed["reward_text"] == fields(cart)[F.REWARD_CODE]

        placed = order_extension(server, cart, "LEGACY-1")
        assert placed.status_code == 200, placed.json()
        consumed = {a["name"]: a.get("value") for a in placed.json()["actions"]}
        assert consumed[F.REWARD_STATUS] == "consumed"

    # Spent at placement, on the legacy member; no second member was created.
    assert member_balance(world, LEGACY_ID) == 300
    assert member_balance(world, customer["id"]) is None
    usable = [r for r in redemptions_of(world, LEGACY_ID) if r["status"] != "cancelled"]
    assert [r["reward_text"] for r in usable] == [consumed[F.REWARD_CODE]]


def test_with_the_default_source_the_legacy_member_is_not_the_checkouts(world: World) -> None:
    email = "ada@example.com"
    customer = legacy_customer(world, email)
    legacy_member(world, email, 800)
    with checkout_app(world):
        shop = world.storefront
        cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
        with pytest.raises(CommercetoolsPermanentError) as refused:
            shop.request_reward(cart, CHECKOUT_REWARD)
    assert '"loyaltyError": "not_eligible"' in json.dumps(refused.value.errors)
    assert world.yotpo_account()["redemptions"] == []
    assert member_balance(world, LEGACY_ID) == 800


# The old platform knew the customer under another address: only the member id can find it.
OLD_EMAIL = "ada.lovelace@old-shop.example"


def till(world: World, **env: str) -> Pos:
    return Pos(build_app(world, **env).test_client(), BERLIN_SECRET)


def test_a_till_redemption_finds_and_spends_the_legacy_member(world: World) -> None:
    customer = legacy_customer(world, "ada@example.com")
    legacy_member(world, OLD_EMAIL, 1500)
    pos = till(world, MEMBER_ID_SOURCE="externalId")

    # The associate looks the customer up by email: commercetools first, then the member.
    found = pos.get("/customers", email="ada@example.com")
    assert found.status_code == 200, found.get_json()
    summary = found.get_json()
    assert summary["customer_id"] == customer["id"] and summary["points_balance"] == 1500
    by_id = pos.get(f"/customers/{customer['id']}")
    assert by_id.status_code == 200 and by_id.get_json()["points_balance"] == 1500
    rewards = pos.get(f"/customers/{customer['id']}/rewards", offline="true")
    assert rewards.status_code == 200, rewards.get_json()
    assert [r["id"] for r in rewards.get_json()["rewards"]] == [IN_STORE_REWARD]

    redeemed = pos.post(
        "/redemptions",
        {
            "request_id": "legacy-r-1",
            "customer_id": customer["id"],
            "option_id": IN_STORE_REWARD,
            "currency": "EUR",
        },
    )
    assert redeemed.status_code == 201, redeemed.get_json()
    assert redeemed.get_json()["points"] == 1000
    assert member_balance(world, LEGACY_ID) == 500  # deducted at once, from the legacy member
    (made,) = redemptions_of(world, LEGACY_ID)
    assert made["reward_text"] == redeemed.get_json()["code"]

    reversed_ = pos.post(
        f"/redemptions/{redeemed.get_json()['redemption_id']}/reversal",
        {"request_id": "legacy-rev-1"},
    )
    assert reversed_.status_code == 200, reversed_.get_json()
    assert member_balance(world, LEGACY_ID) == 1500


def test_with_the_default_source_the_till_does_not_find_the_legacy_member(world: World) -> None:
    customer = legacy_customer(world, "ada@example.com")
    legacy_member(world, OLD_EMAIL, 1500)
    pos = till(world)
    found = pos.get("/customers", email="ada@example.com")
    assert found.status_code == 404 and found.get_json()["error"] == "not_a_member"
    redeemed = pos.post(
        "/redemptions",
        {
            "request_id": "default-r-1",
            "customer_id": customer["id"],
            "option_id": IN_STORE_REWARD,
            "currency": "EUR",
        },
    )
    assert redeemed.status_code == 404 and redeemed.get_json()["error"] == "not_a_member"
    assert world.yotpo_account()["redemptions"] == []
    assert member_balance(world, LEGACY_ID) == 1500
