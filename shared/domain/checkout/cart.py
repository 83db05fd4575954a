"""Checkout rules for loyalty rewards on a cart (pure: a cart and Yotpo's answers in, actions out).

The API Extension calls these in three steps:
1. `concerns_loyalty` / `cart_facts` / `triage` — from the cart alone: nothing to do (no I/O at
   all), keep what is applied consistent (no Yotpo call unless a reward leaves the cart), or
   redeem a newly requested reward (Yotpo is asked).
2. `precheck` / `evaluate` / `settle_amount` — the reward rules: a known customer, an enabled
   currency, an option Yotpo offers this customer now, enough points, the option's minimum,
   an amount known in the cart's own currency.
3. `redeem_actions` / `maintain_plan` — the cart update actions: the discount (a direct
   discount or a negative custom line item), the sealed record of what was applied and the
   readable fields that mirror it.

Nothing the shopper can write is believed: the applied reward comes only from the seal
(`shared/domain/checkout/reward_state.py`, docs/adr/0020-reward-state-trust-model.md).
Amounts are the cart currency's minor units, computed here or reported by Yotpo for that
currency — never taken from the cart's fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import Any, Literal

from shared.domain.checkout.reward_state import AppliedReward, RewardKind, seal, unseal
from shared.domain.customers.member_identity import MemberIdentity, member_id
from shared.domain.loyalty_fields import OWNED_CART_FIELDS
from shared.domain.loyalty_fields import CartFields as F
from shared.domain.money import MAX_MINOR_UNITS, minor_units

__all__ = [
    "AppliedReward",
    "Approval",
    "CartFacts",
    "CheckoutConfig",
    "CheckoutMember",
    "InvalidCart",
    "LoyaltyError",
    "MaintainPlan",
    "Rejection",
    "RewardKind",
    "Step",
    "cart_facts",
    "checkout_member",
    "concerns_loyalty",
    "evaluate",
    "maintain_plan",
    "precheck",
    "redeem_actions",
    "settle_amount",
    "triage",
]

REWARD_SLUG = "yotpo-loyalty-reward"
# Points and option ids beyond this are not a loyalty program's numbers but hostile input.
_MAX_POINTS = 10**12

Strategy = Literal["direct-discount", "custom-line-item"]
Stacking = Literal["stack", "exclusive"]


class InvalidCart(ValueError):
    """The extension input is not a cart commercetools could have sent (answered 400)."""


class LoyaltyError(StrEnum):
    """Codes the storefront receives in `extensionExtraInfo.loyaltyError`."""

    CUSTOMER_REQUIRED = "customer_required"
    NOT_ELIGIBLE = "not_eligible"
    NOT_ENOUGH_POINTS = "not_enough_points"
    BELOW_MINIMUM = "below_minimum"
    UNKNOWN_OPTION = "unknown_option"
    INVALID_POINTS = "invalid_points"
    CURRENCY_NOT_ENABLED = "currency_not_enabled"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    DISCOUNT_CODE_CONFLICT = "discount_code_conflict"
    REWARD_NO_LONGER_AVAILABLE = "reward_no_longer_available"
    UNAVAILABLE = "loyalty_service_unavailable"


_MESSAGES = {
    LoyaltyError.CUSTOMER_REQUIRED: "Sign in to redeem loyalty rewards.",
    LoyaltyError.NOT_ELIGIBLE: "This reward is not available for this customer right now.",
    LoyaltyError.NOT_ENOUGH_POINTS: "Not enough loyalty points for this reward.",
    LoyaltyError.BELOW_MINIMUM: "The cart is below this reward's minimum order value.",
    LoyaltyError.UNKNOWN_OPTION: "This loyalty reward does not exist.",
    LoyaltyError.INVALID_POINTS: "The number of points to redeem is not valid for this reward.",
    LoyaltyError.CURRENCY_NOT_ENABLED: "Loyalty rewards are not available in this currency.",
    LoyaltyError.CURRENCY_NOT_SUPPORTED: (
        "This reward's value is not known in the cart's currency; it cannot be applied."
    ),
    LoyaltyError.DISCOUNT_CODE_CONFLICT: (
        "Loyalty rewards cannot be combined with discount codes; remove the code first."
    ),
    LoyaltyError.REWARD_NO_LONGER_AVAILABLE: (
        "The loyalty reward on this cart is no longer available; remove it and try again."
    ),
    LoyaltyError.UNAVAILABLE: "Loyalty rewards are unavailable right now; please try again.",
}


@dataclass(frozen=True)
class CheckoutConfig:
    strategy: Strategy = "direct-discount"
    # "stack": the reward applies alongside the shopper's cart discounts and discount codes
    # (directDiscountsIgnoreCartDiscounts=false, possible since the 2026-09-17 API release);
    # "exclusive": direct discounts replace cart discounts (refused while the cart has codes).
    stacking: Stacking = "stack"
    # Whether commercetools may drop the reward when a product or cart discount is better.
    best_deal: bool = False
    tax_category_key: str | None = None
    label_locale: str = "en"
    delay_points_deduction: bool = True
    # The key that seals the applied reward (reward_state.seal_key of EXTENSION_SECRET).
    seal_key: bytes = b""
    # Who the cart's customer is in Yotpo (MEMBER_ID_SOURCE, docs/adr/0010-member-identity.md).
    identity: MemberIdentity = field(default_factory=MemberIdentity)


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
    applied: AppliedReward | None  # only ever from a valid seal
    # Connector-owned fields present without a valid seal: someone else wrote them.
    tampered: bool
    # The readable fields differ from the sealed record (restored on this update).
    projection_stale: bool
    direct_discounts: tuple[dict[str, Any], ...]
    reward_line_item_id: str | None
    ignores_cart_discounts: bool
    discount_codes: int

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
    # Connector-made context for logs only; the storefront never sees it (it could carry
    # numbers or names the shopper should not learn, and never carries upstream text).
    detail: str = ""

    def extension_error(self) -> dict[str, Any]:
        """The error body commercetools passes to the storefront (inside ExtensionBadResponse)."""
        return {
            "code": "InvalidInput",
            "message": _MESSAGES[self.error],
            "extensionExtraInfo": {"loyaltyError": self.error.value},
        }


@dataclass(frozen=True)
class Approval:
    option_id: str
    kind: RewardKind
    # In the cart's currency; None when only Yotpo's redemption can say (another currency).
    amount: int | None
    points: int
    percent_bp: int | None
    minimum: int
    face: int | None = None  # the full value of a fixed/variable reward, cart currency


@dataclass(frozen=True)
class MaintainPlan:
    actions: list[dict[str, Any]]
    status: str | None  # why the reward left the cart, None when it stays
    dropped: AppliedReward | None  # a sealed reward that left the cart (to cancel in Yotpo)


# --- reading the cart ----------------------------------------------------------------------


def _fields(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    custom = resource.get("custom")
    if custom is None:
        return {}
    if not isinstance(custom, Mapping):
        raise InvalidCart("custom must be an object")
    fields = custom.get("fields")
    if fields is None:
        return {}
    if not isinstance(fields, Mapping):
        raise InvalidCart("custom.fields must be an object")
    return fields


def concerns_loyalty(resource: Mapping[str, Any]) -> bool:
    """Whether the cart asks for or carries a reward (read from its custom fields only)."""
    fields = _fields(resource)
    if not fields:
        return False
    return fields.get(F.REQUESTED_OPTION) is not None or any(
        fields.get(name) is not None for name in OWNED_CART_FIELDS
    )


def _int(value: Any) -> int | None:
    """A JSON number or numeric string that is a whole number of sane size, else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) <= _MAX_POINTS * 10**6 else None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return None
        return _int(int(value))
    if isinstance(value, str) and len(value) <= 40:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        # adjusted() first: int(Decimal("1e999999999")) would build a billion-digit number.
        if not number.is_finite() or number.adjusted() > 20:
            return None
        if number != number.to_integral_value():
            return None
        return _int(int(number))
    return None


