"""The loyalty API's rules, through HTTP, against both stand-ins: access, lookups, redemptions,
sales and refunds — and that every refusal leaves commercetools and Yotpo unchanged."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from service.instore import orders as orders_module
from service.instore.replays import CONTAINER, RequestLog
from shared.domain.customers.customer_sync import FIELD_PHONE_NUMBER
from shared.logs import configure_logging
from shared.settings import SettingsError
from tests.instore.conftest import BERLIN_SECRET, MUNICH_SECRET, Pos, Shop, build_app
from tests.integration.world import GUID, World

IN_STORE_REWARD = "4"  # 1000 points for 10.00 off, in stores
ONLINE_REWARD = "1"  # 500 points for 5.00 off
VARIABLE_REWARD = "3"  # 1 point per cent


def yotpo_redemptions(world: World) -> list[dict[str, Any]]:
    return world.yotpo_account()["redemptions"]


def custom_objects(world: World) -> list[dict[str, Any]]:
    return world.ct.query("custom-objects", where=f'container = "{CONTAINER}"')["results"]


def error(response: Any) -> str:
    return response.get_json()["error"]


def sale(number: str, **overrides: Any) -> dict[str, Any]:
    return {
        "request_id": f"sale-{number}",
        "order_number": number,
        "email": "walk-in@example.com",
        "currency": "EUR",
        "lines": [{"sku": "SKU-MUG", "name": "Mug", "quantity": 1, "unit_price_minor": 1500}],
        **overrides,
    }


# --- access ----------------------------------------------------------------------------------
def test_every_api_call_needs_a_known_key(shop: Shop) -> None:
    for headers in ({}, {"Authorization": "Bearer nope-nope-nope-nope"}, {"Authorization": "x"}):
        response = shop.client.get("/loyalty/customers?email=a@example.com", headers=headers)
        assert response.status_code == 401 and error(response) == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = shop.client.post("/loyalty/refunds", json={}, headers={})
    assert response.status_code == 401


def test_bodies_that_are_not_json_objects_are_a_400(shop: Shop) -> None:
    for data in ("not json", "[1, 2]", ""):
        response = shop.client.post(
            "/loyalty/orders",
            data=data,
            content_type="application/json",
            headers=shop.berlin.headers,
        )
        assert response.status_code == 400 and response.is_json, data


def test_the_description_and_the_page_need_no_key(shop: Shop) -> None:
    assert shop.client.get("/loyalty/openapi.json").status_code == 200
    page = shop.client.get("/loyalty/associate")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    nonce = csp.split("'nonce-")[1].split("'")[0]
    html = page.get_data(as_text=True)
    assert f'<script nonce="{nonce}">' in html and "{{nonce}}" not in html
    assert "http://" not in html and "https://" not in html  # no CDN, nothing external
    assert page.headers["Cache-Control"] == "no-store"


def test_without_keys_the_api_says_it_is_not_configured(world: World) -> None:
    client = build_app(world, POS_API_KEYS="").test_client()
    response = client.get("/loyalty/customers?email=a@example.com")
    assert response.status_code == 404 and error(response) == "not_configured"
    assert client.get("/loyalty/openapi.json").status_code == 200


def test_a_key_for_a_store_without_a_yotpo_account_stops_start_up(world: World) -> None:
    accounts = {"berlin": {"guid": GUID, "apiKey": "sandbox-api-key", "apiUrl": "http://x"}}
    env = {"YOTPO_GUID": "", "YOTPO_API_KEY": "", "YOTPO_ACCOUNTS": json.dumps(accounts)}
    with pytest.raises(SettingsError, match="munich"):
        build_app(world, **env)


# --- lookups ---------------------------------------------------------------------------------
def test_lookup_by_phone_from_addresses_or_the_loyalty_field(shop: Shop) -> None:
    world = shop.world
    world.ct.create(
        "types",
        {
            "key": "customer-loyalty",
            "name": {"en": "Customer loyalty"},
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [
                {
                    "name": FIELD_PHONE_NUMBER,
                    "type": {"name": "String"},
                    "required": False,
                    "label": {"en": "Phone"},
                }
            ],
        },
    )
    by_address = shop.member(
        "mobile@example.com", 10, addresses=[{"country": "DE", "mobile": "+4917612345678"}]
    )
    by_field = shop.member(
        "field@example.com",
        20,
        custom={
            "type": {"typeId": "type", "key": "customer-loyalty"},
            "fields": {FIELD_PHONE_NUMBER: "+4915199999999"},
        },
    )
    found = shop.berlin.get("/customers", phone="+4917612345678")
    assert found.status_code == 200 and found.get_json()["customer_id"] == by_address["id"]
    # An unencoded "+" arrives as a space; the API still reads the number.
    raw = shop.client.get("/loyalty/customers?phone=+4915199999999", headers=shop.berlin.headers)
    assert raw.status_code == 200 and raw.get_json()["customer_id"] == by_field["id"]
    assert raw.get_json()["points_balance"] == 20
    assert "+4915199999999" not in raw.get_data(as_text=True)


@pytest.mark.parametrize("phone", ["017612345678", "+0176", "4917612345678", "+49 abc", ""])
def test_a_phone_that_is_not_e164_is_a_400(shop: Shop, phone: str) -> None:
    response = shop.berlin.get("/customers", phone=phone)
    assert response.status_code == 400 and error(response) == "invalid_phone"


def test_one_phone_for_several_customers_lists_masked_candidates(shop: Shop) -> None:
    phone = [{"country": "DE", "phone": "+4930123456"}]
    first = shop.member("first.person@example.com", 0, addresses=phone)
    second = shop.member("second.person@example.com", 0, addresses=phone)
    response = shop.berlin.get("/customers", phone="+4930123456")
    assert response.status_code == 409 and error(response) == "ambiguous_customer"
    candidates = response.get_json()["candidates"]
    assert {c["customer_id"] for c in candidates} == {first["id"], second["id"]}
    assert {c["email"] for c in candidates} == {"f***@example.com", "s***@example.com"}
    text = response.get_data(as_text=True)
    assert "person@" not in text and "+4930123456" not in text
    chosen = shop.berlin.get(f"/customers/{second['id']}")
    assert chosen.status_code == 200 and chosen.get_json()["email"] == "s***@example.com"


def test_lookup_refusals(shop: Shop) -> None:
    shop.world.ct.create("customers", {"email": "ghost@example.com", "password": "x"})
    cases = [
        ({}, 400, "invalid_query"),
        ({"email": "a@example.com", "phone": "+491"}, 400, "invalid_query"),
        ({"email": "not-an-email"}, 400, "invalid_email"),
        ({"email": "nobody@example.com"}, 404, "unknown_customer"),
        ({"email": "ghost@example.com"}, 404, "not_a_member"),
    ]
    for params, status, code in cases:
        response = shop.berlin.get("/customers", **params)
        assert (response.status_code, error(response)) == (status, code), params
    assert shop.berlin.get("/customers/no-such-id").status_code == 404
    assert shop.berlin.get("/customers/bad%20id/rewards").status_code == 404


def test_customers_of_another_store_are_not_visible(shop: Shop) -> None:
    munich_only = shop.member("local@example.com", 5, stores=[{"key": "munich"}])
    assert shop.berlin.get("/customers", email="local@example.com").status_code == 404
    assert shop.berlin.get(f"/customers/{munich_only['id']}").status_code == 404
    assert shop.munich.get("/customers", email="local@example.com").status_code == 200


def test_lookups_are_rate_limited_per_key(world: World) -> None:
    client = build_app(world, POS_LOOKUPS_PER_SECOND="0.01").test_client()
    berlin, munich = Pos(client, BERLIN_SECRET), Pos(client, MUNICH_SECRET)
    assert berlin.get("/customers", email="a@example.com").status_code == 404
    limited = berlin.get("/customers", email="a@example.com")
    assert limited.status_code == 429 and error(limited) == "too_many_lookups"
    assert int(limited.headers["Retry-After"]) >= 1
    assert munich.get("/customers", email="a@example.com").status_code == 404


def test_rewards_are_those_usable_now_and_offline_filters(shop: Shop) -> None:
    customer = shop.member("rich@example.com", 1200)
    every = shop.berlin.get(f"/customers/{customer['id']}/rewards").get_json()
    assert [r["id"] for r in every["rewards"]] == ["1", "2", "3", "4"]
    in_store = shop.berlin.get(f"/customers/{customer['id']}/rewards", offline="true").get_json()
    (reward,) = in_store["rewards"]
    # Asked with Yotpo's `is_offline=true` filter, whose answer carries fewer fields (no
    # currency); what the till needs is there.
    shown = {k: reward[k] for k in ("id", "name", "description", "points", "kind", "offline")}
    assert shown == {
        "id": "4",
        "name": "€10 in-store reward",
        "description": "€10 off in our stores",
        "points": 1000,
        "kind": "fixed",
        "offline": True,
    }
    assert reward["amount_minor"] == 1000 and reward["cost_text"].lower() == "1000 points"
    poor = shop.member("poor@example.com", 600)
    assert (
        shop.berlin.get(f"/customers/{poor['id']}/rewards", offline="true").get_json()["rewards"]
        == []
    )


# --- redemptions -----------------------------------------------------------------------------
def test_a_retried_redemption_gives_the_same_code_and_deducts_once(shop: Shop) -> None:
    customer = shop.member("retry@example.com", 2500)
    body = {"request_id": "red-1", "customer_id": customer["id"], "option_id": IN_STORE_REWARD}
    first = shop.berlin.post("/redemptions", body)
    again = shop.berlin.post("/redemptions", body)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert shop.balance("retry@example.com") == 1500
    assert len(yotpo_redemptions(shop.world)) == 1

    reused = shop.berlin.post("/redemptions", {**body, "option_id": ONLINE_REWARD})
    assert reused.status_code == 409 and error(reused) == "request_id_reused"
    # The same request id from another store's key is another request.
    other = shop.munich.post("/redemptions", body)
    assert other.status_code == 201 and other.get_json()["code"] != first.get_json()["code"]
    assert shop.balance("retry@example.com") == 500


def test_a_duplicate_that_loses_the_race_returns_the_winners_code(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = shop.member("race@example.com", 3000)
    body = {"request_id": "red-race", "customer_id": customer["id"], "option_id": IN_STORE_REWARD}
    winner = shop.berlin.post("/redemptions", body).get_json()

    # The duplicate looked before the winner stored its answer: it redeems too, then loses the
    # create-only write.
    real_recall = RequestLog.recall
    calls = {"n": 0}

    def late_recall(self: RequestLog, *args: Any) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_recall(self, *args)

    monkeypatch.setattr(RequestLog, "recall", late_recall)
    loser = shop.berlin.post("/redemptions", body)
    assert loser.status_code == 201 and loser.get_json() == winner
    redemptions = yotpo_redemptions(shop.world)
    assert [r["status"] for r in redemptions] == ["active", "cancelled"]
    assert shop.balance("race@example.com") == 2000  # charged once


def test_a_redemption_that_cannot_be_recorded_is_given_back(shop: Shop) -> None:
    customer = shop.member("down@example.com", 1000)
    # commercetools fails the write of the answer (500 on a write is not retried).
    shop.world.ct_state.set_faults(
        faults_for("POST", "/sandbox/custom-objects", status=500, count=1)
    )
    body = {"request_id": "red-down", "customer_id": customer["id"], "option_id": IN_STORE_REWARD}
    response = shop.berlin.post("/redemptions", body)
    assert response.status_code == 503 and error(response) == "unavailable"
    assert response.headers["Retry-After"]
    assert shop.balance("down@example.com") == 1000
    assert [r["status"] for r in yotpo_redemptions(shop.world)] == ["cancelled"]
    retried = shop.berlin.post("/redemptions", body)
    assert retried.status_code == 201 and shop.balance("down@example.com") == 0


def faults_for(method: str, prefix: str, *, status: int, count: int) -> Any:
    from sandbox.commercetools.state import Faults

    return Faults(error_next=count, error_status=status, path_prefix=prefix, method=method)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"option_id": "99"}, 404, "unknown_option"),
        ({"option_id": ONLINE_REWARD, "points": 7}, 400, "invalid_points"),
        ({"option_id": IN_STORE_REWARD}, 422, "not_enough_points"),
        ({"option_id": VARIABLE_REWARD}, 400, "invalid_points"),
        ({"option_id": VARIABLE_REWARD, "points": 900}, 422, "not_enough_points"),
        ({"option_id": "abc"}, 400, "invalid_request"),
        ({"option_id": ONLINE_REWARD, "currency": "GBP"}, 422, "currency_not_enabled"),
        ({"option_id": ONLINE_REWARD, "customer_id": "nobody"}, 404, "unknown_customer"),
        ({"option_id": ONLINE_REWARD, "request_id": "has space"}, 400, "invalid_request"),
        ({"option_id": ONLINE_REWARD, "tip": 1}, 400, "invalid_request"),
    ],
)
def test_redemption_refusals_change_nothing(
    shop: Shop, body: dict[str, Any], status: int, code: str
) -> None:
    customer = shop.member("careful@example.com", 800)
    request = {"request_id": "red-x", "customer_id": customer["id"], **body}
    response = shop.berlin.post("/redemptions", request)
    assert (response.status_code, error(response)) == (status, code), response.get_json()
    assert shop.balance("careful@example.com") == 800
    assert yotpo_redemptions(shop.world) == [] and custom_objects(shop.world) == []


def test_a_variable_reward_spends_the_points_asked_for(shop: Shop) -> None:
    customer = shop.member("var@example.com", 800)
    body = {
        "request_id": "red-v",
        "customer_id": customer["id"],
        "option_id": VARIABLE_REWARD,
        "points": 250,
    }
    response = shop.berlin.post("/redemptions", body)
    assert response.status_code == 201
    assert response.get_json()["amount_minor"] == 250 and response.get_json()["points"] == 250
    assert shop.balance("var@example.com") == 550


def test_reversal_gives_points_back_once_and_used_codes_stay_used(shop: Shop) -> None:
    customer = shop.member("undo@example.com", 2000)
    redeem = {"request_id": "red-u", "customer_id": customer["id"], "option_id": IN_STORE_REWARD}
    code = shop.berlin.post("/redemptions", redeem).get_json()
    reversal = f"/redemptions/{code['redemption_id']}/reversal"
    first = shop.berlin.post(reversal, {"request_id": "rev-1"})
    again = shop.berlin.post(reversal, {"request_id": "rev-1"})
    assert first.status_code == again.status_code == 200
    assert first.get_json() == {
        "redemption_id": code["redemption_id"],
        "status": "reversed",
        "points": 1000,
    }
    assert shop.balance("undo@example.com") == 2000

    used = shop.berlin.post("/redemptions", {**redeem, "request_id": "red-u2"}).get_json()
    shop.berlin.post("/orders", sale("BER-U", email="undo@example.com", reward_code=used["code"]))
    shop.deliver(shop.order("BER-U")["id"])
    used_reversal = f"/redemptions/{used['redemption_id']}/reversal"
    refused = shop.berlin.post(used_reversal, {"request_id": "r"})
    assert refused.status_code == 409 and error(refused) == "not_reversible"
    for path in ("/redemptions/424242/reversal", "/redemptions/abc/reversal"):
        missing = shop.berlin.post(path, {"request_id": "rev-404"})
        assert missing.status_code == 404 and error(missing) == "unknown_redemption"


# --- sales -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"lines": []}, 400, "invalid_request"),
        ({"customer_id": "c-1"}, 400, "invalid_request"),
        ({"total_minor": 0}, 400, "invalid_request"),
        ({"currency": "US"}, 400, "invalid_request"),
        ({"email": None, "customer_id": "no-such-customer"}, 404, "unknown_customer"),
        ({"currency": "GBP"}, 422, "currency_not_enabled"),
    ],
)
def test_sale_refusals_import_nothing(
    shop: Shop, overrides: dict[str, Any], status: int, code: str
) -> None:
    if overrides.get("email", "") is None:
        overrides = {k: v for k, v in overrides.items() if k != "email"}
        body = {k: v for k, v in sale("BER-X").items() if k != "email"}
    else:
        body = sale("BER-X")
    response = shop.berlin.post("/orders", {**body, **overrides})
    assert (response.status_code, error(response)) == (status, code), response.get_json()
    assert shop.world.ct.query("orders")["results"] == []


def test_a_guest_sale_is_imported_with_the_email_only(shop: Shop) -> None:
    response = shop.berlin.post("/orders", sale("BER-G"))
    assert response.status_code == 201
    order = shop.order("BER-G")
    assert order["customerEmail"] == "walk-in@example.com" and "customerId" not in order
    shop.deliver(order["id"])
    assert shop.world.yotpo_customer("walk-in@example.com")["points_balance"] == 15


def test_an_order_number_in_use_for_another_sale_is_a_conflict(shop: Shop) -> None:
    assert shop.berlin.post("/orders", sale("BER-C")).status_code == 201
    different = shop.berlin.post("/orders", sale("BER-C", total_minor=999))
    assert different.status_code == 409 and error(different) == "order_number_taken"
    other_store = shop.munich.post("/orders", sale("BER-C"))
    assert other_store.status_code == 409
    assert len(shop.world.ct.query("orders")["results"]) == 1


def test_a_concurrent_import_of_the_same_sale_answers_the_existing_order(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = shop.berlin.post("/orders", sale("BER-R")).get_json()
    real_find = orders_module.find_order
    calls = {"n": 0}

    def late_find(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_find(*args, **kwargs)

    monkeypatch.setattr(orders_module, "find_order", late_find)
    again = shop.berlin.post("/orders", sale("BER-R"))
    assert again.status_code == 200 and again.get_json() == first
    assert len(shop.world.ct.query("orders")["results"]) == 1


# --- refunds ---------------------------------------------------------------------------------
def test_refund_refusals_record_nothing(shop: Shop) -> None:
    assert shop.berlin.post("/orders", sale("BER-F")).status_code == 201
    cases = [
        ({"amount_minor": 0}, 400, "invalid_request"),
        ({"amount_minor": -100}, 400, "invalid_request"),
        ({"amount_minor": 1501}, 422, "refund_exceeds_refundable"),
        ({"order_number": "NOPE-1"}, 404, "unknown_order"),
    ]
    for overrides, status, code in cases:
        body = {"request_id": "ref-x", "order_number": "BER-F", "amount_minor": 100, **overrides}
        response = shop.berlin.post("/refunds", body)
        assert (response.status_code, error(response)) == (status, code), overrides
    assert shop.world.ct.query("payments")["results"] == []
    assert shop.berlin.get("/orders/NOPE-1").status_code == 404


def test_a_request_id_reused_with_another_amount_is_a_conflict(shop: Shop) -> None:
    shop.berlin.post("/orders", sale("BER-A"))
    body = {"request_id": "ref-a", "order_number": "BER-A", "amount_minor": 100}
    assert shop.berlin.post("/refunds", body).status_code == 202
    reused = shop.berlin.post("/refunds", {**body, "amount_minor": 200})
    assert reused.status_code == 409 and error(reused) == "request_id_reused"


def test_concurrent_refunds_never_exceed_what_was_paid(shop: Shop) -> None:
    shop.berlin.post("/orders", sale("BER-P", total_minor=1000))
    statuses: list[int] = []
    lock = threading.Lock()

    def refund(n: int) -> None:
        client = shop.app.test_client()
        response = client.post(
            "/loyalty/refunds",
            json={"request_id": f"par-{n}", "order_number": "BER-P", "amount_minor": 400},
            headers={"Authorization": f"Bearer {BERLIN_SECRET}"},
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202, 202, 422, 422, 422, 422]
    (payment,) = shop.order("BER-P")["paymentInfo"]["payments"]
    assert [t["amount"]["centAmount"] for t in payment["obj"]["transactions"]] == [400, 400]


@pytest.fixture
def two_programs(world: World) -> Iterator[Shop]:
    """Munich runs its own Yotpo program; Berlin and online orders use the default one."""
    world.yotpo.put_account({"guid": "munich-guid", "api_key": "munich-api-key"})
    api = world.env["YOTPO_API_URL"]
    accounts = {
        "default": {"guid": GUID, "apiKey": "sandbox-api-key", "apiUrl": api},
        "munich": {"guid": "munich-guid", "apiKey": "munich-api-key", "apiUrl": api},
    }
    env = {"YOTPO_GUID": "", "YOTPO_API_KEY": "", "YOTPO_ACCOUNTS": json.dumps(accounts)}
    yield Shop(world, build_app(world, **env))


def test_orders_are_refunded_only_where_their_points_are(two_programs: Shop) -> None:
    shop = two_programs
    assert shop.berlin.post("/orders", sale("BER-1")).status_code == 201
    refund = {"request_id": "ref-m", "order_number": "BER-1", "amount_minor": 100}
    foreign = shop.munich.post("/refunds", refund)
    assert foreign.status_code == 404 and error(foreign) == "unknown_order"
    assert shop.munich.get("/orders/BER-1").status_code == 404
    # An online order (no store) may be returned in any shop of its own Yotpo account; munich
    # runs another account, whose key must not take points back from the default program.
    storefront = shop.world.storefront
    cart = storefront.cart([("SKU-MUG", 1)], email="online@example.com")
    storefront.pay(storefront.place_order(cart, order_number="WEB-9"))
    other_account = shop.munich.post("/refunds", {**refund, "order_number": "WEB-9"})
    assert other_account.status_code == 404 and error(other_account) == "unknown_order"
    assert shop.munich.get("/orders/WEB-9").status_code == 404
    online = shop.berlin.post("/refunds", {**refund, "order_number": "WEB-9"})
    assert online.status_code == 202


# --- logs ------------------------------------------------------------------------------------
@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("service", secrets=[BERLIN_SECRET], stream=stream)
    yield stream
    configure_logging("service")


def test_every_write_is_logged_with_key_and_correlation_id(
    shop: Shop, log_stream: io.StringIO
) -> None:
    customer = shop.member("logged.customer@example.com", 1000)
    headers = {**shop.berlin.headers, "X-Correlation-ID": "corr-pos-1"}
    redeem = {"request_id": "log-1", "customer_id": customer["id"], "option_id": IN_STORE_REWARD}
    code = shop.client.post("/loyalty/redemptions", json=redeem, headers=headers).get_json()
    shop.client.post(
        f"/loyalty/redemptions/{code['redemption_id']}/reversal",
        json={"request_id": "log-2"},
        headers=headers,
    )
    shop.client.post("/loyalty/orders", json=sale("BER-L"), headers=headers)
    shop.client.post(
        "/loyalty/refunds",
        json={"request_id": "log-3", "order_number": "BER-L", "amount_minor": 100},
        headers=headers,
    )
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.strip()]
    events = {line["event"]: line for line in lines if line.get("event", "").startswith("pos.")}
    assert set(events) == {"pos.redemption", "pos.reversal", "pos.order", "pos.refund"}
    for line in events.values():
        assert line["key_id"] == "berlin_till" and line["correlation_id"] == "corr-pos-1"
    text = log_stream.getvalue()
    assert BERLIN_SECRET not in text and "logged.customer@" not in text


def test_with_a_known_base_currency_the_till_refuses_amounts_in_another(shop: Shop) -> None:
    # The desk as the app builds it, told the program's base currency (REWARD_BASE_CURRENCY):
    # a fixed reward in USD would be the EUR figure read as cents of USD (ADR 0023, 0090).
    from service.instore.access import Principal
    from service.instore.commerce import CustomerDirectory
    from service.instore.models import RedemptionRequest
    from service.instore.problems import Problem
    from service.instore.redemptions import RedemptionDesk
    from shared.runtime import build_runtime
    from shared.settings import load_settings
    from tests.instore.conftest import Settings, shop_env

    runtime = build_runtime(load_settings(Settings, shop_env(shop.world)))
    ct = runtime.commercetools
    desk = RedemptionDesk(runtime, CustomerDirectory(ct), RequestLog(ct), base_currency="EUR")
    customer = shop.member("abroad@example.com", 2000)
    till = Principal("berlin_till", "berlin")

    def redeem(request_id: str, currency: str) -> Any:
        body = {
            "request_id": request_id,
            "customer_id": customer["id"],
            "option_id": IN_STORE_REWARD,
            "currency": currency,
        }
        return desk.redeem(till, RedemptionRequest.model_validate(body))

    with pytest.raises(Problem) as refused:
        redeem("abroad-usd", "USD")
    assert (refused.value.status, refused.value.code) == (422, "currency_not_supported")
    assert shop.balance("abroad@example.com") == 2000 and yotpo_redemptions(shop.world) == []
    answer = redeem("abroad-eur", "EUR")
    assert answer.status == 201 and answer.body["amount_minor"] == 1000
    assert shop.balance("abroad@example.com") == 1000
