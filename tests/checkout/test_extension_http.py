"""The real service app answering commercetools' extension calls, with Yotpo and commercetools
stubbed at the HTTP boundary (`responses`) playing their documented behaviour.

Covers what the stand-ins cannot show on demand: a failure after Yotpo created a redemption,
Yotpo unreachable at order placement, hostile input shapes (never a 500), and the double-spend
story with Yotpo's documented rule (an unconsumed delayed reward is cancelled when the same
customer redeems again, https://support.yotpo.com/docs/omnichannel-store-associate-managed-loyalty-pos-loyalty-interface).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from service.app import create_app
from service.settings import ServiceSettings
from shared.domain.loyalty_fields import CartFields as F
from shared.settings import load_settings

YOTPO = "https://yotpo.test/api/v2"
CT = "https://ct.test"
SECRET = "extension-secret-value"
AUTH = {"Authorization": f"Bearer {SECRET}"}

ENV = {
    "CTP_PROJECT_KEY": "proj",
    "CTP_CLIENT_ID": "id",
    "CTP_CLIENT_SECRET": "secret",
    "CTP_SCOPE": "manage_project:proj",
    "CTP_REGION": "europe-west1.gcp",
    "CTP_API_URL": CT,
    "CTP_AUTH_URL": CT,
    "YOTPO_GUID": "guid",
    "YOTPO_API_KEY": "key",
    "YOTPO_API_URL": YOTPO,
    "YOTPO_RATE_LIMIT_PER_SECOND": "1000",
    "EXTENSION_SECRET": SECRET,
    "REWARD_BASE_CURRENCY": "EUR",
    "LOYALTY_CALL_BUDGET_MS": "800",
    "OIDC_VERIFICATION": "off",
}

OPTION = {"id": 1, "amount": 500, "discount_type": "fixed_amount", "discount_amount_cents": 500}


class FakeYotpo:
    """Yotpo's documented redemption behaviour, as far as the checkout depends on it."""

    def __init__(self, points: int) -> None:
        self.balance = points
        self.redemptions: dict[int, dict[str, Any]] = {}
        self.fail_create_with: int | None = None

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

    def usable(self) -> list[dict[str, Any]]:
        return [r for r in self.redemptions.values() if r["state"] == "active"]

    def _customer(self, request: Any) -> tuple[int, dict, str]:
        return 200, {}, json.dumps({"points_balance": self.balance})

    def _options(self, request: Any) -> tuple[int, dict, str]:
        if "is_offline=true" in request.url:
            return 200, {}, "[]"
        if "customer_id" in request.url:
            return 200, {}, json.dumps([OPTION] if self.balance >= OPTION["amount"] else [])
        return 200, {}, json.dumps([OPTION])

    def _create(self, request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        if self.fail_create_with:
            return self.fail_create_with, {}, json.dumps({"error": "internal detail x9"})
        # The POS guide's rule: redeeming again cancels the customer's unconsumed delayed one.
        for earlier in self.usable():
            if earlier["delayed"] and not earlier["deducted"]:
                earlier["state"] = "cancelled"
        if self.balance < OPTION["amount"]:
            return 422, {}, json.dumps({"error": "not enough points"})
        number = len(self.redemptions) + 1
        delayed = bool(body.get("delay_points_deduction"))
        if not delayed:
            self.balance -= OPTION["amount"]
        self.redemptions[number] = {
            "id": number,
            "reward_text": f"LOY-{number}",
            "delayed": delayed,
            "deducted": not delayed,
            "state": "active",
        }
        return 200, {}, json.dumps({"id": number, "reward_text": f"LOY-{number}", "approved": True})

    def _cancel(self, request: Any) -> tuple[int, dict, str]:
        number = int(request.url.rsplit("/", 2)[-2])
        redemption = self.redemptions[number]
        if json.loads(request.body).get("reward_text") != redemption["reward_text"]:
            return 422, {}, json.dumps({"error": "reward_text mismatch"})
        if redemption["state"] == "active":
            redemption["state"] = "cancelled"
            if redemption["deducted"]:
                self.balance += OPTION["amount"]
        return 200, {}, json.dumps({"id": number})


class FakeCustomObjects:
    """commercetools custom objects (cancelled codes), with its OAuth endpoint."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add(
            responses.POST,
            f"{CT}/oauth/token",
            json={"access_token": "t", "expires_in": 172800, "token_type": "Bearer"},
        )
        mock.add_callback(
            responses.GET, re.compile(rf"{re.escape(CT)}/proj/custom-objects/.+"), self._get
        )
        mock.add_callback(responses.POST, f"{CT}/proj/custom-objects", self._put)

    def _get(self, request: Any) -> tuple[int, dict, str]:
        key = request.path_url.split("/custom-objects/", 1)[1]
        found = self.objects.get(key)
        if found is None:
            missing = {"statusCode": 404, "errors": [{"code": "ResourceNotFound"}]}
            return 404, {}, json.dumps(missing)
        return 200, {}, json.dumps(found)

    def _put(self, request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        key = f"{body['container']}/{body['key']}"
        self.objects[key] = {**body, "version": 1}
        return 200, {}, json.dumps(self.objects[key])


@pytest.fixture
def world() -> Iterator[tuple[Any, FakeYotpo, FakeCustomObjects]]:
    yotpo = FakeYotpo(points=600)
    objects = FakeCustomObjects()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yotpo.install(mock)
        objects.install(mock)
        app = create_app(load_settings(ServiceSettings, ENV))
        yield app.test_client(), yotpo, objects


def money(amount: int, currency: str = "EUR") -> dict[str, Any]:
    digits = {"EUR": 2, "JPY": 0, "KWD": 3}[currency]
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": amount,
        "fractionDigits": digits,
    }


def cart(cart_id: str, fields: dict[str, Any], total: int = 4995) -> dict[str, Any]:
    return {
        "id": cart_id,
        "version": 2,
        "customerId": "cust-1",
        "customerEmail": "dan@example.com",
        "lineItems": [{"id": "li", "quantity": 1, "totalPrice": money(4995)}],
        "totalPrice": money(total),
        "directDiscounts": [],
        "custom": {"type": {"typeId": "type", "id": "t"}, "fields": fields},
    }


def call(client: Any, type_id: str, obj: Any, action: Any = "Update") -> Any:
    body = {"action": action, "resource": {"typeId": type_id, "id": "x", "obj": obj}}
    return client.post("/service", json=body, headers=AUTH)


def apply(obj: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, Any]:
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
    obj["custom"] = {**obj["custom"], "fields": fields}
    if obj.get("directDiscounts"):
        off = sum(d["value"]["money"][0]["centAmount"] for d in obj["directDiscounts"])
        obj["totalPrice"] = money(4995 - off)
    return obj


def order_of(cart_obj: dict[str, Any], number: str) -> dict[str, Any]:
    return {
        "id": f"o-{number}",
        "orderNumber": number,
        "cart": {"typeId": "cart", "id": cart_obj["id"]},
        "customerId": cart_obj["customerId"],
        "customerEmail": cart_obj["customerEmail"],
        "custom": cart_obj["custom"],
    }


def redeem(client: Any, cart_id: str) -> tuple[Any, dict[str, Any]]:
    requested = cart(cart_id, {F.REQUESTED_OPTION: "1"})
    answer = call(client, "cart", requested)
    if answer.status_code != 200:
        return answer, requested
    return answer, apply(requested, answer.get_json()["actions"])


def test_the_double_spend_story_with_yotpos_documented_rule(world):
    client, yotpo, _ = world
    answer, cart_a = redeem(client, "cart-a")
    assert answer.status_code == 200
    assert yotpo.balance == 600  # delayed: nothing taken yet
    placed = call(client, "order", order_of(cart_a, "A"), action="Create")
    assert placed.status_code == 200
    order_a = apply(order_of(cart_a, "A"), placed.get_json()["actions"])
    assert order_a["custom"]["fields"][F.REWARD_STATUS] == "consumed"
    assert yotpo.balance == 100  # spent at placement, whatever the earning trigger

    refused, _ = redeem(client, "cart-b")
    assert refused.status_code == 400
    assert refused.get_json()["errors"][0]["extensionExtraInfo"] == {
        "loyaltyError": "not_enough_points"
    }
    assert [r["reward_text"] for r in yotpo.usable()] == [
        order_a["custom"]["fields"][F.REWARD_CODE]
    ]


def test_an_order_whose_delayed_code_was_superseded_is_repaired_or_refused(world):
    client, yotpo, _ = world
    _, cart_a = redeem(client, "cart-a")
    _, cart_b = redeem(client, "cart-b")  # Yotpo cancels A's unconsumed code
    assert [r["reward_text"] for r in yotpo.usable()] == ["LOY-2"]
    first = call(client, "order", order_of(cart_a, "A"), action="Create")
    assert first.status_code == 200  # repaired: a fresh, immediately deducted redemption
    second = call(client, "order", order_of(cart_b, "B"), action="Create")
    assert second.status_code == 400
    assert second.get_json()["errors"][0]["extensionExtraInfo"] == {
        "loyaltyError": "reward_no_longer_available"
    }
    assert yotpo.balance == 100
    assert len(yotpo.usable()) == 1


def test_an_order_with_a_reward_is_refused_while_yotpo_is_down(world):
    client, yotpo, _ = world
    _, cart_a = redeem(client, "cart-a")
    yotpo.fail_create_with = 503
    answer = call(client, "order", order_of(cart_a, "A"), action="Create")
    assert answer.status_code == 400
    (error,) = answer.get_json()["errors"]
    assert error["extensionExtraInfo"] == {"loyaltyError": "loyalty_service_unavailable"}
    assert "x9" not in json.dumps(error)  # no upstream text reaches the storefront
    assert yotpo.balance == 600


def test_a_failure_after_the_redemption_cancels_it(world, monkeypatch):
    client, yotpo, _ = world
    import service.extension as extension_module

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(extension_module, "redeem_actions", broken)
    answer, _ = redeem(client, "cart-a")
    assert answer.status_code == 400
    assert answer.get_json()["errors"][0]["extensionExtraInfo"] == {
        "loyaltyError": "loyalty_service_unavailable"
    }
    assert len(yotpo.redemptions) == 1 and yotpo.usable() == []  # created, then cancelled


def test_a_removed_reward_is_cancelled_in_yotpo_and_its_seal_cannot_come_back(world):
    client, yotpo, objects = world
    _, applied = redeem(client, "cart-a")
    sealed_fields = dict(applied["custom"]["fields"])
    removed = dict(applied, custom={**applied["custom"], "fields": dict(sealed_fields)})
    removed["custom"]["fields"].pop(F.REQUESTED_OPTION)
    answer = call(client, "cart", removed)
    assert answer.status_code == 200
    assert yotpo.usable() == []  # given back (delayed: no longer held)
    # The shopper puts the old fields and seal back: the code is known to be cancelled.
    for _ in range(50):
        if objects.objects:
            break
        import time

        time.sleep(0.01)
    replayed = call(client, "cart", dict(applied, custom={**applied["custom"]}))
    actions = replayed.get_json()["actions"]
    assert any(
        a["action"] == "setCustomField" and a["name"] == F.REWARD_CODE and "value" not in a
        for a in actions
    )


HOSTILE_CARTS: list[Any] = [
    {"lineItems": "abc"},
    {"lineItems": [1]},
    {"lineItems": [{}]},
    {"lineItems": [{"totalPrice": {"centAmount": 1.5, "currencyCode": "EUR"}}]},
    {"lineItems": [{"totalPrice": {"centAmount": "100", "currencyCode": "EUR"}}]},
    {
        "lineItems": [
            {
                "totalPrice": {
                    "type": "highPrecision",
                    "currencyCode": "EUR",
                    "preciseAmount": 1,
                    "fractionDigits": 10000000,
                }
            }
        ]
    },
    {"totalPrice": "abc"},
    {"custom": "abc"},
    {"custom": {"fields": ["x"]}},
    {"store": "abc"},
    {"customLineItems": [1]},
    {"directDiscounts": "abc"},
    {"directDiscounts": [1]},
    {"directDiscounts": [{"value": {"type": "brandNewKind"}, "target": {"type": "unknown"}}]},
    {"custom": {"type": {}, "fields": {F.REQUESTED_OPTION: "1", F.REQUESTED_POINTS: "1e400"}}},
    {"custom": {"type": {}, "fields": {F.REQUESTED_OPTION: ["1"], F.REWARD_SEAL: 5}}},
    {"custom": {"type": {}, "fields": {F.REQUESTED_OPTION: "x" * 10000}}},
]


@pytest.mark.parametrize("overrides", HOSTILE_CARTS)
def test_no_cart_shape_gets_a_500(world, overrides):
    client, _, _ = world
    body = cart("cart-h", {F.REQUESTED_OPTION: "1"}) | overrides
    answer = call(client, "cart", body)
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    if answer.status_code == 400:
        (error,) = answer.get_json()["errors"]
        assert error["code"] == "InvalidInput"


@pytest.mark.parametrize(
    "raw",
    [
        '{"action": ["Update"], "resource": {"typeId": "cart", "obj": {}}}',
        '{"action": {"a": 1}, "resource": {"typeId": "cart", "obj": {}}}',
        '{"action": "Update", "resource": "abc"}',
        '{"action": "Update", "resource": {"typeId": ["cart"], "obj": {}}}',
        '{"action": "Update", "resource": {"typeId": "cart", "obj": {"lineItems": [1e400]}}}',
        '{"action": "Update", "resource": {"typeId": "cart", "obj": {"x": Infinity}}}',
        '{"action": "Update", "resource": {"typeId": "order", "obj": {}}}',
        "[" * 100000,
    ],
)
def test_no_envelope_shape_gets_a_500(world, raw):
    client, _, _ = world
    answer = client.post("/service", data=raw, content_type="application/json", headers=AUTH)
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)


def test_plain_carts_never_touch_the_network(world):
    client, yotpo, objects = world
    plain = cart("cart-p", {})
    plain["custom"] = None
    answer = call(client, "cart", plain)
    assert answer.status_code == 200 and answer.get_json() == {"actions": []}
    assert yotpo.redemptions == {} and objects.objects == {}


def test_a_reward_detached_by_a_customer_change_is_cancelled_in_yotpo(world):
    client, yotpo, _ = world
    _, applied = redeem(client, "cart-a")
    assert len(yotpo.usable()) == 1
    other = dict(applied, customerId="cust-2", customerEmail="someone@example.com")
    answer = call(client, "cart", other)
    assert answer.status_code == 200
    values = {a["name"]: a.get("value") for a in answer.get_json()["actions"] if "name" in a}
    assert values[F.REWARD_STATUS] == "customer_changed"
    assert yotpo.usable() == []


def test_plain_carts_are_answered_before_flask_with_the_same_headers(world, caplog):
    client, _, _ = world
    plain = cart("cart-p", {F.REFERRAL_CODE: "FRIEND"})
    body = {"action": "Update", "resource": {"typeId": "cart", "id": "x", "obj": plain}}
    with caplog.at_level("INFO"):
        answer = client.post(
            "/service", json=body, headers={**AUTH, "X-Correlation-ID": "ct-123 <evil>"}
        )
    assert answer.status_code == 200 and answer.get_json() == {"actions": []}
    assert answer.headers["X-Correlation-ID"] == "ct-123evil"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"
    assert not [r for r in caplog.records if getattr(r, "json_fields", {}).get("path")]
    # Wrong credentials and bad bodies still meet the app's own refusals.
    wrong = client.post("/service", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    bad = client.post("/service", data=b"{", content_type="application/json", headers=AUTH)
    assert bad.status_code == 400
    text = client.post("/service", data=json.dumps(body), content_type="text/plain", headers=AUTH)
    assert text.status_code == 415


def test_with_immediate_deduction_an_order_whose_code_was_cancelled_is_refused():
    yotpo = FakeYotpo(points=600)
    objects = FakeCustomObjects()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yotpo.install(mock)
        objects.install(mock)
        env = {**ENV, "DELAY_POINTS_DEDUCTION": "false"}
        client = create_app(load_settings(ServiceSettings, env)).test_client()
        answer, applied = redeem(client, "cart-i")
        assert answer.status_code == 200 and yotpo.balance == 100  # spent at redemption
        placed = call(client, "order", order_of(applied, "I-1"), action="Create")
        assert placed.status_code == 200 and placed.get_json() == {"actions": []}
        code = applied["custom"]["fields"][F.REWARD_CODE]
        objects.objects[f"yotpo-loyalty-cancelled-codes/{code}"] = {
            "container": "yotpo-loyalty-cancelled-codes",
            "key": code,
            "value": {"code": code},
            "version": 1,
        }
        refused = call(client, "order", order_of(applied, "I-2"), action="Create")
        assert refused.status_code == 400
        assert refused.get_json()["errors"][0]["extensionExtraInfo"] == {
            "loyaltyError": "reward_no_longer_available"
        }
