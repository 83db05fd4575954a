"""The pure core of widget coupons: configuration, request checks, drafts, ownership."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.checkout.coupons import (
    CodeOwner,
    CouponError,
    RewardOption,
    batch_code,
    cart_discount_draft,
    chunks,
    code_key,
    derived_code,
    discount_code_draft,
    email_digest,
    foreign_codes,
    parse_cancel,
    parse_create,
    parse_reward_options,
    plan_issue,
    sort_order_for,
)

OPTIONS = parse_reward_options(
    '{"5": {"kind": "fixed", "amount": {"KWD": 1500, "EUR": 500}, "minimum": {"KWD": 10000}}}'
)


def request(**extra):
    return parse_create(
        {
            "redemption_option_id": "5",
            "currency": "kwd",
            "coupon_code": "ABCD-1234",
            "customer_email": "Ada@Example.com",
            **extra,
        }
    )


def test_configuration_problems_are_all_named():
    with pytest.raises(ValueError) as err:
        parse_reward_options(
            '{"x": {"kind": "fixed"}, "1": {"kind": "fixed", "amount": {"EUR": 4.5}},'
            ' "2": {"kind": "percentage"}, "3": {"kind": "gift"}}'
        )
    text = str(err.value)
    assert "'x'" in text and "1.amount" in text and "2:" in text and "3.kind" in text


def test_fixed_reward_in_a_three_digit_currency():
    plan = plan_issue(request(), OPTIONS, secret="s" * 16)
    assert plan.amount == 1500 and plan.currency == "KWD"
    draft = cart_discount_draft(plan)
    kwd = next(m for m in draft["value"]["money"] if m["currencyCode"] == "KWD")
    # Money as the SDK declares it; 1500 is 1.500 KWD, the currency's own three digits.
    assert kwd == {"currencyCode": "KWD", "centAmount": 1500}
    assert '(currency = "KWD" and totalPrice >= "10.000 KWD")' in draft["cartPredicate"]
    assert 'currency = "EUR"' in draft["cartPredicate"]


def test_amount_in_the_request_must_match_the_configuration():
    with pytest.raises(CouponError) as err:
        plan_issue(request(discount_amount_cents=1501), OPTIONS, secret="s" * 16)
    assert err.value.code == "amount_mismatch"


def test_floats_and_strings_are_never_money():
    for bad in (15.0, "1500", True):
        with pytest.raises(CouponError):
            request(discount_amount_cents=bad)


def test_the_plan_never_holds_the_email_only_its_digest():
    plan = plan_issue(request(), OPTIONS, secret="s" * 16)
    assert "Ada" not in plan.model_dump_json().lower().replace("ada@", "")
    assert plan.email_digest == email_digest("ada@example.com")


def test_derived_codes_are_stable_per_redemption_and_need_the_secret():
    one = derived_code("secret-a" * 2, "5", "r1")
    assert one == derived_code("secret-a" * 2, "5", "r1")
    assert one != derived_code("secret-a" * 2, "5", "r2")
    assert one != derived_code("secret-b" * 2, "5", "r1")


def test_code_keys_are_valid_commercetools_keys_and_distinct():
    keys = {code_key(c) for c in ("a-b_c", "a b c", "A-B_C", "x" * 64)}
    assert len(keys) == 4
    assert all(2 <= len(k) <= 256 and k.replace("-", "").replace("_", "").isalnum() for k in keys)


def test_sort_orders_are_unique_decimals_for_every_option_and_amount():
    option = RewardOption(kind="variable", amount={"EUR": 100})
    seen = set()
    for option_id in ("1", "12", "121", "2"):
        for amount in (None, 1, 11, 111, 1500):
            order = sort_order_for(option_id, option, amount)
            assert order.startswith("0.") and not order.endswith("0")
            seen.add(order)
    assert len(seen) == 20


def test_discount_code_binds_customer_and_validity():
    plan = plan_issue(request(), OPTIONS, secret="s" * 16)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    draft = discount_code_draft(plan, "cd-1", customer_id='c"1', now=now)
    assert draft["cartPredicate"] == 'customerId = "c\\"1"'
    assert draft["validFrom"] == "2026-12-01T12:00:00.000Z"
    assert draft["validUntil"] == "2027-03-01T12:00:00.000Z"
    assert draft["maxApplications"] == 1


def test_cancel_requests_name_codes():
    assert parse_cancel({"coupon_codes": ["A-0001", "A-0001"], "coupon_code": "B-0001"}) == [
        "A-0001",
        "B-0001",
    ]
    with pytest.raises(CouponError):
        parse_cancel({"coupon_codes": "A-0001"})
    with pytest.raises(CouponError):
        parse_cancel({})


def test_foreign_codes_are_those_issued_to_someone_else():
    owners = [
        CodeOwner(code="MINE-ID", customer_id="c1"),
        CodeOwner(code="MINE-MAIL", email_digest=email_digest("ada@example.com")),
        CodeOwner(code="EVE", customer_id="c2", email_digest=email_digest("eve@example.com")),
        CodeOwner(code="UNKNOWN"),
    ]
    assert foreign_codes(owners, customer_id="c1", email="ADA@example.com") == ["EVE"]
    assert foreign_codes(owners, customer_id=None, email=None) == ["MINE-ID", "MINE-MAIL", "EVE"]


def test_batch_codes_and_chunks():
    codes = {batch_code(b"seed", "b1", i, "INSTORE") for i in range(1000)}
    assert len(codes) == 1000
    assert batch_code(b"seed", "b1", 7, "P") == batch_code(b"seed", "b1", 7, "P")
    assert chunks(25_001, 10_000) == [(0, 10_000), (10_000, 20_000), (20_000, 25_001)]
