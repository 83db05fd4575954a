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
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from service.app import create_app
from service.install import ORDER_TRIGGER_CONDITION, TRIGGER_CONDITION
from service.settings import ServiceSettings
from shared.domain.loyalty_fields import OWNED_CART_FIELDS
from shared.domain.loyalty_fields import CartFields as F
from shared.settings import load_settings
from tests.checkout.answers import apply_answer
from tests.checkout.http_env import AUTH, CT, ENV, OPTION, YOTPO


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
    """commercetools custom objects, with its OAuth endpoint. Writes honour `version` as the
    API does: 0 only creates, a stale one is a 409 ConcurrentModification
    (https://docs.commercetools.com/api/projects/custom-objects#create-or-update-customobject).
    `before_put` (key prefix, hook) lets a test act between the connector's read and its write
    of an object (a race)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.reads: list[str] = []
        self.before_put: Any = None
        self.fail_puts_with: int | None = None
        self.fail_gets_with: tuple[str, int] | None = None

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

    def of(self, container: str) -> list[dict[str, Any]]:
        return [o for k, o in self.objects.items() if k.startswith(f"{container}/")]

    def _get(self, request: Any) -> tuple[int, dict, str]:
        key = request.path_url.split("/custom-objects/", 1)[1]
        self.reads.append(key)
        if self.fail_gets_with and key.startswith(self.fail_gets_with[0]):
            return self.fail_gets_with[1], {}, json.dumps({"statusCode": self.fail_gets_with[1]})
        found = self.objects.get(key)
        if found is None:
            missing = {"statusCode": 404, "errors": [{"code": "ResourceNotFound"}]}
            return 404, {}, json.dumps(missing)
        return 200, {}, json.dumps(found)

    def _put(self, request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        key = f"{body['container']}/{body['key']}"
        if self.before_put is not None and key.startswith(self.before_put[0]):
            (_, hook), self.before_put = self.before_put, None
            hook(key)
        if self.fail_puts_with:
            return self.fail_puts_with, {}, json.dumps({"statusCode": self.fail_puts_with})
        existing = self.objects.get(key)
        current = existing["version"] if existing else 0
        expected = body.pop("version", None)
        if existing is not None and expected is not None and expected != current:
            conflict = {"code": "ConcurrentModification", "currentVersion": current}
            return 409, {}, json.dumps({"statusCode": 409, "errors": [conflict]})
        self.objects[key] = {**body, "version": current + 1}
        return (201 if existing is None else 200), {}, json.dumps(self.objects[key])


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
    off = apply_answer(obj, actions)
    if obj.get("directDiscounts"):
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


# --- consumption is idempotent per cart (docs/adr/0022) ------------------------------------
CONSUMPTIONS = "yotpo-loyalty-consumptions"


def eventually(check: Any, seconds: float = 5.0) -> None:
    """Wait for work the guard does after answering (giving back a surplus redemption)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not done in time"
        time.sleep(0.02)


def consumed_code(answer: Any) -> str:
    actions = {a["name"]: a.get("value") for a in answer.get_json()["actions"]}
    assert actions[F.REWARD_STATUS] == "consumed"
    return str(actions[F.REWARD_CODE])


def test_a_retried_placement_of_a_refused_order_reuses_the_consumed_redemption(world):
    """commercetools refused the first order after the extension answered (nothing tells the
    extension): the retry of the same cart gets the same code, and no points are spent twice."""
    client, yotpo, objects = world
    _, cart_a = redeem(client, "cart-a")
    first = call(client, "order", order_of(cart_a, "A"), action="Create")
    assert first.status_code == 200 and yotpo.balance == 100
    (record,) = objects.of(CONSUMPTIONS)
    assert record["value"]["status"] == "pending"
    assert record["value"]["cartId"] == "cart-a"
    assert record["value"]["code"] == consumed_code(first)
    created = len(yotpo.redemptions)

    again = call(client, "order", order_of(cart_a, "A2"), action="Create")

    assert again.status_code == 200
    assert consumed_code(again) == consumed_code(first)
    assert len(yotpo.redemptions) == created  # Yotpo was not asked again
    assert yotpo.balance == 100
    assert [r["reward_text"] for r in yotpo.usable()] == [consumed_code(first)]
    (touched,) = objects.of(CONSUMPTIONS)
    assert touched["version"] == 2 and touched["value"]["status"] == "pending"


def test_a_released_record_is_not_reused_and_the_retry_redeems_again(world):
    client, yotpo, objects = world
    yotpo.balance = 1100
    _, cart_a = redeem(client, "cart-a")
    first = call(client, "order", order_of(cart_a, "A"), action="Create")
    (key,) = [k for k in objects.objects if k.startswith(f"{CONSUMPTIONS}/")]
    objects.objects[key]["value"]["status"] = "released"  # the sweep gave it back
    again = call(client, "order", order_of(cart_a, "A2"), action="Create")
    assert again.status_code == 200
    assert consumed_code(again) != consumed_code(first)
    assert objects.objects[key]["value"]["code"] == consumed_code(again)
    assert objects.objects[key]["value"]["status"] == "pending"


