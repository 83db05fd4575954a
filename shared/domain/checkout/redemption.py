"""The redemption rules, one set for every channel (pure: Yotpo's options and the ask in, a
decision out).

Both the online checkout (the API Extension on a cart, `cart.py`) and the till (the in-store
loyalty API, `service/instore/redemptions.py`) decide a reward here: which option, whether this
channel may use it, its kind, the points it costs and whether the member has them, the minimum
spend, whether its amount is known in the redemption's currency, and that amount in the
currency's own minor units. Refusals carry one code from `RedemptionError`; the online codes are
the public ones (the extension's `extensionExtraInfo.loyaltyError`, the README), and the till
answers the same codes with its own HTTP statuses (docs/adr/0090-one-set-of-redemption-rules.md).

Option fields are those Yotpo's Fetch Active Redemption Options answers carry
(https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options): `id`, `amount` (the
points cost, sometimes sent as a string), `discount_type`, `discount_amount_cents`,
`discount_rate_cents`, `discount_percentage`, `cart_greater_than`. Their amounts are in the
program's base currency (docs/adr/0023-reward-amounts-and-currencies.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from shared.domain.checkout.reward_state import RewardKind
from shared.domain.values import text

__all__ = [
    "MAX_POINTS",
    "MESSAGES",
    "Approval",
    "Channel",
    "RedemptionError",
    "Rejection",
    "basis_points",
    "currency_refusal",
    "decide",
    "find_option",
    "is_offline",
    "is_option_id",
    "not_offered",
    "option_kind",
    "program_currency",
    "redeemable",
    "settled_face",
    "variable_value",
    "whole_number",
    "with_face",
]

# Points and option ids beyond this are not a loyalty program's numbers but hostile input.
MAX_POINTS = 10**12
# Yotpo's redemption option ids are int32 (Create Redemption,
# https://loyaltyapi.yotpo.com/reference/create-redemption): at most 10 digits.
_MAX_OPTION_ID_DIGITS = 10


class RedemptionError(StrEnum):
    """Why a redemption is refused: one code per reason, for every channel.

    The first block is public: storefronts read these in `extensionExtraInfo.loyaltyError`
    and the README lists them, so their values never change. The last block names what only
    the till meets (Yotpo refusing the redemption, reversals)."""

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
    # In-store only.
    REDEMPTION_REFUSED = "redemption_refused"
    UNKNOWN_REDEMPTION = "unknown_redemption"
    NOT_REVERSIBLE = "not_reversible"


# Fixed texts: a refusal never carries Yotpo's words or numbers the shopper should not learn.
MESSAGES: Mapping[RedemptionError, str] = {
    RedemptionError.CUSTOMER_REQUIRED: "Sign in to redeem loyalty rewards.",
    RedemptionError.NOT_ELIGIBLE: "This reward is not available for this customer right now.",
    RedemptionError.NOT_ENOUGH_POINTS: "Not enough loyalty points for this reward.",
    RedemptionError.BELOW_MINIMUM: "The cart is below this reward's minimum order value.",
    RedemptionError.UNKNOWN_OPTION: "This loyalty reward does not exist.",
    RedemptionError.INVALID_POINTS: "The number of points to redeem is not valid for this reward.",
    RedemptionError.CURRENCY_NOT_ENABLED: "Loyalty rewards are not available in this currency.",
    RedemptionError.CURRENCY_NOT_SUPPORTED: (
        "This reward's value is not known in the cart's currency; it cannot be applied."
    ),
    RedemptionError.DISCOUNT_CODE_CONFLICT: (
        "Loyalty rewards cannot be combined with discount codes; remove the code first."
    ),
    RedemptionError.REWARD_NO_LONGER_AVAILABLE: (
        "The loyalty reward on this cart is no longer available; remove it and try again."
    ),
    RedemptionError.UNAVAILABLE: "Loyalty rewards are unavailable right now; please try again.",
    RedemptionError.REDEMPTION_REFUSED: "The loyalty program refused this redemption.",
    RedemptionError.UNKNOWN_REDEMPTION: "No redemption with this id.",
    RedemptionError.NOT_REVERSIBLE: (
        "The redemption cannot be reversed (already used on an order?)."
    ),
}


class Channel(StrEnum):
    """Where a reward is redeemed; the few rules that differ by channel say so below."""

    ONLINE = "online"  # the API Extension, on a cart
    IN_STORE = "in_store"  # the till, through the loyalty API (no basket yet)


@dataclass(frozen=True)
class Rejection:
    error: RedemptionError
    # Connector-made context for logs (and the till's message); the storefront never sees it
    # (it could carry numbers the shopper should not learn, and never carries upstream text).
    detail: str = ""

    def extension_error(self) -> dict[str, Any]:
        """The error body commercetools passes to the storefront (inside ExtensionBadResponse)."""
        return {
            "code": "InvalidInput",
            "message": MESSAGES[self.error],
            "extensionExtraInfo": {"loyaltyError": self.error.value},
        }


@dataclass(frozen=True)
class Approval:
    option_id: str
    kind: RewardKind
    # The discount in the redemption currency's minor units. None: only Yotpo's redemption
    # can say (`settled_face`), or a percentage without a basket (the till).
    amount: int | None
    points: int
    percent_bp: int | None
    minimum: int
    face: int | None = None  # the full value of a fixed/variable reward


# --- reading Yotpo's numbers ----------------------------------------------------------------


def whole_number(value: Any) -> int | None:
    """A JSON number or numeric string that is a whole number of sane size, else None.

    Yotpo sends `amount` as a number or a string ("500" and 500 both occur, Fetch Active
    Redemption Options); `true` is never 1 and `5.5` never 5."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) <= MAX_POINTS * 10**6 else None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return None
        return whole_number(int(value))
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
        return whole_number(int(number))
    return None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def basis_points(value: Any) -> int | None:
    """A percentage (0 < p <= 100) in hundredths of a percent, else None."""
    number = _decimal(value)
    if number is None or number <= 0 or number > 100:
        return None
    return int(number * 100)


