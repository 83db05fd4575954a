"""Amounts as exact JSON numbers: Voyado takes decimal major units, the connector never floats."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

# Receipt fields that are decimal numbers (field definitions,
# https://developer.voyado.com/en/receipts/receipts---field-definitions.html: "A decimal point (.)
# is always used as decimal separator").
_RECEIPT_NUMBERS = frozenset({"totalGrossPrice", "exchangeRateToGroupCurrency"})
_PAYMENT_NUMBERS = frozenset({"value"})
_ITEM_NUMBERS = frozenset(
    {"grossPaidPrice", "taxAmount", "taxPercent", "packQuantity", "marginPercent", "quantity"}
)
_DISCOUNT_NUMBERS = frozenset({"value"})
POINT_ROW_NUMBERS = frozenset({"amount"})


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return value  # not a number: let Voyado refuse it (InvalidModel)
        if not number.is_finite():
            return value
        return int(number) if number == number.to_integral_value() and "." not in value else number
    return value


def with_numbers(row: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    for name in names:
        if name in row:
            row[name] = _number(row[name])
    return row


def receipt_numbers(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """A receipt whose amounts, given as decimal strings (as the ledger pins them), are
    `Decimal`s (or ints for quantities) that `encode_json` writes as JSON numbers."""
    body = with_numbers(copy.deepcopy(dict(receipt)), _RECEIPT_NUMBERS)
    for name, numbers in (("paymentMethods", _PAYMENT_NUMBERS), ("items", _ITEM_NUMBERS)):
        rows = body.get(name)
        if isinstance(rows, list):
            body[name] = [with_numbers(r, numbers) if isinstance(r, dict) else r for r in rows]
    for item in body.get("items") or []:
        if isinstance(item, dict) and isinstance(item.get("discounts"), list):
            item["discounts"] = [
                with_numbers(d, _DISCOUNT_NUMBERS) if isinstance(d, dict) else d
                for d in item["discounts"]
            ]
    return body


def encode_json(value: Any) -> bytes:
    """JSON with `Decimal`s written as exact number literals (never through a float)."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a JSON number must be finite")
        text = format(value, "f")
        return text
    if isinstance(value, Mapping):
        parts = (f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("floats are not sent to Voyado; use Decimal or a decimal string")
    return json.dumps(value, ensure_ascii=False)
