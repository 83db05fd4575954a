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

from sandbox.commercetools import discounts, predicates
from sandbox.commercetools.catalogue import TaxCategory
from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.custom import custom_from_draft, set_custom_field, set_custom_type
from sandbox.commercetools.discounts import Applied
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
# CartDiscountValueDraft and CartDiscountTarget, every documented kind (RAML
# types/cart-discount/CartDiscountValueDraft.raml, CartDiscountTarget.raml). The stand-in
# prices absolute, relative and fixed values on the lineItems, customLineItems, shipping and
# totalPrice targets; the other kinds are accepted, stored and served but change no price
# (see sandbox/commercetools/README.md).
DISCOUNT_VALUE_TYPES = frozenset({"absolute", "relative", "fixed", "giftLineItem"})
DISCOUNT_TARGETS = frozenset(
    {
        "lineItems",
        "customLineItems",
        "shipping",
        "totalPrice",
        "pattern",
        "multiBuyLineItems",
        "multiBuyCustomLineItems",
    }
)
PRICED_TARGETS = frozenset({"lineItems", "customLineItems", "shipping", "totalPrice"})
MULTI_BUY_TARGETS = frozenset({"multiBuyLineItems", "multiBuyCustomLineItems"})
SELECTION_MODES = frozenset({"Cheapest", "MostExpensive"})


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
        _add_line_item(cart, item, ctx, emit)
    for item in draft.get("customLineItems") or []:
        _add_custom_line_item(cart, item, ctx, emit)
    for code in draft.get("discountCodes") or []:
        _add_discount_code(cart, {"code": code}, ctx, emit)
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
    if not product.tax_category.covers(_country(cart)):
        raise _missing_rate(product.tax_category, cart)
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
        **line_item_defaults(quantity),
    }
    if act.get("custom") is not None:
        item["custom"] = custom_from_draft(act["custom"], ctx, "line-item")
    cart["lineItems"].append({k: v for k, v in item.items() if v is not None})


# The one product type of the sandbox catalogue.
PRODUCT_TYPE_ID = "0d7a3c5e-0000-4000-8000-000000000001"
INITIAL_STATE_ID = "0d7a3c5e-0000-4000-8000-0000000000a1"


def line_item_defaults(quantity: int) -> dict[str, Any]:
    """LineItem fields the representation always has (RAML types/cart/LineItem.raml:
    productType, state (the quantity in the Initial state), taxedPricePortions,
    perMethodTaxRate)."""
    return {
        "productType": {"typeId": "product-type", "id": PRODUCT_TYPE_ID},
        "state": [{"quantity": quantity, "state": {"typeId": "state", "id": INITIAL_STATE_ID}}],
        "taxedPricePortions": [],
        "perMethodTaxRate": [],
    }


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


def _country(cart: Resource) -> str | None:
    return (cart.get("shippingAddress") or {}).get("country") or cart.get("country")


def _missing_rate(category: TaxCategory, cart: Resource) -> ApiError:
    country = _country(cart)
    return ApiError.single(
        400,
        "MissingTaxRateForCountry",
        f"Tax category '{category.id}' is missing a tax rate for country '{country}'.",
        taxCategoryId=category.id,
        country=country,
    )


