"""The checkout names the customer's Yotpo member, not the commercetools id, when
`MEMBER_ID_SOURCE` says so (docs/adr/0010-member-identity.md).

The real service app answers commercetools' extension calls; Yotpo and commercetools are stubbed
at the HTTP boundary (`responses`). The Yotpo stub keys members on the `customer_id` the
platform sent when it created them (https://loyaltyapi.yotpo.com/reference/createupdate-customer-records)
and answers 404 for an id it does not know, as the sandbox stand-in does. Here the member
exists only under its legacy id: a call that names the commercetools id finds nobody.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from service.app import create_app
from service.cancellations import CancelledCodes
from service.extension import CheckoutExtension, member_lookup
from service.order_guard import OrderGuard
from service.settings import ServiceSettings
from shared.domain.checkout.reward_state import seal_key, unseal
from shared.domain.loyalty_fields import CartFields as F
from shared.runtime import build_runtime, commercetools_client
from shared.settings import load_settings
from tests.checkout.http_env import AUTH, CT, ENV, OPTION, SECRET, YOTPO

CT_ID = "ct-customer-1"
LEGACY_ID = "legacy-42"
EMAIL = "ada@example.com"


def _json(status: int, body: Any) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


class FakeYotpo:
    """Members by the id they were created under; redemptions take points from that member."""

    def __init__(self, members: dict[str, int]) -> None:
        self.balances = dict(members)
        self.redemptions: list[dict[str, Any]] = []
        self.named: list[str] = []  # every customer_id a call named

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.GET, f"{YOTPO}/customers", self._customer)
        mock.add_callback(
            responses.GET, re.compile(rf"{re.escape(YOTPO)}/redemption_options.*"), self._options
        )
        mock.add_callback(responses.POST, f"{YOTPO}/redemptions", self._create)
        mock.add_callback(
            responses.POST,
            re.compile(rf"{re.escape(YOTPO)}/redemptions/\d+/cancellation_completed"),
            self._cancel,
        )

    def _member(self, customer_id: str | None) -> str | None:
        if customer_id is not None:
            self.named.append(customer_id)
        return customer_id if customer_id in self.balances else None

    def _customer(self, request: Any) -> tuple[int, dict, str]:
        query = parse_qs(urlsplit(request.url).query)
        member = self._member((query.get("customer_id") or [None])[0])
        if member is None:
            return _json(404, {"error": "customer not found"})
        return _json(200, {"points_balance": self.balances[member]})

    def _options(self, request: Any) -> tuple[int, dict, str]:
        query = parse_qs(urlsplit(request.url).query)
        if query.get("is_offline") == ["true"]:
            return _json(200, [])
        if "customer_id" in query:
            member = self._member(query["customer_id"][0])
            if member is None:
                return _json(404, {"error": "customer not found"})
            return _json(200, [OPTION] if self.balances[member] >= OPTION["amount"] else [])
        return _json(200, [OPTION])

    def _create(self, request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        member = self._member(body.get("customer_id"))
        if member is None:
            return _json(404, {"error": "customer not found"})
        if self.balances[member] < OPTION["amount"]:
            return _json(422, {"error": "not enough points"})
        delayed = bool(body.get("delay_points_deduction"))
        if not delayed:
            self.balances[member] -= OPTION["amount"]
        number = len(self.redemptions) + 1
        self.redemptions.append({**body, "id": number, "reward_text": f"LOY-{number}"})
        return _json(200, {"id": number, "reward_text": f"LOY-{number}", "approved": True})

    def _cancel(self, request: Any) -> tuple[int, dict, str]:
        return _json(200, {"id": int(request.url.rsplit("/", 2)[-2])})


@dataclass
class FakeCommercetools:
    """The customer record (with its legacy id) and the cancelled-codes custom objects."""

    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    customer_reads: list[str] = field(default_factory=list)
    fail_customer_reads_with: int | None = None

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add(
            responses.POST,
            f"{CT}/oauth/token",
            json={"access_token": "t", "expires_in": 172800, "token_type": "Bearer"},
        )
        mock.add_callback(
            responses.GET, re.compile(rf"{re.escape(CT)}/proj/customers/[^/?]+"), self._customer
        )
        mock.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(CT)}/proj/custom-objects/.+"),
            lambda _r: _json(404, {"statusCode": 404, "errors": [{"code": "ResourceNotFound"}]}),
        )
        mock.add_callback(
            responses.POST,
            f"{CT}/proj/custom-objects",
            lambda r: _json(200, {**json.loads(r.body), "version": 1}),
        )

    def _customer(self, request: Any) -> tuple[int, dict, str]:
        customer_id = urlsplit(request.url).path.rsplit("/", 1)[-1]
        self.customer_reads.append(customer_id)
        if self.fail_customer_reads_with:
            return _json(self.fail_customer_reads_with, {"statusCode": 503, "errors": []})
        found = self.customers.get(customer_id)
        if found is None:
            return _json(404, {"statusCode": 404, "errors": [{"code": "ResourceNotFound"}]})
        return _json(200, found)


@dataclass
class Checkout:
    client: Any
    yotpo: FakeYotpo
    ct: FakeCommercetools


def start(mock: responses.RequestsMock, **env: str) -> Checkout:
    yotpo = FakeYotpo({LEGACY_ID: 600})
    ct = FakeCommercetools(
        customers={
            CT_ID: {
                "id": CT_ID,
                "version": 3,
                "email": EMAIL,
                "externalId": LEGACY_ID,
                "custom": {"fields": {"loyaltyMemberId": LEGACY_ID}},
            }
        }
    )
    yotpo.install(mock)
    ct.install(mock)
    app = create_app(load_settings(ServiceSettings, {**ENV, **env}))
    return Checkout(app.test_client(), yotpo, ct)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def money(amount: int) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": amount,
        "fractionDigits": 2,
    }


def cart(cart_id: str, fields: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cart_id,
        "version": 2,
        "customerId": CT_ID,
        "customerEmail": EMAIL,
        "lineItems": [{"id": "li", "quantity": 1, "totalPrice": money(4995)}],
        "totalPrice": money(4995),
        "directDiscounts": [],
    }
    if fields is not None:
        body["custom"] = {"type": {"typeId": "type", "id": "t"}, "fields": fields}
    return body


def call(client: Any, type_id: str, obj: Any, action: str = "Update") -> Any:
    body = {"action": action, "resource": {"typeId": type_id, "id": obj["id"], "obj": obj}}
    return client.post("/service", json=body, headers=AUTH)


def applied(obj: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, Any]:
    """What commercetools does with the answer's setCustomField and setDirectDiscounts."""
    fields = dict(obj["custom"]["fields"])
    for action in actions:
        if action["action"] == "setCustomField":
            if "value" in action:
                fields[action["name"]] = action["value"]
            else:
                fields.pop(action["name"], None)
        elif action["action"] == "setDirectDiscounts":
            obj["directDiscounts"] = action["discounts"]
            off = sum(d["value"]["money"][0]["centAmount"] for d in action["discounts"])
            obj["totalPrice"] = money(4995 - off)
    return {**obj, "custom": {**obj["custom"], "fields": fields}}


