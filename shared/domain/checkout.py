"""Checkout rules for loyalty rewards on a cart (pure: a cart and Yotpo's answers in, actions out).

The API Extension calls these in three steps:
1. `triage` — from the cart alone: nothing to do (no I/O at all), keep what is applied
   consistent (no Yotpo call), or redeem a newly requested reward (Yotpo is asked).
2. `precheck` / `evaluate` — the reward rules: a known customer, an enabled currency, an option
   Yotpo offers this customer now, enough points, the option's minimum cart.
3. `redeem_actions` / `maintain_actions` — the cart update actions: the discount (a direct
   discount or a negative custom line item) and the connector-owned fields saying what was
   applied and why it changed. Amounts are the cart currency's minor units, computed here —
   never taken from the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import Any, Literal

from shared.domain.loyalty_fields import CartFields as F
from shared.domain.money import currency_digits, minor_units

REWARD_SLUG = "yotpo-loyalty-reward"

Strategy = Literal["direct-discount", "custom-line-item"]
Stacking = Literal["stack", "exclusive"]
RewardKind = Literal["fixed", "percentage", "variable"]


class LoyaltyError(StrEnum):
    """Codes the storefront receives in `extensionExtraInfo.loyaltyError`."""

    CUSTOMER_REQUIRED = "customer_required"
    NOT_ELIGIBLE = "not_eligible"
    NOT_ENOUGH_POINTS = "not_enough_points"
    BELOW_MINIMUM = "below_minimum"
    UNKNOWN_OPTION = "unknown_option"
    INVALID_POINTS = "invalid_points"
    CURRENCY_NOT_ENABLED = "currency_not_enabled"
    UNAVAILABLE = "loyalty_service_unavailable"


_MESSAGES = {
    LoyaltyError.CUSTOMER_REQUIRED: "Sign in to redeem loyalty rewards.",
    LoyaltyError.NOT_ELIGIBLE: "This reward is not available for this customer right now.",
    LoyaltyError.NOT_ENOUGH_POINTS: "Not enough loyalty points for this reward.",
    LoyaltyError.BELOW_MINIMUM: "The cart is below this reward's minimum order value.",
    LoyaltyError.UNKNOWN_OPTION: "This loyalty reward does not exist.",
    LoyaltyError.INVALID_POINTS: "The number of points to redeem is not valid for this reward.",
    LoyaltyError.CURRENCY_NOT_ENABLED: "Loyalty rewards are not available in this currency.",
    LoyaltyError.UNAVAILABLE: "Loyalty rewards are unavailable right now; please try again.",
}


@dataclass(frozen=True)
class CheckoutConfig:
    strategy: Strategy = "direct-discount"
    # "stack": the reward applies alongside the shopper's cart discounts and discount codes
    # (directDiscountsIgnoreCartDiscounts=false, possible since the 2026-09-17 API release);
    # "exclusive": commercetools' earlier behaviour, direct discounts replace cart discounts.
    stacking: Stacking = "stack"
    # Whether commercetools may drop the reward when a product or cart discount is better.
    best_deal: bool = False
    tax_category_key: str | None = None
    label_locale: str = "en"
    delay_points_deduction: bool = True


@dataclass(frozen=True)
class AppliedReward:
    code: str
    amount: int
    option_id: str
    kind: RewardKind
    customer_id: str | None
    points: int | None = None
    percent_bp: int | None = None
    minimum: int = 0
    redemption_id: str | None = None


@dataclass(frozen=True)
class CartFacts:
    id: str
    currency: str
    customer_id: str | None
    email: str | None
    store_key: str | None
    merchandise: int  # line items before the reward: the base of percentages and minimums
    total: int  # the cart total as commercetools computed it (reward included if applied)
    requested_option: str | None
    requested_points: int | None
    applied: AppliedReward | None
    direct_discounts: tuple[dict[str, Any], ...]
    reward_line_item_id: str | None
    ignores_cart_discounts: bool

    @property
    def reward_on_cart(self) -> int:
        """The part of `total` that is this connector's reward (0 if not found on the cart)."""
        if self.applied is None:
            return 0
        if self.reward_line_item_id or self.own_direct_discount_index() is not None:
            return self.applied.amount
        return 0

    @property
    def total_before_reward(self) -> int:
        return self.total + self.reward_on_cart

    def own_direct_discount_index(self) -> int | None:
        if self.applied is None:
            return None
        for index, discount in enumerate(self.direct_discounts):
            if _is_reward_discount(discount, self.currency, self.applied.amount):
                return index
        return None


class Step(Enum):
    NOTHING = "nothing"
    MAINTAIN = "maintain"
    REDEEM = "redeem"


