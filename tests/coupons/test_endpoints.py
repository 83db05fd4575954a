"""The Create/Cancel Coupons URLs at the HTTP boundary: the real blueprint, commercetools
stubbed with `responses` (tests/coupons/fakes.py)."""

from __future__ import annotations

import json

import pytest
import responses

from service.coupons import CANCEL_PATH, CREATE_PATH, CouponSettings, register_coupons
from shared.domain.checkout.coupons import ISSUED_CONTAINER, code_key
from shared.webapp import create_base_app
from tests.coupons.fakes import FakeCommercetools

SECRET = "coupon-secret-0123456789"
REWARDS = {
    "11": {"kind": "fixed", "amount": {"EUR": 500, "JPY": 700}, "minimum": {"EUR": 2000}},
    "12": {"kind": "percentage", "percentBp": 1000, "stacking": "stop", "sortOrder": "0.51"},
    "13": {"kind": "free_shipping", "store": "berlin"},
    "14": {"kind": "variable", "amount": {"EUR": 5000}},
}


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeCommercetools(mock)


@pytest.fixture
def client(fake: FakeCommercetools):
    settings = CouponSettings.model_validate(
        {"yotpo_coupon_secret": SECRET, "coupon_rewards": json.dumps(REWARDS)}
    )
    app = create_base_app("service")
    register_coupons(app, settings, fake.client())
    return app.test_client()


def create(client, body: dict, secret: str | None = SECRET, in_body: bool = True):
    headers = {"X-Api-Secret": secret} if secret is not None else {}
    payload = {**body, **({"secret": secret} if in_body and secret is not None else {})}
    return client.post(CREATE_PATH, json=payload, headers=headers)


def ada(fake: FakeCommercetools, **extra) -> dict:
    customer = fake.add_customer("ada@example.com")
    return {
        "redemption_option_id": 11,
        "currency": "EUR",
        "discount_amount_cents": 500,
        "coupon_code": "YOTPO-AB12CD",
        "customer_id": customer["id"],
        "customer_email": "ada@example.com",
        **extra,
    }


def test_create_makes_a_single_use_code_bound_to_the_customer(client, fake):
    body = ada(fake)
    answer = create(client, body)
    assert answer.status_code == 200, answer.json
    assert answer.json["coupon_code"] == "YOTPO-AB12CD"
    assert answer.json["discount_amount_cents"] == 500
    (code,) = fake.resources["discount-codes"].values()
    assert code["code"] == "YOTPO-AB12CD"
    assert code["maxApplications"] == 1
    assert code["cartPredicate"] == f'customerId = "{body["customer_id"]}"'
    assert code["validFrom"] < code["validUntil"]
    (discount,) = fake.resources["cart-discounts"].values()
    assert code["cartDiscounts"] == [{"typeId": "cart-discount", "id": discount["id"]}]
    assert discount["requiresDiscountCode"] is True
    assert discount["target"] == {"type": "totalPrice"}
    money = {m["currencyCode"]: m for m in discount["value"]["money"]}
    # Minor units in each currency's own digits: 5.00 EUR, ¥700.
    assert money["EUR"] == {"currencyCode": "EUR", "centAmount": 500}
    assert money["JPY"] == {"currencyCode": "JPY", "centAmount": 700}
    assert '(currency = "EUR" and totalPrice >= "20.00 EUR")' in discount["cartPredicate"]
    record = fake.custom_objects[(ISSUED_CONTAINER, code_key("YOTPO-AB12CD"))]["value"]
    assert record["customerId"] == body["customer_id"]
    assert "ada@example.com" not in json.dumps(record)


def test_yotpo_retrying_the_same_request_creates_nothing_new(client, fake):
    body = ada(fake)
    first = create(client, body)
    again = create(client, body)
    assert again.status_code == 200 and again.json == first.json
    assert len(fake.resources["discount-codes"]) == 1
    assert fake.created("discount-codes") == 1
    assert fake.created("cart-discounts") == 1


def test_cart_discount_is_made_once_per_reward_and_reused(client, fake):
    for n in range(3):
        assert create(client, ada(fake, coupon_code=f"YOTPO-{n:06d}")).status_code == 200
    assert len(fake.resources["discount-codes"]) == 3
    assert len(fake.resources["cart-discounts"]) == 1
    ids = {c["cartDiscounts"][0]["id"] for c in fake.resources["discount-codes"].values()}
    assert len(ids) == 1


