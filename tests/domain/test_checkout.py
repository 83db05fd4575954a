"""Table-driven tests of the pure checkout rules: trust, eligibility, amounts, strategies."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.domain.checkout.cart import (
    REWARD_SLUG,
    AppliedReward,
    Approval,
    CheckoutConfig,
    CheckoutMember,
    InvalidCart,
    LoyaltyError,
    Rejection,
    Step,
    cart_facts,
    checkout_member,
    evaluate,
    maintain_plan,
    precheck,
    redeem_actions,
    settle_amount,
    triage,
)
from shared.domain.checkout.redemption import (
    MESSAGES,
    Channel,
    RedemptionError,
    currency_refusal,
    program_currency,
    redeemable,
    settled_face,
    whole_number,
)
from shared.domain.checkout.reward_state import seal, seal_key, unseal
from shared.domain.customers.member_identity import MemberIdentity
from shared.domain.loyalty_fields import CartFields as F

DIGITS = {"EUR": 2, "JPY": 0, "KWD": 3}
KEY = seal_key("extension-secret")
CONFIG = CheckoutConfig(seal_key=KEY)


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
    codes: int = 0,
    ignores: bool | None = None,
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
        "discountCodes": [
            {"discountCode": {"typeId": "discount-code", "id": f"dc-{i}"}, "state": "MatchesCart"}
            for i in range(codes)
        ],
        "custom": {"type": {"typeId": "type", "id": "t"}, "fields": fields or {}},
    }
    if ignores is not None:
        body["directDiscountsIgnoreCartDiscounts"] = ignores
    if customer:
        body |= {"customerId": "cust-1", "customerEmail": "jane@example.com"}
    return body


def facts_of(body: dict[str, Any]):
    return cart_facts(body, KEY)


# Options as Yotpo lists them: no currency field (amounts are in the program's base currency).
OPTIONS = [
    {"id": 1, "amount": 500, "discount_type": "fixed_amount", "discount_amount_cents": 500},
    {
        "id": 2,
        "amount": 1000,
        "discount_type": "percentage",
        "discount_percentage": 10,
        "cart_greater_than": 5000,
    },
    {"id": 3, "amount": 1, "discount_type": "generic_variable", "discount_rate_cents": 1},
    {"id": 4, "amount": 100, "discount_type": "fixed_amount", "discount_amount_cents": 1500},
    {
        "id": 5,
        "amount": 100,
        "discount_type": "fixed_amount",
        "discount_amount_cents": 1000,
        "is_offline": True,
    },
    {"id": 6, "amount": 300, "discount_type": "percentage", "discount_percentage": 15},
    {"id": 7, "amount": 10, "discount_type": "generic_variable", "discount_amount_cents": 5},
]

REWARD = AppliedReward(
    code="CODE-1",
    amount=500,
    option_id="1",
    kind="fixed",
    customer_id="cust-1",
    points=500,
    redemption_id="41",
    currency="EUR",
    face=500,
)


def sealed(reward: AppliedReward = REWARD, cart_id: str = "cart-1", **extra: Any) -> dict:
    """The fields the connector writes for an applied reward, plus the shopper's request."""
    fields = {
        F.REQUESTED_OPTION: reward.option_id,
        F.REWARD_CODE: reward.code,
        F.REWARD_AMOUNT: reward.amount,
        F.REWARD_OPTION: reward.option_id,
        F.REWARD_KIND: reward.kind,
        F.REWARD_CUSTOMER: reward.customer_id,
        F.REWARD_POINTS: reward.points,
        F.REDEMPTION_ID: reward.redemption_id,
        F.REWARD_SEAL: seal(reward, cart_id, KEY),
    }
    if reward.percent_bp is not None:
        fields[F.REWARD_PERCENT_BP] = reward.percent_bp
    if reward.minimum:
        fields[F.REWARD_MINIMUM] = reward.minimum
    return fields | extra


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
# Every documented DirectDiscount kind a merchant or another extension may have put there
# (https://docs.commercetools.com/api/projects/carts#directdiscount): kept as they are.
GIFT = {
    "id": "dd-gift",
    "value": {
        "type": "giftLineItem",
        "product": {"typeId": "product", "id": "p-1"},
        "variantId": 1,
        "supplyChannel": {"typeId": "channel", "id": "ch-1"},
    },
}
MULTI_BUY = {
    "id": "dd-multi",
    "value": {"type": "relative", "permyriad": 10000},
    "target": {
        "type": "multiBuyLineItems",
        "predicate": 'sku = "SKU-MUG"',
        "triggerQuantity": 3,
        "discountedQuantity": 1,
        "maxOccurrence": 2,
        "selectionMode": "Cheapest",
    },
    "participateInBestDealSelection": True,
}
PATTERN = {
    "id": "dd-pattern",
    "value": {"type": "fixed", "money": [money(999)]},
    "target": {
        "type": "pattern",
        "triggerPattern": [{"type": "CountOnLineItemUnits", "predicate": "true", "minCount": 2}],
        "targetPattern": [{"type": "CountOnLineItemUnits", "predicate": "true", "minCount": 1}],
        "maxOccurrence": 1,
        "selectionMode": "MostExpensive",
    },
    "applicationMode": "ProportionateDistribution",
    "someFutureField": {"kept": True},
}


