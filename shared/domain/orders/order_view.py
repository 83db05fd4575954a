"""What the planner needs to know about a commercetools order, in the connector's own terms.

`order_view(order)` maps an Order JSON (with `paymentInfo.payments[*]` and ideally
`discountCodes[*].discountCode` expanded) to an `OrderView`. Every commercetools field name of
an order is spelled in this module and nowhere else.

Amount choices (all integers in the currency's minor units):
- `total_gross_minor`: `taxedPrice.totalGross`, else `totalPrice` (no taxes calculated yet).
- `subtotal_net_minor`: merchandise without shipping and tax. A line item's `totalPrice`
  includes the tax when its TaxRate has `includedInPrice: true` (commercetools' LineItem
  reference), so it is net only in tax-excluded setups. Each line therefore counts with
  `taxedPrice.totalNet` when taxes are calculated, else with `totalPrice`. Line-level cart
  discounts are already in those totals (`totalPrice` is `discountedPricePerQuantity` ×
  quantity), so they are never subtracted again. A discount on the order's *total* price
  (`discountOnTotalPrice`, target `totalPrice`, which is also how the connector's own direct
  discount reward is applied) is not part of any line's total: "The same percentage of
  discount applies on the Cart or Order taxedPrice and taxedShippingPrice"
  (CartDiscountTotalPriceTarget, https://docs.commercetools.com/api/projects/cartDiscounts;
  ADR 0012). So the merchandise bears only its pro-rata share of it: the discount's net amount
  (`discountedNetAmount`, else `discountedAmount` when no taxes were calculated) times the
  lines' share of the order's net total before the discount. Where the line totals already
  carry their shares (the lines, custom lines and shipping add up to the discounted net total,
  as the sandbox computes it), nothing more is taken off: the connector is right under both
  readings. Custom line items (fees, gift wrap, the connector's own reward lines) are not
  merchandise and are left out. Never below zero.
- `discount_minor`: what discounts took off, as commercetools reflects them: cart discounts and
  Direct Discounts on line items and custom line items (`discountedPricePerQuantity`), on
  shipping (`shippingInfo.discountedPrice`) and on the total (`discountOnTotalPrice`).
- Line items: `unit_price_minor` is the price of one unit before cart discounts (the product
  discounted price when there is one); `total_minor` is `totalPrice`;
  `taxed_total_gross_minor` / `net_total_minor` come from the line's `taxedPrice`, falling back
  to `totalPrice`. Line totals include cart discounts on the line.
- Discount codes: only codes whose state shows they applied (`MatchesCart`, or no state).
  The code string is known only when the reference is expanded; otherwise only the id is kept.

Trust: custom fields of an order made from a cart were writable by the shopper (`/me/carts`),
so only facts the shopper cannot forge decide anything of value. Clerk fields are read only on
orders that were not made from a cart (`cart` absent: Order Import, which needs the merchant's
`manage_orders` scope — the in-store desk imports its sales that way). The applied reward is
verified only when the checkout's seal on the order opens (`seal_key=`) or the caller passes
the authoritative record (`reward=`); otherwise it is read from the loyalty fields, unverified
(see `RewardUsed` and `order_view`).

Inputs the Order itself does not carry are passed in by the caller: the customer's Yotpo member
(`member=`, from the Customer, see `customer_sync.customer_member`) and the collections of each
product (`collections=`, product id → category names, from the products' categories).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.domain.checkout.reward_state import unseal
from shared.domain.customers.member_identity import MemberView
from shared.domain.loyalty_fields import CartFields
from shared.domain.money import allocate, minor_units, money_currency

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
FIELD_REWARD_POINTS = CartFields.REWARD_POINTS
FIELD_REWARD_CUSTOMER = CartFields.REWARD_CUSTOMER
FIELD_REDEMPTION_ID = CartFields.REDEMPTION_ID
FIELD_REWARD_SEAL = CartFields.REWARD_SEAL
# Written by the in-store desk on the orders it imports (not yet in loyalty_fields.py).
FIELD_CLERK_EMPLOYEE_ID = "loyaltyClerkEmployeeId"
FIELD_CLERK_NAME = "loyaltyClerkName"

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
    product_type: str | None = None  # the product type's key (or id when not expanded)
    attributes: dict[str, str] = {}  # the variant's attributes that read as text
    # `taxedPrice.totalTax` (else gross − net) and `taxRate.amount`; None: not calculated.
    tax_minor: int | None = None
    tax_rate: Decimal | None = None
    collections: tuple[str, ...] = ()  # the product's categories, as the caller named them


class RewardUsed(BaseModel):
    """The loyalty reward an order used: its code, and the points it cost."""

    model_config = _FROZEN

    code: str
    points: int | None = None
    customer_id: str | None = None  # the commercetools customer the reward was issued to
    redemption_id: str | None = None
    # Opened from the checkout's seal (or handed over by the caller as authoritative): only
    # then may anything of value (points given back) follow from it.
    verified: bool = False
    delayed: bool = True  # Yotpo deducts the points when an order carrying the code arrives


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
    # Made from a cart (the shopper could write its custom fields); False: imported.
    from_cart: bool = True
    origin: str | None = None
    clerk_employee_id: str | None = None
    clerk_name: str | None = None
    reward: RewardUsed | None = None
    member: MemberView | None = None

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


def _attribute_text(value: Any) -> str | None:
    """An attribute value as text: text or number, an enum's label, a localized text in English
    (else its first language). Sets, money, references and booleans are not text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return _text(str(value))
    if not isinstance(value, Mapping):
        return None
    if "label" in value:
        return _attribute_text(value["label"])
    if "key" in value or "centAmount" in value or "typeId" in value:
        return None
    localized = [v for v in value.values() if isinstance(v, str) and v.strip()]
    return _text(value.get("en")) or (localized[0].strip() if localized else None)


