"""What the planner needs to know about a commercetools order, in the connector's own terms.

`order_view(order)` maps an Order JSON (with `paymentInfo.payments[*]` and ideally
`discountCodes[*].discountCode` expanded) to an `OrderView`. Every commercetools field name of
an order is spelled in this module and nowhere else.

Amount choices (all integers in the currency's minor units):
- `total_gross_minor`: `taxedPrice.totalGross`, else `totalPrice` (no taxes calculated yet).
- `subtotal_net_minor`: merchandise without shipping and tax. A line item's `totalPrice`
  includes the tax when its TaxRate has `includedInPrice: true` (commercetools' LineItem
  reference), so it is net only in tax-excluded setups. Each line therefore counts with
  `taxedPrice.totalNet` when taxes are calculated, else with `totalPrice`. A discount on the
  order's total price is not part of any line's total, so its net amount
  (`discountOnTotalPrice.discountedNetAmount`, else `discountedAmount` when no taxes were
  calculated) is subtracted. Custom line items (fees, gift wrap, the connector's own reward
  lines) are not merchandise and are left out. Never below zero.
- `discount_minor`: what discounts took off, as commercetools reflects them: cart discounts and
  Direct Discounts on line items and custom line items (`discountedPricePerQuantity`), on
  shipping (`shippingInfo.discountedPrice`) and on the total (`discountOnTotalPrice`).
- Line items: `unit_price_minor` is the price of one unit before cart discounts (the product
  discounted price when there is one); `total_minor` is `totalPrice`;
  `taxed_total_gross_minor` / `net_total_minor` come from the line's `taxedPrice`, falling back
  to `totalPrice`. Line totals include cart discounts on the line.
- Discount codes: only codes whose state shows they applied (`MatchesCart`, or no state).
  The code string is known only when the reference is expanded; otherwise only the id is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.domain.loyalty_fields import CartFields
from shared.domain.money import minor_units, money_currency

# commercetools state names the planner compares against.
ORDER_STATE_CANCELLED = "Cancelled"
ORDER_STATE_COMPLETE = "Complete"
PAYMENT_STATE_PAID = "Paid"
SHIPMENT_STATES_SHIPPED = frozenset({"Shipped", "Delivered"})
RETURN_PAYMENT_REFUNDED = "Refunded"

# The connector's own custom fields on the order (carried over from the cart).
FIELD_REWARD_CODE = CartFields.REWARD_CODE
FIELD_REFERRAL_CODE = CartFields.REFERRAL_CODE
FIELD_IP_ADDRESS = CartFields.IP_ADDRESS
FIELD_USER_AGENT = CartFields.USER_AGENT

_APPLIED_CODE_STATE = "MatchesCart"
_TRANSACTION_REFUND = "Refund"
_TRANSACTION_CHARGE = "Charge"
_TRANSACTION_SUCCESS = "Success"

_FROZEN = ConfigDict(frozen=True)


class LineItemView(BaseModel):
    model_config = _FROZEN

    id: str
    product_id: str | None = None
    sku: str | None = None
    name: dict[str, str] = {}
    quantity: int
    unit_price_minor: int
    total_minor: int
    taxed_total_gross_minor: int
    net_total_minor: int


class DiscountCodeView(BaseModel):
    model_config = _FROZEN

    id: str | None = None
    code: str | None = None  # known only when the reference was expanded


class ReturnItemView(BaseModel):
    model_config = _FROZEN

    id: str
    line_item_id: str | None = None
    custom_line_item_id: str | None = None
    quantity: int
    shipment_state: str | None = None
    payment_state: str | None = None


class ReturnInfoView(BaseModel):
    model_config = _FROZEN

    items: tuple[ReturnItemView, ...] = ()
    return_tracking_id: str | None = None
    return_date: datetime | None = None


class RefundView(BaseModel):
    """A successful Refund transaction of one of the order's payments."""

    model_config = _FROZEN

    transaction_id: str
    payment_id: str | None = None
    amount_minor: int
    timestamp: datetime | None = None