def is_option_id(option_id: str | None) -> bool:
    """ASCII digits that fit Yotpo's int32 option ids (`"١"` and `"²"` are not ids)."""
    wanted = option_id or ""
    return wanted.isascii() and wanted.isdigit() and len(wanted) <= _MAX_OPTION_ID_DIGITS


def find_option(options: Iterable[Any], option_id: str) -> Mapping[str, Any] | None:
    return next(
        (
            o
            for o in options
            if isinstance(o, Mapping) and text(o.get("id"), limit=256, numbers=True) == option_id
        ),
        None,
    )


def option_kind(option: Mapping[str, Any]) -> RewardKind:
    discount_type = str(option.get("discount_type") or "")
    if "percentage" in discount_type:
        return "percentage"
    if "variable" in discount_type:
        return "variable"
    # Everything else (fixed_amount, and types with no amount of their own) is a fixed reward.
    return "fixed"


def is_offline(option: Mapping[str, Any]) -> bool:
    """An in-store-only option: fetched under Yotpo's `is_offline=true` filter
    (`RedemptionOption.offline`), or flagged so by the option itself."""
    return getattr(option, "offline", None) is True or option.get("is_offline") is True


def variable_value(option: Mapping[str, Any], points: int, step: int) -> int | None:
    """A pay-with-points reward's value in minor units: `points x discount_rate_cents` (value
    per point, as public integrations compute it), else `discount_amount_cents` per step of
    `amount` points (older option shape); rounded down, never in the customer's favour."""
    rate = _decimal(option.get("discount_rate_cents"))
    if rate is not None and 0 <= rate <= 10**9:
        return int(rate * points)  # int() of a non-negative Decimal rounds down
    per_step = whole_number(option.get("discount_amount_cents"))
    if per_step is not None and per_step >= 0:
        return points // step * per_step
    return None


