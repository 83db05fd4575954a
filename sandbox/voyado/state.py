"""What one Engage tenant holds: contacts, receipts, point accounts, vouchers, idempotency keys.

Plain data; the engine owns the lock around it. Identifiers are GUIDs as Voyado's are
(`contactId` "looks something like ... 2e40b702-2767-4abe-ae99-aa510108e22b",
https://developer.voyado.com/en/contacts/identify-contact/find-contact.html); point account and
transaction ids are integers ("pointAccountId ... Integer",
https://developer.voyado.com/docs/data-access/bi-exports/point-account.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.voyado.config import TenantConfig


class ApiError(Exception):
    """A non-2xx answer. Voyado documents error *codes* per endpoint (e.g. "404:
    ContactNotFound", find-contact page) but no body schema; the stand-in answers
    `{"errorCode": <code>, "message": <text>}` and connector code should rely on the status and,
    at most, the code."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.status = status
        self.code = code
        self.message = message or code

    def body(self) -> dict[str, Any]:
        return {"errorCode": self.code, "message": self.message}


def new_guid() -> str:
    return str(uuid.uuid4())


def iso(moment: datetime) -> str:
    return moment.isoformat()


@dataclass
class Contact:
    id: str
    contact_type: str
    attributes: dict[str, Any]
    source: str | None
    store_external_id: str | None
    created_on: datetime
    member_number: str

    def key(self, name: str) -> str | None:
        if name == "memberNumber":
            return self.member_number
        value = self.attributes.get(name)
        return str(value) if value is not None else None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "contactType": self.contact_type,
            "attributes": {**self.attributes, "memberNumber": self.member_number},
            "meta": {
                "source": self.source,
                "storeExternalId": self.store_external_id,
                "createdOn": iso(self.created_on),
            },
        }


@dataclass
class ItemRecord:
    """One stored receipt line, with the points it moved (for return matching)."""

    type: str
    sku: str
    quantity: int
    gross_paid_price: Decimal
    awards_bonus: bool
    points: Decimal = Decimal(0)
    returned_quantity: int = 0  # on a PURCHASE line: how many units returns matched


@dataclass
class ReceiptRecord:
    unique_receipt_id: str
    body: dict[str, Any]  # as posted (decimals kept)
    accepted_at: datetime
    contact_id: str | None = None
    items: list[ItemRecord] = field(default_factory=list)
    processed_at: datetime | None = None
    points: Decimal = Decimal(0)
    matched: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "uniqueReceiptId": self.unique_receipt_id,
            "contactId": self.contact_id,
            "storeExternalId": self.body.get("storeExternalId"),
            "currency": self.body.get("currency"),
            "totalGrossPrice": self.body.get("totalGrossPrice"),
            "acceptedAt": iso(self.accepted_at),
            "processedAt": iso(self.processed_at) if self.processed_at else None,
            "points": self.points,
            "returnMatches": self.matched,
            "items": [
                {
                    "type": i.type,
                    "sku": i.sku,
                    "quantity": i.quantity,
                    "grossPaidPrice": i.gross_paid_price,
                    "points": i.points,
                    "returnedQuantity": i.returned_quantity,
                }
                for i in self.items
            ],
        }


@dataclass
class PointTransaction:
    id: int
    account_id: int
    amount: Decimal
    source: str
    description: str
    transaction_date: datetime
    valid_from: datetime
    valid_to: datetime | None
    type: str  # Addition / Deduction (bi-exports/point-transaction)

    def active(self, now: datetime) -> bool:
        return self.valid_from <= now and (self.valid_to is None or now < self.valid_to)

    def pending(self, now: datetime) -> bool:
        return self.valid_from > now

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "amount": self.amount,
            "type": self.type,
            "source": self.source,
            "description": self.description,
            "transactionDate": iso(self.transaction_date),
            "validFrom": iso(self.valid_from),
            "validTo": iso(self.valid_to) if self.valid_to else None,
        }


@dataclass
class PointAccount:
    id: int
    contact_id: str
    definition_id: int
    transactions: list[PointTransaction] = field(default_factory=list)

    def balance(self, now: datetime) -> Decimal:
        return sum((t.amount for t in self.transactions if t.active(now)), Decimal(0))

    def pending_points(self, now: datetime) -> Decimal:
        return sum((t.amount for t in self.transactions if t.pending(now)), Decimal(0))

    def balance_expires(self, now: datetime) -> datetime | None:
        ends = [t.valid_to for t in self.transactions if t.active(now) and t.valid_to]
        return min(ends) if ends else None

    def view(self, now: datetime) -> dict[str, Any]:
        expires = self.balance_expires(now)
        return {
            "id": self.id,
            "contactId": self.contact_id,
            "definitionId": self.definition_id,
            "balance": self.balance(now),
            "pendingPoints": self.pending_points(now),
            "balanceExpires": iso(expires) if expires else None,
        }


@dataclass
class Voucher:
    id: str
    voucher_number: str
    contact_id: str
    name: str
    amount: Decimal
    currency: str
    points: int
    created_on: datetime
    expires_on: datetime
    redeemed_on: datetime | None = None
    reactivations: int = 0

    def expired(self, now: datetime) -> bool:
        return self.expires_on <= now

    def status(self, now: datetime) -> str:
        if self.redeemed_on is not None:
            return "Redeemed"
        return "Expired" if self.expired(now) else "Available"

    def view(self) -> dict[str, Any]:
        # Fields of the documented example (https://voyado.mintlify.app/docs/loyalty/vouchers).
        value = {"currency": self.currency, "amount": self.amount}
        return {
            "id": self.id,
            "voucherNumber": self.voucher_number,
            "name": self.name,
            "value": value,
            "localValues": [dict(value)],
            "expiresOn": iso(self.expires_on),
            "points": self.points,
        }


@dataclass
class StoredAnswer:
    status: int
    body: Any
    stored_at: datetime


@dataclass
class TenantState:
    config: TenantConfig
    contacts: dict[str, Contact] = field(default_factory=dict)
    receipts: dict[str, ReceiptRecord] = field(default_factory=dict)  # processed
    pending: list[ReceiptRecord] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    accounts: dict[tuple[str, int], PointAccount] = field(default_factory=dict)
    vouchers: dict[str, Voucher] = field(default_factory=dict)
    idempotency: dict[str, StoredAnswer] = field(default_factory=dict)
    next_account_id: int = 1
    next_transaction_id: int = 1
    next_member_number: int = 100001

    def seen_receipt(self, unique_receipt_id: str) -> bool:
        return unique_receipt_id in self.receipts or any(
            r.unique_receipt_id == unique_receipt_id for r in self.pending
        )

    def account(self, contact_id: str, definition_id: int) -> PointAccount:
        key = (contact_id, definition_id)
        if key not in self.accounts:
            self.accounts[key] = PointAccount(self.next_account_id, contact_id, definition_id)
            self.next_account_id += 1
        return self.accounts[key]

    def account_by_id(self, account_id: int) -> PointAccount | None:
        return next((a for a in self.accounts.values() if a.id == account_id), None)
