from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.orders.order_view import DiscountCodeView, order_view
from tests.domain.builders import OrderBuilder, high_precision, money


def _eur_order() -> OrderBuilder:
    order = OrderBuilder(currency="EUR", order_number="CT-2001")
    order.add_line("SHIRT", 2, 2999, discount_per_unit=500, line_id="line-shirt")
    order.add_line("MUG", 1, 1190, line_id="line-mug", name={"de": "Tasse"})
    order.with_shipping(595).with_total_discount(1000)
    order.with_discount_code("SPRING10").with_discount_code("STALE", state="DoesNotMatchCart")
    order.with_custom(
        loyaltyRewardCode="YOTPO-ABC",
        loyaltyIpAddress="203.0.113.7",
        loyaltyUserAgent="Mozilla/5.0",
    )
    return order


def test_maps_the_order_identity_and_states() -> None:
    view = order_view(_eur_order().pay().ship().build())
    assert view.order_number == "CT-2001"
    assert view.customer_id == "customer-ada"
    assert view.customer_email == "ada.lovelace@example.com"
    assert view.store_key == "eu-store"
    assert view.currency == "EUR"
    assert view.created_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert (view.order_state, view.payment_state, view.shipment_state) == (
        "Open",
        "Paid",
        "Shipped",
    )
    assert view.version > 1
    assert view.charge_succeeded


def test_amounts_with_tax_included_prices() -> None:
    view = order_view(_eur_order().build())
    # lines: 2 × (29.99 − 5.00) = 49.98 and 11.90; shipping 5.95; total discount 10.00
    assert view.total_gross_minor == 4998 + 1190 + 595 - 1000
    # net: 49.98/1.19 = 42.00, 11.90/1.19 = 10.00. The 10.00 total-price discount (8.40 net)
    # takes the same percentage off the lines and the shipping (5.00 net): the merchandise
    # bears 8.40 × 52.00 / 57.00 = 7.66 of it.
    assert view.subtotal_net_minor == 4200 + 1000 - 766
    # line discounts 2 × 5.00 and the total-price discount
    assert view.discount_minor == 1000 + 1000


def test_line_items() -> None:
    view = order_view(_eur_order().build())
    shirt, mug = view.line_items
    assert shirt.id == "line-shirt"
    assert shirt.sku == "SHIRT"
    assert shirt.product_id == "product-SHIRT"
    assert shirt.name == {"en": "Product SHIRT", "de": "Produkt SHIRT"}
    assert shirt.quantity == 2
    assert shirt.unit_price_minor == 2999
    assert shirt.total_minor == 4998
    assert shirt.taxed_total_gross_minor == 4998
    assert shirt.net_total_minor == 4200
    assert mug.name == {"de": "Tasse"}


def test_tax_excluded_prices_use_the_net_line_totals() -> None:
    order = OrderBuilder(currency="USD", tax_included=False, tax_rate_bp=800)
    order.add_line("CAP", 3, 1000)
    order.with_shipping(500)
    view = order_view(order.build())
    assert view.subtotal_net_minor == 3000
    assert view.total_gross_minor == 3240 + 540
    assert view.line_items[0].taxed_total_gross_minor == 3240


def test_total_gross_falls_back_to_total_price_before_taxes() -> None:
    order = _eur_order().build()
    del order["taxedPrice"]
    for line in order["lineItems"]:
        del line["taxedPrice"]
    view = order_view(order)
    assert view.total_gross_minor == order["totalPrice"]["centAmount"]
    # without taxes the discount on the total has no net amount of its own: its amount is
    # shared pro rata with the shipping (61.88 of 67.83 before the discount)
    del order["discountOnTotalPrice"]["discountedNetAmount"]
    assert order_view(order).subtotal_net_minor == 4998 + 1190 - 912


def test_codes_and_custom_fields() -> None:
    view = order_view(_eur_order().build())
    assert view.discount_codes == (DiscountCodeView(id=view.discount_codes[0].id, code="SPRING10"),)
    assert view.code_strings == ("SPRING10",)
    assert view.loyalty_reward_code == "YOTPO-ABC"
    assert view.ip_address == "203.0.113.7"
    assert view.user_agent == "Mozilla/5.0"


