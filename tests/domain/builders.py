"""Realistic commercetools Order JSON for tests, built step by step.

An `OrderBuilder` is mutated through a lifecycle (pay, ship, refund, return, cancel...) and
`build()` returns an independent snapshot of the Order as the API would return it with
`paymentInfo.payments[*]` and `discountCodes[*].discountCode` expanded. Taxes follow the
platform tax mode with one rate: prices include the tax (European style) unless
`tax_included=False`. All arithmetic is integer.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from shared.domain.money import currency_digits, divide_half_even, rescale

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):04d}"


def money(amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": amount,
        "fractionDigits": currency_digits(currency),
    }


def high_precision(precise: int, fraction_digits: int, currency: str) -> dict[str, Any]:
    return {
        "type": "highPrecision",
        "currencyCode": currency,
        "centAmount": rescale(precise, fraction_digits, currency_digits(currency)),
        "preciseAmount": precise,
        "fractionDigits": fraction_digits,
    }


@dataclass
class _Line:
    id: str
    product_id: str
    sku: str
    name: dict[str, str]
    quantity: int
    unit: dict[str, Any]  # the price value, cent or high precision
    discount_per_unit: int
    attributes: list[dict[str, Any]] = field(default_factory=list)
    product_type: str | None = None  # an expanded product type's key


@dataclass
class OrderBuilder:
    currency: str = "EUR"
    order_id: str = field(default_factory=lambda: new_id("order"))
    order_number: str | None = "CT-1001"
    email: str | None = "ada.lovelace@example.com"
    customer_id: str | None = "customer-ada"
    store_key: str | None = "eu-store"
    created_at: str = "2024-05-01T10:00:00.000Z"
    tax_included: bool = True
    tax_rate_bp: int = 1900  # basis points: 19 %
    version: int = 1
    order_state: str = "Open"
    payment_state: str | None = "Pending"
    shipment_state: str | None = None
    lines: list[_Line] = field(default_factory=list)
    shipping: int = 0
    total_discount: int = 0
    discount_codes: list[dict[str, Any]] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    payment_id: str = field(default_factory=lambda: new_id("payment"))
    return_infos: list[dict[str, Any]] = field(default_factory=list)
    # Made from a cart (`cart` reference set) or imported (Order Import: no cart).
    from_cart: bool = True
    origin: str = "Customer"
    cart_id: str = field(default_factory=lambda: new_id("cart"))

    # --- content -----------------------------------------------------------------------

    def add_line(
        self,
        sku: str,
        quantity: int,
        unit_price: int | None = None,
        *,
        name: dict[str, str] | None = None,
        unit_money: dict[str, Any] | None = None,
        discount_per_unit: int = 0,
        line_id: str | None = None,
        attributes: dict[str, Any] | None = None,
        product_type: str | None = None,
    ) -> str:
        unit = unit_money if unit_money is not None else money(unit_price or 0, self.currency)
        line = _Line(
            id=line_id or new_id("line"),
            product_id=f"product-{sku}",
            sku=sku,
            name=name if name is not None else {"en": f"Product {sku}", "de": f"Produkt {sku}"},
            quantity=quantity,
            unit=unit,
            discount_per_unit=discount_per_unit,
            attributes=[{"name": k, "value": v} for k, v in (attributes or {}).items()],
            product_type=product_type,
        )
        self.lines.append(line)
        return line.id

    def with_shipping(self, amount: int) -> OrderBuilder:
        self.shipping = amount
        return self

    def with_total_discount(self, amount: int) -> OrderBuilder:
        self.total_discount = amount
        return self

    def with_discount_code(
        self, code: str, *, expanded: bool = True, state: str = "MatchesCart"
    ) -> OrderBuilder:
        code_id = new_id("discount-code")
        reference: dict[str, Any] = {"typeId": "discount-code", "id": code_id}
        if expanded:
            reference["obj"] = {"id": code_id, "version": 1, "code": code, "isActive": True}
        self.discount_codes.append({"discountCode": reference, "state": state})
        return self

    def with_custom(self, **fields: Any) -> OrderBuilder:
        self.custom_fields.update(fields)
        return self

    # --- lifecycle ---------------------------------------------------------------------

    def _transaction(self, kind: str, amount: int, state: str, txn_id: str | None) -> str:
        txn_id = txn_id or new_id("txn")
        self.transactions.append(
            {
                "id": txn_id,
                "timestamp": "2024-05-02T09:00:00.000Z",
                "type": kind,
                "amount": money(amount, self.currency),
                "interactionId": f"psp-{txn_id}",
                "state": state,
            }
        )
        self.version += 1
        return txn_id

    def pay(self) -> OrderBuilder:
        self._transaction("Authorization", self.total_gross(), "Success", None)
        self._transaction("Charge", self.total_gross(), "Success", None)
        self.payment_state = "Paid"
        return self

    def refund(self, amount: int, *, state: str = "Success", txn_id: str | None = None) -> str:
        return self._transaction("Refund", amount, state, txn_id)

    def set_transaction_state(self, txn_id: str, state: str) -> OrderBuilder:
        for txn in self.transactions:
            if txn["id"] == txn_id:
                txn["state"] = state
        self.version += 1
        return self

    def ship(self, state: str = "Shipped") -> OrderBuilder:
        self.shipment_state = state
        self.version += 1
        return self

    def cancel(self) -> OrderBuilder:
        self.order_state = "Cancelled"
        self.version += 1
        return self

    def complete(self) -> OrderBuilder:
        self.order_state = "Complete"
        self.version += 1
        return self

    def set_customer(self, customer_id: str) -> OrderBuilder:
        self.customer_id = customer_id
        self.version += 1
        return self

    def add_return(self, *items: tuple[str, int], payment_state: str = "Initial") -> list[str]:
        """A ReturnInfo with (line id, quantity) items; returns the return item ids."""
        ids = [new_id("return-item") for _ in items]
        self.return_infos.append(
            {
                "items": [
                    {
                        "type": "LineItemReturnItem",
                        "id": item_id,
                        "quantity": quantity,
                        "lineItemId": line_id,
                        "shipmentState": "Returned",
                        "paymentState": payment_state,
                        "createdAt": "2024-05-10T09:00:00.000Z",
                        "lastModifiedAt": "2024-05-10T09:00:00.000Z",
                    }
                    for item_id, (line_id, quantity) in zip(ids, items, strict=True)
                ],
                "returnTrackingId": new_id("tracking"),
                "returnDate": "2024-05-10T09:00:00.000Z",
            }
        )
        self.version += 1
        return ids

    def set_return_payment_state(self, item_id: str, state: str) -> OrderBuilder:
        for info in self.return_infos:
            for item in info["items"]:
                if item["id"] == item_id:
                    item["paymentState"] = state
        self.version += 1
        return self

    # --- amounts -----------------------------------------------------------------------

    def _unit_minor(self, line: _Line) -> int:
        return line.unit["centAmount"]

    def line_total(self, line: _Line) -> int:
        """`totalPrice`: price × quantity (high precision rounded half-even), minus discounts."""
        if line.unit["type"] == "highPrecision":
            gross = rescale(
                line.unit["preciseAmount"] * line.quantity,
                line.unit["fractionDigits"],
                currency_digits(self.currency),
            )
        else:
            gross = line.unit["centAmount"] * line.quantity
        return gross - line.discount_per_unit * line.quantity

    def _net_gross(self, amount: int) -> tuple[int, int]:
        if self.tax_included:
            net = divide_half_even(amount * 10_000, 10_000 + self.tax_rate_bp)
            return net, amount
        return amount, amount + divide_half_even(amount * self.tax_rate_bp, 10_000)

    def total_price(self) -> int:
        lines = sum(self.line_total(line) for line in self.lines)
        return lines + self.shipping - self.total_discount

    def total_gross(self) -> int:
        return self._order_net_gross()[1]

    def _order_net_gross(self) -> tuple[int, int]:
        parts = [self._net_gross(self.line_total(line)) for line in self.lines]
        parts.append(self._net_gross(self.shipping))
        discount_net, discount_gross = self._net_gross(self.total_discount)
        net = sum(p[0] for p in parts) - discount_net
        gross = sum(p[1] for p in parts) - discount_gross
        return net, gross

    # --- JSON --------------------------------------------------------------------------

    def _line_json(self, line: _Line) -> dict[str, Any]:
        total = self.line_total(line)
        net, gross = self._net_gross(total)
        item: dict[str, Any] = {
            "id": line.id,
            "productId": line.product_id,
            "productKey": line.sku.lower(),
            "name": dict(line.name),
            "variant": {
                "id": 1,
                "sku": line.sku,
                "prices": [],
                "attributes": copy.deepcopy(line.attributes),
            },
            "price": {"id": f"price-{line.sku}", "value": dict(line.unit)},
            "quantity": line.quantity,
            "discountedPricePerQuantity": [],
            "taxRate": {
                "name": "standard",
                "amount": self.tax_rate_bp / 10_000,
                "includedInPrice": self.tax_included,
                "country": "DE",
                "subRates": [],
            },
            "perMethodTaxRate": [],
            "state": [{"quantity": line.quantity, "state": {"typeId": "state", "id": "initial"}}],
            "priceMode": "Platform",
            "lineItemMode": "Standard",
            "totalPrice": money(total, self.currency),
            "taxedPrice": {
                "totalNet": money(net, self.currency),
                "totalGross": money(gross, self.currency),
                "totalTax": money(gross - net, self.currency),
            },
            "taxedPricePortions": [],
        }
        if line.product_type:
            item["productType"] = {
                "typeId": "product-type",
                "id": f"pt-{line.product_type}",
                "obj": {"id": f"pt-{line.product_type}", "key": line.product_type},
            }
        if line.discount_per_unit:
            unit = self._unit_minor(line)
            item["discountedPricePerQuantity"] = [
                {
                    "quantity": line.quantity,
                    "discountedPrice": {
                        "value": money(unit - line.discount_per_unit, self.currency),
                        "includedDiscounts": [
                            {
                                "discount": {"typeId": "cart-discount", "id": "cart-discount-1"},
                                "discountedAmount": money(line.discount_per_unit, self.currency),
                            }
                        ],
                    },
                }
            ]
        return item

    def build(self) -> dict[str, Any]:
        net, gross = self._order_net_gross()
        order: dict[str, Any] = {
            "type": "Order",
            "id": self.order_id,
            "version": self.version,
            "createdAt": self.created_at,
            "lastModifiedAt": self.created_at,
            "orderState": self.order_state,
            "totalPrice": money(self.total_price(), self.currency),
            "taxedPrice": {
                "totalNet": money(net, self.currency),
                "totalGross": money(gross, self.currency),
                "totalTax": money(gross - net, self.currency),
                "taxPortions": [],
            },
            "taxMode": "Platform",
            "taxRoundingMode": "HalfEven",
            "taxCalculationMode": "LineItemLevel",
            "inventoryMode": "None",
            "origin": self.origin,
            "lineItems": [self._line_json(line) for line in self.lines],
            "customLineItems": [],
            "discountCodes": copy.deepcopy(self.discount_codes),
            "directDiscounts": [],
            "returnInfo": copy.deepcopy(self.return_infos),
            "lastMessageSequenceNumber": self.version,
        }
        optional = {
            "orderNumber": self.order_number,
            "customerEmail": self.email,
            "customerId": self.customer_id,
            "paymentState": self.payment_state,
            "shipmentState": self.shipment_state,
        }
        order.update({k: v for k, v in optional.items() if v is not None})
        if self.from_cart:
            order["cart"] = {"typeId": "cart", "id": self.cart_id}
        if self.store_key:
            order["store"] = {"typeId": "store", "key": self.store_key}
        if self.shipping:
            ship_net, ship_gross = self._net_gross(self.shipping)
            order["shippingInfo"] = {
                "shippingMethodName": "Standard",
                "price": money(self.shipping, self.currency),
                "taxedPrice": {
                    "totalNet": money(ship_net, self.currency),
                    "totalGross": money(ship_gross, self.currency),
                },
                "shippingMethodState": "MatchesCart",
            }
        if self.total_discount:
            discount_net, discount_gross = self._net_gross(self.total_discount)
            order["discountOnTotalPrice"] = {
                "discountedAmount": money(self.total_discount, self.currency),
                "includedDiscounts": [],
                "discountedNetAmount": money(discount_net, self.currency),
                "discountedGrossAmount": money(discount_gross, self.currency),
            }
        if self.custom_fields:
            order["custom"] = {
                "type": {"typeId": "type", "id": "order-loyalty-type"},
                "fields": dict(self.custom_fields),
            }
        if self.transactions:
            order["paymentInfo"] = {
                "payments": [
                    {
                        "typeId": "payment",
                        "id": self.payment_id,
                        "obj": {
                            "id": self.payment_id,
                            "version": len(self.transactions),
                            "amountPlanned": money(self.total_gross(), self.currency),
                            "paymentMethodInfo": {"paymentInterface": "psp", "method": "card"},
                            "transactions": copy.deepcopy(self.transactions),
                            "interfaceInteractions": [],
                        },
                    }
                ]
            }
        return copy.deepcopy(order)
