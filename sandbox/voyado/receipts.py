"""Receipts: validation on POST, batch processing, return matching, points.

Fields and mandatory ones: https://developer.voyado.com/en/receipts/receipts---field-definitions.html
(contact.matchKey/matchKeyType, uniqueReceiptId — "If a receipt already exists with the same
uniqueReceiptId this will be seen as a duplicate and ignored" —, createdDate in ISO 8601 with a
time zone designator, storeExternalId, currency, totalGrossPrice — negative for a RETURN —,
paymentMethods, items). Item fields required as the SDK generated from Voyado's OpenAPI marks
them (liblaber/voyado-engage-2.0.0-typescript-1.0.0 documentation/models/ReceiptItem.md).
"Data sent here cannot be reversed or updated"
(https://developer.voyado.com/en/transactions/register-a-purchase.html). Returns: "negative
quantity, positive grossPaidPrice ... its own uniqueReceiptId"; Engage pairs the returned item
with the original purchase "to ensure the correct adjustment of points"
(https://developer.voyado.com/en/transactions/register-a-return.html). Processing is
asynchronous, in batches (https://developer.voyado.com/en/receipts/introduction-to-receipts.html).
ADJUSTMENT items (in the SDK's enum only) are stored and move no points: their meaning is not
documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.voyado.contacts import get_contact, resolve_match_key
from sandbox.voyado.rewards import Event, post_points, settle
from sandbox.voyado.state import ApiError, ItemRecord, PointAccount, ReceiptRecord, TenantState

MATCH_KEY_TYPES = {
    t.lower(): t
    for t in (
        "contactId",
        "memberNumber",
        "socialSecurityNumber",
        "mobilePhone",
        "externalId",
        "email",
    )
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class _NameValue(_Body):
    name: str | None = None
    value: Any = None


class ReceiptContactIn(_Body):
    matchKey: str = Field(min_length=1)
    matchKeyType: str
    contactType: str | None = None

    @field_validator("matchKeyType")
    @classmethod
    def _known(cls, value: str) -> str:
        if value.lower() not in MATCH_KEY_TYPES:
            raise ValueError(f"matchKeyType must be one of {sorted(MATCH_KEY_TYPES.values())}")
        return MATCH_KEY_TYPES[value.lower()]


class PaymentIn(_Body):
    type: str = Field(min_length=1)
    value: Decimal
    description: str | None = None
    extraData: list[_NameValue] | None = None


class DiscountIn(_Body):
    type: str | None = None
    description: str | None = None
    value: Decimal | None = None


class ItemIn(_Body):
    type: Literal["PURCHASE", "RETURN", "ADJUSTMENT"]
    sku: str = Field(min_length=1)
    quantity: int
    grossPaidPrice: Decimal
    taxAmount: Decimal
    taxPercent: Decimal
    articleNumber: str
    articleName: str
    packQuantity: Decimal | None = None
    extraData: list[_NameValue] | None = None
    articleGroup: str | None = None
    marginPercent: Decimal | None = None
    awardsBonus: bool | None = None
    discounts: list[DiscountIn] | None = None


class ReceiptIn(_Body):
    contact: ReceiptContactIn
    uniqueReceiptId: str = Field(min_length=1)
    receiptNumber: str | None = None
    createdDate: datetime
    storeExternalId: str = Field(min_length=1)
    currency: str
    exchangeRateToGroupCurrency: Decimal | None = Field(default=None, gt=0)
    totalGrossPrice: Decimal
    paymentMethods: list[PaymentIn] = Field(min_length=1)
    items: list[ItemIn] = Field(min_length=1)
    taxDetails: list[dict[str, Any]] | None = None
    usedBonusChecks: list[dict[str, Any]] | None = None
    usedPromotions: list[dict[str, Any]] | None = None
    extraData: list[_NameValue] | None = None

    @field_validator("createdDate")
    @classmethod
    def _offset(cls, value: datetime) -> datetime:
        # "Engage expects dates and times to be formatted according to ISO8601 with Time Zone
        # Designators" (field definitions).
        if value.tzinfo is None:
            raise ValueError("createdDate needs a time zone offset, e.g. +01:00")
        return value

    @field_validator("currency")
    @classmethod
    def _iso4217(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha() or not value.isupper():
            raise ValueError("currency must be an ISO 4217 code such as SEK")
        return value


def _problem(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def validate(body: Any) -> ReceiptIn:
    if not isinstance(body, Mapping):
        raise ApiError(400, "InvalidModel", "the body must be a receipt object")
    try:
        receipt = ReceiptIn.model_validate(dict(body))
    except ValidationError as exc:
        raise ApiError(400, "InvalidModel", _problem(exc)) from exc
    for n, item in enumerate(receipt.items):
        if item.type == "RETURN" and (item.quantity >= 0 or item.grossPaidPrice < 0):
            raise ApiError(
                400,
                "InvalidModel",
                f"items.{n}: a RETURN has a negative quantity and a positive grossPaidPrice",
            )
        if item.type == "PURCHASE" and item.quantity <= 0:
            raise ApiError(400, "InvalidModel", f"items.{n}: a PURCHASE has a positive quantity")
    only_returns = all(i.type == "RETURN" for i in receipt.items)
    if only_returns and receipt.totalGrossPrice > 0:
        raise ApiError(400, "InvalidModel", "totalGrossPrice of a RETURN must be negative")
    return receipt


def group_rate(state: TenantState, receipt: ReceiptIn) -> Decimal:
    if receipt.exchangeRateToGroupCurrency is not None:
        return receipt.exchangeRateToGroupCurrency
    if receipt.currency == state.config.currency:
        return Decimal(1)
    rate = state.config.exchange_rates.get(receipt.currency)
    if rate is None:
        # "Voyado will have to store an exchangeRate if omitted and the paid currency differs
        # from the group currency" (field definitions): an unconfigured one is refused.
        raise ApiError(400, "InvalidCurrency", f"no exchange rate for {receipt.currency}")
    return rate


def check_references(state: TenantState, receipt: ReceiptIn) -> str:
    """The contact id the receipt belongs to; 400/404/409 when the store or contact fails."""
    if receipt.storeExternalId not in state.config.stores:
        raise ApiError(400, "InvalidStoreExternalId", f"unknown store {receipt.storeExternalId}")
    contact = resolve_match_key(state, receipt.contact.matchKeyType, receipt.contact.matchKey)
    wanted_type = receipt.contact.contactType
    if wanted_type and wanted_type.lower() != contact.contact_type.lower():
        raise ApiError(404, "ContactNotFound", "no contact of this contactType matches")
    return contact.id


def _points(amount: Decimal, rate: Decimal, per_unit: Decimal) -> Decimal:
    return (amount * rate * per_unit).to_integral_value(rounding=ROUND_FLOOR)


def _purchase_lines(state: TenantState, contact_id: str, sku: str) -> list[ItemRecord]:
    lines = []
    for stored in sorted(state.receipts.values(), key=lambda r: r.processed_at or r.accepted_at):
        if stored.contact_id != contact_id:
            continue
        lines += [
            i
            for i in stored.items
            if i.type == "PURCHASE" and i.sku == sku and i.returned_quantity < i.quantity
        ]
    return lines


def _match_return(
    state: TenantState, record: ReceiptRecord, item: ItemRecord, rate: Decimal
) -> Decimal:
    """Points to deduct for a returned item: matched units take back what their purchase line
    earned (cumulative floor, so a full return takes back exactly the line's points)."""
    remaining = -item.quantity
    deducted = Decimal(0)
    assert record.contact_id is not None
    for line in _purchase_lines(state, record.contact_id, item.sku):
        if remaining == 0:
            break
        take = min(remaining, line.quantity - line.returned_quantity)
        before = (line.points * line.returned_quantity / line.quantity).to_integral_value(
            rounding=ROUND_FLOOR
        )
        line.returned_quantity += take
        after = (line.points * line.returned_quantity / line.quantity).to_integral_value(
            rounding=ROUND_FLOOR
        )
        deducted += after - before
        remaining -= take
        record.matched.append({"sku": item.sku, "quantity": take, "points": after - before})
    if remaining and state.config.silent.unmatched_return == "deduct" and item.awards_bonus:
        share = item.gross_paid_price * remaining / -item.quantity
        unmatched = _points(share, rate, state.config.rewards.points_per_currency_unit)
        deducted += unmatched
        record.matched.append({"sku": item.sku, "quantity": 0, "unmatched": remaining})
    return deducted


def process(state: TenantState, record: ReceiptRecord, now: datetime) -> list[Event]:
    """Apply one accepted receipt (the batch step). Raises ApiError when the batch drops it."""
    receipt = ReceiptIn.model_validate(record.body)
    if record.contact_id is None:
        record.contact_id = check_references(state, receipt)
    else:
        get_contact(state, record.contact_id)
    rate = group_rate(state, receipt)
    per_unit = state.config.rewards.points_per_currency_unit
    default_award = state.config.silent.awards_bonus_default
    earned = Decimal(0)
    deducted = Decimal(0)
    for item in receipt.items:
        awards = default_award if item.awardsBonus is None else item.awardsBonus
        line = ItemRecord(item.type, item.sku, item.quantity, item.grossPaidPrice, awards)
        if item.type == "PURCHASE" and awards:
            line.points = _points(item.grossPaidPrice, rate, per_unit)
            earned += line.points
        elif item.type == "RETURN":
            line.points = -_match_return(state, record, line, rate)
            deducted -= line.points
        record.items.append(line)
    record.processed_at = now
    record.points = earned - deducted
    state.receipts[record.unique_receipt_id] = record
    touched: list[PointAccount] = []
    pending_days = state.config.rewards.points_pending_days
    if earned:
        valid_from = now + timedelta(days=pending_days)
        touched.append(
            post_points(
                state,
                record.contact_id,
                earned,
                source="Purchase",
                description=f"Receipt {record.unique_receipt_id}",
                now=now,
                valid_from=valid_from,
            )
        )
    if deducted:
        touched.append(
            post_points(
                state,
                record.contact_id,
                -deducted,
                source="Return",
                description=f"Receipt {record.unique_receipt_id}",
                now=now,
            )
        )
    return settle(state, touched, now)