def _text(value: Any, limit: int = 256) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text[:limit] if text else None


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidCart(f"{name} must be an object")
    return value


def _objects(value: Any, name: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise InvalidCart(f"{name} must be a list of objects")
    return value


def _money(value: Any, name: str) -> int:
    try:
        return minor_units(value)
    except ValueError as exc:
        raise InvalidCart(f"{name}: {exc}") from None


def cart_facts(cart: Mapping[str, Any], seal_key: bytes = b"") -> CartFacts:
    """What the rules need from a cart. Raises InvalidCart for shapes commercetools never sends."""
    if not isinstance(cart, Mapping):
        raise InvalidCart("the cart must be an object")
    fields = _fields(cart)
    total_money = _object(cart.get("totalPrice"), "totalPrice")
    currency = total_money.get("currencyCode") or cart.get("currency") or ""
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise InvalidCart("the cart has no valid currency")
    currency = currency.upper()
    merchandise = 0
    for line in _objects(cart.get("lineItems"), "lineItems"):
        merchandise += _money(line.get("totalPrice"), "lineItems[].totalPrice")
    if abs(merchandise) > MAX_MINOR_UNITS:
        raise InvalidCart("the cart total is out of range")
    custom_lines = _objects(cart.get("customLineItems"), "customLineItems")
    discounts = _objects(cart.get("directDiscounts"), "directDiscounts")
    codes = _objects(cart.get("discountCodes"), "discountCodes")
    cart_id = _text(cart.get("id")) or ""
    applied = unseal(fields.get(F.REWARD_SEAL), cart_id, seal_key) if cart_id else None
    owned_present = any(fields.get(name) is not None for name in OWNED_CART_FIELDS)
    reward_line = next(
        (
            _text(c.get("id"))
            for c in custom_lines
            if c.get("slug") == REWARD_SLUG and _text(c.get("id"))
        ),
        None,
    )
    store = cart.get("store")
    store_key = _text(store.get("key")) if isinstance(store, Mapping) else None
    return CartFacts(
        id=cart_id,
        currency=currency,
        customer_id=_text(cart.get("customerId")),
        email=_text(cart.get("customerEmail"), 320),
        store_key=store_key,
        merchandise=merchandise,
        total=_money(total_money, "totalPrice") if total_money else merchandise,
        requested_option=_text(fields.get(F.REQUESTED_OPTION), 64),
        requested_points=_int(fields.get(F.REQUESTED_POINTS)),
        applied=applied,
        tampered=applied is None and owned_present,
        projection_stale=applied is not None and _projection(applied) != _current(fields),
        direct_discounts=tuple(dict(d) for d in discounts),
        reward_line_item_id=reward_line,
        ignores_cart_discounts=cart.get("directDiscountsIgnoreCartDiscounts") is True,
        discount_codes=len(codes),
    )


def _projection(reward: AppliedReward) -> dict[str, Any]:
    """The readable fields that mirror a sealed reward."""
    return {
        F.REWARD_CODE: reward.code,
        F.REWARD_AMOUNT: reward.amount,
        F.REWARD_OPTION: reward.option_id,
        F.REWARD_POINTS: reward.points,
        F.REWARD_KIND: reward.kind,
        F.REWARD_PERCENT_BP: reward.percent_bp,
        F.REWARD_MINIMUM: reward.minimum or None,
        F.REWARD_CUSTOMER: reward.customer_id,
        F.REDEMPTION_ID: reward.redemption_id,
    }


def _current(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: fields.get(name) for name in _projection_names()}


def _projection_names() -> tuple[str, ...]:
    return tuple(name for name in OWNED_CART_FIELDS if name != F.REWARD_SEAL)


@dataclass(frozen=True)
class CheckoutMember:
    """Whom a redemption is for: the commercetools customer the sealed reward is bound to, and
    the Yotpo member that customer is (docs/adr/0010-member-identity.md)."""

    customer_id: str  # the commercetools customer id (sealed into the reward)
    member_id: str  # Yotpo's `customer_id` on every call
    email: str | None  # Yotpo's `customer_email`


def checkout_member(
    customer_id: str,
    email: str | None,
    identity: MemberIdentity,
    customer: Mapping[str, Any] | None = None,
) -> CheckoutMember | None:
    """The Yotpo member of the cart's (or order's) customer.

    With the default source the member id is the commercetools id and no customer is needed.
    Otherwise `customer` must be that customer as commercetools holds it (never the cart's
    own fields, which the shopper can write); the member's email is then the customer's own
    email, as the event app sends it. None: the customer is needed and was not given, or is
    another customer.
    """
    if not identity.needs_customer:
        return CheckoutMember(customer_id, customer_id, email)
    if not isinstance(customer, Mapping) or str(customer.get("id")) != customer_id:
        return None
    own_email = _text(customer.get("email"), 320)
    return CheckoutMember(customer_id, member_id(customer, identity), own_email or email)


# --- step 1: what kind of work is this update? ---------------------------------------------


def triage(facts: CartFacts) -> Step:
    applied = facts.applied
    if facts.requested_option is None:
        return Step.MAINTAIN if applied is not None or facts.tampered else Step.NOTHING
    if applied is None:
        return Step.REDEEM
    if applied.customer_id != facts.customer_id:
        return Step.MAINTAIN  # the reward belonged to someone else: it goes, no new redemption
    same = applied.option_id == facts.requested_option and (
        applied.kind != "variable" or applied.points == facts.requested_points
    )
    return Step.MAINTAIN if same else Step.REDEEM


# --- step 2: the rules ---------------------------------------------------------------------


def precheck(
    facts: CartFacts,
    accepted_currencies: frozenset[str] | None,
    config: CheckoutConfig | None = None,
) -> Rejection | None:
    """Checks that need no Yotpo call. `accepted_currencies` None: no account serves the store."""
    if not facts.customer_id or not facts.email:
        return Rejection(LoyaltyError.CUSTOMER_REQUIRED, "the cart has no customer id and email")
    if not (facts.requested_option or "").isascii() or not (facts.requested_option or "").isdigit():
        # Yotpo's redemption option ids are integers (Create Redemption, int32).
        return Rejection(LoyaltyError.UNKNOWN_OPTION, "not an option id")
    if len(facts.requested_option or "") > 10:
        return Rejection(LoyaltyError.UNKNOWN_OPTION, "not an option id")
    if accepted_currencies is None:
        return Rejection(LoyaltyError.NOT_ELIGIBLE, "no loyalty program serves this store")
    if accepted_currencies and facts.currency not in accepted_currencies:
        return Rejection(LoyaltyError.CURRENCY_NOT_ENABLED, facts.currency)
    if (
        config is not None
        and config.strategy == "direct-discount"
        and config.stacking == "exclusive"
        and facts.discount_codes
    ):
        # commercetools refuses directDiscountsIgnoreCartDiscounts=true on a cart that has
        # both discount codes and direct discounts (Set DirectDiscountsIgnoreCartDiscounts,
        # 2026-09-17 release); refusing here says why instead of failing the whole update.
        return Rejection(LoyaltyError.DISCOUNT_CODE_CONFLICT)
    return None


def evaluate(
    facts: CartFacts,
    *,
    offered: list[dict[str, Any]],
    balance: int | None,
    all_options: list[dict[str, Any]] | None = None,
    base_currency: str | None = None,
) -> Approval | Rejection:
    """Decide a requested reward from what Yotpo offers this customer now and their balance.

    `all_options` (every option of the program) is only needed to explain a refusal when the
    option is not among those offered. Option amounts and minimums are in the program's base
    currency: the option's own `currency` when Yotpo names it, else `base_currency`. In any
    other cart currency a fixed amount is left to Yotpo's redemption (`settle_amount`) and a
    minimum, which cannot be compared without a rate, refuses the reward.
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
    if option.get("is_offline") is True:
        return Rejection(LoyaltyError.NOT_ELIGIBLE, "an in-store reward")
    kind = _option_kind(option)
    cost = _int(option.get("amount")) or 0
    if not 0 <= cost <= _MAX_POINTS:
        return Rejection(LoyaltyError.UNKNOWN_OPTION, "option has no valid cost")
    minimum = max(_int(option.get("cart_greater_than")) or 0, 0)
    option_currency = _text(option.get("currency"), 3)
    base = (option_currency or base_currency or "").upper() or None
    same_currency = base == facts.currency
    if minimum and not same_currency:
        return Rejection(LoyaltyError.CURRENCY_NOT_SUPPORTED, f"minimum in {base or 'unknown'}")
    points = cost
    percent_bp = None
    face: int | None = None
    if kind == "variable":
        step = max(cost, 1)
        requested = facts.requested_points
        if requested is None or not 0 < requested <= _MAX_POINTS or requested % step:
            return Rejection(LoyaltyError.INVALID_POINTS, f"a positive multiple of {step}")
        points = requested
        face = _variable_value(option, requested, step)
        if face is None:
            return Rejection(LoyaltyError.UNKNOWN_OPTION, "option has no value per point")
    elif kind == "percentage":
        percent_bp = _basis_points(option.get("discount_percentage"))
        if percent_bp is None:
            return Rejection(LoyaltyError.UNKNOWN_OPTION, "option has no valid percentage")
    else:
        face = max(_int(option.get("discount_amount_cents")) or 0, 0)
    if kind != "percentage" and not same_currency:
        # Yotpo's option amounts are in the program's base currency and its redemption
        # answer carries no converted amount (Create Redemption: id, reward_text, approved,
        # created_at); using them as another currency's minor units is wrong by the rate.
        return Rejection(LoyaltyError.CURRENCY_NOT_SUPPORTED, f"amount in {base or 'unknown'}")
    if balance < points:
        return Rejection(LoyaltyError.NOT_ENOUGH_POINTS)
    if minimum and facts.merchandise < minimum:
        return Rejection(LoyaltyError.BELOW_MINIMUM, str(minimum))
    if kind == "percentage":
        amount: int | None = facts.merchandise * (percent_bp or 0) // 10_000
    else:
        amount = face
    return Approval(
        option_id=wanted,
        kind=kind,
        amount=None if amount is None else min(amount, max(facts.total_before_reward, 0)),
        points=points,
        percent_bp=percent_bp,
        minimum=minimum,
        face=face,
    )


def settle_amount(
    facts: CartFacts, approval: Approval, redemption: Mapping[str, Any]
) -> Approval | Rejection:
    """The approval with its final amount in the cart's currency.

    Yotpo's documented Create Redemption answer carries no amount
    (https://loyaltyapi.yotpo.com/reference/create-redemption), so the option's own amount
    stands (`evaluate` allowed it only in the base currency). Should an answer report
    `discount_amount_cents` together with the cart's `currency`, that converted amount wins.
    """
    if approval.kind == "percentage":
        return approval
    reported_currency = _text(redemption.get("currency"), 3)
    reported = _int(redemption.get("discount_amount_cents"))
    face = approval.face
    if (
        reported is not None
        and reported >= 0
        and reported_currency is not None
        and reported_currency.upper() == facts.currency
    ):
        face = reported
    if face is None:
        return Rejection(LoyaltyError.CURRENCY_NOT_SUPPORTED, "no amount in the cart currency")
    return replace(approval, face=face, amount=min(face, max(facts.total_before_reward, 0)))


def _variable_value(option: Mapping[str, Any], points: int, step: int) -> int | None:
    """A pay-with-points reward's value in minor units: `points x discount_rate_cents` (value
    per point, as public integrations compute it), else `discount_amount_cents` per step of
    `amount` points (older option shape); rounded down, never in the shopper's favour."""
    rate = option.get("discount_rate_cents")
    if rate is not None and not isinstance(rate, bool) and isinstance(rate, int | float | str):
        try:
            number = Decimal(str(rate))
        except (InvalidOperation, ValueError):
            number = Decimal("NaN")
        if number.is_finite() and 0 <= number <= 10**9:
            return int(number * points)
    per_step = _int(option.get("discount_amount_cents"))
    if per_step is not None and per_step >= 0:
        return points // step * per_step
    return None


def _find(options: list[dict[str, Any]], option_id: str) -> dict[str, Any] | None:
    return next(
        (o for o in options if isinstance(o, Mapping) and _text(o.get("id")) == option_id),
        None,
    )


def _option_kind(option: Mapping[str, Any]) -> RewardKind:
    discount_type = str(option.get("discount_type") or "")
    if "percentage" in discount_type:
        return "percentage"
    if "variable" in discount_type:
        return "variable"
    return "fixed"


def _basis_points(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number <= 0 or number > 100:
        return None
    return int(number * 100)


# --- step 3: the actions -------------------------------------------------------------------


def redeem_actions(
    facts: CartFacts,
    approval: Approval,
    redemption: Mapping[str, Any],
    config: CheckoutConfig,
) -> list[dict[str, Any]]:
    """Apply a reward Yotpo just issued (replacing any reward applied before).

    `approval` must carry its settled amount (`settle_amount`). Raises ValueError when Yotpo's
    answer lacks a code: the caller then cancels the redemption.
    """
    code = _text(redemption.get("reward_text"))
    if code is None:
        raise ValueError("Yotpo's redemption carries no reward code")
    if approval.amount is None:
        raise ValueError("the reward amount was not settled")
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
        currency=facts.currency,
        delayed=config.delay_points_deduction,
        face=approval.face or 0,
    )
    return _discount_actions(facts, reward, config) + _field_actions(
        reward, "applied", _seal_value(reward, facts, config)
    )


def maintain_plan(facts: CartFacts, config: CheckoutConfig, *, cancelled: bool) -> MaintainPlan:
    """Keep an applied reward consistent with the cart as it is now. No Yotpo call here:
    the caller cancels `dropped` in Yotpo."""
    applied = facts.applied
    if applied is None:
        if facts.tampered:
            # Never grant, never cancel: clear what someone else wrote, and any discount
            # that looks like ours (none could be: only a sealed reward makes one).
            actions = _discount_actions(facts, None, config)
            return MaintainPlan(actions + _field_actions(None, "invalid"), "invalid", None)
        return MaintainPlan([], None, None)
    status = None
    if facts.requested_option is None:
        status = "removed"
    elif cancelled:
        status = "cancelled_by_yotpo"
    elif applied.customer_id != facts.customer_id:
        status = "customer_changed"
    elif applied.minimum and facts.merchandise < applied.minimum:
        status = "below_minimum"
    if status is not None:
        actions = _removal(facts, config, status, unset_request=status != "removed")
        # A code Yotpo already cancelled needs no cancellation from us.
        return MaintainPlan(actions, status, None if status == "cancelled_by_yotpo" else applied)
    base = applied.face if applied.kind != "percentage" else 0
    if applied.kind == "percentage" and applied.percent_bp is not None:
        base = facts.merchandise * applied.percent_bp // 10_000
    amount = max(min(base, facts.total_before_reward), 0)
    if amount == applied.amount and facts.reward_on_cart == applied.amount:
        actions = _stacking_action(facts, config) if amount else []
        if facts.projection_stale:
            # The shopper rewrote the readable fields: put the sealed values back.
            actions += _field_actions(applied, "applied", _seal_value(applied, facts, config))
        return MaintainPlan(actions, None, None)
    updated = replace(applied, amount=amount)
    actions = _discount_actions(facts, updated, config)
    actions += _field_actions(updated, "applied", _seal_value(updated, facts, config))
    return MaintainPlan(actions, None, None)


def _seal_value(reward: AppliedReward, facts: CartFacts, config: CheckoutConfig) -> str | None:
    return seal(reward, facts.id, config.seal_key) if config.seal_key else None


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


def _field_actions(
    reward: AppliedReward | None, status: str, seal_text: str | None = None
) -> list[dict[str, Any]]:
    values: dict[str, Any] = _projection(reward) if reward else dict.fromkeys(_projection_names())
    values[F.REWARD_SEAL] = seal_text if reward else None
    values[F.REWARD_STATUS] = status
    return [_set(name, value) for name, value in values.items()]


def _money_draft(currency: str, amount: int) -> dict[str, Any]:
    # Money as drafts take it: commercetools derives the fraction digits from the currency
    # (Money, https://docs.commercetools.com/api/types#money), so KWD 500 is 0.500 KWD.
    return {"currencyCode": currency, "centAmount": amount}


def _looks_like_ours(discount: Mapping[str, Any], currency: str) -> int | None:
    """The amount of a direct discount shaped like the connector's (absolute, one money in the
    cart currency, on the total), else None."""
    value = discount.get("value")
    target = discount.get("target")
    if not isinstance(value, Mapping) or not isinstance(target, Mapping):
        return None  # e.g. giftLineItem, which has no target
    money = value.get("money")
    if value.get("type") != "absolute" or target.get("type") != "totalPrice":
        return None
    if not isinstance(money, list) or len(money) != 1 or not isinstance(money[0], Mapping):
        return None
    if money[0].get("currencyCode") != currency:
        return None
    amount = money[0].get("centAmount")
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else None


def _is_reward_discount(discount: Mapping[str, Any], currency: str, amount: int) -> bool:
    return _looks_like_ours(discount, currency) == amount


def _draft(discount: Mapping[str, Any]) -> dict[str, Any]:
    """A direct discount as setDirectDiscounts takes it back: everything but its server id.

    Kept whole, whatever its kind: `giftLineItem` has no `target`, multi-buy and pattern
    targets carry fields of their own (DirectDiscount, https://docs.commercetools.com/api/
    projects/carts#directdiscount), and a field added by a later API release survives too.
    """
    return {key: value for key, value in discount.items() if key != "id"}


def _discount_actions(
    facts: CartFacts, reward: AppliedReward | None, config: CheckoutConfig
) -> list[dict[str, Any]]:
    if config.strategy == "custom-line-item":
        return _line_item_actions(facts, reward, config)
    # setDirectDiscounts replaces the whole list: keep every discount we did not create.
    foreign = list(facts.direct_discounts)
    removed = False
    if facts.tampered and facts.applied is None:
        kept = [d for d in foreign if _looks_like_ours(d, facts.currency) is None]
        removed = len(kept) != len(foreign)
        foreign = kept
    else:
        own = facts.own_direct_discount_index()
        if own is not None:
            del foreign[own]
            removed = True
    discounts = [_draft(d) for d in foreign]
    if reward is not None and reward.amount > 0:
        discounts.append(
            {
                "value": {
                    "type": "absolute",
                    "money": [_money_draft(facts.currency, reward.amount)],
                },
                "target": {"type": "totalPrice"},
                "participateInBestDealSelection": config.best_deal,
            }
        )
    actions: list[dict[str, Any]] = []
    adds = reward is not None and reward.amount > 0
    if adds:
        # The flag first: with it still true, setDirectDiscounts meets a cart holding codes
        # and is refused (Set DirectDiscounts: "only if no DiscountCode has been added").
        actions += _stacking_action(facts, config)
    if removed or adds:
        actions.append({"action": "setDirectDiscounts", "discounts": discounts})
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
            "money": _money_draft(facts.currency, -reward.amount),
            "slug": REWARD_SLUG,
        }
        if config.tax_category_key:
            line["taxCategory"] = {"typeId": "tax-category", "key": config.tax_category_key}
        actions.append(line)
    return actions