def test_record_write_failing_after_the_code_exists_is_completed_on_retry(client, fake):
    body = ada(fake)
    real = fake._custom_object
    calls = {"n": 0}

    def flaky(method, rest, payload):
        if method == "POST" and calls["n"] == 0:
            calls["n"] += 1
            return 503, {}, json.dumps({"statusCode": 503, "message": "down", "errors": []})
        return real(method, rest, payload)

    fake._custom_object = flaky
    assert create(client, body).status_code == 503
    assert len(fake.resources["discount-codes"]) == 1  # made, but not yet recorded
    answer = create(client, body)
    assert answer.status_code == 200 and answer.json["coupon_code"] == "YOTPO-AB12CD"
    assert len(fake.resources["discount-codes"]) == 1


def test_a_replay_with_another_meaning_is_refused(client, fake):
    body = ada(fake)
    assert create(client, body).status_code == 200
    other = fake.add_customer("eve@example.com")
    forged = {**body, "customer_id": other["id"], "customer_email": "eve@example.com"}
    answer = create(client, forged)
    assert answer.status_code == 409 and answer.json["error"] == "coupon_conflict"
    assert len(fake.resources["discount-codes"]) == 1


@pytest.mark.parametrize(
    ("headers", "body_secret"),
    [
        ({}, None),
        ({"X-Api-Secret": "wrong-secret-0123456789"}, None),
        ({"X-Api-Secret": SECRET}, "wrong-secret-0123456789"),
        ({}, "wrong-secret-0123456789"),
    ],
)
def test_a_forged_request_is_401_and_creates_nothing(client, fake, headers, body_secret):
    body = ada(fake)
    if body_secret is not None:
        body["secret"] = body_secret
    answer = client.post(CREATE_PATH, json=body, headers=headers)
    assert answer.status_code == 401
    assert fake.created("discount-codes") == 0 and fake.created("cart-discounts") == 0