def draft(discount: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in discount.items() if k != "id"}


def field_values(actions: list[dict]) -> dict[str, Any]:
    return {a["name"]: a.get("value") for a in actions if a["action"] == "setCustomField"}


def discounts_set(actions: list[dict]) -> list[dict[str, Any]]:
    (set_direct,) = [a for a in actions if a["action"] == "setDirectDiscounts"]
    return set_direct["discounts"]


# --- the seal --------------------------------------------------------------------------------


def test_a_seal_opens_only_for_its_cart_and_key():
    text = seal(REWARD, "cart-1", KEY)
    assert unseal(text, "cart-1", KEY) == REWARD
    assert unseal(text, "cart-2", KEY) is None  # copied onto another cart
    assert unseal(text, "cart-1", seal_key("other-secret")) is None
    version, body, mac = text.split(".")
    assert unseal(f"{version}.{body}x.{mac}", "cart-1", KEY) is None
    assert unseal("v1.e30.", "cart-1", KEY) is None
    for junk in (None, 7, ["x"], "", "v2.a.b", "x" * 5000):
        assert unseal(junk, "cart-1", KEY) is None


@pytest.mark.parametrize(
    "forged",
    [
        # The F1 attack: a request plus the owned fields, no seal (99.90 EUR off for free).
        {
            F.REQUESTED_OPTION: "1",
            F.REWARD_OPTION: "1",
            F.REWARD_CODE: "SHOPPER-FORGED",
            F.REWARD_AMOUNT: 99999999,
            F.REWARD_KIND: "fixed",
        },
        # A 100 % percentage on a signed-in cart.
        {
            F.REQUESTED_OPTION: "2",
            F.REWARD_OPTION: "2",
            F.REWARD_CODE: "X",
            F.REWARD_KIND: "percentage",
            F.REWARD_PERCENT_BP: 10000,
            F.REWARD_CUSTOMER: "cust-1",
        },
        # Someone else's redemption id, to have it cancelled.
        {F.REWARD_CODE: "LOY-000002", F.REDEMPTION_ID: "2", F.REWARD_CUSTOMER: "cust-1"},
        # A real seal from another cart.
        sealed(cart_id="cart-of-someone-else"),
    ],
)
def test_forged_reward_fields_are_cleared_and_grant_nothing(forged):
    facts = facts_of(cart([9990], fields=forged))
    assert facts.applied is None and facts.tampered
    plan = maintain_plan(facts, CONFIG, cancelled=False)
    if F.REQUESTED_OPTION in forged:
        assert triage(facts) is Step.REDEEM  # asking is allowed: Yotpo decides
    else:
        assert triage(facts) is Step.MAINTAIN
    assert plan.dropped is None  # nothing is cancelled in Yotpo on the cart's word
    assert not any(a["action"] == "setDirectDiscounts" for a in plan.actions)
    values = field_values(plan.actions)
    assert values[F.REWARD_STATUS] == "invalid"
    assert all(values[name] is None for name in (F.REWARD_CODE, F.REWARD_AMOUNT, F.REDEMPTION_ID))


def test_a_tampered_cart_loses_any_discount_shaped_like_ours_and_keeps_the_rest():
    forged = {F.REWARD_CODE: "X", F.REWARD_AMOUNT: 700}
    facts = facts_of(cart([9990], fields=forged, direct=[FOREIGN, own_discount(700), GIFT]))
    plan = maintain_plan(facts, CONFIG, cancelled=False)
    assert discounts_set(plan.actions) == [draft(FOREIGN), draft(GIFT)]