# --- currencies -----------------------------------------------------------------------------


def program_currency(configured: str | None, currencies: Iterable[str]) -> str | None:
    """The program's base currency: configured (`REWARD_BASE_CURRENCY`), else the account's
    one currency, else unknown (ADR 0023)."""
    if configured:
        return configured.upper()
    accepted = list(currencies)
    return accepted[0].upper() if len(accepted) == 1 else None


def currency_refusal(currency: str, accepted: frozenset[str] | None) -> Rejection | None:
    """Whether the serving account takes `currency` (an empty set takes every currency).
    `accepted` None: no loyalty program serves this store or channel."""
    if accepted is None:
        return Rejection(RedemptionError.NOT_ELIGIBLE, "no loyalty program serves this store")
    if accepted and currency.upper() not in accepted:
        return Rejection(RedemptionError.CURRENCY_NOT_ENABLED, currency)
    return None


def _in_base(currency: str | None, base: str | None, channel: Channel) -> bool:
    """Whether the option's base-currency amounts are amounts in `currency`."""
    if currency is None:
        return True  # the till named no currency: the code is in the program's own
    if base is None:
        # Online the discount is computed here and must not be wrong by a rate: an unknown
        # base refuses. The till has always shown the option's figure when the base is not
        # configured (ADR 0090 lists this as the one open difference).
        return channel is Channel.IN_STORE
    return base == currency.upper()


# --- the decision ---------------------------------------------------------------------------


def not_offered(option_id: str, balance: int, all_options: Sequence[Any] | None) -> Rejection:
    """Why an option Yotpo does not offer this customer now is refused. `all_options` (every
    option of the program) tells an unknown option from one the customer cannot use; None:
    not asked."""
    known = find_option(all_options or [], option_id)
    if all_options is not None and known is None:
        return Rejection(RedemptionError.UNKNOWN_OPTION, option_id)
    if known is not None and balance < (whole_number(known.get("amount")) or 0):
        return Rejection(RedemptionError.NOT_ENOUGH_POINTS)
    return Rejection(RedemptionError.NOT_ELIGIBLE)


def redeemable(
    option_id: str,
    *,
    channel: Channel,
    offered: Sequence[Any],
    balance: int | None,
    points: int | None,
    currency: str | None,
    base_currency: str | None,
    basket: int | None,
    all_options: Sequence[Any] | None = None,
) -> Approval | Rejection:
    """Decide a requested reward from what Yotpo offers this customer now and their balance
    (`balance` None: the customer is not a loyalty member). See `decide` for the rest."""
    option = find_option(offered, option_id)
    if balance is None:
        return Rejection(RedemptionError.NOT_ELIGIBLE, "the customer is not a loyalty member")
    if option is None:
        return not_offered(option_id, balance, all_options)
    return decide(
        option,
        channel=channel,
        balance=balance,
        points=points,
        currency=currency,
        base_currency=base_currency,
        basket=basket,
    )