def test_unexpanded_discount_codes_keep_their_ids() -> None:
    order = OrderBuilder()
    order.add_line("A", 1, 1000)
    order.with_discount_code("HIDDEN", expanded=False)
    view = order_view(order.build())
    (code,) = view.discount_codes
    assert code.code is None and code.id and code.id.startswith("discount-code-")
    assert view.code_strings == ()


def test_refunds_are_successful_refund_transactions_only() -> None:
    order = _eur_order().pay()
    first = order.refund(500)
    order.refund(700, state="Pending")
    order.refund(900, state="Failure")
    last = order.refund(300)
    view = order_view(order.build())
    assert [(r.transaction_id, r.amount_minor) for r in view.refunds] == [(first, 500), (last, 300)]
    assert view.refunds[0].payment_id == order.payment_id
    assert view.refunds[0].timestamp == datetime(2024, 5, 2, 9, 0, tzinfo=UTC)


def test_no_charge_no_refunds_without_payments() -> None:
    view = order_view(_eur_order().build())
    assert view.refunds == ()
    assert not view.charge_succeeded


def test_return_infos() -> None:
    order = _eur_order()
    first, second = order.add_return(("line-shirt", 1), ("line-mug", 1), payment_state="Refunded")
    (third,) = order.add_return(("line-shirt", 1))
    view = order_view(order.build())
    seen = [
        [(i.id, i.line_item_id, i.quantity, i.payment_state) for i in info.items]
        for info in view.return_infos
    ]
    assert seen == [
        [(first, "line-shirt", 1, "Refunded"), (second, "line-mug", 1, "Refunded")],
        [(third, "line-shirt", 1, "Initial")],
    ]
    assert view.return_infos[0].items[0].shipment_state == "Returned"


def test_high_precision_prices_in_three_digit_currency() -> None:
    order = OrderBuilder(currency="KWD", store_key="kw-store")
    order.add_line("OUD", 2, unit_money=high_precision(1234567, 5, "KWD"))
    view = order_view(order.build())
    line = view.line_items[0]
    assert line.unit_price_minor == 12346  # 12.34567 → 12.346
    assert line.total_minor == 24691  # 24.69134 → 24.691
    assert view.total_gross_minor == 24691


def test_zero_digit_currency() -> None:
    order = OrderBuilder(currency="JPY", tax_rate_bp=1000)
    order.add_line("TEA", 3, 1980)
    order.with_shipping(500)
    view = order_view(order.build())
    assert view.total_gross_minor == 6440
    assert view.line_items[0].net_total_minor == 5400  # ¥5940 / 1.10
    assert view.subtotal_net_minor == 5400


@pytest.mark.parametrize("email", [None, "", "   "])
def test_missing_or_blank_email_is_none(email: str | None) -> None:
    order = OrderBuilder(email=email or None)
    order.add_line("A", 1, 1000)
    built = order.build()
    if email is not None:
        built["customerEmail"] = email
    assert order_view(built).customer_email is None


def test_a_money_in_another_currency_is_refused() -> None:
    built = _eur_order().build()
    built["lineItems"][0]["totalPrice"] = money(4998, "USD")
    with pytest.raises(ValueError, match="USD"):
        order_view(built)


def test_guest_order_without_store() -> None:
    order = OrderBuilder(customer_id=None, store_key=None, order_number=None)
    order.add_line("A", 1, 1000)
    view = order_view(order.build())
    assert view.customer_id is None and view.store_key is None and view.order_number is None


def test_subtotal_does_not_subtract_line_discounts_again() -> None:
    # a line-targeted discount is already in the line's totalPrice and taxedPrice
    order = OrderBuilder(tax_included=False, tax_rate_bp=1000)
    order.add_line("A", 2, 5000, discount_per_unit=1000)
    view = order_view(order.build())
    assert view.subtotal_net_minor == 8000
    assert view.discount_minor == 2000


def test_subtotal_with_a_total_discount_and_no_shipping_takes_all_of_it() -> None:
    order = OrderBuilder(tax_included=False, tax_rate_bp=1000)
    order.add_line("A", 1, 4495)
    order.with_total_discount(500)  # e.g. the connector's own direct-discount reward
    assert order_view(order.build()).subtotal_net_minor == 3995


