"""Voyado Engage receipt items from neutral operations (pure): what an order's PURCHASE
items are worth after an order-level discount is spread over them, and what a reversal's
receipt takes back of them (`allocate_reversal`, ADR 0085 "Returns").

Amounts are integer minor units here; `major` writes them as Voyado's decimal major units with
the currency's own fraction digits ("A decimal point (.) is always used as decimal separator",
https://developer.voyado.com/en/receipts/receipts---field-definitions.html). The names are
importable from `shared.domain.providers.voyado` as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from shared.domain.money import allocate, currency_digits, divide_half_even
from shared.domain.providers.port import Line, OrderRecorded, Reversal

PURCHASE = "PURCHASE"
RETURN = "RETURN"
# The item an order without line items is recorded under (a receipt needs one item).
ORDER_TOTAL_SKU = "order-total"


def major(amount_minor: int, currency: str) -> str:
    """Minor units as Voyado's decimal major units, with the currency's own digits."""
    digits = currency_digits(currency)
    value = Decimal(amount_minor).scaleb(-digits)
    return format(value.quantize(Decimal(1).scaleb(-digits)), "f")


def _percent(rate: Decimal | None) -> str:
    if rate is None:
        return "0"
    return format((rate * 100).normalize(), "f")


# --- allocation ------------------------------------------------------------------------------


def spread_discount(paid: Sequence[int], discount_minor: int) -> list[int]:
    """Line totals after an order-level discount spread over the lines in proportion to what
    each paid, as Voyado asks ("The discount ... should be evenly spread out across all
    line-items", https://developer.voyado.com/en/receipts/discounts.html). Shares are
    cumulative, so they add up to the discount exactly; never below zero."""
    whole = sum(paid)
    if discount_minor <= 0 or whole <= 0:
        return list(paid)
    discount = min(discount_minor, whole)
    result, before, cumulative = [], 0, 0
    for amount in paid:
        cumulative += amount
        share = allocate(discount, cumulative, whole) - allocate(discount, before, whole)
        before = cumulative
        result.append(amount - share)
    return result


@dataclass(frozen=True)
class PurchaseLine:
    """One PURCHASE item as it was (or will be) sent: what a return can take back from."""

    sku: str
    line_id: str | None
    article_number: str
    name: str
    quantity: int
    paid_minor: int
    tax_minor: int
    tax_percent: str
    article_group: str | None = None


@dataclass(frozen=True)
class Returned:
    """What earlier return receipts took from one purchase line, net: RETURN items add, the
    PURCHASE items a refund by amount bought the units back with subtract (`allocate_reversal`).
    The line still holds `quantity - returned.quantity` units worth `paid - returned.paid`."""

    quantity: int = 0
    paid_minor: int = 0


def purchase_lines(op: OrderRecorded, order_discount_minor: int = 0) -> list[PurchaseLine]:
    """The receipt items of an order, in order: lines with a positive quantity, their paid
    totals after `order_discount_minor` (a discount on the order's total that no line total
    carries) is spread over them, tax reduced in the same proportion."""
    lines: list[Line] = [line for line in op.lines if line.quantity > 0]
    if not lines:
        return [
            PurchaseLine(
                sku=ORDER_TOTAL_SKU,
                line_id=None,
                article_number=ORDER_TOTAL_SKU,
                name="Order total",
                quantity=1,
                paid_minor=max(op.amount_minor - max(order_discount_minor, 0), 0),
                tax_minor=0,
                tax_percent="0",
            )
        ]
    paid = spread_discount([max(line.paid_total_minor, 0) for line in lines], order_discount_minor)
    result = []
    for line, after in zip(lines, paid, strict=True):
        tax = line.tax_minor or 0
        if tax and line.paid_total_minor > 0 and after != line.paid_total_minor:
            tax = divide_half_even(tax * after, line.paid_total_minor)
        result.append(
            PurchaseLine(
                sku=line.item_id,
                line_id=line.line_id,
                article_number=line.sku or line.item_id,
                name=line.name or line.item_id,
                quantity=line.quantity,
                paid_minor=after,
                tax_minor=max(tax, 0),
                tax_percent=_percent(line.tax_rate),
                article_group=line.product_type,
            )
        )
    return result


def _units_share(total: int, units_from: int, units_to: int, quantity: int) -> int:
    """The money of units (units_from, units_to] of a line of `quantity` units (cumulative)."""
    return allocate(total, units_to, quantity) - allocate(total, units_from, quantity)


@dataclass(frozen=True)
class ReturnItem:
    """One item of a reversal's receipt: units of a purchase line given back (RETURN) or, in a
    refund by amount, bought back at the price left after the refund (PURCHASE)."""

    line: PurchaseLine
    quantity: int  # positive: units
    paid_minor: int
    tax_minor: int
    type: Literal["RETURN", "PURCHASE"] = RETURN

    @property
    def signed_minor(self) -> int:
        """What this item gives back to the shopper (a PURCHASE item takes it)."""
        return self.paid_minor if self.type == RETURN else -self.paid_minor


def allocate_reversal(
    op: Reversal,
    lines: Sequence[PurchaseLine],
    returned: Mapping[str, Returned] | None = None,
) -> list[ReturnItem]:
    """The receipt items of a reversal (ADR 0085, "Returns"). A line *holds* what its purchase
    gave minus what earlier reversals took, net (`Returned`).

    - cancel / moved: every line's units still held, at the money they still hold;
    - returned lines: those units, worth their cumulative share of what the line holds, never
      more units than the line still holds (the return of a purchase before its order is
      re-issued names every unit the purchase had: those still held come back, at all the money
      they hold, ADR 0096);
    - an amount with no lines (a refund by payment amount): the amount is spread over the lines
      in proportion to what each holds. A line whose share is all it holds returns all its
      units. Otherwise the refund is a price correction, written the way a till writes an
      exchange (each item carries its own `type`, field definitions): the line's held units are
      RETURNed at what they hold and bought back (PURCHASE) at what is left after the share.
      A RETURN quantity is a negative whole number (register-a-return; `quantity` is an int64
      in the OpenAPI, ReceiptItem.cs of the generated SDK), so part of a unit's price cannot be
      returned without using up the unit. This way no unit is returned twice, a cancellation
      still finds every unit, and such a RETURN takes back everything its matched units earned
      whether Engage weighs a return by units or by price (ADR 0085).
    """
    returned = returned or {}
    held: list[tuple[PurchaseLine, int, int]] = []  # line, units held, money held
    for line in lines:
        before = returned.get(line.sku, Returned())
        units = min(max(line.quantity - before.quantity, 0), line.quantity)
        money = min(max(line.paid_minor - before.paid_minor, 0), line.paid_minor)
        held.append((line, units, money if units else 0))

    def item(
        line: PurchaseLine, units: int, paid: int, kind: Literal["RETURN", "PURCHASE"] = RETURN
    ) -> ReturnItem:
        tax = divide_half_even(line.tax_minor * paid, line.paid_minor) if line.paid_minor else 0
        return ReturnItem(line, units, paid, tax, kind)

    if op.reason in ("cancel", "moved"):
        return [item(line, units, money) for line, units, money in held if units]
    if op.lines:
        return _returned_lines(op, held, item)
    holding = sum(money for _, _, money in held)
    amount = min(max(op.amount_minor, 0), holding)
    if amount <= 0:
        return []
    items: list[ReturnItem] = []
    before, cumulative = 0, 0
    for line, units, money in held:
        cumulative += money
        share = allocate(amount, cumulative, holding) - allocate(amount, before, holding)
        before = cumulative
        if share <= 0 or not units:
            continue
        items.append(item(line, units, money))
        if share < money:
            items.append(item(line, units, money - share, PURCHASE))
    return items


def _returned_lines(
    op: Reversal,
    held: list[tuple[PurchaseLine, int, int]],
    item: Callable[[PurchaseLine, int, int], ReturnItem],
) -> list[ReturnItem]:
    by_line = {entry[0].line_id: entry for entry in held if entry[0].line_id}
    by_sku = {entry[0].sku: entry for entry in held}
    taken: dict[str, int] = {}  # units this receipt already takes, per sku
    items: list[ReturnItem] = []
    for wanted in op.lines:
        entry = by_line.get(wanted.line_id) if wanted.line_id else None
        entry = entry or by_sku.get(wanted.item_id)
        if entry is None or wanted.quantity <= 0:
            continue  # a line the purchase never had earned nothing there
        line, units_held, money_held = entry
        already = taken.get(line.sku, 0)
        units = min(wanted.quantity, units_held - already)
        if units <= 0:
            continue
        # Cumulative over what the line holds: the last unit takes the rest, to the minor unit.
        paid = _units_share(money_held, already, already + units, units_held)
        taken[line.sku] = already + units
        items.append(item(line, units, paid))
    return items


def returned_so_far(receipts: Iterable[Mapping[str, Any]], currency: str) -> dict[str, Returned]:
    """What the reversal receipts already sent (their pinned bodies) took back, per sku, net:
    a RETURN item adds, a PURCHASE item of a receipt that returns something (a refund by
    amount buying units back) subtracts. A receipt without RETURN items is a purchase: ignored."""
    digits = currency_digits(currency)
    found: dict[str, Returned] = {}
    for receipt in receipts:
        rows = [row for row in receipt.get("items") or [] if isinstance(row, Mapping)]
        if not any(row.get("type") == RETURN for row in rows):
            continue
        for row in rows:
            sign = {RETURN: 1, PURCHASE: -1}.get(str(row.get("type")))
            if sign is None:
                continue
            sku = str(row.get("sku"))
            units = abs(int(Decimal(str(row.get("quantity", 0)))))
            paid = int(Decimal(str(row.get("grossPaidPrice", 0))).scaleb(digits))
            old = found.get(sku, Returned())
            found[sku] = Returned(old.quantity + sign * units, old.paid_minor + sign * paid)
    return found
