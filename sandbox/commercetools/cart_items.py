"""Line items and custom line items of a cart: their update actions, the tax rate each takes
(from the product's or the given tax category, refused when it has no rate for the cart's
country) and the LineItem fields the representation always has. Pure functions over cart
JSON (<https://docs.commercetools.com/api/projects/carts>)."""

from __future__ import annotations

from typing import Any

from sandbox.commercetools.catalogue import TaxCategory
from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.custom import custom_from_draft
from sandbox.commercetools.errors import (
    ApiError,
    invalid_input,
    invalid_operation,
    referenced_not_found,
)
from sandbox.commercetools.kinds import Resource, required, text
from sandbox.commercetools.money import exact_rate, money, parse_money


def cart_currency(cart: Resource) -> str:
    return str(cart["totalPrice"]["currencyCode"])


def _quantity(value: Any, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_input("'quantity' must be a non-negative integer.")
    return value


def add_line_item(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    sku = text(act, "sku")
    quantity = _quantity(act.get("quantity"), default=1)
    product = ctx.product(sku or "")
    if product is None:
        raise referenced_not_found("product", f"with SKU '{sku}'")
    currency = cart_currency(cart)
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


def find_line_item(cart: Resource, act: dict[str, Any], field: str = "lineItems") -> Resource:
    wanted = act.get("lineItemId" if field == "lineItems" else "customLineItemId")
    for item in cart[field]:
        if item["id"] == wanted:
            return item
    raise invalid_operation(f"The cart has no {field[:-1]} with id '{wanted}'.")


def remove_line_item(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    item = find_line_item(cart, act)
    quantity = act.get("quantity")
    if quantity is None or _quantity(quantity) >= item["quantity"]:
        cart["lineItems"].remove(item)
    else:
        item["quantity"] -= quantity


def change_line_item_quantity(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    item = find_line_item(cart, act)
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


def custom_line_item_rate(
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


def add_custom_line_item(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    currency, cents = parse_money(required(act, "money"), "money")
    if currency != cart_currency(cart):
        raise invalid_input(f"The money of a custom line item must be in {cart_currency(cart)}.")
    slug = text(act, "slug")
    tax_rate, category = custom_line_item_rate(cart, act, ctx)
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


def remove_custom_line_item(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    cart["customLineItems"].remove(find_line_item(cart, act, "customLineItems"))


def change_custom_line_item_quantity(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    item = find_line_item(cart, act, "customLineItems")
    quantity = _quantity(required(act, "quantity"))
    if quantity == 0:
        cart["customLineItems"].remove(item)
    else:
        item["quantity"] = quantity


def change_custom_line_item_money(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    item = find_line_item(cart, act, "customLineItems")
    currency, cents = parse_money(required(act, "money"), "money")
    if currency != cart_currency(cart):
        raise invalid_input(f"The money of a custom line item must be in {cart_currency(cart)}.")
    item["money"] = money(currency, cents)
