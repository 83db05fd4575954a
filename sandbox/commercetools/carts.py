"""Carts: creation, update actions and price calculation — pure functions over cart JSON.

Prices are net; tax is added per line item (`taxCalculationMode: LineItemLevel`) and rounded
half to even in the currency's minor units. Direct discounts apply in list order: line-item
(and custom-line-item, shipping) targets first, per unit, then `totalPrice` targets on what
is left. A total-price discount is spread over the portions (line items, custom line items,
shipping) in proportion to their positive net amounts so each portion's tax shrinks with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sandbox.commercetools import predicates
from sandbox.commercetools.catalogue import TaxCategory
from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.custom import custom_from_draft, set_custom_field, set_custom_type
from sandbox.commercetools.errors import (
    ApiError,
    invalid_input,
    invalid_operation,
    referenced_not_found,
)
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
from sandbox.commercetools.money import (
    exact_rate,
    fraction_digits,
    money,
    parse_money,
    round_half_even,
    share,
    split_proportionally,
)

MAX_DISCOUNT_CODES = 10
PERMYRIAD = 10_000
DISCOUNT_VALUE_TYPES = frozenset({"absolute", "relative", "fixed"})
DISCOUNT_TARGETS = frozenset({"lineItems", "customLineItems", "shipping", "totalPrice"})


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
    if "directDiscountsIgnoreCartDiscounts" in draft:
        cart["directDiscountsIgnoreCartDiscounts"] = bool(
            draft["directDiscountsIgnoreCartDiscounts"]
        )
    if draft.get("customerGroup") is not None:
        group = ctx.resolve("customer-group", draft["customerGroup"])
        cart["customerGroup"] = {"typeId": "customer-group", "id": group["id"]}
    cart["custom"] = custom_from_draft(draft.get("custom"), ctx, "order")
    cart = {k: v for k, v in cart.items() if v is not None}
    emit = _no_messages
    for item in draft.get("lineItems") or []:
        _add_line_item(cart, item, ctx, emit)
    for item in draft.get("customLineItems") or []:
        _add_custom_line_item(cart, item, ctx, emit)
    for code in draft.get("discountCodes") or []:
        _add_discount_code(cart, {"code": code}, ctx, emit)
    recalculate(cart)
    return cart


def _no_messages(message_type: str, **payload: Any) -> None:
    """Carts have no messages in commercetools' message list that this stand-in emits."""


def _store(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("key"), str):
        raise invalid_input("'store' must be a ResourceIdentifier with a 'key'.")
    return {"typeId": "store", "key": value["key"]}


def _currency(cart: Resource) -> str:
    return str(cart["totalPrice"]["currencyCode"])