def test_rewritten_readable_fields_are_restored_from_the_seal():
    fields = sealed(**{F.REWARD_AMOUNT: 9990, F.REWARD_KIND: "percentage"})
    facts = facts_of(cart([6000], fields=fields, direct=[own_discount(500)], total=5500))
    assert facts.applied == REWARD and facts.projection_stale
    plan = maintain_plan(facts, CONFIG, cancelled=False)
    assert not any(a["action"] == "setDirectDiscounts" for a in plan.actions)
    values = field_values(plan.actions)
    assert values[F.REWARD_AMOUNT] == 500 and values[F.REWARD_KIND] == "fixed"
    assert unseal(values[F.REWARD_SEAL], "cart-1", KEY) == REWARD


# --- triage and prechecks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "customer", "expected"),
    [
        ({}, True, Step.NOTHING),
        ({F.REFERRAL_CODE: "FRIEND"}, True, Step.NOTHING),
        ({F.REQUESTED_OPTION: "1"}, True, Step.REDEEM),
        (sealed(), True, Step.MAINTAIN),
        (sealed(**{F.REQUESTED_OPTION: "2"}), True, Step.REDEEM),
        (sealed(**{F.REQUESTED_OPTION: None}), True, Step.MAINTAIN),
        (sealed(), False, Step.MAINTAIN),  # customer changed: drop, no new redemption
        (
            sealed(
                replace(REWARD, option_id="3", kind="variable", points=100),
                **{F.REQUESTED_POINTS: 200},
            ),
            True,
            Step.REDEEM,
        ),
    ],
)
def test_triage(fields, customer, expected):
    assert triage(facts_of(cart([6000], fields=fields, customer=customer))) is expected


@pytest.mark.parametrize(
    ("customer", "currencies", "currency", "option", "codes", "stacking", "expected"),
    [
        (False, frozenset(), "EUR", "1", 0, "stack", LoyaltyError.CUSTOMER_REQUIRED),
        (True, None, "EUR", "1", 0, "stack", LoyaltyError.NOT_ELIGIBLE),
        (True, frozenset({"EUR"}), "JPY", "1", 0, "stack", LoyaltyError.CURRENCY_NOT_ENABLED),
        (True, frozenset({"EUR"}), "EUR", "1", 0, "stack", None),
        (True, frozenset(), "KWD", "1", 0, "stack", None),  # empty: any currency
        (True, frozenset(), "EUR", "1", 2, "stack", None),  # stacking with codes is fine
        (True, frozenset(), "EUR", "1", 1, "exclusive", LoyaltyError.DISCOUNT_CODE_CONFLICT),
        (True, frozenset(), "EUR", "1'; drop", 0, "stack", LoyaltyError.UNKNOWN_OPTION),
        (True, frozenset(), "EUR", "١", 0, "stack", LoyaltyError.UNKNOWN_OPTION),  # Arabic 1
        (True, frozenset(), "EUR", "9" * 40, 0, "stack", LoyaltyError.UNKNOWN_OPTION),
    ],
)
def test_precheck(customer, currencies, currency, option, codes, stacking, expected):
    body = cart([1000], currency=currency, customer=customer, fields={F.REQUESTED_OPTION: option})
    body["discountCodes"] = [{"discountCode": {"id": "d"}}] * codes
    result = precheck(facts_of(body), currencies, CheckoutConfig(stacking=stacking))
    assert (result.error if result else None) is expected


# --- amounts -----------------------------------------------------------------------------


def request(option: str, lines: list[int], currency: str = "EUR", points: int | None = None):
    fields: dict[str, Any] = {F.REQUESTED_OPTION: option}
    if points is not None:
        fields[F.REQUESTED_POINTS] = points
    return facts_of(cart(lines, currency=currency, fields=fields))


@pytest.mark.parametrize(
    ("option", "lines", "currency", "points", "balance", "amount"),
    [
        ("1", [6000], "EUR", None, 600, 500),  # fixed €5
        ("1", [300], "EUR", None, 600, 300),  # never more than the cart
        ("2", [6789], "EUR", None, 2000, 678),  # 10% of 67.89, floored to the cent
        ("6", [12345], "JPY", None, 2000, 1851),  # 15% of ¥12,345: JPY has no minor unit
        ("6", [12345], "KWD", None, 2000, 1851),  # 15% of 12.345 KWD → 1.851 KWD
        ("3", [6000], "EUR", 250, 300, 250),  # variable by rate: 250 points × 1 cent
        ("7", [6000], "EUR", 250, 300, 125),  # variable by step: 25 steps × 5 cents
    ],
)
def test_amounts(option, lines, currency, points, balance, amount):
    decision = evaluate(
        request(option, lines, currency, points),
        offered=OPTIONS,
        balance=balance,
        base_currency="EUR",
    )
    assert isinstance(decision, Approval)
    assert decision.amount == amount


