"""The real service app as an HTTP server, called by the commercetools stand-in as an API
Extension on cart updates, talking to the Yotpo stand-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from event.app import create_app as create_event_app
from event.settings import EventSettings
from sandbox.serving import ServerThread
from service.app import create_app
from service.install import EXTENSION_KEY, post_deploy, pre_undeploy
from service.settings import ServiceSettings
from service.webhooks import WEBHOOK_SECRET_HEADER
from shared.domain.loyalty_fields import CartFields as F
from shared.errors import CommercetoolsPermanentError
from shared.settings import load_settings
from tests.integration.world import GUID, World, push

SECRET = "extension-secret-value"
WEBHOOK_SECRET = "webhook-secret-value"


class CallCounter:
    """WSGI middleware counting the extension calls commercetools makes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.extension_calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/service":
            self.extension_calls += 1
        return self.app(environ, start_response)


class Checkout:
    def __init__(
        self, world: World, server: ServerThread, settings: ServiceSettings, calls: CallCounter
    ) -> None:
        self.world = world
        self.server = server
        self.settings = settings
        self.calls = calls

    def install(self, url: str | None = None) -> dict[str, str]:
        env = {"CONNECT_SERVICE_URL": url or f"{self.server.url}/service"}
        return post_deploy(self.world.ct, env, self.settings)

    def member(self, email: str, points: int) -> dict[str, Any]:
        customer = self.world.storefront.sign_up(email, "Sam", "Shopper")
        self.world.yotpo.upsert_customer(GUID, {"id": customer["id"], "email": email})
        self.world.yotpo.adjust_points(
            GUID, {"customer_id": customer["id"], "point_adjustment_amount": points}
        )
        return customer

    def balance(self, email: str) -> int:
        return self.world.yotpo_customer(email)["points_balance"]


@pytest.fixture
def checkout(world: World) -> Iterator[Checkout]:
    env = {
        **world.env,
        "EXTENSION_SECRET": SECRET,
        "YOTPO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOYALTY_CALL_BUDGET_MS": "800",
        "EXTENSION_TIMEOUT_MS": "1500",
    }
    settings = load_settings(ServiceSettings, env)
    calls = CallCounter(create_app(settings))
    server = ServerThread(calls).start()
    world.yotpo.put_account(
        {
            "guid": GUID,
            "api_key": "sandbox-api-key",
            "program": {
                "webhook_url": f"{server.url}/yotpo/webhooks",
                "webhook_secret": WEBHOOK_SECRET,
            },
        }
    )
    fixture = Checkout(world, server, settings, calls)
    fixture.install()
    try:
        yield fixture
    finally:
        server.stop()


def extension_error(exc: CommercetoolsPermanentError) -> dict[str, Any]:
    """The extension's own error, as commercetools hands it to the storefront."""
    for error in exc.errors:
        if error.get("extensionExtraInfo"):
            return error
        for inner in error.get("errors") or []:
            if inner.get("extensionExtraInfo"):
                return inner
    raise AssertionError(f"no extension error in {exc.errors}")


def fields(cart: dict[str, Any]) -> dict[str, Any]:
    return (cart.get("custom") or {}).get("fields") or {}


def reward_discounts(cart: dict[str, Any]) -> list[int]:
    return [
        d["value"]["money"][0]["centAmount"]
        for d in cart.get("directDiscounts") or []
        if d["value"]["type"] == "absolute"
    ]


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
    code = fields(cart)[F.REWARD_CODE]
    assert checkout.balance("sam@example.com") == 800  # delayed deduction: nothing yet

    order = shop.place_order(cart, order_number="RWD-1")
    shop.pay(order)
    event = create_event_app(load_settings(EventSettings, world.env)).test_client()
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
    assert extension_error(refused.value)["extensionExtraInfo"]["loyaltyError"] == expected
    unchanged = checkout.world.ct.get_by_id("carts", cart["id"])
    assert unchanged["version"] == cart["version"]


def test_yotpo_hanging_fails_the_redemption_in_time(checkout):
    shop = checkout.world.storefront
    customer = checkout.member("hank@example.com", 800)
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
    checkout.world.yotpo.set_faults({"hang_next": 5, "hang_seconds": 20})
    started = time.monotonic()
    with pytest.raises(CommercetoolsPermanentError) as refused:
        shop.request_reward(cart, 1)
    elapsed = time.monotonic() - started
    checkout.world.yotpo.release_hangs()
    info = extension_error(refused.value)["extensionExtraInfo"]
    assert info["loyaltyError"] == "loyalty_service_unavailable"
    # The extension answered itself (a 400 with our code), not commercetools' timeout.
    assert elapsed < 1.5 + 1.0  # loose bound: the point is it is not the 20 s hang


def test_yotpo_errors_fail_the_redemption_but_not_other_updates(checkout):
    shop = checkout.world.storefront
    customer = checkout.member("err@example.com", 800)
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
    checkout.world.yotpo.set_faults({"error_next": 50, "error_status": 503})
    with pytest.raises(CommercetoolsPermanentError) as refused:
        shop.request_reward(cart, 1)
    assert extension_error(refused.value)["extensionExtraInfo"]["loyaltyError"] == (
        "loyalty_service_unavailable"
    )
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


def test_a_cancelled_code_leaves_its_cart_on_the_next_update(checkout):
    world = checkout.world
    shop = world.storefront
    customer = checkout.member("dan@example.com", 600)
    first = shop.request_reward(shop.cart([("SKU-HOODIE", 1)], customer=customer), 1)
    second = shop.request_reward(shop.cart([("SKU-BOOK", 1)], customer=customer), 1)
    assert reward_discounts(first) == [500] and reward_discounts(second) == [500]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        cancelled = world.ct.query(
            "custom-objects", where='container = "yotpo-loyalty-cancelled-codes"'
        )["results"]
        if cancelled:
            break
        time.sleep(0.05)
    assert [c["value"]["code"] for c in cancelled] == [fields(first)[F.REWARD_CODE]]
    first = shop.update_cart(first, {"action": "addLineItem", "sku": "SKU-MUG", "quantity": 1})
    assert reward_discounts(first) == []
    assert fields(first)[F.REWARD_STATUS] == "cancelled_by_yotpo"


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


def test_with_immediate_deduction_a_dropped_reward_gives_its_points_back(world):
    env = {**world.env, "EXTENSION_SECRET": SECRET, "DELAY_POINTS_DEDUCTION": "false"}
    settings = load_settings(ServiceSettings, env)
    server = ServerThread(create_app(settings)).start()
    try:
        fixture = Checkout(world, server, settings, CallCounter(None))
        fixture.install()
        shop = world.storefront
        customer = fixture.member("imm@example.com", 800)
        cart = shop.request_reward(shop.cart([("SKU-HOODIE", 1)], customer=customer), 1)
        assert reward_discounts(cart) == [500]
        assert fixture.balance("imm@example.com") == 300  # deducted at once
        cart = shop.drop_reward(cart)
        assert reward_discounts(cart) == []
        assert fixture.balance("imm@example.com") == 800  # returned
    finally:
        server.stop()
