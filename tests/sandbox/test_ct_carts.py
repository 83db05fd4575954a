"""Cart prices (tax, rounding, direct discounts, custom line items) and orders made from carts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.commercetools import StandInState, create_app
from tests.sandbox.test_commercetools_standin import Api, new_state


@pytest.fixture
def api() -> Iterator[Api]:
    state: StandInState = new_state()
    api = Api(create_app(state).test_client(), state)
    api.client.post(
        "/_sandbox/products",
        json={
            "products": [
                {
                    "sku": "HALF-EVEN",
                    "name": "Rounding probe",
                    "prices": {"JPY": 350, "EUR": 250},
                    "taxCategory": "standard",
                },
            ]
        },
    )
    yield api
    state.close()


def cents(money: dict[str, Any]) -> int:
    return int(money["centAmount"])


def totals(cart: dict[str, Any]) -> tuple[int, int, int, int]:
    taxed = cart["taxedPrice"]
    return (
        cents(cart["totalPrice"]),
        cents(taxed["totalNet"]),
        cents(taxed["totalTax"]),
        cents(taxed["totalGross"]),
    )


def eur(amount: int) -> dict[str, Any]:
    return {"currencyCode": "EUR", "centAmount": amount}


def test_eur_cart_adds_tax_per_line_at_each_products_rate(api: Api) -> None:
    cart = api.post(
        "carts",
        {
            "currency": "EUR",
            "lineItems": [{"sku": "SKU-TSHIRT", "quantity": 2}, {"sku": "SKU-BOOK", "quantity": 1}],
        },
    )
    shirt, book = cart["lineItems"]
    assert shirt["price"]["value"] == {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": 1999,
        "fractionDigits": 2,
    }
    assert cents(shirt["totalPrice"]) == 3998
    assert cents(shirt["taxedPrice"]["totalTax"]) == 760  # 759.62
    assert cents(book["taxedPrice"]["totalTax"]) == 172  # 171.5 rounds half to even
    assert shirt["taxRate"]["amount"] == 0.19 and book["taxRate"]["amount"] == 0.07
    assert totals(cart) == (6448, 6448, 932, 7380)
    assert cart["cartState"] == "Active" and cart["version"] == 1


def test_jpy_has_no_minor_unit_and_rounds_half_to_even(api: Api) -> None:
    cart = api.post(
        "carts", {"currency": "JPY", "lineItems": [{"sku": "HALF-EVEN", "quantity": 1}]}
    )
    assert cart["totalPrice"]["fractionDigits"] == 0
    assert totals(cart) == (350, 350, 66, 416)  # 66.5 → 66
    cart = api.update(
        "carts",
        cart,
        {
            "action": "changeLineItemQuantity",
            "lineItemId": cart["lineItems"][0]["id"],
            "quantity": 3,
        },
    )
    assert totals(cart) == (1050, 1050, 200, 1250)  # 199.5 → 200


def test_kwd_uses_three_fraction_digits(api: Api) -> None:
    cart = api.post(
        "carts", {"currency": "KWD", "lineItems": [{"sku": "SKU-HOODIE", "quantity": 1}]}
    )
    assert cart["totalPrice"]["fractionDigits"] == 3
    assert cart["lineItems"][0]["price"]["value"]["fractionDigits"] == 3
    assert totals(cart) == (16250, 16250, 3088, 19338)  # 3087.5 fils → 3088


def test_line_item_actions_merge_split_and_remove(api: Api) -> None:
    cart = api.post("carts", {"currency": "EUR", "lineItems": [{"sku": "SKU-MUG", "quantity": 1}]})
    cart = api.update("carts", cart, {"action": "addLineItem", "sku": "SKU-MUG", "quantity": 2})
    assert len(cart["lineItems"]) == 1 and cart["lineItems"][0]["quantity"] == 3
    item = cart["lineItems"][0]["id"]
    cart = api.update(
        "carts", cart, {"action": "removeLineItem", "lineItemId": item, "quantity": 1}
    )
    assert cart["lineItems"][0]["quantity"] == 2 and cents(cart["totalPrice"]) == 1798
    cart = api.update("carts", cart, {"action": "removeLineItem", "lineItemId": item})
    assert cart["lineItems"] == [] and totals(cart) == (0, 0, 0, 0)

    status, body = api.error(
        "POST",
        f"carts/{cart['id']}",
        {"version": cart["version"], "actions": [{"action": "addLineItem", "sku": "NOPE"}]},
    )
    assert status == 400 and body["errors"][0]["code"] == "ReferencedResourceNotFound"
    api.client.post(
        "/_sandbox/products", json={"products": [{"sku": "USD-ONLY", "prices": {"USD": 100}}]}
    )
    status, body = api.error(
        "POST",
        f"carts/{cart['id']}",
        {"version": cart["version"], "actions": [{"action": "addLineItem", "sku": "USD-ONLY"}]},
    )
    assert status == 400 and body["errors"][0]["code"] == "MatchingPriceNotFound"


def test_stale_cart_version_is_a_conflict(api: Api) -> None:
    cart = api.post("carts", {"currency": "EUR"})
    api.update("carts", cart, {"action": "addLineItem", "sku": "SKU-MUG"})
    status, body = api.error(
        "POST",
        f"carts/{cart['id']}",
        {"version": 1, "actions": [{"action": "addLineItem", "sku": "SKU-MUG"}]},
    )
    assert status == 409
    assert body["errors"][0] == {
        "code": "ConcurrentModification",
        "message": body["errors"][0]["message"],
        "currentVersion": 2,
    }


def test_relative_line_item_discount_shows_per_quantity(api: Api) -> None:
    cart = api.post(
        "carts", {"currency": "EUR", "lineItems": [{"sku": "SKU-TSHIRT", "quantity": 2}]}
    )
    cart = api.update(
        "carts",
        cart,
        {
            "action": "setDirectDiscounts",
            "discounts": [
                {
                    "value": {"type": "relative", "permyriad": 1500},
                    "target": {"type": "lineItems", "predicate": "true"},
                }
            ],
        },
    )
    item = cart["lineItems"][0]
    discount_id = cart["directDiscounts"][0]["id"]
    [per_quantity] = item["discountedPricePerQuantity"]
    assert per_quantity["quantity"] == 2
    assert cents(per_quantity["discountedPrice"]["value"]) == 1699  # 1999 − 299.85→300
    assert per_quantity["discountedPrice"]["includedDiscounts"] == [
        {
            "discount": {"typeId": "direct-discount", "id": discount_id},
            "discountedAmount": {
                "type": "centPrecision",
                "currencyCode": "EUR",
                "centAmount": 300,
                "fractionDigits": 2,
            },
        }
    ]
    assert cents(item["totalPrice"]) == 3398
    assert totals(cart) == (3398, 3398, 646, 4044)  # 645.62 → 646
    assert "discountOnTotalPrice" not in cart


def test_absolute_total_price_discount_is_capped_at_the_total(api: Api) -> None:
    cart = api.post("carts", {"currency": "EUR", "lineItems": [{"sku": "SKU-MUG", "quantity": 1}]})
    cart = api.update(
        "carts",
        cart,
        {
            "action": "setDirectDiscounts",
            "discounts": [
                {
                    "value": {"type": "absolute", "money": [eur(5000)]},
                    "target": {"type": "totalPrice"},
                }
            ],
        },
    )
    assert cents(cart["discountOnTotalPrice"]["discountedAmount"]) == 899
    assert cents(cart["discountOnTotalPrice"]["discountedGrossAmount"]) == 1070  # 899 + 171 tax
    assert totals(cart) == (0, 0, 0, 0)
    assert cents(cart["lineItems"][0]["totalPrice"]) == 899  # total discounts do not touch lines


def test_total_price_discount_spreads_tax_over_lines(api: Api) -> None:
    cart = api.post(
        "carts",
        {
            "currency": "EUR",
            "lineItems": [{"sku": "SKU-TSHIRT", "quantity": 1}, {"sku": "SKU-BOOK", "quantity": 1}],
        },
    )
    cart = api.update(
        "carts",
        cart,
        {
            "action": "setDirectDiscounts",
            "discounts": [
                {
                    "value": {"type": "absolute", "money": [eur(1000)]},
                    "target": {"type": "totalPrice"},
                }
            ],
        },
    )
    shirt, book = cart["lineItems"]
    # 1000 split 1999 : 2450 → 449.3 / 550.7 → 449 / 551 (largest remainder)
    assert cents(shirt["taxedPrice"]["totalNet"]) == 1550
    assert cents(book["taxedPrice"]["totalNet"]) == 1899
    assert cents(shirt["taxedPrice"]["totalTax"]) == 294  # 294.5 → 294
    assert cents(book["taxedPrice"]["totalTax"]) == 133  # 132.93
    assert totals(cart) == (3449, 3449, 427, 3876)


def test_negative_custom_line_item_lowers_net_and_tax(api: Api) -> None:
    cart = api.post(
        "carts", {"currency": "EUR", "lineItems": [{"sku": "SKU-HOODIE", "quantity": 1}]}
    )
    cart = api.update(
        "carts",
        cart,
        {
            "action": "addCustomLineItem",
            "name": {"en": "Loyalty points"},
            "quantity": 1,
            "money": eur(-1000),
            "slug": "loyalty-redemption",
            "taxCategory": {"typeId": "tax-category", "key": "standard"},
        },
    )
    [custom] = cart["customLineItems"]
    assert custom["slug"] == "loyalty-redemption"
    assert cents(custom["totalPrice"]) == -1000
    assert cents(custom["taxedPrice"]["totalTax"]) == -190
    assert totals(cart) == (3995, 3995, 759, 4754)  # 949.05→949 − 190
    cart = api.update(
        "carts", cart, {"action": "removeCustomLineItem", "customLineItemId": custom["id"]}
    )
    assert cart["customLineItems"] == [] and cents(cart["totalPrice"]) == 4995


def test_set_direct_discounts_replaces_the_whole_list(api: Api) -> None:
    cart = api.post("carts", {"currency": "EUR", "lineItems": [{"sku": "SKU-MUG", "quantity": 2}]})
    per_unit = {
        "value": {"type": "absolute", "money": [eur(100)]},
        "target": {"type": "lineItems", "predicate": 'sku = "SKU-MUG"'},
    }
    cart = api.update(
        "carts", cart, {"action": "setDirectDiscounts", "discounts": [per_unit, per_unit]}
    )
    assert len(cart["directDiscounts"]) == 2 and cents(cart["totalPrice"]) == 1398  # (899−200)×2
    cart = api.update(
        "carts",
        cart,
        {
            "action": "setDirectDiscounts",
            "discounts": [],
            "directDiscountsIgnoreCartDiscounts": True,
        },
    )
    assert cart["directDiscounts"] == [] and cents(cart["totalPrice"]) == 1798
    assert cart["directDiscountsIgnoreCartDiscounts"] is True
    assert cart["lineItems"][0]["discountedPricePerQuantity"] == []
    cart = api.update(
        "carts",
        cart,
        {
            "action": "setDirectDiscountsIgnoreCartDiscounts",
            "directDiscountsIgnoreCartDiscounts": False,
        },
        {
            "action": "setDirectDiscounts",
            "discounts": [{**per_unit, "participateInBestDealSelection": True}],
        },
    )
    assert cart["directDiscountsIgnoreCartDiscounts"] is False
    assert cart["directDiscounts"][0]["participateInBestDealSelection"] is True
    # What the cart returns can be sent back as it is (setDirectDiscounts takes drafts).
    resent = [{"value": d["value"], "target": d["target"]} for d in cart["directDiscounts"]]
    again = api.update("carts", cart, {"action": "setDirectDiscounts", "discounts": resent})
    assert cents(again["totalPrice"]) == cents(cart["totalPrice"]) == 1598


def code_discount(sort_order: str, permyriad: int = 1000) -> dict[str, Any]:
    """A Cart Discount that only a discount code unlocks: 10 % off every line item."""
    return {
        "name": {"en": f"code {sort_order}"},
        "value": {"type": "relative", "permyriad": permyriad},
        "cartPredicate": "true",
        "target": {"type": "lineItems", "predicate": "true"},
        "sortOrder": sort_order,
        "requiresDiscountCode": True,
    }


def test_discount_codes_must_exist(api: Api) -> None:
    cart = api.post("carts", {"currency": "EUR"})
    status, body = api.error(
        "POST",
        f"carts/{cart['id']}",
        {"version": 1, "actions": [{"action": "addDiscountCode", "code": "WELCOME"}]},
    )
    assert status == 400 and body["errors"][0]["code"] == "DiscountCodeNonApplicable"
    assert body["errors"][0]["reason"] == "DoesNotExist"
    discount = api.post("cart-discounts", code_discount("0.5"))
    code = api.post(
        "discount-codes",
        {"code": "WELCOME", "cartDiscounts": [{"typeId": "cart-discount", "id": discount["id"]}]},
    )
    cart = api.update("carts", cart, {"action": "addDiscountCode", "code": "WELCOME"})
    assert cart["discountCodes"] == [
        {"discountCode": {"typeId": "discount-code", "id": code["id"]}, "state": "MatchesCart"}
    ]
    cart = api.update(
        "carts",
        cart,
        {
            "action": "removeDiscountCode",
            "discountCode": {"typeId": "discount-code", "id": code["id"]},
        },
    )
    assert cart["discountCodes"] == []


def test_order_from_cart_copies_everything_and_orders_the_cart(api: Api) -> None:
    api.post(
        "types",
        {
            "key": "loyalty-order",
            "name": {"en": "Loyalty"},
            "resourceTypeIds": ["order"],
            "fieldDefinitions": [
                {
                    "name": "loyaltyRedemptionOptionId",
                    "type": {"name": "String"},
                    "required": False,
                    "label": {"en": "R"},
                }
            ],
        },
    )
    spring = api.post("cart-discounts", code_discount("0.4"))
    api.post(
        "discount-codes",
        {"code": "SPRING", "cartDiscounts": [{"typeId": "cart-discount", "id": spring["id"]}]},
    )
    customer = api.post("customers", {"email": "buyer@example.com"})["customer"]
    cart = api.post(
        "carts",
        {
            "currency": "EUR",
            "customerId": customer["id"],
            "customerEmail": "buyer@example.com",
            "store": {"key": "eu-store"},
            "country": "DE",
            "shippingAddress": {"country": "DE", "city": "Berlin"},
            "lineItems": [{"sku": "SKU-TSHIRT", "quantity": 2}],
            "custom": {
                "type": {"key": "loyalty-order"},
                "fields": {"loyaltyRedemptionOptionId": "opt-1"},
            },
        },
    )
    cart = api.update(
        "carts",
        cart,
        # A code and a direct discount together need the 2026-09-17 flag set to false.
        {
            "action": "setDirectDiscountsIgnoreCartDiscounts",
            "directDiscountsIgnoreCartDiscounts": False,
        },
        {
            "action": "setDirectDiscounts",
            "discounts": [
                {"value": {"type": "relative", "permyriad": 1000}, "target": {"type": "totalPrice"}}
            ],
        },
        {
            "action": "addCustomLineItem",
            "name": {"en": "Points"},
            "money": eur(-500),
            "slug": "loyalty",
            "taxCategory": {"typeId": "tax-category", "key": "standard"},
        },
        {
            "action": "setCustomShippingMethod",
            "shippingMethodName": "Standard",
            "shippingRate": {"price": eur(495)},
            "taxCategory": {"typeId": "tax-category", "key": "standard"},
        },
        {"action": "addDiscountCode", "code": "SPRING"},
    )
    order = api.post(
        "orders", {"id": cart["id"], "version": cart["version"], "orderNumber": "1001"}
    )
    for field in (
        "lineItems",
        "customLineItems",
        "totalPrice",
        "taxedPrice",
        "discountOnTotalPrice",
        "custom",
        "store",
        "customerId",
        "customerEmail",
        "discountCodes",
        "directDiscounts",
        "shippingInfo",
        "shippingAddress",
        "country",
    ):
        assert order[field] == cart[field], field
    assert order["orderState"] == "Open" and order["orderNumber"] == "1001"
    assert "paymentState" not in order and "shipmentState" not in order
    assert order["cart"] == {"typeId": "cart", "id": cart["id"]}
    assert order["totalPrice"]["currencyCode"] == "EUR"

    ordered = api.get(f"carts/{cart['id']}")
    assert ordered["cartState"] == "Ordered" and ordered["version"] == cart["version"] + 1
    status, body = api.error("POST", "orders", {"id": cart["id"], "version": ordered["version"]})
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"
    status, _ = api.error(
        "POST",
        f"carts/{cart['id']}",
        {"version": ordered["version"], "actions": [{"action": "addLineItem", "sku": "SKU-MUG"}]},
    )
    assert status == 400


def test_order_creation_checks_the_cart_version_and_order_number(api: Api) -> None:
    first = api.post("carts", {"currency": "USD", "lineItems": [{"sku": "SKU-MUG"}]})
    assert api.error("POST", "orders", {"id": first["id"], "version": 7})[0] == 409
    api.post(
        "orders", {"id": first["id"], "version": 1, "orderNumber": "A-1", "paymentState": "Pending"}
    )
    second = api.post("carts", {"currency": "USD", "lineItems": [{"sku": "SKU-MUG"}]})
    status, body = api.error(
        "POST", "orders", {"id": second["id"], "version": 1, "orderNumber": "A-1"}
    )
    assert status == 400 and body["errors"][0]["code"] == "DuplicateField"
    assert api.get(f"carts/{second['id']}")["cartState"] == "Active"


def test_orders_can_be_imported(api: Api) -> None:
    order = api.post(
        "orders/import",
        {
            "orderNumber": "legacy-9",
            "customerEmail": "old@example.com",
            "totalPrice": {"currencyCode": "JPY", "centAmount": 5000},
            "lineItems": [
                {
                    "name": {"en": "Mug"},
                    "variant": {"sku": "SKU-MUG"},
                    "price": {"value": {"currencyCode": "JPY", "centAmount": 2500}},
                    "quantity": 2,
                }
            ],
            "orderState": "Complete",
            "paymentState": "Paid",
        },
    )
    assert order["orderNumber"] == "legacy-9" and order["orderState"] == "Complete"
    assert order["lineItems"][0]["id"] and cents(order["lineItems"][0]["totalPrice"]) == 5000
    assert (
        api.get("messages", where='type = "OrderImported"')["results"][0]["order"]["id"]
        == order["id"]
    )
