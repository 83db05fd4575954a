"""One checkout flow for every provider (issue #18, docs/adr/0098-rewards-through-the-port.md):
a project whose default store is served by Yotpo and whose `nordic` store by Voyado Engage,
with ONE cart extension and ONE order-creation handler serving both.

Yotpo is stubbed at the HTTP boundary (`responses`, its documented redemption behaviour,
tests/checkout/test_extension_http.py `FakeYotpo`); Voyado is its stand-in (`sandbox.voyado`,
built from Voyado's documentation) over HTTP; commercetools is stubbed (`responses`): the
customer record, custom objects, the orders query.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses

from sandbox.voyado import FakeClock, SandboxConfig, TenantConfig, VoyadoServer
from service.cancellations import CancelledCodes
from service.checkout_rewards import PendingCustomer, redemption_mode
from service.concurrent_calls import start
from service.extension import CheckoutExtension
from service.order_guard import OrderGuard
from service.settings import ServiceSettings
from service.voucher_claims import VOUCHER_CLAIMS_CONTAINER
from shared.domain.checkout.cart import CheckoutConfig
from shared.domain.checkout.reward_state import seal_key, unseal
from shared.domain.loyalty_fields import CartFields as F
from shared.domain.providers.voyado import VOYADO_CAPABILITIES
from shared.domain.providers.yotpo import YOTPO_CAPABILITIES
from shared.runtime import build_runtime
from shared.settings import load_settings
from shared.voyado import VoyadoClient
from tests.checkout.answers import apply_answer
from tests.checkout.http_env import CT, ENV, OPTION, SECRET
from tests.checkout.test_extension_http import FakeCustomObjects, FakeYotpo

KEY = "one-flow-voyado-key"
NORDIC = "nordic"
CONSUMPTIONS = "yotpo-loyalty-consumptions"


@dataclass
class Shop:
    extension: CheckoutExtension
    orders: OrderGuard
    yotpo: FakeYotpo
    voyado: VoyadoServer
    api: VoyadoClient
    objects: FakeCustomObjects
    customers: dict[str, dict[str, Any]]
    # Runs inside commercetools' answer to a customer read (before it answers).
    hooks: dict[str, Any]

    def voyado_calls(self, since: int = 0) -> list[tuple[str, str]]:
        return [
            (str(r["method"]), str(r["path"]))
            for r in self.voyado.engine.requests_since(since)
            if "/api/" in str(r.get("path"))
        ]

    def voyado_seq(self) -> int:
        found = self.voyado.engine.requests_since(0)
        return found[-1]["seq"] if found else 0

    def contact(self, customer_id: str, email: str, points: int = 600) -> str:
        """A Voyado contact with `points` (each 500 become one 50 SEK voucher)."""
        self.customers[customer_id] = {"id": customer_id, "version": 1, "email": email}
        contact_id = self.voyado.seed_contact(email=email, externalId=customer_id)["id"]
        row = {
            "contactId": contact_id,
            "amount": points,
            "definitionId": 1,
            "timeStamp": "2026-12-01T09:00:00+00:00",
            "source": "test",
            "description": "welcome points",
        }
        self.api.add_point_transactions([row], idempotency_key=f"seed-{customer_id}")
        return str(contact_id)


@pytest.fixture
def shop() -> Iterator[Shop]:
    config = SandboxConfig(
        tenants=[TenantConfig(name="shop", api_keys=[KEY], stores=["ecom-1"], currency="SEK")]
    )
    with VoyadoServer(config, clock=FakeClock()) as voyado:
        providers = {
            NORDIC: {
                "provider": "voyado",
                "baseUrl": voyado.url,
                "apiKey": KEY,
                "storeExternalId": "ecom-1",
                "rateLimitPerSecond": 200,
            }
        }
        settings = load_settings(
            ServiceSettings, {**ENV, "LOYALTY_PROVIDERS": json.dumps(providers)}
        )
        yotpo = FakeYotpo(points=600)
        objects = FakeCustomObjects()
        customers: dict[str, dict[str, Any]] = {}
        hooks: dict[str, Any] = {}
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(voyado.url)
            yotpo.install(mock)
            objects.install(mock)

            def customer(request: Any) -> tuple[int, dict, str]:
                if "customer" in hooks:
                    hooks["customer"]()
                found = customers.get(request.path_url.rsplit("/", 1)[-1])
                if found is None:
                    return 404, {}, json.dumps({"statusCode": 404, "errors": []})
                return 200, {}, json.dumps(found)

            mock.add_callback(
                responses.GET, re.compile(rf"{re.escape(CT)}/proj/customers/[^/?]+"), customer
            )
            mock.add_callback(
                responses.GET,
                re.compile(rf"{re.escape(CT)}/proj/orders.*"),
                lambda _r: (200, {}, json.dumps({"results": [], "count": 0})),
            )
            runtime = build_runtime(settings)
            extension = CheckoutExtension(settings, runtime, CancelledCodes(runtime.commercetools))
            orders = OrderGuard(
                extension.config,
                runtime,
                CancelledCodes(runtime.commercetools),
                settings.loyalty_call_budget_ms / 1000,
                members=extension.members,
                rewards=extension.rewards,
            )
            yield Shop(
                extension,
                orders,
                yotpo,
                voyado,
                VoyadoClient(voyado.url, KEY),
                objects,
                customers,
                hooks,
            )


def money(amount: int, currency: str) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": amount,
        "fractionDigits": 2,
    }


def cart(
    cart_id: str, requested: str | None, *, store: str | None, currency: str, customer: str
) -> dict[str, Any]:
    total = money(10000, currency)
    body: dict[str, Any] = {
        "id": cart_id,
        "version": 2,
        "customerId": customer,
        "customerEmail": "shopper@example.com",
        "lineItems": [{"id": "li", "quantity": 1, "totalPrice": total}],
        "totalPrice": total,
        "directDiscounts": [],
        "custom": {
            "type": {"typeId": "type", "id": "t"},
            "fields": {F.REQUESTED_OPTION: requested} if requested else {},
        },
    }
    if store:
        body["store"] = {"typeId": "store", "key": store}
    return body


def apply(obj: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, Any]:
    """What commercetools does with the answer's setCustomField and setDirectDiscounts."""
    off = apply_answer(obj, actions)
    obj["totalPrice"] = money(10000 - off, obj["totalPrice"]["currencyCode"])
    return obj