def _attributes(variant: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for attribute in _list(variant.get("attributes")):
        name = _text(attribute.get("name"))
        text = _attribute_text(attribute.get("value"))
        if name and text:
            found[name] = text
    return found


def _reference_key(reference: Any) -> str | None:
    reference = _map(reference)
    return (
        _text(_map(reference.get("obj")).get("key"))
        or _text(reference.get("key"))
        or _text(reference.get("id"))
    )


def _line_item(
    item: Mapping[str, Any],
    currency: str,
    collections: Mapping[str, tuple[str, ...]] | None = None,
) -> LineItemView:
    price = _map(item.get("price"))
    discounted = _map(price.get("discounted"))
    unit_money = discounted.get("value") or price.get("value")
    total = _amount(item.get("totalPrice"), currency)
    taxed = _map(item.get("taxedPrice"))
    gross = _optional_amount(taxed.get("totalGross"), currency)
    net = _optional_amount(taxed.get("totalNet"), currency)
    tax = _optional_amount(taxed.get("totalTax"), currency)
    if tax is None and gross is not None and net is not None:
        tax = gross - net
    variant = _map(item.get("variant"))
    name = {k: v for k, v in _map(item.get("name")).items() if isinstance(v, str)}
    product_id = _text(item.get("productId"))
    return LineItemView(
        id=str(item["id"]),
        product_id=product_id,
        sku=_text(variant.get("sku")),
        name=name,
        quantity=int(item.get("quantity", 0)),
        unit_price_minor=_amount(unit_money, currency) if unit_money else 0,
        total_minor=total,
        taxed_total_gross_minor=total if gross is None else gross,
        net_total_minor=total if net is None else net,
        product_type=_reference_key(item.get("productType")),
        attributes=_attributes(variant),
        collections=tuple((collections or {}).get(product_id or "", ())),
        tax_minor=tax,
        tax_rate=_tax_rate(item.get("taxRate")),
    )


def _tax_rate(rate: Any) -> Decimal | None:
    """`TaxRate.amount` ("Number Percentage in the range of 0-1",
    https://docs.commercetools.com/api/projects/taxCategories#taxrate) as an exact decimal."""
    amount = _map(rate).get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    return value if value.is_finite() and 0 <= value <= 1 else None


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


def _part_net(part: Mapping[str, Any], money_key: str, taxed: bool, currency: str) -> int:
    """A custom line item's or the shipping's net amount (its price when no taxes apply)."""
    if taxed:
        net = _optional_amount(_map(part.get("taxedPrice")).get("totalNet"), currency)
        if net is not None:
            return net
    return _optional_amount(part.get(money_key), currency) or 0


def _subtotal_net(order: Mapping[str, Any], lines: tuple[LineItemView, ...], currency: str) -> int:
    subtotal = sum(line.net_total_minor for line in lines)
    on_total = _map(order.get("discountOnTotalPrice"))
    if not on_total or subtotal <= 0:
        return max(subtotal, 0)
    taxed = bool(_map(order.get("taxedPrice")))
    if taxed:
        discount = _optional_amount(on_total.get("discountedNetAmount"), currency) or 0
        after = _optional_amount(_map(order.get("taxedPrice")).get("totalNet"), currency) or 0
    else:
        discount = _optional_amount(on_total.get("discountedAmount"), currency) or 0
        after = _optional_amount(order.get("totalPrice"), currency) or 0
    if discount <= 0:
        return max(subtotal, 0)
    others = [
        _part_net(item, "totalPrice", taxed, currency)
        for item in _list(order.get("customLineItems"))
    ]
    shipping = _map(order.get("shippingInfo"))
    if shipping:
        others.append(_part_net(shipping, "price", taxed, currency))
    parts = subtotal + sum(others)
    # Rounding: each part may be off by one minor unit from an exact share.
    tolerance = len(lines) + len(others)
    if abs(parts - after) <= tolerance and abs(parts - (after + discount)) > tolerance:
        # The parts already carry their shares of the discount (their totals add up to the
        # discounted total): nothing is left to take off the merchandise.
        return max(subtotal, 0)
    before = after + discount
    # The discount takes the same percentage off everything the total holds (lines, custom
    # lines, shipping): the merchandise bears its share of it, no more.
    if before > 0:
        subtotal -= allocate(discount, min(subtotal, before), before)
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


def product_collections(products: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Product id → its categories as Yotpo item collections (for `order_view(collections=)`).

    From product projections read with `expand=categories[*]`: a category's key (what a
    merchant names in Yotpo's product rules), else its id when it has none or was not expanded.
    """
    found: dict[str, tuple[str, ...]] = {}
    for product in products:
        names = [_reference_key(category) for category in _list(product.get("categories"))]
        found[str(product.get("id"))] = tuple(n for n in names if n)
    return found


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _sealed_reward(
    order: Mapping[str, Any], fields: Mapping[str, Any], key: bytes
) -> RewardUsed | None:
    """The reward the checkout sealed on the order's cart; None when no seal opens."""
    cart_id = _text(_map(order.get("cart")).get("id"))
    if cart_id is None:
        return None
    sealed = unseal(fields.get(FIELD_REWARD_SEAL), cart_id, key)
    if sealed is None:
        return None
    return RewardUsed(
        code=sealed.code,
        points=sealed.points,
        customer_id=sealed.customer_id,
        redemption_id=sealed.redemption_id,
        verified=True,
        delayed=sealed.delayed,
    )


def _reward(fields: Mapping[str, Any]) -> RewardUsed | None:
    """The order's loyalty fields as written: readable, never proof of anything."""
    code = _text(fields.get(FIELD_REWARD_CODE))
    if code is None:
        return None
    return RewardUsed(
        code=code,
        points=_int(fields.get(FIELD_REWARD_POINTS)),
        customer_id=_text(fields.get(FIELD_REWARD_CUSTOMER)),
        redemption_id=_text(fields.get(FIELD_REDEMPTION_ID)),
    )


def order_view(
    order: Mapping[str, Any],
    *,
    member: MemberView | None = None,
    collections: Mapping[str, tuple[str, ...]] | None = None,
    reward: RewardUsed | None = None,
    seal_key: bytes | None = None,
) -> OrderView:
    """Map a commercetools Order (payments expanded) to the planner's view of it.

    `member`: the Yotpo member of the order's customer (None: not read; the planner then names
    the member by the order's `customerId` and email). `collections`: product id → the names
    of its categories. `reward`: the authoritative record of the reward the order used, when
    the caller has one. `seal_key`: the checkout's sealing key (`reward_state.seal_key`); with
    it, the reward is the one the seal on the order's cart holds (verified). Otherwise the
    loyalty fields are read and the reward is unverified: its code still travels to Yotpo in
    `coupon_code` (telling Yotpo which codes an order carried grants nothing by itself, and
    orders placed before seals existed must still consume their codes), but nothing of value
    follows from it.
    """
    total_price = _map(order.get("totalPrice"))
    currency = money_currency(total_price)
    taxed = _map(order.get("taxedPrice"))
    gross_money = taxed.get("totalGross") or total_price
    lines = tuple(_line_item(item, currency, collections) for item in _list(order.get("lineItems")))
    fields = _map(_map(order.get("custom")).get("fields"))
    refunds, charged = _refunds_and_charge(order, currency)
    from_cart = isinstance(order.get("cart"), Mapping) or not _imported(order)
    customer_id = _text(order.get("customerId"))
    if member is not None and member.customer_id != customer_id:
        member = None  # a stale read: the order now belongs to someone else
    used = reward or (_sealed_reward(order, fields, seal_key) if seal_key else None)
    used = used or _reward(fields)
    return OrderView(
        id=str(order["id"]),
        order_number=_text(order.get("orderNumber")),
        version=int(order.get("version", 0)),
        customer_id=customer_id,
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
        loyalty_reward_code=used.code if used else None,
        referral_code=_text(fields.get(FIELD_REFERRAL_CODE)),
        ip_address=_text(fields.get(FIELD_IP_ADDRESS)),
        user_agent=_text(fields.get(FIELD_USER_AGENT)),
        line_items=lines,
        return_infos=_return_infos(order),
        refunds=refunds,
        charge_succeeded=charged,
        from_cart=from_cart,
        origin=_text(order.get("origin")),
        clerk_employee_id=None if from_cart else _text(fields.get(FIELD_CLERK_EMPLOYEE_ID)),
        clerk_name=None if from_cart else _text(fields.get(FIELD_CLERK_NAME)),
        reward=used,
        member=member,
    )


def _imported(order: Mapping[str, Any]) -> bool:
    """Whether the order was imported rather than made from a cart.

    An Order made from a Cart carries `cart` ("Set when this Order was created from a Cart",
    https://docs.commercetools.com/api/projects/orders#order); an imported one has none. Old
    test fixtures and some stored orders omit `cart` although they came from one, so absence
    alone counts as imported only for orders the merchant created (`origin: Merchant`).
    """
    return order.get("cart") is None and order.get("origin") == "Merchant"