def order_of(cart_obj: dict[str, Any], number: str) -> dict[str, Any]:
    return {
        "id": f"o-{number}",
        "orderNumber": number,
        "cart": {"typeId": "cart", "id": cart_obj["id"]},
        "customerId": cart_obj["customerId"],
        "customerEmail": cart_obj["customerEmail"],
        "custom": cart_obj["custom"],
    }


def loyalty_error(answer: Any) -> str:
    return answer.get_json()["errors"][0]["extensionExtraInfo"]["loyaltyError"]


@pytest.mark.parametrize("source", ["externalId", "customField"])
def test_a_legacy_member_redeems_at_checkout_and_the_points_leave_it(mock, source):
    shop = start(mock, MEMBER_ID_SOURCE=source)
    requested = cart("cart-1", {F.REQUESTED_OPTION: "1"})

    answer = call(shop.client, "cart", requested)

    assert answer.status_code == 200, answer.get_json()
    # One commercetools read of the cart's customer, and Yotpo only ever hears the legacy id.
    assert shop.ct.customer_reads == [CT_ID]
    assert shop.yotpo.named and set(shop.yotpo.named) == {LEGACY_ID}
    (created,) = shop.yotpo.redemptions
    assert created["customer_id"] == LEGACY_ID and created["customer_email"] == EMAIL
    cart_1 = applied(requested, answer.get_json()["actions"])
    fields = cart_1["custom"]["fields"]
    assert fields[F.REWARD_CODE] == "LOY-1" and fields[F.REWARD_STATUS] == "applied"
    # The seal binds the reward to the commercetools customer, not to the Yotpo member.
    reward = unseal(fields[F.REWARD_SEAL], "cart-1", seal_key(SECRET))
    assert reward is not None and reward.customer_id == CT_ID
    assert shop.yotpo.balances[LEGACY_ID] == 600  # delayed deduction: nothing taken yet

    # Placing the order consumes the reward on the same member: the points leave it now.
    placed = call(shop.client, "order", order_of(cart_1, "ORD-1"), action="Create")
    assert placed.status_code == 200, placed.get_json()
    consumed = {a["name"]: a.get("value") for a in placed.get_json()["actions"]}
    assert consumed[F.REWARD_STATUS] == "consumed"
    assert shop.yotpo.redemptions[-1]["customer_id"] == LEGACY_ID
    assert shop.yotpo.redemptions[-1]["delay_points_deduction"] is False
    assert shop.yotpo.balances[LEGACY_ID] == 100
    assert set(shop.yotpo.named) == {LEGACY_ID}
    sealed = unseal(consumed[F.REWARD_SEAL], "cart-1", seal_key(SECRET))
    assert sealed is not None and sealed.customer_id == CT_ID