@pytest.mark.parametrize(
    ("currency", "lines", "option"),
    [
        ("JPY", [7480], "1"),  # €5 would become ¥500 (≈ €3.10): refused, not guessed
        ("KWD", [6500], "1"),  # €5 would become 0.500 KWD (≈ €1.49)
        ("JPY", [7480], "2"),  # a €50 minimum cannot be compared with ¥7,480
        ("KWD", [6500], "2"),  # nor with 6.500 KWD
        ("JPY", [7480], "3"),  # pay with points: value per point is in EUR cents
    ],
)
def test_base_currency_amounts_are_not_used_as_another_currencys(currency, lines, option):
    facts = request(option, lines, currency, points=100 if option == "3" else None)
    decision = evaluate(facts, offered=OPTIONS, balance=5000, base_currency="EUR")
    assert isinstance(decision, Rejection)
    assert decision.error is LoyaltyError.CURRENCY_NOT_SUPPORTED
    # Unknown base currency: the same refusal, even in EUR.
    unknown = evaluate(request(option, lines, "EUR", 100), offered=OPTIONS, balance=5000)
    assert isinstance(unknown, Rejection)
    assert unknown.error is LoyaltyError.CURRENCY_NOT_SUPPORTED


def test_an_amount_yotpo_reports_in_the_cart_currency_wins():
    facts = request("1", [7480], "EUR")
    approval = evaluate(facts, offered=OPTIONS, balance=600, base_currency="EUR")
    assert isinstance(approval, Approval)
    assert settle_amount(facts, approval, {"id": 1, "reward_text": "C"}) == approval
    reported = {"discount_amount_cents": 480, "currency": "EUR"}
    assert settle_amount(facts, approval, reported).amount == 480
    other = {"discount_amount_cents": 480, "currency": "USD"}
    assert settle_amount(facts, approval, other).amount == 500


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
        base_currency="EUR",
    )
    assert isinstance(decision, Rejection)
    assert decision.error is error
    body = decision.extension_error()
    assert body["code"] == "InvalidInput"
    assert body["extensionExtraInfo"] == {"loyaltyError": error.value}  # nothing else


# --- actions -----------------------------------------------------------------------------

REDEMPTION = {"id": 77, "reward_text": "YOTPO-ABC"}


def approve(facts, **kwargs: Any) -> Approval:
    approval = evaluate(facts, offered=OPTIONS, balance=5000, base_currency="EUR", **kwargs)
    assert isinstance(approval, Approval)
    settled = settle_amount(facts, approval, REDEMPTION)
    assert isinstance(settled, Approval)
    return settled


def test_redeeming_seals_what_it_applied_and_keeps_every_foreign_discount():
    direct = [FOREIGN, GIFT, MULTI_BUY, PATTERN]
    facts = facts_of(cart([6000], fields={F.REQUESTED_OPTION: "1"}, direct=direct))
    actions = redeem_actions(facts, approve(facts), REDEMPTION, CONFIG)
    discounts = discounts_set(actions)
    assert discounts[:4] == [draft(d) for d in direct]  # byte for byte, minus the server id
    ours = discounts[4]
    assert ours["value"]["money"][0]["centAmount"] == 500
    assert ours["target"] == {"type": "totalPrice"}
    assert ours["participateInBestDealSelection"] is False
    values = field_values(actions)
    assert values[F.REWARD_CODE] == "YOTPO-ABC" and values[F.REWARD_AMOUNT] == 500
    assert values[F.REDEMPTION_ID] == "77" and values[F.REWARD_STATUS] == "applied"
    reward = unseal(values[F.REWARD_SEAL], "cart-1", KEY)
    assert reward is not None
    assert (reward.code, reward.amount, reward.redemption_id, reward.delayed) == (
        "YOTPO-ABC",
        500,
        "77",
        True,
    )


