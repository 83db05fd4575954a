"""Table-driven tests of the pure checkout rules: eligibility, amounts, strategies."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.checkout import (
    REWARD_SLUG,
    Approval,
    CheckoutConfig,
    LoyaltyError,
    Rejection,
    Step,
    cart_facts,
    evaluate,
    maintain_actions,
    precheck,
    redeem_actions,
    triage,
)
from shared.domain.loyalty_fields import CartFields as F

DIGITS = {"EUR": 2, "JPY": 0, "KWD": 3}


def money(amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": amount,
        "fractionDigits": DIGITS[currency],
    }


def cart(
    lines: list[int],
    *,
    currency: str = "EUR",
    fields: dict[str, Any] | None = None,
    customer: bool = True,
    direct: list[dict[str, Any]] | None = None,
    total: int | None = None,
    custom_lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    merchandise = sum(lines)
    body: dict[str, Any] = {
        "id": "cart-1",
        "version": 3,
        "lineItems": [
            {"id": f"li-{i}", "quantity": 1, "totalPrice": money(v, currency)}
            for i, v in enumerate(lines)
        ],
        "customLineItems": custom_lines or [],
        "totalPrice": money(merchandise if total is None else total, currency),
        "directDiscounts": direct or [],
        "custom": {"type": {"typeId": "type", "id": "t"}, "fields": fields or {}},
    }
    if customer:
        body |= {"customerId": "cust-1", "customerEmail": "jane@example.com"}
    return body


OPTIONS = [
    {"id": 1, "amount": 500, "discount_type": "fixed_amount", "discount_amount_cents": 500},
    {
        "id": 2,
        "amount": 1000,
        "discount_type": "percentage",
        "discount_percentage": 10,
        "cart_greater_than": 5000,
    },
    {"id": 3, "amount": 1, "discount_type": "generic_variable", "discount_amount_cents": 1},
    {"id": 4, "amount": 100, "discount_type": "fixed_amount", "discount_amount_cents": 1500},
    {
        "id": 5,
        "amount": 100,
        "discount_type": "fixed_amount",
        "discount_amount_cents": 1000,
        "is_offline": True,
    },
]


def applied_fields(**overrides: Any) -> dict[str, Any]:
    fields = {
        F.REQUESTED_OPTION: "1",
        F.REWARD_CODE: "CODE-1",
        F.REWARD_AMOUNT: 500,
        F.REWARD_OPTION: "1",
        F.REWARD_KIND: "fixed",
        F.REWARD_CUSTOMER: "cust-1",
        F.REWARD_POINTS: 500,
    }
    return fields | overrides


def own_discount(amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {
        "id": "dd-own",
        "value": {"type": "absolute", "money": [money(amount, currency)]},
        "target": {"type": "totalPrice"},
    }


FOREIGN = {
    "id": "dd-foreign",
    "value": {"type": "relative", "permyriad": 500},
    "target": {"type": "lineItems", "predicate": "true"},
}


@pytest.mark.parametrize(
    ("fields", "customer", "expected"),
    [
        ({}, True, Step.NOTHING),
        ({F.REFERRAL_CODE: "FRIEND"}, True, Step.NOTHING),
        ({F.REQUESTED_OPTION: "1"}, True, Step.REDEEM),
        (applied_fields(), True, Step.MAINTAIN),
        (applied_fields(**{F.REQUESTED_OPTION: "2"}), True, Step.REDEEM),
        (applied_fields(**{F.REQUESTED_OPTION: None}), True, Step.MAINTAIN),
        (applied_fields(), False, Step.MAINTAIN),  # customer changed: drop, no Yotpo call
        (
            applied_fields(
                **{F.REQUESTED_OPTION: "3", F.REWARD_OPTION: "3", F.REWARD_KIND: "variable"},
                **{F.REQUESTED_POINTS: 200, F.REWARD_POINTS: 100},
            ),
            True,
            Step.REDEEM,
        ),
    ],
)
def test_triage(fields, customer, expected):
    assert triage(cart_facts(cart([6000], fields=fields, customer=customer))) is expected


@pytest.mark.parametrize(
    ("customer", "currencies", "currency", "expected"),
    [
        (False, frozenset(), "EUR", LoyaltyError.CUSTOMER_REQUIRED),
        (True, None, "EUR", LoyaltyError.NOT_ELIGIBLE),
        (True, frozenset({"EUR"}), "JPY", LoyaltyError.CURRENCY_NOT_ENABLED),
        (True, frozenset({"EUR"}), "EUR", None),
        (True, frozenset(), "KWD", None),  # empty: the account takes any currency
    ],
)
def test_precheck(customer, currencies, currency, expected):
    facts = cart_facts(
        cart([1000], currency=currency, customer=customer, fields={F.REQUESTED_OPTION: "1"})
    )
    result = precheck(facts, currencies)
    assert (result.error if result else None) is expected


def request(option: str, lines: list[int], currency: str = "EUR", points: int | None = None):
    fields: dict[str, Any] = {F.REQUESTED_OPTION: option}
    if points is not None:
        fields[F.REQUESTED_POINTS] = points
    return cart_facts(cart(lines, currency=currency, fields=fields))


@pytest.mark.parametrize(
    ("option", "lines", "currency", "points", "balance", "amount"),
    [
        ("1", [6000], "EUR", None, 600, 500),  # fixed €5
        ("1", [300], "EUR", None, 600, 300),  # never more than the cart
        ("2", [6789], "EUR", None, 2000, 678),  # 10% of 67.89, floored to the cent
        ("2", [12345], "JPY", None, 2000, 1234),  # 10% of ¥12,345: JPY has no minor unit
        ("2", [12345], "KWD", None, 2000, 1234),  # 10% of 12.345 KWD → 1.234 KWD
        ("3", [6000], "EUR", 250, 300, 250),  # variable: 250 points → €2.50
    ],
)
def test_amounts(option, lines, currency, points, balance, amount):
    decision = evaluate(request(option, lines, currency, points), offered=OPTIONS, balance=balance)
    assert isinstance(decision, Approval)
    assert decision.amount == amount


@pytest.mark.parametrize(
    ("option", "lines", "points", "balance", "offered", "all_options", "error"),
    [
        ("1", [6000], None, None, OPTIONS, None, LoyaltyError.NOT_ELIGIBLE),  # not a member
        ("9", [6000], None, 5000, OPTIONS, OPTIONS, LoyaltyError.UNKNOWN_OPTION),
        ("4", [6000], None, 50, OPTIONS[:3], OPTIONS, LoyaltyError.NOT_ENOUGH_POINTS),
        ("4", [6000], None, 500, OPTIONS[:3], OPTIONS, LoyaltyError.NOT_ELIGIBLE),
        ("1", [6000], None, 100, OPTIONS, None, LoyaltyError.NOT_ENOUGH_POINTS),
        ("2", [4999], None, 2000, OPTIONS, None, LoyaltyError.BELOW_MINIMUM),
        ("3", [6000], None, 300, OPTIONS, None, LoyaltyError.INVALID_POINTS),
        ("3", [6000], -5, 300, OPTIONS, None, LoyaltyError.INVALID_POINTS),
        ("3", [6000], 400, 300, OPTIONS, None, LoyaltyError.NOT_ENOUGH_POINTS),
        ("5", [6000], None, 5000, OPTIONS, None, LoyaltyError.NOT_ELIGIBLE),  # in-store only
    ],
)
def test_rejections(option, lines, points, balance, offered, all_options, error):
    decision = evaluate(
        request(option, lines, points=points),
        offered=offered,
        balance=balance,
        all_options=all_options,
    )
    assert isinstance(decision, Rejection)
    assert decision.error is error
    body = decision.extension_error()
    assert body["code"] == "InvalidInput"
    assert body["extensionExtraInfo"]["loyaltyError"] == error.value


REDEMPTION = {"id": 77, "reward_text": "YOTPO-ABC"}


def field_values(actions: list[dict]) -> dict[str, Any]:
    return {a["name"]: a.get("value") for a in actions if a["action"] == "setCustomField"}


def test_direct_discount_keeps_foreign_discounts_and_stacks():
    facts = cart_facts(cart([6000], fields={F.REQUESTED_OPTION: "1"}, direct=[FOREIGN]))
    approval = evaluate(facts, offered=OPTIONS, balance=600)
    actions = redeem_actions(facts, approval, REDEMPTION, CheckoutConfig())
    (set_direct,) = [a for a in actions if a["action"] == "setDirectDiscounts"]
    assert set_direct["discounts"][0] == {"value": FOREIGN["value"], "target": FOREIGN["target"]}
    ours = set_direct["discounts"][1]
    assert ours["value"]["money"][0]["centAmount"] == 500
    assert ours["target"] == {"type": "totalPrice"}
    assert ours["participateInBestDealSelection"] is False
    assert not any(a["action"] == "setDirectDiscountsIgnoreCartDiscounts" for a in actions)
    values = field_values(actions)
    assert values[F.REWARD_CODE] == "YOTPO-ABC" and values[F.REWARD_AMOUNT] == 500
    assert values[F.REDEMPTION_ID] == "77" and values[F.REWARD_STATUS] == "applied"


def test_exclusive_stacking_is_explicit():
    facts = cart_facts(cart([6000], fields={F.REQUESTED_OPTION: "1"}))
    approval = evaluate(facts, offered=OPTIONS, balance=600)
    actions = redeem_actions(facts, approval, REDEMPTION, CheckoutConfig(stacking="exclusive"))
    assert {
        "action": "setDirectDiscountsIgnoreCartDiscounts",
        "directDiscountsIgnoreCartDiscounts": True,
    } in actions


def test_custom_line_item_strategy():
    facts = cart_facts(cart([6000], currency="KWD", fields={F.REQUESTED_OPTION: "1"}))
    approval = evaluate(facts, offered=OPTIONS, balance=600)
    config = CheckoutConfig(strategy="custom-line-item", tax_category_key="no-tax")
    actions = redeem_actions(facts, approval, REDEMPTION, config)
    (line,) = [a for a in actions if a["action"] == "addCustomLineItem"]
    assert line["money"] == money(-500, "KWD")
    assert line["slug"] == REWARD_SLUG
    assert line["taxCategory"] == {"typeId": "tax-category", "key": "no-tax"}
    assert not any(a["action"] == "setDirectDiscounts" for a in actions)


def test_replacing_a_reward_swaps_only_our_discount():
    fields = applied_fields(**{F.REQUESTED_OPTION: "4"})
    facts = cart_facts(cart([6000], fields=fields, direct=[FOREIGN, own_discount(500)], total=5500))
    approval = evaluate(facts, offered=OPTIONS, balance=600)
    assert isinstance(approval, Approval) and approval.amount == 1500
    actions = redeem_actions(facts, approval, REDEMPTION, CheckoutConfig())
    (set_direct,) = [a for a in actions if a["action"] == "setDirectDiscounts"]
    amounts = [d["value"].get("money", [{}])[0].get("centAmount") for d in set_direct["discounts"]]
    assert amounts == [None, 1500]


def test_consistent_reward_needs_no_action():
    facts = cart_facts(
        cart([6000], fields=applied_fields(), direct=[own_discount(500)], total=5500)
    )
    assert maintain_actions(facts, CheckoutConfig(), cancelled=False) == []


def test_percentage_is_recomputed_when_lines_change():
    fields = applied_fields(
        **{
            F.REQUESTED_OPTION: "2",
            F.REWARD_OPTION: "2",
            F.REWARD_KIND: "percentage",
            F.REWARD_PERCENT_BP: 1000,
            F.REWARD_MINIMUM: 5000,
            F.REWARD_AMOUNT: 600,
        }
    )
    facts = cart_facts(cart([6000, 2000], fields=fields, direct=[own_discount(600)], total=7400))
    actions = maintain_actions(facts, CheckoutConfig(), cancelled=False)
    (set_direct,) = [a for a in actions if a["action"] == "setDirectDiscounts"]
    assert set_direct["discounts"][-1]["value"]["money"][0]["centAmount"] == 800
    assert field_values(actions)[F.REWARD_AMOUNT] == 800


@pytest.mark.parametrize(
    ("fields", "lines", "customer", "cancelled", "status", "unset_request"),
    [
        (applied_fields(**{F.REQUESTED_OPTION: None}), [6000], True, False, "removed", False),
        (applied_fields(), [6000], True, True, "cancelled_by_yotpo", True),
        (applied_fields(), [6000], False, False, "customer_changed", True),
        (applied_fields(**{F.REWARD_MINIMUM: 5000}), [4000], True, False, "below_minimum", True),
    ],
)
def test_removals(fields, lines, customer, cancelled, status, unset_request):
    facts = cart_facts(
        cart(lines, fields=fields, customer=customer, direct=[FOREIGN, own_discount(500)])
    )
    actions = maintain_actions(facts, CheckoutConfig(), cancelled=cancelled)
    (set_direct,) = [a for a in actions if a["action"] == "setDirectDiscounts"]
    assert set_direct["discounts"] == [{"value": FOREIGN["value"], "target": FOREIGN["target"]}]
    values = field_values(actions)
    assert values[F.REWARD_STATUS] == status
    assert values[F.REWARD_CODE] is None
    assert (F.REQUESTED_OPTION in values) is unset_request


def test_removing_a_line_item_reward():
    facts = cart_facts(
        cart(
            [6000],
            fields=applied_fields(**{F.REQUESTED_OPTION: None}),
            custom_lines=[{"id": "cli-1", "slug": REWARD_SLUG, "money": money(-500)}],
        )
    )
    config = CheckoutConfig(strategy="custom-line-item", tax_category_key="t")
    actions = maintain_actions(facts, config, cancelled=False)
    assert {"action": "removeCustomLineItem", "customLineItemId": "cli-1"} in actions
    assert not any(a["action"] == "addCustomLineItem" for a in actions)