def order_of(cart_obj: dict[str, Any], number: str) -> dict[str, Any]:
    order = {
        "id": f"o-{number}",
        "orderNumber": number,
        "cart": {"typeId": "cart", "id": cart_obj["id"]},
        "customerId": cart_obj["customerId"],
        "customerEmail": cart_obj["customerEmail"],
        "custom": cart_obj["custom"],
    }
    if "store" in cart_obj:
        order["store"] = cart_obj["store"]
    return order


def sealed(obj: dict[str, Any]) -> Any:
    reward = unseal(obj["custom"]["fields"][F.REWARD_SEAL], obj["id"], seal_key(SECRET))
    assert reward is not None
    return reward


def test_one_extension_applies_a_yotpo_option_and_a_voyado_voucher(shop):
    contact = shop.contact("cust-v", "vera@example.com")
    (voucher,) = shop.api.available_vouchers(contact)
    before = shop.voyado_seq()

    yotpo_cart = cart("cart-y", "1", store=None, currency="EUR", customer="cust-y")
    answer = shop.extension.handle(yotpo_cart)
    assert answer.status == 200, answer.body
    yotpo_cart = apply(yotpo_cart, answer.body["actions"])
    assert shop.voyado_calls(before) == []  # the Yotpo store's cart never asks Voyado
    (made,) = shop.yotpo.redemptions.values()
    assert made["delayed"] and shop.yotpo.balance == 600  # held, not spent
    reward = sealed(yotpo_cart)
    assert (reward.option_id, reward.redemption_id, reward.delayed) == ("1", "1", True)
    assert yotpo_cart["totalPrice"]["centAmount"] == 10000 - OPTION["discount_amount_cents"]

    created = len(shop.yotpo.redemptions)
    voyado_cart = cart("cart-v", voucher["id"], store=NORDIC, currency="SEK", customer="cust-v")
    answer = shop.extension.handle(voyado_cart)
    assert answer.status == 200, answer.body
    voyado_cart = apply(voyado_cart, answer.body["actions"])
    assert len(shop.yotpo.redemptions) == created  # the Voyado store's cart never asks Yotpo
    reward = sealed(voyado_cart)
    assert (reward.option_id, reward.redemption_id, reward.delayed) == (
        voucher["id"],
        voucher["id"],
        False,
    )
    assert voyado_cart["totalPrice"]["centAmount"] == 5000
    # Found by customKey, listed; nothing redeemed before payment.
    assert shop.voyado_calls(before) == [
        ("GET", "/api/v3/contacts/id"),
        ("GET", "/api/v3/reward-vouchers/available"),
    ]
    assert [v["id"] for v in shop.api.available_vouchers(contact)] == [voucher["id"]]


