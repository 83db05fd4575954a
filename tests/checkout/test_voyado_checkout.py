"""Voyado reward vouchers at checkout, through the real service app: commercetools' extension
calls on carts and new orders of a store Voyado serves, answered against the Voyado stand-in
(`sandbox.voyado`, built from Voyado's documentation) over HTTP. commercetools is stubbed at
the HTTP boundary (`responses`): the customer record, custom objects, the orders query.

The story (docs/adr/0095-voyado-vouchers-at-checkout.md): the cart validates the voucher and
applies it sealed, Voyado is not asked to redeem anything; placement asks Voyado again and
claims the voucher for the cart; redeem after payment is the event app's (redemption_ops)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from sandbox.voyado import FakeClock, SandboxConfig, TenantConfig, VoyadoServer
from service.app import create_app
from service.settings import ServiceSettings
from service.voucher_claims import VOUCHER_CLAIMS_CONTAINER
from shared.domain.checkout.reward_state import seal_key, unseal
from shared.domain.loyalty_fields import CartFields as F
from shared.settings import load_settings
from shared.voyado import VoyadoClient
from tests.checkout.answers import apply_answer
from tests.checkout.http_env import AUTH, CT, ENV, SECRET
from tests.checkout.test_extension_http import FakeCustomObjects

KEY = "checkout-voyado-key"
STORE = "nordic"
OTHER_VOUCHER = "0f2b6c1e-9a4d-4e5f-8a7b-0c1d2e3f4a5b"


class Shop:
    def __init__(self, client: Any, voyado: VoyadoServer, objects: FakeCustomObjects) -> None:
        self.client = client
        self.voyado = voyado
        self.objects = objects
        self.api = VoyadoClient(voyado.url, KEY)
        # The commercetools customer records (GET /customers/{id}).
        self.customers: dict[str, dict[str, Any]] = {}
        self.orders: list[dict[str, Any]] = []

    def member(
        self, customer_id: str, email: str, *, external: bool = True, points: int = 600
    ) -> str:
        """A contact with `points`: each 500 become one 50 SEK voucher (step model)."""
        self.customers[customer_id] = {"id": customer_id, "version": 1, "email": email}
        attributes = {"email": email, **({"externalId": customer_id} if external else {})}
        contact_id = self.voyado.seed_contact(**attributes)["id"]
        rows = [
            {
                "contactId": contact_id,
                "amount": points,
                "definitionId": 1,
                "timeStamp": "2026-12-01T09:00:00+00:00",
                "source": "test",
                "description": "welcome points",
            }
        ]
        self.api.add_point_transactions(rows, idempotency_key=f"seed-{customer_id}")
        return contact_id

    def vouchers(self, contact_id: str) -> list[dict[str, Any]]:
        return self.api.available_vouchers(contact_id)

    def voyado_calls(self, since: int = 0) -> list[dict[str, Any]]:
        return [
            r for r in self.voyado.engine.requests_since(since) if "/api/" in str(r.get("path"))
        ]

    def seq(self) -> int:
        found = self.voyado.engine.requests_since(0)
        return found[-1]["seq"] if found else 0


@pytest.fixture
def shop() -> Iterator[Shop]:
    config = SandboxConfig(
        tenants=[TenantConfig(name="shop", api_keys=[KEY], stores=["ecom-1"], currency="SEK")]
    )
    with VoyadoServer(config, clock=FakeClock()) as voyado:
        providers = {
            STORE: {
                "provider": "voyado",
                "baseUrl": voyado.url,
                "apiKey": KEY,
                "storeExternalId": "ecom-1",
                "rateLimitPerSecond": 200,
            }
        }
        env = {**ENV, "LOYALTY_PROVIDERS": json.dumps(providers)}
        objects = FakeCustomObjects()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(voyado.url)
            objects.install(mock)
            holder: dict[str, Shop] = {}

            def customer(request: Any) -> tuple[int, dict, str]:
                found = holder["shop"].customers.get(request.path_url.rsplit("/", 1)[-1])
                if found is None:
                    return 404, {}, json.dumps({"statusCode": 404, "errors": []})
                return 200, {}, json.dumps(found)

            def orders(request: Any) -> tuple[int, dict, str]:
                results = holder["shop"].orders
                return 200, {}, json.dumps({"results": results, "count": len(results)})

            mock.add_callback(
                responses.GET, re.compile(rf"{re.escape(CT)}/proj/customers/[^/?]+"), customer
            )
            mock.add_callback(responses.GET, re.compile(rf"{re.escape(CT)}/proj/orders.*"), orders)
            app = create_app(load_settings(ServiceSettings, env))
            holder["shop"] = Shop(app.test_client(), voyado, objects)
            yield holder["shop"]


def sek(amount: int) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": "SEK",
        "centAmount": amount,
        "fractionDigits": 2,
    }


def cart(
    cart_id: str,
    requested: str | None,
    *,
    merchandise: int = 10000,
    customer: str | None = "cust-1",
    email: str = "jane@example.com",
    currency: str = "SEK",
) -> dict[str, Any]:
    money = sek(merchandise) | {"currencyCode": currency}
    fields = {F.REQUESTED_OPTION: requested} if requested else {}
    body: dict[str, Any] = {
        "id": cart_id,
        "version": 2,
        "customerEmail": email,
        "store": {"typeId": "store", "key": STORE},
        "lineItems": [{"id": "li", "quantity": 1, "totalPrice": money}],
        "totalPrice": money,
        "directDiscounts": [],
        "custom": {"type": {"typeId": "type", "id": "t"}, "fields": fields},
    }
    if customer:
        body["customerId"] = customer
    return body


def call(shop: Shop, type_id: str, obj: Any, action: str = "Update") -> Any:
    body = {"action": action, "resource": {"typeId": type_id, "id": obj["id"], "obj": obj}}
    return shop.client.post("/service", json=body, headers=AUTH)


def apply(obj: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, Any]:
    off = apply_answer(obj, actions)
    merchandise = obj["lineItems"][0]["totalPrice"]["centAmount"]
    obj["totalPrice"] = sek(merchandise - off)
    return obj


def order_of(cart_obj: dict[str, Any], number: str) -> dict[str, Any]:
    return {
        "id": f"o-{number}",
        "orderNumber": number,
        "cart": {"typeId": "cart", "id": cart_obj["id"]},
        "customerId": cart_obj.get("customerId"),
        "customerEmail": cart_obj["customerEmail"],
        "store": cart_obj["store"],
        "custom": cart_obj["custom"],
    }


def error_of(answer: Any) -> str:
    assert answer.status_code == 400, answer.get_json()
    return answer.get_json()["errors"][0]["extensionExtraInfo"]["loyaltyError"]


def applied_cart(shop: Shop, cart_id: str, voucher_id: str) -> dict[str, Any]:
    requested = cart(cart_id, voucher_id)
    answer = call(shop, "cart", requested)
    assert answer.status_code == 200, answer.get_json()
    return apply(requested, answer.get_json()["actions"])


# --- the cart ----------------------------------------------------------------------------------


def test_a_voucher_is_applied_sealed_and_nothing_is_redeemed(shop):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    before = shop.seq()
    done = applied_cart(shop, "cart-1", voucher["id"])
    fields = done["custom"]["fields"]
    assert done["directDiscounts"][0]["value"]["money"] == [
        {"currencyCode": "SEK", "centAmount": 5000}
    ]
    assert done["totalPrice"]["centAmount"] == 5000
    assert fields[F.REWARD_STATUS] == "applied"
    sealed = unseal(fields[F.REWARD_SEAL], "cart-1", seal_key(SECRET))
    assert sealed is not None
    assert (sealed.option_id, sealed.redemption_id, sealed.amount) == (
        voucher["id"],
        voucher["id"],
        5000,
    )
    assert (sealed.points, sealed.delayed, sealed.customer_id) == (0, False, "cust-1")
    # Found by customKey (the member id as externalId), then listed: no redeem.
    paths = [(r["method"], r["path"]) for r in shop.voyado_calls(before)]
    assert paths == [
        ("GET", "/api/v3/contacts/id"),
        ("GET", "/api/v3/reward-vouchers/available"),
    ]
    assert [v["id"] for v in shop.vouchers(contact)] == [voucher["id"]]

    # Keeping it applied costs nothing in Voyado; taking it off neither (nothing to undo).
    before = shop.seq()
    again = call(shop, "cart", done)
    assert again.status_code == 200 and again.get_json()["actions"] == []
    done["custom"]["fields"].pop(F.REQUESTED_OPTION)
    removed = call(shop, "cart", done)
    assert removed.status_code == 200
    assert apply(done, removed.get_json()["actions"])["directDiscounts"] == []
    assert shop.voyado_calls(before) == []


def test_another_voucher_replaces_the_first_one_discount(shop):
    contact = shop.member("cust-1", "jane@example.com", points=1100)
    first, second = shop.vouchers(contact)
    done = applied_cart(shop, "cart-2", first["id"])
    done["custom"]["fields"][F.REQUESTED_OPTION] = second["id"]
    answer = call(shop, "cart", done)
    assert answer.status_code == 200
    swapped = apply(done, answer.get_json()["actions"])
    assert len(swapped["directDiscounts"]) == 1 and swapped["totalPrice"]["centAmount"] == 5000
    assert swapped["custom"]["fields"][F.REDEMPTION_ID] == second["id"]
    assert len(shop.vouchers(contact)) == 2  # neither is redeemed


def test_a_cart_without_loyalty_fields_of_a_voyado_store_makes_no_call(shop):
    before = shop.seq()
    answer = call(shop, "cart", cart("cart-plain", None))
    assert answer.status_code == 200 and answer.get_json() == {"actions": []}
    assert shop.voyado_calls(before) == []


def test_the_contact_is_found_by_the_customer_records_email_not_the_carts(shop):
    contact = shop.member("cust-2", "sam@example.com", external=False)
    (voucher,) = shop.vouchers(contact)
    shop.member("cust-3", "eve@example.com", external=False)
    # Eve writes Sam's email on her cart and asks for Sam's voucher: her record is Eve's.
    forged = cart("cart-eve", voucher["id"], customer="cust-3", email="sam@example.com")
    assert error_of(call(shop, "cart", forged)) == "not_eligible"
    # Sam's own cart, whatever email the cart shows, finds Sam through his record.
    own = cart("cart-sam", voucher["id"], customer="cust-2", email="typo@example.com")
    assert call(shop, "cart", own).status_code == 200


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"requested": "12"}, "unknown_option"),
        ({"requested": OTHER_VOUCHER}, "not_eligible"),
        ({"merchandise": 4999}, "below_minimum"),
        ({"currency": "EUR"}, "currency_not_supported"),
        ({"customer": None}, "customer_required"),
        ({"customer": "cust-unknown"}, "not_eligible"),
    ],
)
def test_refusals_carry_the_checkouts_codes(shop, change, error):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    requested = change.pop("requested", voucher["id"])
    before = shop.seq()
    answer = call(shop, "cart", cart("cart-r", requested, **change))
    assert error_of(answer) == error
    if error in ("unknown_option", "customer_required"):
        assert shop.voyado_calls(before) == []  # refused before any call
    assert [v["id"] for v in shop.vouchers(contact)] == [voucher["id"]]


def test_voyado_unreachable_refuses_within_the_budget(shop):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    shop.voyado.engine.set_faults({"hang_next": 5, "hang_seconds": 5})
    answer = call(shop, "cart", cart("cart-h", voucher["id"]))
    assert error_of(answer) == "loyalty_service_unavailable"


def test_a_used_voucher_is_no_longer_offered(shop):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    shop.api.redeem_voucher(voucher["id"])  # used in a store
    assert error_of(call(shop, "cart", cart("cart-u", voucher["id"]))) == "not_eligible"


# --- order placement ---------------------------------------------------------------------------


def test_placement_revalidates_and_claims_the_voucher(shop):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    cart_a = applied_cart(shop, "cart-a", voucher["id"])
    placed = call(shop, "order", order_of(cart_a, "A"), action="Create")
    assert placed.status_code == 200 and placed.get_json() == {"actions": []}
    (claim,) = shop.objects.of(VOUCHER_CLAIMS_CONTAINER)
    assert claim["value"]["cartId"] == "cart-a" and claim["key"] == voucher["id"]
    # Still not redeemed: that waits for the payment.
    assert [v["id"] for v in shop.vouchers(contact)] == [voucher["id"]]
    # A retried placement of the same cart keeps its claim.
    assert call(shop, "order", order_of(cart_a, "A2"), action="Create").status_code == 200

    # Another cart with the same voucher: applied at the cart, refused at placement.
    cart_b = applied_cart(shop, "cart-b", voucher["id"])
    shop.orders = [{"id": "o-A", "orderState": "Open", "cart": {"id": "cart-a"}}]
    refused = call(shop, "order", order_of(cart_b, "B"), action="Create")
    assert error_of(refused) == "reward_no_longer_available"


def test_a_voucher_used_since_the_cart_refuses_the_order(shop):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    cart_a = applied_cart(shop, "cart-a", voucher["id"])
    shop.api.redeem_voucher(voucher["id"])
    refused = call(shop, "order", order_of(cart_a, "A"), action="Create")
    assert error_of(refused) == "reward_no_longer_available"
    assert shop.objects.of(VOUCHER_CLAIMS_CONTAINER) == []


def test_placement_fails_closed_when_voyado_is_down(shop):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    cart_a = applied_cart(shop, "cart-a", voucher["id"])
    shop.voyado.engine.set_faults({"error_next": 10, "error_status": 503})
    refused = call(shop, "order", order_of(cart_a, "A"), action="Create")
    assert error_of(refused) == "loyalty_service_unavailable"


def test_forged_reward_fields_on_a_voyado_order_are_refused(shop):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    forged = cart("cart-f", voucher["id"])
    forged["custom"]["fields"][F.REDEMPTION_ID] = voucher["id"]
    refused = call(shop, "order", order_of(forged, "F"), action="Create")
    assert error_of(refused) == "reward_no_longer_available"


@pytest.mark.parametrize(
    ("orders", "outcome"),
    [
        ([], 200),  # cart A's placement was refused after the answer: no order
        ([{"id": "o-A", "orderState": "Cancelled"}], 200),  # cancelled, voucher available
        ([{"id": "o-A", "orderState": "Open"}], 400),
    ],
)
def test_a_settled_claim_without_a_live_order_is_taken_over(shop, orders, outcome):
    contact = shop.member("cust-1", "jane@example.com")
    (voucher,) = shop.vouchers(contact)
    cart_a = applied_cart(shop, "cart-a", voucher["id"])
    assert call(shop, "order", order_of(cart_a, "A"), action="Create").status_code == 200
    cart_b = applied_cart(shop, "cart-b", voucher["id"])
    shop.orders = orders
    # Within the settle window the claim holds whatever the orders say (A may be in flight).
    assert error_of(call(shop, "order", order_of(cart_b, "B"), action="Create")) == (
        "reward_no_longer_available"
    )
    (claim,) = shop.objects.of(VOUCHER_CLAIMS_CONTAINER)
    claim["value"]["claimedAt"] = "2026-11-30T00:00:00+00:00"
    answer = call(shop, "order", order_of(cart_b, "B"), action="Create")
    assert answer.status_code == outcome, answer.get_json()
    (claim,) = shop.objects.of(VOUCHER_CLAIMS_CONTAINER)
    assert claim["value"]["cartId"] == ("cart-b" if outcome == 200 else "cart-a")