def test_with_immediate_deduction_the_points_leave_the_legacy_member_at_redemption(mock):
    shop = start(mock, MEMBER_ID_SOURCE="externalId", DELAY_POINTS_DEDUCTION="false")
    answer = call(shop.client, "cart", cart("cart-1", {F.REQUESTED_OPTION: "1"}))
    assert answer.status_code == 200, answer.get_json()
    assert shop.yotpo.balances[LEGACY_ID] == 100


def test_by_default_the_commercetools_id_goes_to_yotpo_without_a_customer_read(mock):
    """The default is unchanged: no commercetools read, and a member known only under a
    legacy id is not this customer's (the case MEMBER_ID_SOURCE exists for)."""
    shop = start(mock)
    answer = call(shop.client, "cart", cart("cart-1", {F.REQUESTED_OPTION: "1"}))
    assert answer.status_code == 400
    assert loyalty_error(answer) == "not_eligible"
    assert shop.ct.customer_reads == []
    assert set(shop.yotpo.named) == {CT_ID}
    assert shop.yotpo.redemptions == [] and shop.yotpo.balances[LEGACY_ID] == 600


def test_carts_that_do_not_concern_loyalty_and_kept_rewards_read_no_customer(mock):
    shop = start(mock, MEMBER_ID_SOURCE="externalId")
    plain = call(shop.client, "cart", cart("cart-plain", None))
    other_fields = call(shop.client, "cart", cart("cart-other", {"giftNote": "hi"}))
    assert plain.status_code == 200 and plain.get_json() == {"actions": []}
    assert other_fields.status_code == 200 and other_fields.get_json() == {"actions": []}
    assert shop.ct.customer_reads == [] and shop.yotpo.named == []

    requested = cart("cart-1", {F.REQUESTED_OPTION: "1"})
    cart_1 = applied(requested, call(shop.client, "cart", requested).get_json()["actions"])
    reads, named = list(shop.ct.customer_reads), list(shop.yotpo.named)
    # Later updates of the cart keep the reward: the maintain path asks neither again.
    kept = call(shop.client, "cart", {**cart_1, "version": 5})
    assert kept.status_code == 200
    assert shop.ct.customer_reads == reads and shop.yotpo.named == named


@pytest.mark.parametrize(
    ("status", "expected"),
    [(503, "loyalty_service_unavailable"), (404, "not_eligible")],
)
def test_a_customer_that_cannot_be_read_gets_no_reward_and_yotpo_no_redemption(
    mock, status, expected
):
    shop = start(mock, MEMBER_ID_SOURCE="externalId")
    if status == 404:
        shop.ct.customers.clear()
    else:
        shop.ct.fail_customer_reads_with = status
    answer = call(shop.client, "cart", cart("cart-1", {F.REQUESTED_OPTION: "1"}))
    assert answer.status_code == 400
    assert loyalty_error(answer) == expected
    assert shop.yotpo.redemptions == []
    assert LEGACY_ID not in shop.yotpo.named and CT_ID not in shop.yotpo.named


def test_an_order_whose_customer_cannot_be_read_is_refused_and_nothing_is_spent(mock):
    shop = start(mock, MEMBER_ID_SOURCE="externalId")
    requested = cart("cart-1", {F.REQUESTED_OPTION: "1"})
    cart_1 = applied(requested, call(shop.client, "cart", requested).get_json()["actions"])
    shop.ct.fail_customer_reads_with = 503
    placed = call(shop.client, "order", order_of(cart_1, "ORD-1"), action="Create")
    assert placed.status_code == 400
    assert loyalty_error(placed) == "loyalty_service_unavailable"
    assert len(shop.yotpo.redemptions) == 1  # only the cart's delayed one
    assert shop.yotpo.balances[LEGACY_ID] == 600