def test_one_order_handler_consumes_the_yotpo_reward_and_claims_the_voyado_voucher(shop):
    contact = shop.contact("cust-v", "vera@example.com")
    (voucher,) = shop.api.available_vouchers(contact)
    yotpo_cart = cart("cart-y", "1", store=None, currency="EUR", customer="cust-y")
    yotpo_cart = apply(yotpo_cart, shop.extension.handle(yotpo_cart).body["actions"])
    voyado_cart = cart("cart-v", voucher["id"], store=NORDIC, currency="SEK", customer="cust-v")
    voyado_cart = apply(voyado_cart, shop.extension.handle(voyado_cart).body["actions"])

    placed = shop.orders.handle(order_of(yotpo_cart, "Y-1"))
    assert placed.status == 200 and placed.outcome == "consumed", placed.body
    assert shop.yotpo.balance == 100  # redeemed again with immediate deduction
    delayed, consumed = shop.yotpo.redemptions.values()
    assert delayed["state"] == "cancelled" and consumed["deducted"]
    (record,) = shop.objects.of(CONSUMPTIONS)
    assert record["value"]["code"] == consumed["reward_text"]

    before = shop.voyado_seq()
    created = len(shop.yotpo.redemptions)
    placed = shop.orders.handle(order_of(voyado_cart, "V-1"))
    assert placed.status == 200 and placed.body == {"actions": []}
    assert len(shop.yotpo.redemptions) == created
    (claim,) = shop.objects.of(VOUCHER_CLAIMS_CONTAINER)
    assert claim["key"] == voucher["id"] and claim["value"]["cartId"] == "cart-v"
    # Asked again (still available?), never redeemed: that waits for the payment.
    assert ("GET", "/api/v3/reward-vouchers/available") in shop.voyado_calls(before)
    assert all(method == "GET" for method, _ in shop.voyado_calls(before))


def test_a_contact_found_by_custom_key_does_not_wait_for_the_customer_record(shop):
    """ADR 0095: the record (for its own email) is read alongside the customKey look-up, and a
    contact found by customKey needs no email: the answer does not wait for the record. The
    record's answer is held until the extension has answered; were it waited for, the read
    would time out and the cart be refused."""
    contact = shop.contact("cust-v", "vera@example.com")
    (voucher,) = shop.api.available_vouchers(contact)
    entered = threading.Event()
    release = threading.Event()

    def hold_the_record() -> None:
        entered.set()
        release.wait(5)

    shop.hooks["customer"] = hold_the_record
    voyado_cart = cart("cart-v", voucher["id"], store=NORDIC, currency="SEK", customer="cust-v")
    try:
        answer = shop.extension.handle(voyado_cart)
        assert answer.status == 200, answer.body
        assert not release.is_set()
        assert entered.wait(2)  # the record read had started: it overlaps, it is not skipped
    finally:
        release.set()


def test_a_removed_reward_is_given_back_where_something_was_redeemed(shop):
    """Yotpo held points for the cart: cancelled. Voyado redeemed nothing: no call at all."""
    contact = shop.contact("cust-v", "vera@example.com")
    (voucher,) = shop.api.available_vouchers(contact)
    yotpo_cart = cart("cart-y", "1", store=None, currency="EUR", customer="cust-y")
    yotpo_cart = apply(yotpo_cart, shop.extension.handle(yotpo_cart).body["actions"])
    voyado_cart = cart("cart-v", voucher["id"], store=NORDIC, currency="SEK", customer="cust-v")
    voyado_cart = apply(voyado_cart, shop.extension.handle(voyado_cart).body["actions"])

    for removed in (yotpo_cart, voyado_cart):
        removed["custom"]["fields"].pop(F.REQUESTED_OPTION)
    before = shop.voyado_seq()
    yotpo_answer = shop.extension.handle(yotpo_cart)
    voyado_answer = shop.extension.handle(voyado_cart)
    assert apply(yotpo_cart, yotpo_answer.body["actions"])["directDiscounts"] == []
    assert apply(voyado_cart, voyado_answer.body["actions"])["directDiscounts"] == []
    assert shop.yotpo.usable() == []  # the held redemption was cancelled
    assert shop.voyado_calls(before) == []
    assert [v["id"] for v in shop.api.available_vouchers(contact)] == [voucher["id"]]