def decide(
    option: Mapping[str, Any],
    *,
    channel: Channel,
    balance: int,
    points: int | None,
    currency: str | None,
    base_currency: str | None,
    basket: int | None,
) -> Approval | Rejection:
    """The terms of one offered option, or why it is refused, before anything is spent.

    `points`: what the customer asks to spend (a multiple of the option's `amount` for a
    variable reward). `currency`: the redemption's (None: the program's own). `basket`: the
    merchandise before the reward, the base of percentages and minimums (None at the till,
    where the minimum is checked when the code is used).

    Option amounts and minimums are in the base currency: the option's own `currency` when
    Yotpo names it, else `base_currency`. In another currency a fixed or variable amount is
    `currency_not_supported` (Yotpo's redemption answer carries no converted amount, Create
    Redemption), and so is a minimum, which cannot be compared without a rate.

    Channel differences: online, an in-store-only option is `not_eligible` and the cart's
    points field is read for variable rewards only; at the till, points given for a
    fixed-cost reward must be its cost (`invalid_points`).
    """
    option_id = text(option.get("id"), limit=256, numbers=True) or ""
    if channel is Channel.ONLINE and is_offline(option):
        return Rejection(RedemptionError.NOT_ELIGIBLE, "an in-store reward")
    kind = option_kind(option)
    cost = whole_number(option.get("amount")) or 0
    if not 0 <= cost <= MAX_POINTS:
        return Rejection(RedemptionError.UNKNOWN_OPTION, "option has no valid cost")
    minimum = max(whole_number(option.get("cart_greater_than")) or 0, 0)
    option_currency = text(option.get("currency"), limit=3, numbers=True)
    base = (option_currency or base_currency or "").upper() or None
    in_base = _in_base(currency, base, channel)
    if basket is not None and minimum and not in_base:
        return Rejection(RedemptionError.CURRENCY_NOT_SUPPORTED, f"minimum in {base or 'unknown'}")
    spent = cost
    percent_bp = None
    face: int | None = None
    if kind == "variable":
        step = max(cost, 1)
        if points is None or not 0 < points <= MAX_POINTS or points % step:
            return Rejection(RedemptionError.INVALID_POINTS, f"a positive multiple of {step}")
        spent = points
        face = variable_value(option, points, step)
        if face is None:
            return Rejection(RedemptionError.UNKNOWN_OPTION, "option has no value per point")
    elif channel is Channel.IN_STORE and points is not None and points != cost:
        return Rejection(RedemptionError.INVALID_POINTS, f"this reward costs exactly {cost}")
    elif kind == "percentage":
        percent_bp = basis_points(option.get("discount_percentage"))
        if percent_bp is None:
            return Rejection(RedemptionError.UNKNOWN_OPTION, "option has no valid percentage")
    else:
        value = whole_number(option.get("discount_amount_cents"))
        # A fixed-kind option without an amount (no value of its own): online no discount,
        # at the till an unknown value rather than a code worth 0.
        face = max(value, 0) if value is not None else (0 if channel is Channel.ONLINE else None)
    if kind != "percentage" and not in_base:
        return Rejection(RedemptionError.CURRENCY_NOT_SUPPORTED, f"amount in {base or 'unknown'}")
    if balance < spent:
        return Rejection(RedemptionError.NOT_ENOUGH_POINTS)
    if basket is not None and minimum and basket < minimum:
        return Rejection(RedemptionError.BELOW_MINIMUM, str(minimum))
    amount: int | None = face
    if kind == "percentage":
        amount = None if basket is None else basket * (percent_bp or 0) // 10_000
    return Approval(
        option_id=option_id,
        kind=kind,
        amount=amount,
        points=spent,
        percent_bp=percent_bp,
        minimum=minimum,
        face=face,
    )


def settled_face(
    approval: Approval, redemption: Mapping[str, Any], currency: str | None
) -> int | None:
    """A fixed or variable reward's full value once Yotpo has redeemed it, in `currency`'s
    minor units (None: a percentage, or not known in that currency).

    Yotpo's documented Create Redemption answer carries no amount
    (https://loyaltyapi.yotpo.com/reference/create-redemption), so the option's own value
    stands (`decide` allowed it only in the base currency). Should an answer report
    `discount_amount_cents` together with `currency`, that converted amount wins.
    """
    if approval.kind == "percentage":
        return approval.face
    reported_currency = text(redemption.get("currency"), limit=3, numbers=True)
    reported = whole_number(redemption.get("discount_amount_cents"))
    if (
        reported is not None
        and reported >= 0
        and reported_currency is not None
        and currency is not None
        and reported_currency.upper() == currency.upper()
    ):
        return reported
    return approval.face


def with_face(approval: Approval, face: int, ceiling: int) -> Approval:
    """The approval with its settled value, the discount never above `ceiling`."""
    return replace(approval, face=face, amount=min(face, max(ceiling, 0)))
