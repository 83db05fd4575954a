"""Reading a cart for the checkout rules (pure): what the cart asks for, what the connector
applied (from the seal only) and what commercetools computed.

The extension input is a cart commercetools sent, but its custom fields are the shopper's to
write (My Carts update actions, https://docs.commercetools.com/api/projects/me-carts#update-actions):
the applied reward comes only from `loyaltyRewardSeal` (`reward_state.py`,
docs/adr/0020-reward-state-trust-model.md); the readable reward fields are a projection of it.
Shapes commercetools never sends raise `InvalidCart` (answered 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.checkout.redemption import whole_number
from shared.domain.checkout.reward_state import AppliedReward, unseal
from shared.domain.customers.member_identity import MemberIdentity, member_id
from shared.domain.loyalty_fields import OWNED_CART_FIELDS
from shared.domain.loyalty_fields import CartFields as F
from shared.domain.money import MAX_MINOR_UNITS, minor_units
from shared.domain.values import text

__all__ = [
    "REWARD_SLUG",
    "CartFacts",
    "CheckoutMember",
    "InvalidCart",
    "cart_facts",
    "checkout_member",
    "concerns_loyalty",
    "looks_like_ours",
    "projection",
    "projection_names",
]

REWARD_SLUG = "yotpo-loyalty-reward"


class InvalidCart(ValueError):
    """The extension input is not a cart commercetools could have sent (answered 400)."""


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
    cart_id = text(cart.get("id"), limit=256) or ""
    applied = unseal(fields.get(F.REWARD_SEAL), cart_id, seal_key) if cart_id else None
    owned_present = any(fields.get(name) is not None for name in OWNED_CART_FIELDS)
    reward_line = next(
        (
            text(c.get("id"), limit=256)
            for c in custom_lines
            if c.get("slug") == REWARD_SLUG and text(c.get("id"), limit=256)
        ),
        None,
    )
    store = cart.get("store")
    store_key = text(store.get("key"), limit=256) if isinstance(store, Mapping) else None
    return CartFacts(
        id=cart_id,
        currency=currency,
        customer_id=text(cart.get("customerId"), limit=256),
        email=text(cart.get("customerEmail"), limit=320),
        store_key=store_key,
        merchandise=merchandise,
        total=_money(total_money, "totalPrice") if total_money else merchandise,
        requested_option=text(fields.get(F.REQUESTED_OPTION), limit=64),
        requested_points=whole_number(fields.get(F.REQUESTED_POINTS)),
        applied=applied,
        tampered=applied is None and owned_present,
        projection_stale=applied is not None and projection(applied) != _current(fields),
        direct_discounts=tuple(dict(d) for d in discounts),
        reward_line_item_id=reward_line,
        ignores_cart_discounts=cart.get("directDiscountsIgnoreCartDiscounts") is True,
        discount_codes=len(codes),
    )


def projection(reward: AppliedReward) -> dict[str, Any]:
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
    return {name: fields.get(name) for name in projection_names()}


def projection_names() -> tuple[str, ...]:
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
    own_email = text(customer.get("email"), limit=320)
    return CheckoutMember(customer_id, member_id(customer, identity), own_email or email)


def looks_like_ours(discount: Mapping[str, Any], currency: str) -> int | None:
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
    return looks_like_ours(discount, currency) == amount