def test_the_secret_in_the_header_alone_or_body_alone_is_enough(client, fake):
    assert create(client, ada(fake), in_body=False).status_code == 200
    body = {**ada(fake, coupon_code="YOTPO-BODYONLY"), "secret": SECRET}
    assert client.post(CREATE_PATH, json=body).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"redemption_option_id": 99}, 422, "unknown_option"),
        ({"currency": "USD"}, 422, "currency_not_supported"),
        ({"discount_amount_cents": 50000}, 422, "amount_mismatch"),
        ({"discount_amount_cents": 5.0}, 400, "invalid_request"),
        ({"currency": "euro"}, 400, "invalid_request"),
        ({"coupon_code": "bad code!"}, 400, "invalid_request"),
        ({"coupon_code": None, "redemption_id": None}, 400, "invalid_request"),
        ({"customer_id": None, "customer_email": None}, 400, "invalid_request"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(client, fake, change, status, error):
    body = {k: v for k, v in {**ada(fake), **change}.items() if v is not None}
    answer = create(client, body)
    assert answer.status_code == status, answer.json
    assert answer.json["error"] == error
    assert fake.created("discount-codes") == 0 and fake.created("cart-discounts") == 0


def test_not_json_is_400_never_500(client, fake):
    answer = client.post(
        CREATE_PATH, data="[1, 2]", headers={"X-Api-Secret": SECRET}, content_type="text/plain"
    )
    assert answer.status_code == 400


def test_without_a_code_the_connector_derives_one_per_redemption(client, fake):
    body = ada(fake, coupon_code=None, redemption_id="r-77")
    body.pop("coupon_code")
    first = create(client, body)
    again = create(client, body)
    other = create(client, {**body, "redemption_id": "r-78"})
    assert first.status_code == 200 and first.json == again.json
    assert first.json["coupon_code"].startswith("YL-")
    assert other.json["coupon_code"] != first.json["coupon_code"]
    assert len(fake.resources["discount-codes"]) == 2


def test_unknown_customer_gets_an_unbound_code(client, fake):
    body = {**ada(fake), "customer_id": "not-a-ct-customer", "customer_email": "x@example.com"}
    assert create(client, body).status_code == 200
    (code,) = fake.resources["discount-codes"].values()
    assert "cartPredicate" not in code


def test_customer_found_by_email_when_yotpo_has_no_id(client, fake):
    body = ada(fake)
    body.pop("customer_id")
    assert create(client, body).status_code == 200
    (code,) = fake.resources["discount-codes"].values()
    (customer,) = fake.resources["customers"].values()
    assert code["cartPredicate"] == f'customerId = "{customer["id"]}"'


def test_percentage_and_free_shipping_and_variable_rewards(client, fake):
    base = ada(fake)
    base.pop("discount_amount_cents")
    assert (
        create(client, {**base, "redemption_option_id": 12, "coupon_code": "P-0001"}).status_code
        == 200
    )
    assert (
        create(client, {**base, "redemption_option_id": 13, "coupon_code": "S-0001"}).status_code
        == 200
    )
    var = {**base, "redemption_option_id": 14, "discount_amount_cents": 1500}
    assert create(client, {**var, "coupon_code": "V-0001"}).status_code == 200
    assert create(client, {**var, "coupon_code": "V-0002"}).status_code == 200
    too_much = create(client, {**var, "coupon_code": "V-0003", "discount_amount_cents": 5001})
    assert too_much.status_code == 422
    discounts = {d["key"]: d for d in fake.resources["cart-discounts"].values()}
    assert discounts["yotpo-reward-12"]["value"] == {"type": "relative", "permyriad": 1000}
    assert discounts["yotpo-reward-12"]["stackingMode"] == "StopAfterThisDiscount"
    assert discounts["yotpo-reward-12"]["sortOrder"] == "0.51"
    assert discounts["yotpo-reward-13"]["target"] == {"type": "shipping"}
    assert discounts["yotpo-reward-13"]["stores"] == [{"typeId": "store", "key": "berlin"}]
    assert set(discounts) == {"yotpo-reward-12", "yotpo-reward-13", "yotpo-reward-14-EUR-1500"}
    assert len({d["sortOrder"] for d in discounts.values()}) == 3


def test_cancel_deactivates_unused_and_reports_used(client, fake):
    create(client, ada(fake, coupon_code="YOTPO-UNUSED"))
    create(client, ada(fake, coupon_code="YOTPO-USED01"))
    used = next(c for c in fake.resources["discount-codes"].values() if c["code"] == "YOTPO-USED01")
    fake.used_codes.add(used["id"])
    answer = client.post(
        CANCEL_PATH,
        json={"coupon_codes": ["YOTPO-UNUSED", "YOTPO-USED01", "SOMEONE-ELSES"], "secret": SECRET},
        headers={"X-Api-Secret": SECRET},
    )
    assert answer.status_code == 200
    assert answer.json["results"] == [
        {"coupon_code": "YOTPO-UNUSED", "status": "cancelled"},
        {"coupon_code": "YOTPO-USED01", "status": "used"},
        {"coupon_code": "SOMEONE-ELSES", "status": "not_found"},
    ]
    states = {c["code"]: c["isActive"] for c in fake.resources["discount-codes"].values()}
    assert states == {"YOTPO-UNUSED": False, "YOTPO-USED01": True}
    again = client.post(
        CANCEL_PATH, json={"coupon_code": "YOTPO-UNUSED"}, headers={"X-Api-Secret": SECRET}
    )
    assert again.json["results"] == [{"coupon_code": "YOTPO-UNUSED", "status": "already_cancelled"}]
    # A cancelled code is not brought back by a late create retry.
    late = create(client, ada(fake, coupon_code="YOTPO-UNUSED"))
    assert late.status_code == 409


def test_cancel_needs_the_secret_and_codes(client, fake):
    assert client.post(CANCEL_PATH, json={"coupon_code": "X-0001"}).status_code == 401
    answer = client.post(CANCEL_PATH, json={}, headers={"X-Api-Secret": SECRET})
    assert answer.status_code == 400


def test_unconfigured_endpoints_answer_404(fake):
    app = create_base_app("service")
    register_coupons(app, CouponSettings.model_validate({}), fake.client())
    answer = app.test_client().post(CREATE_PATH, json={}, headers={"X-Api-Secret": "x"})
    assert answer.status_code == 404 and answer.json["error"] == "not_configured"


def test_a_form_post_is_read_like_json(client, fake):
    body = {k: str(v) for k, v in ada(fake).items()}
    answer = client.post(CREATE_PATH, data={**body, "secret": SECRET})
    assert answer.status_code == 200, answer.json
    assert answer.json["discount_amount_cents"] == 500