def test_the_order_extension_shares_the_checkouts_quick_customer_read(mock):
    """Wired as the service app should wire it (one lookup for the cart and the order
    extensions, on the checkout's commercetools client): an unavailable commercetools costs
    one attempt, not the retries of the app's general client."""
    shop = start(mock, MEMBER_ID_SOURCE="externalId")
    settings = load_settings(ServiceSettings, {**ENV, "MEMBER_ID_SOURCE": "externalId"})
    runtime = build_runtime(settings)
    checkout_ct = commercetools_client(settings, timeout=0.5, max_retries=0)
    members = member_lookup(settings, checkout_ct)
    extension = CheckoutExtension(settings, runtime, CancelledCodes(checkout_ct), members=members)
    orders = OrderGuard(
        extension.config, runtime, CancelledCodes(checkout_ct), 0.8, members=members
    )
    assert extension.members is members

    requested = cart("cart-1", {F.REQUESTED_OPTION: "1"})
    answer = extension.handle(requested)
    assert answer.status == 200, answer.body
    assert shop.yotpo.redemptions[-1]["customer_id"] == LEGACY_ID
    cart_1 = applied(requested, answer.body["actions"])
    shop.ct.customer_reads.clear()
    shop.ct.fail_customer_reads_with = 503
    refused = orders.handle(order_of(cart_1, "ORD-1"))
    assert refused.status == 400
    assert refused.body["errors"][0]["extensionExtraInfo"]["loyaltyError"] == (
        "loyalty_service_unavailable"
    )
    assert shop.ct.customer_reads == [CT_ID]
    assert shop.yotpo.balances[LEGACY_ID] == 600


class FakeYotpoWithEmails(FakeYotpo):
    """Also finds a member by its email (`customer_email`, Fetch Customer Details,
    https://loyaltyapi.yotpo.com/reference/fetch-customer-details): a member Yotpo made from
    guest orders before the customer was synced."""

    def __init__(self, members: dict[str, int], emails: dict[str, str]) -> None:
        super().__init__(members)
        self.emails = emails  # email -> member key

    def _member_of(self, query: dict[str, list[str]], body: dict[str, Any]) -> str | None:
        email = (query.get("customer_email") or [body.get("customer_email")])[0]
        if "customer_id" in query or body.get("customer_id"):
            return self._member((query.get("customer_id") or [body.get("customer_id")])[0])
        return self.emails.get(email) if email else None

    def _customer(self, request: Any) -> tuple[int, dict, str]:
        member = self._member_of(parse_qs(urlsplit(request.url).query), {})
        if member is None:
            return _json(404, {"error": "customer not found"})
        return _json(200, {"points_balance": self.balances[member]})

    def _options(self, request: Any) -> tuple[int, dict, str]:
        query = parse_qs(urlsplit(request.url).query)
        if query.get("is_offline") == ["true"] or not (
            "customer_id" in query or "customer_email" in query
        ):
            return super()._options(request)
        member = self._member_of(query, {})
        if member is None:
            return _json(404, {"error": "customer not found"})
        return _json(200, [OPTION] if self.balances[member] >= OPTION["amount"] else [])

    def _create(self, request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        member = self._member_of({}, body)
        if member is None:
            return _json(404, {"error": "customer not found"})
        if self.balances[member] < OPTION["amount"]:
            return _json(422, {"error": "not enough points"})
        if not body.get("delay_points_deduction"):
            self.balances[member] -= OPTION["amount"]
        number = len(self.redemptions) + 1
        self.redemptions.append({**body, "id": number, "reward_text": f"LOY-{number}"})
        return _json(200, {"id": number, "reward_text": f"LOY-{number}", "approved": True})


def test_a_member_yotpo_knows_only_by_the_records_email_redeems_and_places_the_order(mock):
    """The member id finds nobody; the customer record's own email does (never the cart's).
    The cart and the order name that member the same way, so placing the order consumes the
    reward the cart applied instead of refusing it."""
    yotpo = FakeYotpoWithEmails({"guest-member": 600}, {EMAIL: "guest-member"})
    ct = FakeCommercetools(customers={CT_ID: {"id": CT_ID, "version": 3, "email": EMAIL}})
    yotpo.install(mock)
    ct.install(mock)
    env = {**ENV, "MEMBER_ID_SOURCE": "externalId"}
    client = create_app(load_settings(ServiceSettings, env)).test_client()
    requested = {**cart("cart-1", {F.REQUESTED_OPTION: "1"}), "customerEmail": "x@example.com"}

    answer = call(client, "cart", requested)

    assert answer.status_code == 200, answer.get_json()
    (created,) = yotpo.redemptions
    assert created["customer_email"] == EMAIL and "customer_id" not in created
    cart_1 = applied(requested, answer.get_json()["actions"])
    placed = call(client, "order", order_of(cart_1, "ORD-1"), action="Create")
    assert placed.status_code == 200, placed.get_json()
    consumed = {a["name"]: a.get("value") for a in placed.get_json()["actions"]}
    assert consumed[F.REWARD_STATUS] == "consumed"
    assert yotpo.redemptions[-1]["customer_email"] == EMAIL
    assert yotpo.redemptions[-1]["delay_points_deduction"] is False
    assert yotpo.balances["guest-member"] == 100
