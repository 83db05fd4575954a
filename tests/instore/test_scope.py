"""POS keys stay inside their store: sales are bounded, refunds and reversals are the key's
own, redemption ids are not guessable, limits hold, and answers carry no upstream text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.instore.redemptions import RECORDS_CONTAINER, TOKEN_PATTERN
from tests.instore.conftest import BERLIN_SECRET, MUNICH_SECRET, Pos, Shop, build_app
from tests.instore.test_api import IN_STORE_REWARD, error, sale, yotpo_redemptions
from tests.integration.world import World


def redeem(pos: Pos, customer_id: str, request_id: str) -> Any:
    body = {"request_id": request_id, "customer_id": customer_id, "option_id": IN_STORE_REWARD}
    return pos.post("/redemptions", body)


def test_redemption_ids_are_random_tokens_bound_to_the_redeeming_store(shop: Shop) -> None:
    ada = shop.member("ada@example.com", 5000)
    first = redeem(shop.berlin, ada["id"], "r-1").get_json()
    second = redeem(shop.berlin, ada["id"], "r-2").get_json()
    for answer in (first, second):
        assert TOKEN_PATTERN.match(answer["redemption_id"]), answer
    assert first["redemption_id"] != second["redemption_id"]
    yotpo_ids = {str(r["id"]) for r in yotpo_redemptions(shop.world)}
    assert first["redemption_id"] not in yotpo_ids  # Yotpo's sequential ids are not exposed

    # Another store's key cannot reverse it, nor can anyone reverse by Yotpo's own id.
    stolen = shop.munich.post(
        f"/redemptions/{first['redemption_id']}/reversal", {"request_id": "x"}
    )
    assert stolen.status_code == 404 and error(stolen) == "unknown_redemption"
    for guess in sorted(yotpo_ids):
        walked = shop.berlin.post(f"/redemptions/{guess}/reversal", {"request_id": f"g{guess}"})
        assert walked.status_code == 404 and error(walked) == "unknown_redemption"
    assert shop.balance("ada@example.com") == 3000  # nothing came back

    own = shop.berlin.post(f"/redemptions/{first['redemption_id']}/reversal", {"request_id": "y"})
    assert own.status_code == 200 and own.get_json()["status"] == "reversed"
    assert shop.balance("ada@example.com") == 4000


def test_the_record_names_key_store_and_account(shop: Shop) -> None:
    ada = shop.member("ada@example.com", 5000)
    token = redeem(shop.berlin, ada["id"], "r-1").get_json()["redemption_id"]
    record = shop.world.ct.get_custom_object(RECORDS_CONTAINER, token)
    assert record is not None
    value = record["value"]
    assert (value["keyId"], value["store"]) == ("berlin_till", "berlin")
    assert value["accountGuid"] and value["code"] and value["yotpoRedemptionId"]


def test_an_online_checkout_redemption_cannot_be_reversed_by_a_pos_key(shop: Shop) -> None:
    ada = shop.member("ada@example.com", 5000)
    online = shop.world.yotpo.create_redemption(
        shop.world.env["YOTPO_GUID"],
        {"customer_id": ada["id"], "redemption_option_id": 1, "delay_points_deduction": False},
    )
    response = shop.berlin.post(f"/redemptions/{online['id']}/reversal", {"request_id": "o"})
    assert response.status_code == 404 and error(response) == "unknown_redemption"


def test_sales_over_the_cap_or_above_their_lines_are_refused(world: World) -> None:
    shop = Shop(world, build_app(world, POS_MAX_ORDER_MINOR="100000"))
    big = sale("BIG-1", lines=[{"name": "TV", "quantity": 1, "unit_price_minor": 100_001}])
    over = shop.berlin.post("/orders", big)
    assert over.status_code == 422 and error(over) == "order_over_limit"
    assert over.get_json()["max_order_minor"] == 100000
    inflated = shop.berlin.post("/orders", sale("INF-1", total_minor=1_500_000))
    assert inflated.status_code == 400
    for absurd in (True, "1500", 1500.5, 2**63, 10**30):
        refused = shop.berlin.post("/orders", sale("ABS-1", total_minor=absurd))
        assert refused.status_code == 400, absurd
    assert shop.world.ct.query("orders")["results"] == []


def test_a_refund_must_be_of_the_keys_own_store(shop: Shop) -> None:
    # berlin and munich share one Yotpo account here; still, munich's key may not refund
    # berlin's sale (a leaked key's reach stays one store).
    assert shop.berlin.post("/orders", sale("BER-1")).status_code == 201
    refund = {"request_id": "ref-1", "order_number": "BER-1", "amount_minor": 100}
    foreign = shop.munich.post("/refunds", refund)
    assert foreign.status_code == 404 and error(foreign) == "unknown_order"
    assert shop.berlin.post("/refunds", refund).status_code == 202


def test_redemptions_are_rate_limited_per_key(world: World) -> None:
    shop = Shop(world, build_app(world, POS_REDEMPTIONS_PER_SECOND="0.01"))
    ada = shop.member("ada@example.com", 5000)
    body = {"request_id": "r-1", "customer_id": ada["id"], "option_id": "999"}
    assert shop.berlin.post("/redemptions", body).status_code == 404
    limited = shop.berlin.post("/redemptions", {**body, "request_id": "r-2"})
    assert limited.status_code == 429 and error(limited) == "too_many_redemptions"
    assert int(limited.headers["Retry-After"]) >= 1
    assert shop.munich.post("/redemptions", {**body, "request_id": "r-3"}).status_code == 404


def test_failed_authentications_are_rate_limited_per_address(world: World) -> None:
    shop = Shop(world, build_app(world, POS_FAILED_AUTH_PER_MINUTE="3"))
    wrong = {"Authorization": "Bearer guessed-guessed-guessed"}
    statuses = [
        shop.client.get("/loyalty/customers", query_string={"email": "a@b.co"}, headers=wrong)
        for _ in range(3)
    ]
    assert [r.status_code for r in statuses] == [401, 401, 401]
    blocked = shop.client.get("/loyalty/customers?email=a@b.co", headers=wrong)
    assert blocked.status_code == 429 and error(blocked) == "too_many_failures"
    # While blocked, even a right key from that address gets no verdict.
    right = shop.client.get("/loyalty/customers?email=a@b.co", headers=shop.berlin.headers)
    assert right.status_code == 429
    other = shop.client.get(
        "/loyalty/customers?email=a@b.co",
        headers=shop.berlin.headers,
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert other.status_code == 404


def test_a_key_id_with_a_dash_works(world: World) -> None:
    keys = {"till-1": {"secret": BERLIN_SECRET, "store": "berlin"}}
    shop = Shop(world, build_app(world, POS_API_KEYS=json.dumps(keys)))
    ada = shop.member("ada@example.com", 5000)
    answer = redeem(shop.berlin, ada["id"], "r-1")
    assert answer.status_code == 201
    assert redeem(shop.berlin, ada["id"], "r-1").get_json() == answer.get_json()
    assert shop.balance("ada@example.com") == 4000


@pytest.mark.parametrize(
    ("stored", "country"),
    [
        ("+49 171 765 4321", "DE"),
        ("0171 7654321", "DE"),
        ("01717654321", "DE"),
        ("+49-171-7654321", None),
    ],
)
def test_phone_lookup_finds_numbers_as_they_are_stored(
    shop: Shop, stored: str, country: str | None
) -> None:
    address: dict[str, Any] = {"key": "home", "phone": stored}
    if country:
        address["country"] = country
    else:
        address["country"] = "FR"  # international spelling: the country does not matter
    customer = shop.member("spaced@example.com", 100, addresses=[address])
    found = shop.berlin.get("/customers", phone="+491717654321")
    assert found.status_code == 200, found.get_json()
    assert found.get_json()["customer_id"] == customer["id"]


def test_the_same_national_digits_in_another_country_do_not_match(shop: Shop) -> None:
    shop.member("vienna@example.com", 100, addresses=[{"country": "AT", "phone": "0171 7654321"}])
    assert shop.berlin.get("/customers", phone="+491717654321").status_code == 404


def test_a_spaced_national_mobile_is_found(shop: Shop) -> None:
    member = shop.member(
        "spaced-mobile@example.com", 100, addresses=[{"country": "DE", "mobile": "0151 99999999"}]
    )
    found = shop.berlin.get("/customers", phone="+4915199999999")
    assert found.status_code == 200 and found.get_json()["customer_id"] == member["id"]


def test_refusals_carry_no_upstream_text(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.yotpo.engine import ApiError

    ada = shop.member("ada@example.com", 5000)

    def refuse(guid: str, body: Any) -> Any:
        raise ApiError(422, "internal: account sandbox-guid rule 17 failed for ada@example.com")

    monkeypatch.setattr(shop.world.yotpo, "create_redemption", refuse)
    refused = redeem(shop.berlin, ada["id"], "r-1")
    text = json.dumps(refused.get_json())
    assert refused.status_code == 422 and error(refused) == "redemption_refused"
    for leak in ("internal", "rule 17", "ada@example.com", "Yotpo POST"):
        assert leak not in text


def test_answers_carry_the_security_headers(shop: Shop) -> None:
    for response in (
        shop.berlin.get("/customers", email="nobody@example.com"),
        shop.client.get("/loyalty/associate"),
        shop.client.get("/loyalty/openapi.json"),
    ):
        headers = response.headers
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert "camera=()" in headers["Permissions-Policy"]
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_munich_secret_is_still_a_different_store(shop: Shop) -> None:
    assert Pos(shop.client, MUNICH_SECRET).get("/customers", email="x@y.co").status_code == 404
