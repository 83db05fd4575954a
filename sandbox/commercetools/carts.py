"""Carts: creation and the table of update actions — pure functions over cart JSON.

The actions live by what they change: `cart_items` (line items and custom line items, their
tax rates), `cart_discount_actions` (Direct Discounts, the ignore-cart-discounts flag,
discount codes); this module keeps creation, shipping, customer and custom-field actions.
Every update ends with `cart_pricing.recalculate` (prices, discounts, taxes). The names other
modules import from here (`CARTS`, `line_item_defaults`, `discount_value_and_target`, ...)
are re-exported.
"""

from __future__ import annotations

from typing import Any

from sandbox.commercetools.cart_discount_actions import (
    DISCOUNT_TARGETS,
    DISCOUNT_VALUE_TYPES,
    MAX_DISCOUNT_CODES,
    MULTI_BUY_TARGETS,
    PERMYRIAD,
    PRICED_TARGETS,
    SELECTION_MODES,
    add_discount_code,
    discount_value_and_target,
    ignores_cart_discounts,
    remove_discount_code,
    set_direct_discounts,
    set_ignore_cart_discounts,
)
from sandbox.commercetools.cart_items import (
    INITIAL_STATE_ID,
    PRODUCT_TYPE_ID,
    add_custom_line_item,
    add_line_item,
    cart_currency,
    change_custom_line_item_money,
    change_custom_line_item_quantity,
    change_line_item_quantity,
    custom_line_item_rate,
    find_line_item,
    line_item_defaults,
    remove_custom_line_item,
    remove_line_item,
)
from sandbox.commercetools.cart_pricing import discounts_in_effect, recalculate
from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.custom import custom_from_draft, set_custom_field, set_custom_type
from sandbox.commercetools.errors import invalid_input, invalid_operation
from sandbox.commercetools.kinds import (
    Action,
    Kind,
    Resource,
    checked_key,
    required,
    set_key,
    set_or_drop,
    text,
    unknown_action,
)
from sandbox.commercetools.money import fraction_digits, money, parse_money

__all__ = [
    "CARTS",
    "CART_ACTIONS",
    "DISCOUNT_TARGETS",
    "DISCOUNT_VALUE_TYPES",
    "INITIAL_STATE_ID",
    "MAX_DISCOUNT_CODES",
    "MULTI_BUY_TARGETS",
    "PERMYRIAD",
    "PRICED_TARGETS",
    "PRODUCT_TYPE_ID",
    "SELECTION_MODES",
    "apply_cart_actions",
    "build_cart",
    "discount_value_and_target",
    "discounts_in_effect",
    "ignores_cart_discounts",
    "line_item_defaults",
    "recalculate",
]


# --- creation --------------------------------------------------------------------------------
def build_cart(draft: dict[str, Any], ctx: Context) -> Resource:
    currency = text(draft, "currency")
    fraction_digits(currency or "")
    cart: Resource = {
        "key": checked_key(draft.get("key")),
        "customerId": draft.get("customerId"),
        "customerEmail": draft.get("customerEmail"),
        "anonymousId": draft.get("anonymousId"),
        "store": _store(draft.get("store")),
        "lineItems": [],
        "customLineItems": [],
        "totalPrice": money(currency or "", 0),
        "taxMode": "Platform",
        "priceRoundingMode": "HalfEven",
        "taxRoundingMode": "HalfEven",
        "taxCalculationMode": "LineItemLevel",
        "inventoryMode": "None",
        "cartState": "Active",
        "shippingMode": "Single",
        "shipping": [],
        "shippingAddress": draft.get("shippingAddress"),
        "billingAddress": draft.get("billingAddress"),
        "country": draft.get("country"),
        "locale": draft.get("locale"),
        "itemShippingAddresses": [],
        "discountCodes": [],
        "directDiscounts": [],
        "refusedGifts": [],
        "origin": draft.get("origin", "Customer"),
    }
    # The public docs do not state the default of the 2026-09-17 flag; the stand-in plays
    # either answer (StandInConfig.ignore_cart_discounts_default, true unless told).
    flag = draft.get("directDiscountsIgnoreCartDiscounts")
    if flag is not None and not isinstance(flag, bool):
        raise invalid_input("'directDiscountsIgnoreCartDiscounts' must be a boolean.")
    cart["directDiscountsIgnoreCartDiscounts"] = (
        ctx.ignore_cart_discounts_default() if flag is None else flag
    )
    if draft.get("customerGroup") is not None:
        group = ctx.resolve("customer-group", draft["customerGroup"])
        cart["customerGroup"] = {"typeId": "customer-group", "id": group["id"]}
    cart["custom"] = custom_from_draft(draft.get("custom"), ctx, "order")
    cart = {k: v for k, v in cart.items() if v is not None}
    emit = _no_messages
    for item in draft.get("lineItems") or []:
        add_line_item(cart, item, ctx, emit)
    for item in draft.get("customLineItems") or []:
        add_custom_line_item(cart, item, ctx, emit)
    for code in draft.get("discountCodes") or []:
        add_discount_code(cart, {"code": code}, ctx, emit)
    recalculate(cart, ctx)
    return cart