def test_made_from_a_cart_or_imported() -> None:
    order = OrderBuilder(from_cart=False, origin="Merchant")
    order.add_line("A", 1, 1000)
    order.with_custom(loyaltyClerkEmployeeId="E-1", loyaltyClerkName="Grace")
    view = order_view(order.build())
    assert not view.from_cart and view.origin == "Merchant"
    assert (view.clerk_employee_id, view.clerk_name) == ("E-1", "Grace")
    built = order.build()
    built["cart"] = {"typeId": "cart", "id": "cart-1"}  # a merchant's order from a cart
    assert order_view(built).from_cart and order_view(built).clerk_employee_id is None
    # no cart reference but a customer's order: treated as from a cart (never trusted more)
    legacy = OrderBuilder(from_cart=False)
    legacy.add_line("A", 1, 1000)
    assert order_view(legacy.build()).from_cart


def test_line_attributes_product_type_and_collections() -> None:
    order = OrderBuilder()
    order.add_line(
        "A",
        1,
        1000,
        product_type="shoes",
        attributes={
            "brand": {"key": "acme", "label": "ACME"},
            "material": {"en": "Leather", "de": "Leder"},
            "size": 42,
            "vegan": True,
            "color": {"key": "red", "label": {"de": "Rot", "en": "Red"}},
            "price": {"centAmount": 1, "currencyCode": "EUR"},
        },
    )
    view = order_view(order.build(), collections={"product-A": ("sale",)})
    (line,) = view.line_items
    assert line.product_type == "shoes"
    assert line.attributes == {"brand": "ACME", "material": "Leather", "size": "42", "color": "Red"}
    assert line.collections == ("sale",)


def test_the_reward_from_fields_is_unverified_and_a_seal_decides_when_a_key_is_given() -> None:
    from shared.domain.checkout.reward_state import AppliedReward, seal, seal_key

    order = OrderBuilder()
    order.add_line("A", 1, 1000)
    order.with_custom(loyaltyRewardCode="LOY-1", loyaltyRewardPoints=500)
    plain = order_view(order.build())
    assert plain.reward is not None and plain.reward.points == 500 and not plain.reward.verified
    key = seal_key("s3cret")
    unsealed = order_view(order.build(), seal_key=key).reward  # fields without a seal
    assert unsealed is not None and not unsealed.verified and unsealed.code == "LOY-1"
    sealed = AppliedReward(
        code="LOY-1", amount=500, option_id="1", kind="fixed", customer_id="c", points=400
    )
    order.with_custom(loyaltyRewardSeal=seal(sealed, order.cart_id, key))
    view = order_view(order.build(), seal_key=key)
    assert view.reward is not None and view.reward.verified and view.reward.points == 400
    assert view.loyalty_reward_code == "LOY-1"


def test_subtotal_when_the_lines_already_carry_their_share_of_the_total_discount() -> None:
    # Documented model: line totals exclude a total-price discount (see the test above). If
    # the line totals already carry their share instead (they add up to the discounted net
    # total, as the sandbox computes it), nothing is taken off twice.
    order = OrderBuilder(tax_included=False, tax_rate_bp=1000)
    order.add_line("A", 1, 4495)
    order.with_total_discount(500)
    built = order.build()
    built["lineItems"][0]["taxedPrice"]["totalNet"] = money(3995)
    assert order_view(built).subtotal_net_minor == 3995
    with_shipping = OrderBuilder(tax_included=False, tax_rate_bp=1000).with_shipping(1000)
    with_shipping.add_line("A", 1, 4000)
    with_shipping.with_total_discount(500)  # 10 % of 50.00: 4.00 on the line, 1.00 on shipping
    built = with_shipping.build()
    assert order_view(built).subtotal_net_minor == 3600
    built["lineItems"][0]["taxedPrice"]["totalNet"] = money(3600)
    built["shippingInfo"]["taxedPrice"]["totalNet"] = money(900)
    assert order_view(built).subtotal_net_minor == 3600


def test_product_collections_from_expanded_categories() -> None:
    from shared.domain.orders.order_view import product_collections

    products = [
        {
            "id": "product-A",
            "categories": [
                {"typeId": "category", "id": "c-1", "obj": {"id": "c-1", "key": "gift-cards"}},
                {"typeId": "category", "id": "c-2"},
            ],
        },
        {"id": "product-B"},
    ]
    assert product_collections(products) == {"product-A": ("gift-cards", "c-2"), "product-B": ()}