@pytest.mark.parametrize(
    ("stacking", "ignores", "flag"),
    [("stack", True, False), ("stack", None, None), ("exclusive", None, True)],
)
def test_the_stacking_flag_comes_before_set_direct_discounts(stacking, ignores, flag):
    facts = facts_of(cart([6000], fields={F.REQUESTED_OPTION: "1"}, ignores=ignores))
    config = replace(CONFIG, stacking=stacking)
    actions = [a["action"] for a in redeem_actions(facts, approve(facts), REDEMPTION, config)]
    if flag is None:
        assert "setDirectDiscountsIgnoreCartDiscounts" not in actions
    else:
        assert actions.index("setDirectDiscountsIgnoreCartDiscounts") < actions.index(
            "setDirectDiscounts"
        )


def test_custom_line_item_strategy():
    facts = facts_of(cart([6000], currency="KWD", fields={F.REQUESTED_OPTION: "1"}))
    approval = evaluate(facts, offered=OPTIONS, balance=600, base_currency="KWD")
    assert isinstance(approval, Approval)
    config = replace(CONFIG, strategy="custom-line-item", tax_category_key="no-tax")
    actions = redeem_actions(facts, approval, REDEMPTION, config)
    (line,) = [a for a in actions if a["action"] == "addCustomLineItem"]
    assert line["money"] == {"currencyCode": "KWD", "centAmount": -500}
    assert line["slug"] == REWARD_SLUG
    assert line["taxCategory"] == {"typeId": "tax-category", "key": "no-tax"}
    assert not any(a["action"] == "setDirectDiscounts" for a in actions)


def test_replacing_a_reward_swaps_only_our_discount():
    fields = sealed(**{F.REQUESTED_OPTION: "4"})
    facts = facts_of(cart([6000], fields=fields, direct=[FOREIGN, own_discount(500)], total=5500))
    approval = approve(facts)
    assert approval.amount == 1500
    actions = redeem_actions(facts, approval, REDEMPTION, CONFIG)
    amounts = [d["value"].get("money", [{}])[0].get("centAmount") for d in discounts_set(actions)]
    assert amounts == [None, 1500]


def test_consistent_reward_needs_no_action():
    facts = facts_of(cart([6000], fields=sealed(), direct=[own_discount(500)], total=5500))
    plan = maintain_plan(facts, CONFIG, cancelled=False)
    assert plan.actions == [] and plan.dropped is None


def test_percentage_is_recomputed_when_lines_change():
    reward = replace(
        REWARD, option_id="2", kind="percentage", percent_bp=1000, minimum=5000, amount=600
    )
    facts = facts_of(
        cart([6000, 2000], fields=sealed(reward), direct=[own_discount(600)], total=7400)
    )
    actions = maintain_plan(facts, CONFIG, cancelled=False).actions
    assert discounts_set(actions)[-1]["value"]["money"][0]["centAmount"] == 800
    values = field_values(actions)
    assert values[F.REWARD_AMOUNT] == 800
    assert unseal(values[F.REWARD_SEAL], "cart-1", KEY).amount == 800


def test_a_fixed_reward_follows_an_emptied_cart_and_comes_back():
    emptied = facts_of(cart([], fields=sealed(), direct=[own_discount(500)], total=-500))
    actions = maintain_plan(emptied, CONFIG, cancelled=False).actions
    assert discounts_set(actions) == []
    shrunk = unseal(field_values(actions)[F.REWARD_SEAL], "cart-1", KEY)
    assert shrunk.amount == 0 and shrunk.face == 500
    refilled = facts_of(cart([6000], fields=sealed(shrunk)))
    again = maintain_plan(refilled, CONFIG, cancelled=False).actions
    assert discounts_set(again)[-1]["value"]["money"][0]["centAmount"] == 500


@pytest.mark.parametrize(
    ("fields", "lines", "customer", "cancelled", "status", "unset_request", "dropped"),
    [
        (sealed(**{F.REQUESTED_OPTION: None}), [6000], True, False, "removed", False, True),
        (sealed(), [6000], True, True, "cancelled_by_yotpo", True, False),
        (sealed(), [6000], False, False, "customer_changed", True, True),
        (sealed(replace(REWARD, minimum=5000)), [4000], True, False, "below_minimum", True, True),
    ],
)
def test_removals(fields, lines, customer, cancelled, status, unset_request, dropped):
    facts = facts_of(
        cart(lines, fields=fields, customer=customer, direct=[FOREIGN, own_discount(500)])
    )
    plan = maintain_plan(facts, CONFIG, cancelled=cancelled)
    assert discounts_set(plan.actions) == [draft(FOREIGN)]
    values = field_values(plan.actions)
    assert values[F.REWARD_STATUS] == status == plan.status
    assert values[F.REWARD_CODE] is None and values[F.REWARD_SEAL] is None
    assert (F.REQUESTED_OPTION in values) is unset_request
    # A reward that leaves the cart is handed back for cancellation in Yotpo, except one
    # Yotpo itself cancelled.
    assert (plan.dropped == facts.applied) is dropped