@pytest.mark.parametrize(
    ("store", "currency", "requested"),
    [
        (None, "EUR", "0f2b6c1e-9a4d-4e5f-8a7b-0c1d2e3f4a5b"),  # a voucher id at Yotpo
        (NORDIC, "SEK", "12"),  # an option id at Voyado
    ],
)
def test_each_providers_own_id_syntax_is_checked_before_any_call(shop, store, currency, requested):
    before = shop.voyado_seq()
    answer = shop.extension.handle(
        cart("cart-x", requested, store=store, currency=currency, customer="cust-x")
    )
    assert answer.status == 400
    assert answer.body["errors"][0]["extensionExtraInfo"] == {"loyaltyError": "unknown_option"}
    assert shop.yotpo.redemptions == {} and shop.voyado_calls(before) == []


def test_the_yotpo_member_its_options_and_the_in_store_ids_are_read_at_once(shop, monkeypatch):
    """One round trip before the redemption (the bench's figure): the customer, the options
    offered to them and, not yet cached, the program's in-store-only ids. Each read waits for
    the other two to start, so any sequential pair fails (the barrier breaks) instead of
    passing slowly."""
    all_three = threading.Barrier(3, timeout=5)
    answer_customer = shop.yotpo._customer
    answer_options = shop.yotpo._options
    seen: list[str] = []

    def customer(request: Any) -> Any:
        seen.append("customer")
        all_three.wait()
        return answer_customer(request)

    def options(request: Any) -> Any:
        if "is_offline=true" in request.url or "customer_id" in request.url:
            seen.append("in-store ids" if "is_offline=true" in request.url else "offered")
            all_three.wait()
        return answer_options(request)

    monkeypatch.setattr(shop.yotpo, "_customer", customer)
    monkeypatch.setattr(shop.yotpo, "_options", options)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        shop.yotpo.install(mock)
        shop.objects.install(mock)
        answer = shop.extension.handle(
            cart("cart-y", "1", store=None, currency="EUR", customer="cust-y")
        )
        assert answer.status == 200, answer.body
        assert not all_three.broken
        assert sorted(seen) == ["customer", "in-store ids", "offered"]
        # Cached now: the next redemption reads the customer and its options only.
        seen.clear()
        all_three = threading.Barrier(2, timeout=5)
        answer = shop.extension.handle(
            cart("cart-z", "1", store=None, currency="EUR", customer="cust-y")
        )
        assert answer.status == 200, answer.body
        assert not all_three.broken and sorted(seen) == ["customer", "offered"]


def test_a_pending_customer_names_its_id_before_the_record_is_read():
    gate = threading.Event()
    read = start(lambda: {"id": "c-1", "email": "ada@example.com"} if gate.wait(5) else None)
    pending = PendingCustomer("c-1", read)
    assert pending["id"] == "c-1" and not read.done()
    gate.set()
    assert pending.get("email") == "ada@example.com"
    # Another customer's record, or none: nothing but the id.
    for found in ({"id": "c-2", "email": "eve@example.com"}, None):
        other = PendingCustomer("c-1", start(lambda found=found: found))
        assert other.get("email") is None and dict(other) == {"id": "c-1"}


@pytest.mark.parametrize(
    ("provider", "delay", "expected"),
    [
        # deferred, redeemed at the cart, consumed at placement
        ("yotpo", True, (True, True, True)),
        ("yotpo", False, (False, True, False)),
        ("voyado", True, (True, False, False)),
        ("voyado", False, (True, False, False)),
    ],
)
def test_the_provider_difference_is_one_rule_of_capabilities(provider, delay, expected):
    capabilities = {"yotpo": YOTPO_CAPABILITIES, "voyado": VOYADO_CAPABILITIES}[provider]
    mode = redemption_mode(capabilities, CheckoutConfig(delay_points_deduction=delay))
    assert (mode.deferred, mode.redeemed_at_cart, mode.consumed_at_placement) == expected