class OrderView(BaseModel):
    model_config = _FROZEN

    id: str
    order_number: str | None = None
    version: int
    customer_id: str | None = None
    customer_email: str | None = None
    store_key: str | None = None
    currency: str
    created_at: datetime
    order_state: str
    payment_state: str | None = None
    shipment_state: str | None = None
    total_gross_minor: int
    subtotal_net_minor: int
    discount_minor: int
    discount_codes: tuple[DiscountCodeView, ...] = ()
    loyalty_reward_code: str | None = None
    referral_code: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    line_items: tuple[LineItemView, ...] = ()
    return_infos: tuple[ReturnInfoView, ...] = ()
    refunds: tuple[RefundView, ...] = ()
    charge_succeeded: bool = False

    @property
    def cancelled(self) -> bool:
        return self.order_state == ORDER_STATE_CANCELLED

    @property
    def code_strings(self) -> tuple[str, ...]:
        """Applied discount codes whose text is known, in the order's order."""
        return tuple(c.code for c in self.discount_codes if c.code)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _list(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _amount(money: Any, currency: str) -> int:
    money = _map(money)
    if money_currency(money) != currency:
        raise ValueError(f"money in {money.get('currencyCode')} on an order in {currency}")
    return minor_units(money)


def _optional_amount(money: Any, currency: str) -> int | None:
    return _amount(money, currency) if isinstance(money, Mapping) else None


def _discounted_per_quantity(item: Mapping[str, Any], currency: str) -> int:
    """What cart discounts (Direct Discounts included) took off a line, over all its units."""
    total = 0
    for portion in _list(item.get("discountedPricePerQuantity")):
        quantity = int(portion.get("quantity", 0))
        included = _list(_map(portion.get("discountedPrice")).get("includedDiscounts"))
        per_unit = sum(_amount(d.get("discountedAmount"), currency) for d in included)
        total += quantity * per_unit
    return total


def _line_item(item: Mapping[str, Any], currency: str) -> LineItemView:
    price = _map(item.get("price"))
    discounted = _map(price.get("discounted"))
    unit_money = discounted.get("value") or price.get("value")
    total = _amount(item.get("totalPrice"), currency)
    taxed = _map(item.get("taxedPrice"))
    gross = _optional_amount(taxed.get("totalGross"), currency)
    net = _optional_amount(taxed.get("totalNet"), currency)
    variant = _map(item.get("variant"))
    name = {k: v for k, v in _map(item.get("name")).items() if isinstance(v, str)}
    return LineItemView(
        id=str(item["id"]),
        product_id=_text(item.get("productId")),
        sku=_text(variant.get("sku")),
        name=name,
        quantity=int(item.get("quantity", 0)),
        unit_price_minor=_amount(unit_money, currency) if unit_money else 0,
        total_minor=total,
        taxed_total_gross_minor=total if gross is None else gross,
        net_total_minor=total if net is None else net,
    )


def _discount_codes(order: Mapping[str, Any]) -> tuple[DiscountCodeView, ...]:
    codes = []
    for info in _list(order.get("discountCodes")):
        state = info.get("state")
        if state is not None and state != _APPLIED_CODE_STATE:
            continue
        reference = _map(info.get("discountCode"))
        code = _text(_map(reference.get("obj")).get("code"))
        ref_id = _text(reference.get("id"))
        if code or ref_id:
            codes.append(DiscountCodeView(id=ref_id, code=code))
    return tuple(codes)


def _return_infos(order: Mapping[str, Any]) -> tuple[ReturnInfoView, ...]:
    infos = []
    for info in _list(order.get("returnInfo")):
        items = tuple(
            ReturnItemView(
                id=str(item["id"]),
                line_item_id=_text(item.get("lineItemId")),
                custom_line_item_id=_text(item.get("customLineItemId")),
                quantity=int(item.get("quantity", 0)),
                shipment_state=_text(item.get("shipmentState")),
                payment_state=_text(item.get("paymentState")),
            )
            for item in _list(info.get("items"))
        )
        infos.append(
            ReturnInfoView(
                items=items,
                return_tracking_id=_text(info.get("returnTrackingId")),
                return_date=info.get("returnDate"),
            )
        )
    return tuple(infos)


def _payments(order: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for reference in _list(_map(order.get("paymentInfo")).get("payments")):
        payment = reference.get("obj")
        if isinstance(payment, Mapping):
            yield payment
        # An unexpanded reference carries no transactions; the caller asked for the expansion.


def _refunds_and_charge(
    order: Mapping[str, Any], currency: str
) -> tuple[tuple[RefundView, ...], bool]:
    refunds = []
    charged = False
    for payment in _payments(order):
        for txn in _list(payment.get("transactions")):
            if txn.get("state") != _TRANSACTION_SUCCESS:
                continue
            if txn.get("type") == _TRANSACTION_CHARGE:
                charged = True
            elif txn.get("type") == _TRANSACTION_REFUND:
                refunds.append(
                    RefundView(
                        transaction_id=str(txn["id"]),
                        payment_id=_text(payment.get("id")),
                        amount_minor=_amount(txn.get("amount"), currency),
                        timestamp=txn.get("timestamp"),
                    )
                )
    return tuple(refunds), charged


def _subtotal_net(order: Mapping[str, Any], lines: tuple[LineItemView, ...], currency: str) -> int:
    subtotal = sum(line.net_total_minor for line in lines)
    on_total = _map(order.get("discountOnTotalPrice"))
    if on_total:
        net = _optional_amount(on_total.get("discountedNetAmount"), currency)
        if net is None and not order.get("taxedPrice"):
            net = _optional_amount(on_total.get("discountedAmount"), currency)
        subtotal -= net or 0
    return max(subtotal, 0)


def _discount_total(order: Mapping[str, Any], currency: str) -> int:
    total = sum(
        _discounted_per_quantity(item, currency)
        for key in ("lineItems", "customLineItems")
        for item in _list(order.get(key))
    )
    shipping_discount = _map(_map(order.get("shippingInfo")).get("discountedPrice"))
    total += sum(
        _amount(d.get("discountedAmount"), currency)
        for d in _list(shipping_discount.get("includedDiscounts"))
    )
    on_total = _map(order.get("discountOnTotalPrice")).get("discountedAmount")
    return total + (_optional_amount(on_total, currency) or 0)


def order_view(order: Mapping[str, Any]) -> OrderView:
    """Map a commercetools Order (payments expanded) to the planner's view of it."""
    total_price = _map(order.get("totalPrice"))
    currency = money_currency(total_price)
    taxed = _map(order.get("taxedPrice"))
    gross_money = taxed.get("totalGross") or total_price
    lines = tuple(_line_item(item, currency) for item in _list(order.get("lineItems")))
    fields = _map(_map(order.get("custom")).get("fields"))
    refunds, charged = _refunds_and_charge(order, currency)
    return OrderView(
        id=str(order["id"]),
        order_number=_text(order.get("orderNumber")),
        version=int(order.get("version", 0)),
        customer_id=_text(order.get("customerId")),
        customer_email=_text(order.get("customerEmail")),
        store_key=_text(_map(order.get("store")).get("key")),
        currency=currency,
        created_at=order["createdAt"],
        order_state=str(order.get("orderState", "Open")),
        payment_state=_text(order.get("paymentState")),
        shipment_state=_text(order.get("shipmentState")),
        total_gross_minor=_amount(gross_money, currency),
        subtotal_net_minor=_subtotal_net(order, lines, currency),
        discount_minor=_discount_total(order, currency),
        discount_codes=_discount_codes(order),
        loyalty_reward_code=_text(fields.get(FIELD_REWARD_CODE)),
        referral_code=_text(fields.get(FIELD_REFERRAL_CODE)),
        ip_address=_text(fields.get(FIELD_IP_ADDRESS)),
        user_agent=_text(fields.get(FIELD_USER_AGENT)),
        line_items=lines,
        return_infos=_return_infos(order),
        refunds=refunds,
        charge_succeeded=charged,
    )