def test_removing_a_line_item_reward():
    facts = facts_of(
        cart(
            [6000],
            fields=sealed(**{F.REQUESTED_OPTION: None}),
            custom_lines=[{"id": "cli-1", "slug": REWARD_SLUG, "money": money(-500)}],
        )
    )
    config = replace(CONFIG, strategy="custom-line-item", tax_category_key="t")
    actions = maintain_plan(facts, config, cancelled=False).actions
    assert {"action": "removeCustomLineItem", "customLineItemId": "cli-1"} in actions
    assert not any(a["action"] == "addCustomLineItem" for a in actions)


# --- hostile shapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.update(lineItems="abc"),
        lambda c: c.update(lineItems=[1]),
        lambda c: c.update(lineItems=[{}]),
        lambda c: c["lineItems"][0]["totalPrice"].update(centAmount=1.5),
        lambda c: c["lineItems"][0]["totalPrice"].update(centAmount="100"),
        lambda c: c["lineItems"][0]["totalPrice"].update(type="weird"),
        lambda c: c["lineItems"][0].update(
            totalPrice={"type": "highPrecision", "preciseAmount": 1, "fractionDigits": 10**7}
        ),
        lambda c: c["lineItems"][0]["totalPrice"].update(centAmount=2**70),
        lambda c: c.update(totalPrice="abc"),
        lambda c: c.update(custom="abc"),
        lambda c: c.update(custom={"fields": ["x"]}),
        lambda c: c.update(customLineItems=[1]),
        lambda c: c.update(directDiscounts="abc"),
        lambda c: c.update(directDiscounts=[1]),
        lambda c: c.update(discountCodes={"a": 1}),
        lambda c: c.update(totalPrice=None, currency=None),
    ],
)
def test_impossible_carts_raise_invalid_cart(mutate):
    body = cart([1000], fields={F.REQUESTED_OPTION: "1"})
    mutate(body)
    with pytest.raises(InvalidCart):
        cart_facts(body, KEY)


@pytest.mark.parametrize(
    "points", [float("inf"), 1e400, "1e400", "Infinity", "NaN", "1e999999999", [1], {"a": 1}, True]
)
def test_absurd_points_are_no_points(points):
    facts = facts_of(cart([1000], fields={F.REQUESTED_OPTION: "3", F.REQUESTED_POINTS: points}))
    assert facts.requested_points is None
    decision = evaluate(facts, offered=OPTIONS, balance=5000, base_currency="EUR")
    assert isinstance(decision, Rejection) and decision.error is LoyaltyError.INVALID_POINTS


def test_odd_but_harmless_fields_are_tolerated():
    body = cart([1000], fields={F.REQUESTED_OPTION: ["1"], F.REWARD_SEAL: {"x": 1}})
    body["store"] = "not-an-object"
    body["customerId"] = {"id": 1}
    facts = facts_of(body)
    assert facts.store_key is None and facts.customer_id is None
    assert facts.requested_option is None and facts.tampered


# --- whom a redemption is for (MEMBER_ID_SOURCE, docs/adr/0010-member-identity.md) ----------

LEGACY = {
    "id": "ct-7",
    "email": "Ada@Example.com",
    "externalId": "legacy-42",
    "custom": {"fields": {"loyaltyMemberId": "old-shop-9", "other": "x"}},
}


