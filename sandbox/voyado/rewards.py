"""Points and reward vouchers of one tenant.

Point accounts and transactions: https://voyado.mintlify.app/docs/loyalty/points (one account
per contact and point definition; active and pending points) and the SDK generated from
Voyado's OpenAPI (liblaber/voyado-engage-2.0.0-typescript-1.0.0,
documentation/services/PointAccountsService.md: up to 1000 rows; `source` and `description`
"must be provided or else that specified transaction will not be accepted"; bad rows are
skipped inside an accepted answer, "check the response for NotAccepted items";
`Idempotency-Key` "Optional, lasts for 24 hours").
Vouchers: https://voyado.mintlify.app/docs/loyalty/vouchers (step model; list shape),
redeem: https://developer.voyado.com/en/points-and-vouchers/redeem-a-voucher.html,
reactivate: https://developer.voyado.com/en/points-and-vouchers/reactivate-a-voucher.html.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.voyado.state import (
    ApiError,
    PointAccount,
    PointTransaction,
    TenantState,
    Voucher,
    iso,
    new_guid,
)

MAX_TRANSACTION_ROWS = 1000
IDEMPOTENCY_TTL = timedelta(hours=24)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
TOPIC_BALANCE = "point.balance.updated"
TOPIC_VOUCHER = "reward.voucher.created"


@dataclass(frozen=True)
class Event:
    """A webhook the tenant owes: topic and the Voyado `payload` object."""

    topic: str
    payload: dict[str, Any]


def is_guid(value: Any) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


def post_points(
    state: TenantState,
    contact_id: str,
    amount: Decimal,
    *,
    source: str,
    description: str,
    now: datetime,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    definition_id: int | None = None,
) -> PointAccount:
    account = state.account(contact_id, definition_id or state.config.rewards.definition_id)
    account.transactions.append(
        PointTransaction(
            id=state.next_transaction_id,
            account_id=account.id,
            amount=amount,
            source=source,
            description=description,
            transaction_date=now,
            valid_from=valid_from or now,
            valid_to=valid_to,
            type="Addition" if amount >= 0 else "Deduction",
        )
    )
    state.next_transaction_id += 1
    return account


def balance_event(state: TenantState, account: PointAccount, now: datetime) -> Event:
    expires = account.balance_expires(now)
    # Field types as the page gives them: accountId Int, definitionId String
    # (https://developer.voyado.com/en/webhooks/webhooks-for-points-and-vouchers.html).
    return Event(
        TOPIC_BALANCE,
        {
            "balance": account.balance(now),
            "contactId": account.contact_id,
            "accountId": account.id,
            "definitionId": str(account.definition_id),
            "balanceExpires": iso(expires) if expires else None,
        },
    )


def convert_to_vouchers(state: TenantState, account: PointAccount, now: datetime) -> list[Event]:
    """Step model: each full `voucher_step_points` of active balance becomes one voucher."""
    model = state.config.rewards
    if account.definition_id != model.definition_id:
        return []
    events: list[Event] = []
    while account.balance(now) >= model.voucher_step_points:
        voucher = Voucher(
            id=new_guid(),
            voucher_number=str(uuid.uuid4().int % 10**13).zfill(13),
            contact_id=account.contact_id,
            name=model.voucher_name,
            amount=model.voucher_value,
            currency=state.config.currency,
            points=model.voucher_step_points,
            created_on=now,
            expires_on=now + timedelta(days=model.voucher_valid_days),
        )
        state.vouchers[voucher.id] = voucher
        post_points(
            state,
            account.contact_id,
            -Decimal(model.voucher_step_points),
            source="RewardVoucher",
            description=f"Reward voucher {voucher.voucher_number}",
            now=now,
        )
        events.append(
            Event(
                TOPIC_VOUCHER,
                {
                    "Amount": voucher.amount,
                    "ContactId": voucher.contact_id,
                    "Currency": voucher.currency,
                    "Id": voucher.id,
                    "UniqueCode": voucher.voucher_number,
                    "ValidFrom": iso(voucher.created_on),
                    "ValidTo": iso(voucher.expires_on),
                },
            )
        )
    return events


def settle(state: TenantState, accounts: Sequence[PointAccount], now: datetime) -> list[Event]:
    """After points moved: vouchers from the new balance, then one balance event per account."""
    events: list[Event] = []
    seen: set[int] = set()
    for account in accounts:
        if account.id in seen:
            continue
        seen.add(account.id)
        vouchers = convert_to_vouchers(state, account, now)
        events.append(balance_event(state, account, now))
        events.extend(vouchers)
    return events


# --- point transactions API ------------------------------------------------------------------


def _row_problem(state: TenantState, row: Any, definitions: set[int]) -> tuple[str, str | None]:
    """(reason, which list the row also goes to) for a row that is not accepted, or ('', None)."""
    if not isinstance(row, Mapping):
        return "row must be an object", None
    contact_id = row.get("contactId")
    if not is_guid(contact_id):
        return "contactId must be a Guid", None
    if str(contact_id).lower() not in state.contacts:
        return f"contact {contact_id} not found", "contact"
    if row.get("definitionId") not in definitions:
        return f"definitionId {row.get('definitionId')} not found", "definition"
    if not isinstance(row.get("amount"), int | Decimal) or isinstance(row.get("amount"), bool):
        return "amount must be a number", None
    for name in ("source", "description"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            return f"{name} must be provided", None
    return "", None


def _moment(value: Any, default: datetime) -> datetime:
    if value in (None, ""):
        return default
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 datetime: {value}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=default.tzinfo)


def add_point_transactions(
    state: TenantState, rows: Any, now: datetime
) -> tuple[dict[str, Any], list[Event]]:
    if not isinstance(rows, list):
        raise ApiError(400, "InvalidModel", "the body must be an array of transactions")
    if len(rows) > MAX_TRANSACTION_ROWS:
        raise ApiError(400, "TooManyRows", f"at most {MAX_TRANSACTION_ROWS} rows")
    definitions = {state.config.rewards.definition_id}
    result: dict[str, Any] = {
        "notAccepted": [],
        "errorMessages": [],
        "missingDefinitionIds": [],
        "missingContactIds": [],
    }
    touched: list[PointAccount] = []
    for row in rows:
        reason, missing = _row_problem(state, row, definitions)
        valid_from = valid_to = None
        if not reason:
            try:
                valid_from = _moment(row.get("validFrom"), now)
                valid_to = _moment(row.get("validTo"), now) if row.get("validTo") else None
                amount = Decimal(row["amount"])
            except (ValueError, InvalidOperation) as exc:
                reason = str(exc)
        if reason:
            result["notAccepted"].append(row)
            result["errorMessages"].append(reason)
            if missing == "contact" and row["contactId"] not in result["missingContactIds"]:
                result["missingContactIds"].append(row["contactId"])
            if missing == "definition":
                result["missingDefinitionIds"].append(row.get("definitionId"))
            continue
        touched.append(
            post_points(
                state,
                str(row["contactId"]).lower(),
                amount,
                source=row["source"],
                description=row["description"],
                now=now,
                valid_from=valid_from,
                valid_to=valid_to,
                definition_id=row["definitionId"],
            )
        )
    return result, settle(state, touched, now)


def remembered(state: TenantState, key: str, now: datetime) -> Any:
    """The stored answer for an Idempotency-Key still inside its 24 hours, else None."""
    for old in [k for k, v in state.idempotency.items() if now - v.stored_at >= IDEMPOTENCY_TTL]:
        del state.idempotency[old]
    return state.idempotency.get(key)


# --- reads -----------------------------------------------------------------------------------


def page(items: list[Any], query: Mapping[str, str]) -> dict[str, Any]:
    try:
        offset = max(int(query.get("offset", "0")), 0)
        count = min(max(int(query.get("count", "100")), 0), 1000)
    except ValueError as exc:
        raise ApiError(400, "InvalidQuery", "offset and count must be integers") from exc
    chosen = items[offset : offset + count]
    return {"count": len(chosen), "offset": offset, "totalCount": len(items), "items": chosen}


def point_accounts(state: TenantState, contact_id: str, now: datetime) -> list[dict[str, Any]]:
    if contact_id.lower() not in state.contacts:
        raise ApiError(404, "ContactNotFound", "no contact with this id")
    state.account(contact_id.lower(), state.config.rewards.definition_id)
    return [a.view(now) for a in state.accounts.values() if a.contact_id == contact_id.lower()]


def point_transactions(
    state: TenantState, query: Mapping[str, str], now: datetime
) -> list[dict[str, Any]]:
    account: PointAccount | None
    if query.get("accountId"):
        try:
            account = state.account_by_id(int(query["accountId"]))
        except ValueError as exc:
            raise ApiError(400, "InvalidAccountId", "accountId must be an integer") from exc
    elif query.get("contactId") and query.get("definitionId"):
        try:
            account = state.accounts.get((query["contactId"].lower(), int(query["definitionId"])))
        except ValueError as exc:
            raise ApiError(400, "InvalidDefinitionId", "definitionId must be an integer") from exc
    else:
        raise ApiError(400, "InvalidQuery", "give accountId, or contactId and definitionId")
    if account is None:
        raise ApiError(404, "PointAccountNotFound", "no such point account")
    wanted = (query.get("filter") or "All").lower()
    if wanted not in ("all", "active", "pending"):
        raise ApiError(400, "InvalidFilter", "filter is All, Active or Pending")
    rows = [
        t
        for t in reversed(account.transactions)
        if wanted == "all" or (t.active(now) if wanted == "active" else t.pending(now))
    ]
    return [t.view() for t in rows]


def vouchers(
    state: TenantState, contact_id: str, which: str, now: datetime
) -> list[dict[str, Any]]:
    if not is_guid(contact_id):
        raise ApiError(400, "InvalidContactId", "contactId must be a Guid")
    if contact_id.lower() not in state.contacts:
        raise ApiError(404, "ContactNotFound", "no contact with this id")
    mine = [v for v in state.vouchers.values() if v.contact_id == contact_id.lower()]
    if which == "available":
        mine = [v for v in mine if v.status(now) == "Available"]
    elif which == "redeemed":
        mine = [v for v in mine if v.status(now) == "Redeemed"]
    return [v.view() for v in sorted(mine, key=lambda v: v.created_on)]


# --- redeem / reactivate ---------------------------------------------------------------------


def _voucher(state: TenantState, voucher_id: str) -> Voucher:
    if not is_guid(voucher_id):
        raise ApiError(400, "InvalidRewardVoucherId", "the id is not a reward voucher id")
    voucher = state.vouchers.get(voucher_id.lower())
    if voucher is None:
        raise ApiError(404, "RewardVoucherNotFound", "no reward voucher with this id")
    return voucher


def redeem(state: TenantState, voucher_id: str, now: datetime) -> Voucher:
    voucher = _voucher(state, voucher_id)
    if voucher.redeemed_on is not None:
        raise ApiError(409, "RewardVoucherAlreadyRedeemed", "the voucher is already redeemed")
    if voucher.expired(now):
        raise ApiError(409, "RewardVoucherExpired", "the voucher has expired")
    voucher.redeemed_on = now
    return voucher


def reactivate(state: TenantState, voucher_id: str, now: datetime) -> Voucher:
    voucher = _voucher(state, voucher_id)
    if voucher.expired(now):
        raise ApiError(409, "RewardVoucherExpired", "the voucher has expired")
    if voucher.redeemed_on is None:
        raise ApiError(409, "RewardVoucherAlreadyActivated", "the voucher is not redeemed")
    if voucher.reactivations >= state.config.rewards.reactivation_limit:
        raise ApiError(409, "ReactivationLimitExceeded", "the reactivation limit is reached")
    # "Reactivating a voucher does not change any of its data, such as the value, the expiry
    # date" (reactivate page).
    voucher.redeemed_on = None
    voucher.reactivations += 1
    return voucher