@dataclass(frozen=True)
class Rejection:
    error: LoyaltyError
    detail: str = ""

    def extension_error(self) -> dict[str, Any]:
        """The error body commercetools passes to the storefront (inside ExtensionBadResponse)."""
        info: dict[str, Any] = {"loyaltyError": self.error.value}
        if self.detail:
            info["detail"] = self.detail
        return {
            "code": "InvalidInput",
            "message": _MESSAGES[self.error],
            "extensionExtraInfo": info,
        }


@dataclass(frozen=True)
class Approval:
    option_id: str
    kind: RewardKind
    amount: int
    points: int
    percent_bp: int | None
    minimum: int


# --- reading the cart ----------------------------------------------------------------------


def _fields(resource: dict[str, Any]) -> dict[str, Any]:
    return ((resource.get("custom") or {}).get("fields")) or {}


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return int(number) if number == number.to_integral_value() else None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def cart_facts(cart: dict[str, Any]) -> CartFacts:
    fields = _fields(cart)
    total_money = cart.get("totalPrice") or {}
    currency = str(total_money.get("currencyCode") or cart.get("currency") or "")
    merchandise = sum(minor_units(li["totalPrice"]) for li in cart.get("lineItems") or [])
    code = _text(fields.get(F.REWARD_CODE))
    applied = None
    if code:
        applied = AppliedReward(
            code=code,
            amount=_int(fields.get(F.REWARD_AMOUNT)) or 0,
            option_id=_text(fields.get(F.REWARD_OPTION)) or "",
            kind=_kind(fields.get(F.REWARD_KIND)),
            customer_id=_text(fields.get(F.REWARD_CUSTOMER)),
            points=_int(fields.get(F.REWARD_POINTS)),
            percent_bp=_int(fields.get(F.REWARD_PERCENT_BP)),
            minimum=_int(fields.get(F.REWARD_MINIMUM)) or 0,
            redemption_id=_text(fields.get(F.REDEMPTION_ID)),
        )
    reward_line = next(
        (c.get("id") for c in cart.get("customLineItems") or [] if c.get("slug") == REWARD_SLUG),
        None,
    )
    return CartFacts(
        id=str(cart.get("id", "")),
        currency=currency,
        customer_id=_text(cart.get("customerId")),
        email=_text(cart.get("customerEmail")),
        store_key=_text((cart.get("store") or {}).get("key")),
        merchandise=merchandise,
        total=minor_units(total_money) if total_money else merchandise,
        requested_option=_text(fields.get(F.REQUESTED_OPTION)),
        requested_points=_int(fields.get(F.REQUESTED_POINTS)),
        applied=applied,
        direct_discounts=tuple(cart.get("directDiscounts") or ()),
        reward_line_item_id=reward_line,
        ignores_cart_discounts=bool(cart.get("directDiscountsIgnoreCartDiscounts", False)),
    )


def _kind(value: Any) -> RewardKind:
    return value if value in ("fixed", "percentage", "variable") else "fixed"


# --- step 1: what kind of work is this update? ---------------------------------------------


def triage(facts: CartFacts) -> Step:
    if facts.requested_option is None and facts.applied is None:
        return Step.NOTHING
    if facts.requested_option is None or facts.applied is None:
        return Step.MAINTAIN if facts.applied is not None else Step.REDEEM
    if facts.applied.customer_id != facts.customer_id:
        return Step.MAINTAIN  # the reward belonged to someone else: it goes, no Yotpo call
    same = facts.applied.option_id == facts.requested_option and (
        facts.applied.kind != "variable" or facts.applied.points == facts.requested_points
    )
    return Step.MAINTAIN if same else Step.REDEEM


# --- step 2: the rules ---------------------------------------------------------------------


def precheck(facts: CartFacts, accepted_currencies: frozenset[str] | None) -> Rejection | None:
    """Checks that need no Yotpo call. `accepted_currencies` None: no account serves the store."""
    if not facts.customer_id or not facts.email:
        return Rejection(LoyaltyError.CUSTOMER_REQUIRED, "the cart has no customer id and email")
    if accepted_currencies is None:
        return Rejection(LoyaltyError.NOT_ELIGIBLE, "no loyalty program serves this store")
    if accepted_currencies and facts.currency not in accepted_currencies:
        return Rejection(LoyaltyError.CURRENCY_NOT_ENABLED, facts.currency)
    return None