def test_by_default_the_member_is_the_commercetools_customer_and_needs_no_read():
    identity = MemberIdentity()
    assert not identity.needs_customer
    member = checkout_member("ct-7", "cart@example.com", identity)
    assert member == CheckoutMember("ct-7", "ct-7", "cart@example.com")
    # Even a customer document given does not change the default.
    assert checkout_member("ct-7", "cart@example.com", identity, LEGACY) == member


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (MemberIdentity(source="externalId"), "legacy-42"),
        (MemberIdentity(source="customField"), "old-shop-9"),
        (MemberIdentity(source="customField", custom_field="other"), "x"),
        (MemberIdentity(source="customField", custom_field="absent"), "ct-7"),
    ],
)
def test_another_source_names_the_member_from_the_customer_record(identity, expected):
    member = checkout_member("ct-7", "cart@example.com", identity, LEGACY)
    assert member is not None
    # The sealed reward stays bound to the commercetools customer; Yotpo gets the member id
    # and the customer's own email, not the one typed on the cart.
    assert (member.customer_id, member.member_id, member.email) == (
        "ct-7",
        expected,
        "Ada@Example.com",
    )


def test_without_an_external_id_the_member_is_the_commercetools_id():
    customer = {"id": "ct-8", "email": "new@example.com", "externalId": "  "}
    member = checkout_member("ct-8", None, MemberIdentity(source="externalId"), customer)
    assert member == CheckoutMember("ct-8", "ct-8", "new@example.com")


@pytest.mark.parametrize("customer", [None, {"id": "ct-other", "externalId": "legacy-1"}, "x"])
def test_a_missing_or_foreign_customer_record_names_no_member(customer):
    identity = MemberIdentity(source="externalId")
    assert checkout_member("ct-7", "cart@example.com", identity, customer) is None


def test_a_customer_without_an_email_keeps_the_carts():
    customer = {"id": "ct-9", "externalId": "legacy-9"}
    member = checkout_member(
        "ct-9", "cart@example.com", MemberIdentity(source="externalId"), customer
    )
    assert member == CheckoutMember("ct-9", "legacy-9", "cart@example.com")


def test_the_config_defaults_to_the_commercetools_id():
    assert CheckoutConfig().identity == MemberIdentity()


# --- one set of redemption rules for both channels (docs/adr/0090) ---------------------------


def till(option_id, *, points=None, balance=5000, currency=None, base=None, offered=OPTIONS):
    return redeemable(
        option_id,
        channel=Channel.IN_STORE,
        offered=offered,
        all_options=OPTIONS,
        balance=balance,
        points=points,
        currency=currency,
        base_currency=base,
        basket=None,
    )


def test_the_checkout_codes_are_the_one_code_enum():
    assert LoyaltyError is RedemptionError
    assert {code: MESSAGES[code] for code in RedemptionError}  # every code has a fixed text
    public = {
        "customer_required",
        "not_eligible",
        "not_enough_points",
        "below_minimum",
        "unknown_option",
        "invalid_points",
        "currency_not_enabled",
        "currency_not_supported",
        "discount_code_conflict",
        "reward_no_longer_available",
        "loyalty_service_unavailable",
    }
    assert public <= {code.value for code in RedemptionError}


@pytest.mark.parametrize(
    ("option", "points", "balance", "offered", "online", "in_store"),
    [
        # The same refusal on both channels, under the same code.
        ("9", None, 5000, OPTIONS, LoyaltyError.UNKNOWN_OPTION, LoyaltyError.UNKNOWN_OPTION),
        ("4", None, 50, OPTIONS[:3], LoyaltyError.NOT_ENOUGH_POINTS, None),
        ("4", None, 500, OPTIONS[:3], LoyaltyError.NOT_ELIGIBLE, None),
        ("3", None, 300, OPTIONS, LoyaltyError.INVALID_POINTS, None),
        ("7", 15, 300, OPTIONS, LoyaltyError.INVALID_POINTS, None),
        ("3", 400, 300, OPTIONS, LoyaltyError.NOT_ENOUGH_POINTS, None),
        ("1", None, None, OPTIONS, LoyaltyError.NOT_ELIGIBLE, None),
        # An in-store-only option is refused online and redeemed at the till.
        ("5", None, 5000, OPTIONS, LoyaltyError.NOT_ELIGIBLE, "approved"),
    ],
)
def test_both_channels_decide_alike(option, points, balance, offered, online, in_store):
    checkout = evaluate(
        request(option, [6000], points=points),
        offered=offered,
        balance=balance,
        all_options=OPTIONS,
        base_currency="EUR",
    )
    at_till = till(option, points=points, balance=balance, offered=offered)
    assert isinstance(checkout, Rejection) and checkout.error is online
    if in_store == "approved":
        assert isinstance(at_till, Approval) and at_till.face == 1000 and at_till.points == 100
    else:
        assert isinstance(at_till, Rejection) and at_till.error is (in_store or online)