def _no_messages(message_type: str, **payload: Any) -> None:
    """Carts have no messages in commercetools' message list that this stand-in emits."""


def _store(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("key"), str):
        raise invalid_input("'store' must be a ResourceIdentifier with a 'key'.")
    return {"typeId": "store", "key": value["key"]}


# --- shipping, customer, misc ----------------------------------------------------------------
def _set_custom_shipping_method(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    name = text(act, "shippingMethodName")
    rate = required(act, "shippingRate")
    currency, cents = parse_money(required(rate, "price"), "shippingRate.price")
    if currency != cart_currency(cart):
        raise invalid_input(f"The shipping rate must be in {cart_currency(cart)}.")
    tax_rate, category = custom_line_item_rate(cart, act, ctx)
    info = {
        "shippingMethodName": name,
        "price": money(currency, cents),
        "shippingRate": {"price": money(currency, cents), "tiers": []},
        "taxRate": tax_rate,
        "taxCategory": category.reference() if category else None,
        "shippingMethodState": "MatchesCart",
    }
    cart["shippingInfo"] = {k: v for k, v in info.items() if v is not None}


def _field_setter(field: str, required_field: str | None = None) -> Action:
    source = required_field or field

    def action(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
        set_or_drop(cart, field, act.get(source))

    return action


def _set_store(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    set_or_drop(cart, "store", _store(act.get("store")))


def _set_custom_type(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    set_custom_type(cart, act, ctx, "order")


def _set_custom_field(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    set_custom_field(cart, act, ctx)


def _set_line_item_custom_field(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    set_custom_field(find_line_item(cart, act), act, ctx)


def _recalculate(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    """Prices are recalculated after every update anyway."""


CART_ACTIONS: dict[str, Action] = {
    "addLineItem": add_line_item,
    "removeLineItem": remove_line_item,
    "changeLineItemQuantity": change_line_item_quantity,
    "addCustomLineItem": add_custom_line_item,
    "removeCustomLineItem": remove_custom_line_item,
    "changeCustomLineItemQuantity": change_custom_line_item_quantity,
    "changeCustomLineItemMoney": change_custom_line_item_money,
    "setDirectDiscounts": set_direct_discounts,
    "setDirectDiscountsIgnoreCartDiscounts": set_ignore_cart_discounts,
    "addDiscountCode": add_discount_code,
    "removeDiscountCode": remove_discount_code,
    "setCustomShippingMethod": _set_custom_shipping_method,
    "setShippingAddress": _field_setter("shippingAddress", "address"),
    "setBillingAddress": _field_setter("billingAddress", "address"),
    "setCountry": _field_setter("country"),
    "setCustomerId": _field_setter("customerId"),
    "setCustomerEmail": _field_setter("customerEmail", "email"),
    "setAnonymousId": _field_setter("anonymousId"),
    "setLocale": _field_setter("locale"),
    "setStore": _set_store,
    "setCustomType": _set_custom_type,
    "setCustomField": _set_custom_field,
    "setLineItemCustomField": _set_line_item_custom_field,
    "setKey": set_key,
    "recalculate": _recalculate,
}


def apply_cart_actions(
    cart: Resource, actions: list[dict[str, Any]], ctx: Context, emit: MessageSink
) -> None:
    """Apply `actions` in order to `cart` (a copy), then price it again."""
    if cart.get("cartState") != "Active":
        raise invalid_operation(
            f"The cart is {cart.get('cartState')} and can no longer be changed."
        )
    for action in actions:
        handler = CART_ACTIONS.get(action.get("action", ""))
        if handler is None:
            raise unknown_action(action)
        handler(cart, action, ctx, emit)
    recalculate(cart, ctx)


CARTS = Kind("carts", "cart", build_cart, CART_ACTIONS, apply_all=apply_cart_actions)