# --- line items ------------------------------------------------------------------------------
def _quantity(value: Any, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_input("'quantity' must be a non-negative integer.")
    return value


def _add_line_item(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    sku = text(act, "sku")
    quantity = _quantity(act.get("quantity"), default=1)
    product = ctx.product(sku or "")
    if product is None:
        raise referenced_not_found("product", f"with SKU '{sku}'")
    currency = _currency(cart)
    price = product.price(currency)
    if price is None:
        raise ApiError.single(
            400,
            "MatchingPriceNotFound",
            f"The variant '{product.variant_id}' of product '{product.product_id}' does not "
            f"contain a price for currency '{currency}'.",
            productId=product.product_id,
            variantId=product.variant_id,
            currency=currency,
        )
    if quantity == 0:
        return
    for existing in cart["lineItems"]:
        if existing["variant"]["sku"] == sku and act.get("custom") is None:
            existing["quantity"] += quantity
            return
    item: Resource = {
        "id": ctx.new_id(),
        "productId": product.product_id,
        "productKey": product.product_key,
        "name": product.name,
        "variant": {"id": product.variant_id, "sku": sku, "prices": [], "attributes": []},
        "price": {
            "id": f"{product.product_id}-{product.variant_id}-{currency}",
            "value": money(currency, price),
        },
        "quantity": quantity,
        "discountedPricePerQuantity": [],
        "taxRate": product.tax_category.tax_rate(),
        "priceMode": "Platform",
        "lineItemMode": "Standard",
        "addedAt": ctx.now(),
    }
    if act.get("custom") is not None:
        item["custom"] = custom_from_draft(act["custom"], ctx, "line-item")
    cart["lineItems"].append({k: v for k, v in item.items() if v is not None})


def _line_item(cart: Resource, act: dict[str, Any], field: str = "lineItems") -> Resource:
    wanted = act.get("lineItemId" if field == "lineItems" else "customLineItemId")
    for item in cart[field]:
        if item["id"] == wanted:
            return item
    raise invalid_operation(f"The cart has no {field[:-1]} with id '{wanted}'.")


def _remove_line_item(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    item = _line_item(cart, act)
    quantity = act.get("quantity")
    if quantity is None or _quantity(quantity) >= item["quantity"]:
        cart["lineItems"].remove(item)
    else:
        item["quantity"] -= quantity


def _change_line_item_quantity(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    item = _line_item(cart, act)
    quantity = _quantity(required(act, "quantity"))
    if quantity == 0:
        cart["lineItems"].remove(item)
    else:
        item["quantity"] = quantity


def _custom_line_item_rate(
    act: dict[str, Any], ctx: Context
) -> tuple[dict[str, Any], TaxCategory | None]:
    external = act.get("externalTaxRate")
    if external is not None:
        rate = exact_rate(required(external, "amount"))
        return {
            "name": external.get("name", "external"),
            "amount": float(rate),
            "includedInPrice": False,
            "country": external.get("country", "DE"),
            "subRates": [],
        }, None
    if act.get("taxCategory") is None:
        return {"name": "untaxed", "amount": 0.0, "includedInPrice": False, "subRates": []}, None
    category = ctx.tax_category(act["taxCategory"])
    if category is None:
        raise referenced_not_found("tax-category", str(act["taxCategory"]))
    return category.tax_rate(), category


def _add_custom_line_item(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    currency, cents = parse_money(required(act, "money"), "money")
    if currency != _currency(cart):
        raise invalid_input(f"The money of a custom line item must be in {_currency(cart)}.")
    slug = text(act, "slug")
    tax_rate, category = _custom_line_item_rate(act, ctx)
    item: Resource = {
        "id": ctx.new_id(),
        "key": act.get("key"),
        "name": required(act, "name"),
        "money": money(currency, cents),
        "slug": slug,
        "quantity": _quantity(act.get("quantity"), default=1),
        "discountedPricePerQuantity": [],
        "taxCategory": category.reference() if category else None,
        "taxRate": tax_rate,
        "priceMode": act.get("priceMode", "Standard"),
    }
    if act.get("custom") is not None:
        item["custom"] = custom_from_draft(act["custom"], ctx, "custom-line-item")
    cart["customLineItems"].append({k: v for k, v in item.items() if v is not None})


def _remove_custom_line_item(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    cart["customLineItems"].remove(_line_item(cart, act, "customLineItems"))


def _change_custom_line_item_quantity(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    item = _line_item(cart, act, "customLineItems")
    quantity = _quantity(required(act, "quantity"))
    if quantity == 0:
        cart["customLineItems"].remove(item)
    else:
        item["quantity"] = quantity


def _change_custom_line_item_money(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    item = _line_item(cart, act, "customLineItems")
    currency, cents = parse_money(required(act, "money"), "money")
    if currency != _currency(cart):
        raise invalid_input(f"The money of a custom line item must be in {_currency(cart)}.")
    item["money"] = money(currency, cents)


# --- discounts -------------------------------------------------------------------------------
def _direct_discount(draft: Any, ctx: Context) -> dict[str, Any]:
    if not isinstance(draft, dict):
        raise invalid_input("A direct discount must be an object.")
    value, target = draft.get("value"), draft.get("target")
    if not isinstance(value, dict) or value.get("type") not in DISCOUNT_VALUE_TYPES:
        raise invalid_input("A direct discount 'value' must be absolute, relative or fixed.")
    if value["type"] == "relative":
        permyriad = value.get("permyriad")
        if (
            isinstance(permyriad, bool)
            or not isinstance(permyriad, int)
            or not 0 <= permyriad <= PERMYRIAD
        ):
            raise invalid_input("'permyriad' must be an integer between 0 and 10000.")
        checked_value: dict[str, Any] = {"type": "relative", "permyriad": permyriad}
    else:
        amounts = value.get("money")
        if not isinstance(amounts, list) or not amounts:
            raise invalid_input(f"An {value['type']} discount needs a 'money' list.")
        checked_value = {
            "type": value["type"],
            "money": [money(*parse_money(m, "money")) for m in amounts],
        }
    if not isinstance(target, dict) or target.get("type") not in DISCOUNT_TARGETS:
        raise invalid_input(
            f"A direct discount 'target' must be one of {sorted(DISCOUNT_TARGETS)}."
        )
    checked_target = {"type": target["type"]}
    if target["type"] in ("lineItems", "customLineItems"):
        predicate = target.get("predicate", "true")
        if not _is_always(predicate):
            try:
                predicates.parse(predicate)
            except predicates.PredicateError as exc:
                raise invalid_input(f"Malformed target predicate '{predicate}': {exc}") from None
        checked_target["predicate"] = predicate
    discount = {"id": ctx.new_id(), "value": checked_value, "target": checked_target}
    if "participateInBestDealSelection" in draft:
        discount["participateInBestDealSelection"] = bool(draft["participateInBestDealSelection"])
    return discount


def _is_always(predicate: Any) -> bool:
    return isinstance(predicate, str) and predicate.strip().lower() in ("true", "1 = 1", "1=1")


def _set_direct_discounts(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    discounts = act.get("discounts")
    if not isinstance(discounts, list):
        raise invalid_input("'discounts' must be a list.")
    cart["directDiscounts"] = [_direct_discount(d, ctx) for d in discounts]
    if "directDiscountsIgnoreCartDiscounts" in act:
        cart["directDiscountsIgnoreCartDiscounts"] = bool(act["directDiscountsIgnoreCartDiscounts"])


def _set_ignore_cart_discounts(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    value = required(act, "directDiscountsIgnoreCartDiscounts")
    if not isinstance(value, bool):
        raise invalid_input("'directDiscountsIgnoreCartDiscounts' must be a boolean.")
    cart["directDiscountsIgnoreCartDiscounts"] = value


def _add_discount_code(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    code = text(act, "code")
    found = ctx.discount_code(code or "")
    if found is None or not found.get("isActive", True):
        raise ApiError.single(
            400,
            "DiscountCodeNonApplicable",
            f"The discount code '{code}' was not found.",
            discountCode=code,
            reason="DoesNotExist",
        )
    reference = {"typeId": "discount-code", "id": found["id"]}
    if any(c["discountCode"] == reference for c in cart["discountCodes"]):
        return
    if len(cart["discountCodes"]) >= MAX_DISCOUNT_CODES:
        raise invalid_operation(f"A cart can hold at most {MAX_DISCOUNT_CODES} discount codes.")
    cart["discountCodes"].append({"discountCode": reference, "state": "MatchesCart"})


def _remove_discount_code(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    given = required(act, "discountCode")
    wanted = given.get("id") if isinstance(given, dict) else None
    kept = [c for c in cart["discountCodes"] if c["discountCode"]["id"] != wanted]
    if len(kept) == len(cart["discountCodes"]):
        raise invalid_operation(f"The cart does not hold the discount code '{wanted}'.")
    cart["discountCodes"] = kept


# --- shipping, customer, misc ----------------------------------------------------------------
def _set_custom_shipping_method(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    name = text(act, "shippingMethodName")
    rate = required(act, "shippingRate")
    currency, cents = parse_money(required(rate, "price"), "shippingRate.price")
    if currency != _currency(cart):
        raise invalid_input(f"The shipping rate must be in {_currency(cart)}.")
    tax_rate, category = _custom_line_item_rate(act, ctx)
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
    set_custom_field(_line_item(cart, act), act, ctx)


def _recalculate(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    """Prices are recalculated after every update anyway."""


CART_ACTIONS: dict[str, Action] = {
    "addLineItem": _add_line_item,
    "removeLineItem": _remove_line_item,
    "changeLineItemQuantity": _change_line_item_quantity,
    "addCustomLineItem": _add_custom_line_item,
    "removeCustomLineItem": _remove_custom_line_item,
    "changeCustomLineItemQuantity": _change_custom_line_item_quantity,
    "changeCustomLineItemMoney": _change_custom_line_item_money,
    "setDirectDiscounts": _set_direct_discounts,
    "setDirectDiscountsIgnoreCartDiscounts": _set_ignore_cart_discounts,
    "addDiscountCode": _add_discount_code,
    "removeDiscountCode": _remove_discount_code,
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
    recalculate(cart)


# --- price calculation -----------------------------------------------------------------------
@dataclass
class _Portion:
    """One taxable part of the cart: its net amount, tax rate and where to write the result."""

    net: int
    rate: Fraction
    rate_name: str
    write: Callable[[int, int], None]


def _rate(item: Resource) -> tuple[Fraction, str]:
    tax_rate = item.get("taxRate") or {}
    return Fraction(str(tax_rate.get("amount", 0))), str(tax_rate.get("name", ""))


def _amount_in(value: dict[str, Any], currency: str) -> int | None:
    for candidate in value.get("money", []):
        if candidate["currencyCode"] == currency:
            return int(candidate["centAmount"])
    return None


def _unit_discount(discount: Resource, unit: int, currency: str) -> int:
    """What one direct discount takes off one unit currently priced `unit`."""
    value = discount["value"]
    if unit <= 0:
        return 0
    if value["type"] == "relative":
        return share(unit, Fraction(value["permyriad"], PERMYRIAD))
    amount = _amount_in(value, currency)
    if amount is None:
        return 0
    if value["type"] == "fixed":
        return max(0, unit - amount)
    return min(amount, unit)


def _targets(discount: Resource, kind: str, item: Resource) -> bool:
    target = discount["target"]
    if target["type"] != kind:
        return False
    predicate = target.get("predicate", "true")
    if _is_always(predicate):
        return True
    view = {**item, "sku": item.get("variant", {}).get("sku"), "productId": item.get("productId")}
    return predicates.matches(predicate, view)


def _discount_units(
    discounts: list[Resource], kind: str, item: Resource, unit: int, currency: str
) -> tuple[int, list[dict[str, Any]]]:
    included = []
    for discount in discounts:
        if not _targets(discount, kind, item):
            continue
        off = _unit_discount(discount, unit, currency)
        if off > 0:
            unit -= off
            included.append(
                {
                    "discount": {"typeId": "direct-discount", "id": discount["id"]},
                    "discountedAmount": money(currency, off),
                }
            )
    return unit, included


def _price_items(cart: Resource, kind: str, price_of: Callable[[Resource], int]) -> list[_Portion]:
    currency = _currency(cart)
    portions = []
    for item in cart[kind]:
        unit = price_of(item)
        discounted, included = _discount_units(cart["directDiscounts"], kind, item, unit, currency)
        item["discountedPricePerQuantity"] = (
            [
                {
                    "quantity": item["quantity"],
                    "discountedPrice": {
                        "value": money(currency, discounted),
                        "includedDiscounts": included,
                    },
                }
            ]
            if included
            else []
        )
        net = discounted * item["quantity"]
        item["totalPrice"] = money(currency, net)
        rate, name = _rate(item)
        portions.append(_Portion(net, rate, name, _taxed_writer(item, currency)))
    return portions


def _taxed_writer(target: Resource, currency: str) -> Callable[[int, int], None]:
    def write(net: int, tax: int) -> None:
        target["taxedPrice"] = {
            "totalNet": money(currency, net),
            "totalGross": money(currency, net + tax),
            "totalTax": money(currency, tax),
            "taxPortions": [],
        }

    return write


def _price_shipping(cart: Resource) -> list[_Portion]:
    info = cart.get("shippingInfo")
    if not info:
        return []
    currency = _currency(cart)
    base = int(info["shippingRate"]["price"]["centAmount"])
    discounted, included = _discount_units(
        cart["directDiscounts"], "shipping", info, base, currency
    )
    info["price"] = money(currency, discounted)
    if included:
        info["discountedPrice"] = {
            "value": money(currency, discounted),
            "includedDiscounts": included,
        }
    else:
        info.pop("discountedPrice", None)
    rate, name = _rate(info)
    return [_Portion(discounted, rate, name, _taxed_writer(info, currency))]


def recalculate(cart: Resource) -> None:
    """Every derived price of the cart from its items, discounts and rates."""
    currency = _currency(cart)
    portions = (
        _price_items(cart, "lineItems", lambda i: int(i["price"]["value"]["centAmount"]))
        + _price_items(cart, "customLineItems", lambda i: int(i["money"]["centAmount"]))
        + _price_shipping(cart)
    )
    subtotal = sum(p.net for p in portions)
    remaining = subtotal
    included = []
    for discount in cart["directDiscounts"]:
        if discount["target"]["type"] != "totalPrice":
            continue
        off = _unit_discount(discount, remaining, currency)
        if off > 0:
            remaining -= off
            included.append(
                {
                    "discount": {"typeId": "direct-discount", "id": discount["id"]},
                    "discountedAmount": money(currency, off),
                }
            )
    total_discount = subtotal - remaining
    shares = split_proportionally(total_discount, [max(p.net, 0) for p in portions])
    tax_before = sum(round_half_even(p.net * p.rate) for p in portions)
    total_tax = 0
    by_rate: dict[tuple[Fraction, str], int] = {}
    for portion, taken in zip(portions, shares, strict=True):
        net = portion.net - taken
        tax = round_half_even(net * portion.rate)
        portion.write(net, tax)
        total_tax += tax
        by_rate[(portion.rate, portion.rate_name)] = (
            by_rate.get((portion.rate, portion.rate_name), 0) + tax
        )
    cart["totalPrice"] = money(currency, remaining)
    cart["taxedPrice"] = {
        "totalNet": money(currency, remaining),
        "totalGross": money(currency, remaining + total_tax),
        "totalTax": money(currency, total_tax),
        "taxPortions": [
            {"rate": float(rate), "name": name, "amount": money(currency, amount)}
            for (rate, name), amount in by_rate.items()
        ],
    }
    if total_discount:
        cart["discountOnTotalPrice"] = {
            "discountedAmount": money(currency, total_discount),
            "includedDiscounts": included,
            "discountedNetAmount": money(currency, total_discount),
            "discountedGrossAmount": money(currency, total_discount + tax_before - total_tax),
        }
    else:
        cart.pop("discountOnTotalPrice", None)


CARTS = Kind("carts", "cart", build_cart, CART_ACTIONS, apply_all=apply_cart_actions)