def test_the_till_values_a_reward_as_the_checkout_does():
    fixed = till("1", currency="EUR", base="EUR")
    assert fixed == Approval("1", "fixed", 500, 500, None, 0, face=500)
    variable = till("3", points=250)
    assert variable == Approval("3", "variable", 250, 250, None, 0, face=250)
    stepped = till("7", points=30)  # 5 per 10 points, the older option shape
    assert isinstance(stepped, Approval) and stepped.face == 15
    # No basket at the till: a percentage has no amount yet and the minimum is not checked.
    percentage = till("2")
    assert percentage == Approval("2", "percentage", None, 1000, 1000, 5000)
    checkout = evaluate(
        request("3", [6000], points=250), offered=OPTIONS, balance=5000, base_currency="EUR"
    )
    assert isinstance(checkout, Approval) and checkout.face == variable.face


def test_the_till_must_give_a_fixed_rewards_cost_exactly():
    refused = till("1", points=499)
    assert isinstance(refused, Rejection) and refused.error is LoyaltyError.INVALID_POINTS
    assert isinstance(till("1", points=500), Approval)
    # Online the points field is read for variable rewards only.
    checkout = evaluate(
        request("1", [6000], points=499), offered=OPTIONS, balance=5000, base_currency="EUR"
    )
    assert isinstance(checkout, Approval) and checkout.points == 500


def test_the_till_refuses_amounts_in_another_currency_than_the_programs():
    other = till("1", currency="USD", base="EUR")
    assert isinstance(other, Rejection) and other.error is LoyaltyError.CURRENCY_NOT_SUPPORTED
    assert isinstance(till("6", currency="USD", base="EUR"), Approval)  # a share: any currency
    # Without a known base the till keeps showing the option's figure (ADR 0090).
    assert isinstance(till("1", currency="USD"), Approval)


def test_a_reported_amount_counts_only_in_the_redemptions_currency():
    approval = till("1", currency="JPY", base="JPY")
    assert isinstance(approval, Approval)
    assert settled_face(approval, {"discount_amount_cents": 740, "currency": "jpy"}, "JPY") == 740
    assert settled_face(approval, {"discount_amount_cents": 740, "currency": "EUR"}, "JPY") == 500
    assert settled_face(approval, {"discount_amount_cents": 740}, "JPY") == 500
    assert settled_face(approval, {"discount_amount_cents": 740, "currency": "JPY"}, None) == 500


@pytest.mark.parametrize(
    ("value", "number"),
    [(500, 500), ("500", 500), (" 7 ", 7), (5.0, 5), ("1e3", 1000), (True, None), (5.5, None)],
)
def test_yotpo_numbers_are_read_by_one_rule(value, number):
    assert whole_number(value) == number


def test_a_cost_sent_as_text_is_the_same_cost_on_both_channels():
    offered = [{**OPTIONS[0], "amount": "500"}]
    at_till = till("1", offered=offered)
    checkout = evaluate(request("1", [6000]), offered=offered, balance=5000, base_currency="EUR")
    assert isinstance(at_till, Approval) and isinstance(checkout, Approval)
    assert at_till.points == checkout.points == 500


def test_the_program_currency_is_configured_or_the_accounts_only_one():
    assert program_currency("eur", {"USD", "JPY"}) == "EUR"
    assert program_currency(None, {"USD"}) == "USD"
    assert program_currency(None, {"USD", "JPY"}) is None
    assert program_currency(None, ()) is None
    assert currency_refusal("usd", frozenset({"USD"})) is None
    assert currency_refusal("GBP", frozenset()) is None  # no list: every currency
    refused = currency_refusal("GBP", frozenset({"USD"}))
    assert refused is not None and refused.error is LoyaltyError.CURRENCY_NOT_ENABLED
    none = currency_refusal("USD", None)
    assert none is not None and none.error is LoyaltyError.NOT_ELIGIBLE


def test_a_fixed_option_without_an_amount_is_no_discount_online_and_unknown_at_the_till():
    offered = [{"id": 8, "amount": 100, "discount_type": "free_shipping"}]
    at_till = till("8", offered=offered)
    checkout = evaluate(request("8", [6000]), offered=offered, balance=5000, base_currency="EUR")
    assert isinstance(at_till, Approval) and at_till.face is None and at_till.amount is None
    assert isinstance(checkout, Approval) and checkout.face == 0 and checkout.amount == 0