def evaluate(
    facts: CartFacts,
    *,
    offered: list[dict[str, Any]],
    balance: int | None,
    all_options: list[dict[str, Any]] | None = None,
) -> Approval | Rejection:
    """Decide a requested reward from what Yotpo offers this customer now and their balance.

    `all_options` (every option of the program) is only needed to explain a refusal when the
    option is not among those offered.
    """
    wanted = facts.requested_option or ""
    option = _find(offered, wanted)
    if balance is None:
        return Rejection(LoyaltyError.NOT_ELIGIBLE, "the customer is not a loyalty member")
    if option is None:
        known = _find(all_options or [], wanted)
        if all_options is not None and known is None:
            return Rejection(LoyaltyError.UNKNOWN_OPTION, wanted)
        if known is not None and balance < (_int(known.get("amount")) or 0):
            return Rejection(LoyaltyError.NOT_ENOUGH_POINTS)
        return Rejection(LoyaltyError.NOT_ELIGIBLE)
    if option.get("is_offline"):
        return Rejection(LoyaltyError.NOT_ELIGIBLE, "an in-store reward")
    kind = _option_kind(option)
    cost = _int(option.get("amount")) or 0
    minimum = _int(option.get("cart_greater_than")) or 0
    points = cost
    percent_bp = None
    if kind == "variable":
        step = max(cost, 1)
        requested = facts.requested_points
        if requested is None or requested <= 0 or requested % step:
            return Rejection(LoyaltyError.INVALID_POINTS, f"a positive multiple of {step}")
        points = requested
        amount = requested // step * (_int(option.get("discount_amount_cents")) or 0)
    elif kind == "percentage":
        percent_bp = _basis_points(option.get("discount_percentage"))
        if percent_bp is None:
            return Rejection(LoyaltyError.UNKNOWN_OPTION, "option has no valid percentage")
        amount = facts.merchandise * percent_bp // 10_000
    else:
        amount = _int(option.get("discount_amount_cents")) or 0
    if balance < points:
        return Rejection(LoyaltyError.NOT_ENOUGH_POINTS)
    if minimum and facts.merchandise < minimum:
        return Rejection(LoyaltyError.BELOW_MINIMUM, str(minimum))
    return Approval(
        option_id=wanted,
        kind=kind,
        amount=min(amount, facts.total_before_reward),
        points=points,
        percent_bp=percent_bp,
        minimum=minimum,
    )


def _find(options: list[dict[str, Any]], option_id: str) -> dict[str, Any] | None:
    return next((o for o in options if str(o.get("id")) == option_id), None)


def _option_kind(option: dict[str, Any]) -> RewardKind:
    discount_type = str(option.get("discount_type") or "")
    if "percentage" in discount_type:
        return "percentage"
    if "variable" in discount_type:
        return "variable"
    return "fixed"


def _basis_points(value: Any) -> int | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return None
    if number <= 0 or number > 100:
        return None
    return int(number * 100)


# --- step 3: the actions -------------------------------------------------------------------


def redeem_actions(
    facts: CartFacts,
    approval: Approval,
    redemption: dict[str, Any],
    config: CheckoutConfig,
) -> list[dict[str, Any]]:
    """Apply a reward Yotpo just issued (replacing any reward applied before)."""
    code = _text(redemption.get("reward_text"))
    if code is None:
        raise ValueError("Yotpo's redemption carries no reward code")
    reward = AppliedReward(
        code=code,
        amount=approval.amount,
        option_id=approval.option_id,
        kind=approval.kind,
        customer_id=facts.customer_id,
        points=approval.points,
        percent_bp=approval.percent_bp,
        minimum=approval.minimum,
        redemption_id=_text(redemption.get("id")),
    )
    return _discount_actions(facts, reward, config) + _field_actions(reward, "applied")


def maintain_actions(
    facts: CartFacts, config: CheckoutConfig, *, cancelled: bool
) -> list[dict[str, Any]]:
    """Keep an applied reward consistent with the cart as it is now. No Yotpo call."""
    applied = facts.applied
    if applied is None:
        return []
    if facts.requested_option is None:
        return _removal(facts, config, "removed", unset_request=False)
    if cancelled:
        return _removal(facts, config, "cancelled_by_yotpo")
    if applied.customer_id != facts.customer_id:
        return _removal(facts, config, "customer_changed")
    if applied.minimum and facts.merchandise < applied.minimum:
        return _removal(facts, config, "below_minimum")
    amount = applied.amount
    if applied.kind == "percentage" and applied.percent_bp is not None:
        amount = facts.merchandise * applied.percent_bp // 10_000
    amount = min(amount, facts.total_before_reward)
    if amount == applied.amount and facts.reward_on_cart == applied.amount:
        return _stacking_action(facts, config)  # consistent already: usually no action at all
    updated = AppliedReward(**{**applied.__dict__, "amount": amount})
    actions = _discount_actions(facts, updated, config)
    actions.append(_set(F.REWARD_AMOUNT, amount))
    return actions