def _custom_line_item_rate(
    cart: Resource, act: dict[str, Any], ctx: Context
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
        # CartAddCustomLineItemAction.taxCategory: "If TaxMode is `Platform`, this field must
        # not be empty." (RAML); the same holds for a custom shipping method's category.
        if cart.get("taxMode", "Platform") == "Platform":
            raise invalid_operation(
                "A tax category is required when the cart's TaxMode is Platform."
            )
        return {"name": "untaxed", "amount": 0.0, "includedInPrice": False, "subRates": []}, None
    category = ctx.tax_category(act["taxCategory"])
    if category is None:
        raise referenced_not_found("tax-category", str(act["taxCategory"]))
    # "If the Tax Rate is not set, a MissingTaxRateForCountry error is returned." (same page)
    if not category.covers(_country(cart)):
        raise _missing_rate(category, cart)
    return category.tax_rate(), category


def _add_custom_line_item(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    currency, cents = parse_money(required(act, "money"), "money")
    if currency != _currency(cart):
        raise invalid_input(f"The money of a custom line item must be in {_currency(cart)}.")
    slug = text(act, "slug")
    tax_rate, category = _custom_line_item_rate(cart, act, ctx)
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
def _positive_int(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_input(f"'{name}' must be a positive integer.")
    return value


def _checked_predicate(predicate: Any) -> str:
    if not isinstance(predicate, str):
        raise invalid_input("A discount target needs a 'predicate'.")
    if not _is_always(predicate):
        try:
            predicates.parse(predicate)
        except predicates.PredicateError as exc:
            raise invalid_input(f"Malformed target predicate '{predicate}': {exc}") from None
    return predicate


def _discount_value(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in DISCOUNT_VALUE_TYPES:
        raise invalid_input(
            f"A discount 'value' must be one of {', '.join(sorted(DISCOUNT_VALUE_TYPES))}."
        )
    if value["type"] == "relative":
        permyriad = value.get("permyriad")
        if (
            isinstance(permyriad, bool)
            or not isinstance(permyriad, int)
            or not 0 <= permyriad <= PERMYRIAD
        ):
            raise invalid_input("'permyriad' must be an integer between 0 and 10000.")
        checked: dict[str, Any] = {"type": "relative", "permyriad": permyriad}
        if value.get("applicationMode") is not None:
            checked["applicationMode"] = value["applicationMode"]
        return checked
    if value["type"] == "giftLineItem":
        product = value.get("product")
        if not isinstance(product, dict) or not isinstance(
            product.get("id") or product.get("key"), str
        ):
            raise invalid_input("A giftLineItem value needs a 'product' reference.")
        gift: dict[str, Any] = {
            "type": "giftLineItem",
            "product": {
                "typeId": "product",
                **{k: product[k] for k in ("id", "key") if k in product},
            },
            "variantId": _positive_int(value.get("variantId"), "variantId"),
        }
        for channel in ("supplyChannel", "distributionChannel"):
            if value.get(channel) is not None:
                gift[channel] = value[channel]
        return gift
    amounts = value.get("money")
    if not isinstance(amounts, list) or not amounts:
        raise invalid_input(f"An {value['type']} discount needs a 'money' list.")
    checked = {"type": value["type"], "money": [money(*parse_money(m, "money")) for m in amounts]}
    if value.get("applicationMode") is not None:
        checked["applicationMode"] = value["applicationMode"]
    return checked


def _discount_target(target: Any, value: dict[str, Any]) -> dict[str, Any] | None:
    # DirectDiscountDraft.target: "If `value` is set to `giftLineItem`, this must not be set."
    if value["type"] == "giftLineItem":
        if target is not None:
            raise invalid_input("A giftLineItem discount must not have a 'target'.")
        return None
    if not isinstance(target, dict) or target.get("type") not in DISCOUNT_TARGETS:
        raise invalid_input(f"A discount 'target' must be one of {sorted(DISCOUNT_TARGETS)}.")
    kind = target["type"]
    checked: dict[str, Any] = {"type": kind}
    if kind in ("lineItems", "customLineItems"):
        checked["predicate"] = _checked_predicate(target.get("predicate", "true"))
    elif kind in MULTI_BUY_TARGETS:
        # "not allowed for MultiBuyLineItemsTarget and MultiBuyCustomLineItemsTarget"
        # (CartDiscountValueAbsolute, RAML).
        if value["type"] == "absolute":
            raise invalid_input(f"An absolute discount cannot target {kind}.")
        checked["predicate"] = _checked_predicate(target.get("predicate"))
        checked["triggerQuantity"] = _positive_int(target.get("triggerQuantity"), "triggerQuantity")
        checked["discountedQuantity"] = _positive_int(
            target.get("discountedQuantity"), "discountedQuantity"
        )
        if checked["discountedQuantity"] > checked["triggerQuantity"]:
            raise invalid_input("'discountedQuantity' cannot exceed 'triggerQuantity'.")
        occurrence = _positive_int(target.get("maxOccurrence"), "maxOccurrence", optional=True)
        if occurrence is not None:
            checked["maxOccurrence"] = occurrence
        mode = target.get("selectionMode")
        if mode not in SELECTION_MODES:
            raise invalid_input("'selectionMode' must be Cheapest or MostExpensive.")
        checked["selectionMode"] = mode
    elif kind == "pattern":
        conditions = target.get("triggerPattern")
        effects = target.get("targetPattern")
        if not isinstance(conditions, list) or not isinstance(effects, list) or not effects:
            raise invalid_input("A pattern target needs 'triggerPattern' and 'targetPattern'.")
        checked["triggerPattern"] = conditions
        checked["targetPattern"] = effects
        for optional in ("maxOccurrence", "selectionMode"):
            if target.get(optional) is not None:
                checked[optional] = target[optional]
    return checked


def discount_value_and_target(
    value: Any, target: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A CartDiscountValueDraft and CartDiscountTarget, checked (Direct and Cart Discounts)."""
    checked = _discount_value(value)
    return checked, _discount_target(target, checked)


def _direct_discount(draft: Any, ctx: Context) -> dict[str, Any]:
    if not isinstance(draft, dict):
        raise invalid_input("A direct discount must be an object.")
    value, target = discount_value_and_target(draft.get("value"), draft.get("target"))
    discount: dict[str, Any] = {"id": ctx.new_id(), "value": value}
    if target is not None:
        discount["target"] = target
    if "participateInBestDealSelection" in draft:
        discount["participateInBestDealSelection"] = bool(draft["participateInBestDealSelection"])
    return discount


def _is_always(predicate: Any) -> bool:
    return isinstance(predicate, str) and predicate.strip().lower() in ("true", "1 = 1", "1=1")


def ignores_cart_discounts(cart: Resource) -> bool:
    return bool(cart.get("directDiscountsIgnoreCartDiscounts", True))


def _set_direct_discounts(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    discounts = act.get("discounts")
    if not isinstance(discounts, list):
        raise invalid_input("'discounts' must be a list.")
    # CartSetDirectDiscountsAction: "Adds a DirectDiscount, but only if no DiscountCode has
    # been added to the Cart" - which since the 2026-09-17 release holds while the cart's
    # directDiscountsIgnoreCartDiscounts is true ("If `false`, Cart Discounts, Discount
    # Codes, and Direct Discounts apply"): https://docs.commercetools.com/api/releases/2026-09-17-added-controls-for-how-direct-discounts-interact-with-cart-discounts-and-best-deal-selection
    if discounts and cart["discountCodes"] and ignores_cart_discounts(cart):
        raise invalid_operation(
            "A Direct Discount can only be added to a Cart without Discount Codes while "
            "directDiscountsIgnoreCartDiscounts is true."
        )
    cart["directDiscounts"] = [_direct_discount(d, ctx) for d in discounts]


def _set_ignore_cart_discounts(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    value = required(act, "directDiscountsIgnoreCartDiscounts")
    if not isinstance(value, bool):
        raise invalid_input("'directDiscountsIgnoreCartDiscounts' must be a boolean.")
    # "The value can be set to `true` only if the Cart does not have both `discountCodes`
    # and `directDiscounts`." (Set DirectDiscountsIgnoreCartDiscounts, 2026-09-17 release)
    if value and cart["discountCodes"] and cart["directDiscounts"]:
        raise invalid_operation(
            "directDiscountsIgnoreCartDiscounts can be set to true only if the Cart does not "
            "have both discountCodes and directDiscounts."
        )
    cart["directDiscountsIgnoreCartDiscounts"] = value


def _add_discount_code(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    code = text(act, "code")
    found = ctx.discount_code(code or "")
    if found is None:
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
    # "A Discount Code can be added only if no DirectDiscount has been applied to the Cart"
    # (CartAddDiscountCodeAction) while directDiscountsIgnoreCartDiscounts is true: "If
    # `true`, ... Discount Codes cannot be added." (2026-09-17 release, see above).
    if cart["directDiscounts"] and ignores_cart_discounts(cart):
        raise invalid_operation(
            "A Discount Code cannot be added to a Cart with Direct Discounts while "
            "directDiscountsIgnoreCartDiscounts is true."
        )
    refusal = discounts.code_refusal(found, cart, ctx)
    if refusal is not None:
        raise refusal
    if len(cart["discountCodes"]) >= MAX_DISCOUNT_CODES:
        raise invalid_operation(f"A cart can hold at most {MAX_DISCOUNT_CODES} discount codes.")
    # The state is evaluated with the cart's prices (discounts.evaluate, on recalculation).
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
    tax_rate, category = _custom_line_item_rate(cart, act, ctx)
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
    recalculate(cart, ctx)


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
    if _is_always(predicate):
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
    currency = _currency(cart)
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
    currency = _currency(cart)
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
    currency = _currency(cart)
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


CARTS = Kind("carts", "cart", build_cart, CART_ACTIONS, apply_all=apply_cart_actions)
