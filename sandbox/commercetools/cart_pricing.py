"""Price calculation of a cart: every derived price from its items, discounts and rates.

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

from sandbox.commercetools import discounts, predicates
from sandbox.commercetools.cart_discount_actions import PERMYRIAD, ignores_cart_discounts, is_always
from sandbox.commercetools.cart_items import cart_currency, line_item_defaults
from sandbox.commercetools.context import Context
from sandbox.commercetools.discounts import Applied
from sandbox.commercetools.kinds import Resource
from sandbox.commercetools.money import money, round_half_even, share, split_proportionally


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


def _unit_discount(discount: Applied, unit: int, currency: str) -> int:
    """What one discount takes off one unit currently priced `unit`."""
    value = discount.value
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


def _targets(discount: Applied, kind: str, item: Resource) -> bool:
    target = discount.target or {}
    if target.get("type") != kind or discount.value["type"] == "giftLineItem":
        return False
    predicate = target.get("predicate", "true")
    if is_always(predicate):
        return True
    view = {**item, "sku": item.get("variant", {}).get("sku"), "productId": item.get("productId")}
    return predicates.matches(predicate, view)


def _discount_units(
    discounts: list[Applied], kind: str, item: Resource, unit: int, currency: str
) -> tuple[int, list[dict[str, Any]]]:
    included = []
    for discount in discounts:
        if not _targets(discount, kind, item):
            continue
        off = _unit_discount(discount, unit, currency)
        if off > 0:
            unit -= off
            included.append(
                {"discount": dict(discount.reference), "discountedAmount": money(currency, off)}
            )
    return unit, included


def _price_items(
    cart: Resource, kind: str, price_of: Callable[[Resource], int], discounts: list[Applied]
) -> list[_Portion]:
    currency = cart_currency(cart)
    portions = []
    for item in cart[kind]:
        unit = price_of(item)
        discounted, included = _discount_units(discounts, kind, item, unit, currency)
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
        # "Total price of this Line Item equalling `price` multiplied by `quantity`. If the
        # Line Item is discounted, the total price is the `discountedPricePerQuantity`
        # multiplied by `quantity`." (LineItem.totalPrice): a discount on the cart's total
        # price is not in it; it is reported in Cart.discountOnTotalPrice.
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


def _price_shipping(cart: Resource, discounts: list[Applied]) -> list[_Portion]:
    info = cart.get("shippingInfo")
    if not info:
        return []
    currency = cart_currency(cart)
    base = int(info["shippingRate"]["price"]["centAmount"])
    discounted, included = _discount_units(discounts, "shipping", info, base, currency)
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


def _direct(cart: Resource) -> list[Applied]:
    return [
        Applied({"typeId": "direct-discount", "id": d["id"]}, d["value"], d.get("target"))
        for d in cart["directDiscounts"]
    ]


def discounts_in_effect(cart: Resource, ctx: Context | None) -> list[Applied]:
    """Cart Discounts (and those unlocked by the cart's codes) in sortOrder, then the Direct
    Discounts in list order. Direct Discounts with directDiscountsIgnoreCartDiscounts true
    mean "only Direct Discounts apply to the Cart. Matching Cart Discounts are ignored"
    (2026-09-17 release). The public docs do not say how Direct and Cart Discounts are ordered
    when both apply; the stand-in applies Cart Discounts first."""
    if ctx is None:
        return _direct(cart)
    if cart["directDiscounts"] and ignores_cart_discounts(cart):
        for entry in cart.get("discountCodes") or []:
            entry["state"] = "DoesNotMatchCart"
        return _direct(cart)
    return discounts.evaluate(cart, ctx) + _direct(cart)


def recalculate(cart: Resource, ctx: Context | None = None) -> None:
    """Every derived price of the cart from its items, discounts and rates."""
    currency = cart_currency(cart)
    for item in cart["lineItems"]:
        for key, value in line_item_defaults(item["quantity"]).items():
            item.setdefault(key, value)
        item["state"] = line_item_defaults(item["quantity"])["state"]
    in_effect = discounts_in_effect(cart, ctx)
    portions = (
        _price_items(cart, "lineItems", lambda i: int(i["price"]["value"]["centAmount"]), in_effect)
        + _price_items(cart, "customLineItems", lambda i: int(i["money"]["centAmount"]), in_effect)
        + _price_shipping(cart, in_effect)
    )
    subtotal = sum(p.net for p in portions)
    remaining = subtotal
    included = []
    for discount in in_effect:
        if (discount.target or {}).get("type") != "totalPrice":
            continue
        off = _unit_discount(discount, remaining, currency)
        if off > 0:
            remaining -= off
            included.append(
                {"discount": dict(discount.reference), "discountedAmount": money(currency, off)}
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