def _removal(
    facts: CartFacts, config: CheckoutConfig, status: str, *, unset_request: bool = True
) -> list[dict[str, Any]]:
    # Unsetting the request too keeps later, unrelated updates off the network: a dropped
    # reward must be asked for again by the shopper, not silently re-requested from Yotpo.
    actions = _discount_actions(facts, None, config)
    actions += _field_actions(None, status)
    if unset_request:
        actions += [_set(F.REQUESTED_OPTION, None), _set(F.REQUESTED_POINTS, None)]
    return actions


def _set(name: str, value: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"action": "setCustomField", "name": name}
    if value is not None:
        action["value"] = value
    return action


def _field_actions(reward: AppliedReward | None, status: str) -> list[dict[str, Any]]:
    values: dict[str, Any] = {
        F.REWARD_CODE: reward.code if reward else None,
        F.REWARD_AMOUNT: reward.amount if reward else None,
        F.REWARD_OPTION: reward.option_id if reward else None,
        F.REWARD_POINTS: reward.points if reward else None,
        F.REWARD_KIND: reward.kind if reward else None,
        F.REWARD_PERCENT_BP: reward.percent_bp if reward else None,
        F.REWARD_MINIMUM: reward.minimum if reward and reward.minimum else None,
        F.REWARD_CUSTOMER: reward.customer_id if reward else None,
        F.REDEMPTION_ID: reward.redemption_id if reward else None,
        F.REWARD_STATUS: status,
    }
    return [_set(name, value) for name, value in values.items()]


def _money(currency: str, amount: int) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": amount,
        "fractionDigits": currency_digits(currency),
    }


def _is_reward_discount(discount: dict[str, Any], currency: str, amount: int) -> bool:
    """Is this direct discount the connector's? (Ours: absolute, on the total, our amount.)"""
    value = discount.get("value") or {}
    target = discount.get("target") or {}
    money = value.get("money") or []
    return (
        value.get("type") == "absolute"
        and target.get("type") == "totalPrice"
        and len(money) == 1
        and money[0].get("currencyCode") == currency
        and _int(money[0].get("centAmount")) == amount
    )


def _draft(discount: dict[str, Any]) -> dict[str, Any]:
    """A direct discount as setDirectDiscounts takes it back (without its server-side id)."""
    draft = {"value": discount["value"], "target": discount["target"]}
    if "participateInBestDealSelection" in discount:
        draft["participateInBestDealSelection"] = discount["participateInBestDealSelection"]
    return draft


def _discount_actions(
    facts: CartFacts, reward: AppliedReward | None, config: CheckoutConfig
) -> list[dict[str, Any]]:
    if config.strategy == "custom-line-item":
        return _line_item_actions(facts, reward, config)
    # setDirectDiscounts replaces the whole list: keep every discount we did not create.
    foreign = list(facts.direct_discounts)
    own = facts.own_direct_discount_index()
    if own is not None:
        del foreign[own]
    discounts = [_draft(d) for d in foreign]
    if reward is not None and reward.amount > 0:
        discounts.append(
            {
                "value": {"type": "absolute", "money": [_money(facts.currency, reward.amount)]},
                "target": {"type": "totalPrice"},
                "participateInBestDealSelection": config.best_deal,
            }
        )
    actions: list[dict[str, Any]] = []
    if own is not None or reward is not None:
        actions.append({"action": "setDirectDiscounts", "discounts": discounts})
    if reward is not None:
        actions += _stacking_action(facts, config)
    return actions


def _stacking_action(facts: CartFacts, config: CheckoutConfig) -> list[dict[str, Any]]:
    if config.strategy != "direct-discount":
        return []
    wanted = config.stacking == "exclusive"
    if facts.ignores_cart_discounts == wanted:
        return []
    return [
        {
            "action": "setDirectDiscountsIgnoreCartDiscounts",
            "directDiscountsIgnoreCartDiscounts": wanted,
        }
    ]


def _line_item_actions(
    facts: CartFacts, reward: AppliedReward | None, config: CheckoutConfig
) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    if facts.reward_line_item_id:
        actions.append(
            {"action": "removeCustomLineItem", "customLineItemId": facts.reward_line_item_id}
        )
    if reward is not None and reward.amount > 0:
        line: dict[str, Any] = {
            "action": "addCustomLineItem",
            "name": {config.label_locale: f"Loyalty reward {reward.code}"},
            "quantity": 1,
            "money": _money(facts.currency, -reward.amount),
            "slug": REWARD_SLUG,
        }
        if config.tax_category_key:
            line["taxCategory"] = {"typeId": "tax-category", "key": config.tax_category_key}
        actions.append(line)
    return actions