def test_a_lost_race_cancels_its_own_redemption_and_answers_with_the_winners(world):
    """Two placements of one cart at once (commercetools answers one of them 409): both read
    no record, both redeem; the second to record gives its redemption back."""
    client, yotpo, objects = world
    yotpo.balance = 1100
    _, cart_a = redeem(client, "cart-a")
    winner = call(client, "order", order_of(cart_a, "A"), action="Create")
    (key,) = [k for k in objects.objects if k.startswith(f"{CONSUMPTIONS}/")]
    winners_record = objects.objects.pop(key)  # as if not yet written when the loser read
    objects.before_put = (
        CONSUMPTIONS,
        lambda put_key: objects.objects.__setitem__(put_key, winners_record),
    )

    loser = call(client, "order", order_of(cart_a, "A-409"), action="Create")

    assert loser.status_code == 200
    assert consumed_code(loser) == consumed_code(winner)
    assert objects.objects[key] == winners_record  # the winner's record stands
    eventually(lambda: yotpo.balance == 600)  # the loser's 500 came back
    assert [r["reward_text"] for r in yotpo.usable()] == [consumed_code(winner)]
    assert len(yotpo.redemptions) == 3  # delayed, winner's, loser's (cancelled)


def test_a_consumption_that_cannot_be_recorded_is_given_back_and_the_order_refused(world):
    client, yotpo, objects = world
    _, cart_a = redeem(client, "cart-a")
    objects.fail_puts_with = 503
    answer = call(client, "order", order_of(cart_a, "A"), action="Create")
    assert answer.status_code == 400
    assert answer.get_json()["errors"][0]["extensionExtraInfo"] == {
        "loyaltyError": "loyalty_service_unavailable"
    }
    eventually(lambda: yotpo.balance == 600)
    assert objects.of(CONSUMPTIONS) == [] and yotpo.usable() == []
    objects.fail_puts_with = None
    placed = call(client, "order", order_of(cart_a, "A"), action="Create")
    assert placed.status_code == 200 and yotpo.balance == 100


def test_the_consumption_record_cannot_be_read_refuses_the_order_before_yotpo(world):
    client, yotpo, objects = world
    _, cart_a = redeem(client, "cart-a")
    created = len(yotpo.redemptions)
    objects.fail_gets_with = (CONSUMPTIONS, 503)
    answer = call(client, "order", order_of(cart_a, "A"), action="Create")
    assert answer.status_code == 400
    assert answer.get_json()["errors"][0]["extensionExtraInfo"] == {
        "loyaltyError": "loyalty_service_unavailable"
    }
    assert len(yotpo.redemptions) == created and yotpo.balance == 600


def test_orders_without_a_sealed_reward_never_read_the_consumption_record(world):
    client, yotpo, objects = world
    plain = order_of(cart("cart-p", {}), "P")
    plain["custom"] = None
    assert call(client, "order", plain, action="Create").get_json() == {"actions": []}
    requested = order_of(cart("cart-q", {F.REQUESTED_OPTION: "1"}), "Q")
    assert call(client, "order", requested, action="Create").get_json() == {"actions": []}
    assert objects.reads == [] and yotpo.redemptions == {}


# --- every connector-owned field wakes the extension (service/install.py) ------------------
@pytest.mark.parametrize("name", OWNED_CART_FIELDS)
def test_each_owned_field_alone_wakes_both_triggers_and_plain_resources_do_not(name):
    from sandbox.commercetools import predicates

    with_field = {"custom": {"type": {"typeId": "type", "id": "t"}, "fields": {name: "x"}}}
    for condition in (TRIGGER_CONDITION, ORDER_TRIGGER_CONDITION):
        assert predicates.matches(condition, with_field)
        assert not predicates.matches(condition, {"custom": None})
        assert not predicates.matches(condition, {})
    asking = {"custom": {"fields": {F.REQUESTED_OPTION: "1"}}}
    assert predicates.matches(TRIGGER_CONDITION, asking)
    assert not predicates.matches(ORDER_TRIGGER_CONDITION, asking)


@pytest.mark.parametrize("name", [F.REWARD_AMOUNT, F.REWARD_KIND, F.REWARD_CUSTOMER])
def test_an_order_with_a_forged_owned_field_is_refused_without_asking_yotpo(world, name):
    client, yotpo, objects = world
    forged = order_of(cart("cart-f", {name: "500"}), "F")
    answer = call(client, "order", forged, action="Create")
    assert answer.status_code == 400
    assert answer.get_json()["errors"][0]["extensionExtraInfo"] == {
        "loyaltyError": "reward_no_longer_available"
    }
    assert yotpo.redemptions == {} and objects.reads == []


def test_a_recorded_redemption_cancelled_since_is_not_reused(world):
    """A cancellation request Yotpo sent for the held code was approved meanwhile (the
    webhook receiver records the code): the retry redeems afresh instead."""
    client, yotpo, objects = world
    _, cart_a = redeem(client, "cart-a")
    first = call(client, "order", order_of(cart_a, "A"), action="Create")
    code = consumed_code(first)
    (held,) = [r for r in yotpo.redemptions.values() if r["reward_text"] == code]
    held["state"] = "cancelled"
    yotpo.balance += OPTION["amount"]
    objects.objects[f"yotpo-loyalty-cancelled-codes/{code}"] = {
        "container": "yotpo-loyalty-cancelled-codes",
        "key": code,
        "value": {"code": code},
        "version": 1,
    }
    again = call(client, "order", order_of(cart_a, "A2"), action="Create")
    assert again.status_code == 200
    assert consumed_code(again) != code
    (record,) = objects.of(CONSUMPTIONS)
    assert record["value"]["code"] == consumed_code(again)
    assert yotpo.balance == 100
