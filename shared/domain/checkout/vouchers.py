"""Voyado reward vouchers at checkout (pure: the contact's available vouchers and the cart in,
a decision out).

A store served by Voyado Engage offers its members reward vouchers, made from their points by
the tenant's model (https://voyado.mintlify.app/docs/loyalty/vouchers). The storefront asks for
one by putting its id (a GUID, the `id` of `GET /api/v3/reward-vouchers/available`) into the
same cart field a Yotpo store's storefront puts an option id in. The checkout validates it
here and applies the discount; the voucher is *redeemed* in Voyado only once the order is paid
("redeem the promotion after the payment has been successfully processed",
https://developer.voyado.com/en/promotions/introduction-to-promotions.html;
docs/adr/0095-voyado-vouchers-at-checkout.md).

A voucher is accepted when it is among the contact's available vouchers now, has not expired,
has a value in the cart's currency (its `value`, else one of its `localValues`) and is worth
no more than the cart's merchandise before the reward: a voucher is used up whole, so a
shopper never spends one on a cart that can take only part of it. The refusals are the
checkout's codes (`RedemptionError`, docs/adr/0090-one-set-of-redemption-rules.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.domain.checkout.redemption import Approval, RedemptionError, Rejection
from shared.domain.money import MAX_MINOR_UNITS, currency_digits
from shared.domain.values import text

__all__ = [
    "Voucher",
    "decide_voucher",
    "is_voucher_id",
    "read_voucher",
    "still_available",
    "voucher_approval",
]

# Voyado's ids are GUIDs ("InvalidRewardVoucherId" for anything else, redeem-a-voucher page).
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_voucher_id(value: str | None) -> bool:
    """A GUID, the shape of Voyado's reward voucher ids (one id: a list is not one)."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


@dataclass(frozen=True)
class Voucher:
    """One reward voucher as Voyado lists it, its value in one currency's minor units."""

    id: str
    number: str | None
    amount_minor: int
    currency: str
    expires_at: datetime | None
    points: int | None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _minor(amount: Any, currency: str) -> int | None:
    """A decimal major-unit amount ("50", 50.00) as whole minor units; None when it is not a
    whole number of minor units or out of range (no float ever touches it)."""
    if isinstance(amount, bool) or not isinstance(amount, int | str | Decimal | float):
        return None
    try:
        number = Decimal(str(amount))
    except InvalidOperation:
        return None
    if not number.is_finite() or number.adjusted() > 15:
        return None
    scaled = number.scaleb(currency_digits(currency))
    if scaled != scaled.to_integral_value() or scaled < 0 or scaled > MAX_MINOR_UNITS:
        return None
    return int(scaled)


def _values(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    value = raw.get("value")
    if isinstance(value, Mapping):
        found.append(value)
    local = raw.get("localValues")
    if isinstance(local, list):
        found += [v for v in local if isinstance(v, Mapping)]
    return found


def read_voucher(raw: Any, currency: str) -> Voucher | None:
    """The voucher of one listed item with its value in `currency` (its `value` first, then
    its `localValues`); None when the item has no id or no value in that currency."""
    if not isinstance(raw, Mapping):
        return None
    voucher_id = text(raw.get("id"), limit=64)
    if voucher_id is None or not is_voucher_id(voucher_id):
        return None
    wanted = currency.upper()
    amount: int | None = None
    for value in _values(raw):
        named = text(value.get("currency"), limit=3)
        if named is not None and named.upper() == wanted:
            amount = _minor(value.get("amount"), wanted)
            if amount is not None:
                break
    if amount is None:
        return None
    points = raw.get("points")
    return Voucher(
        id=voucher_id.lower(),
        number=text(raw.get("voucherNumber"), limit=64, numbers=True),
        amount_minor=amount,
        currency=wanted,
        expires_at=_moment(raw.get("expiresOn")),
        points=points if isinstance(points, int) and not isinstance(points, bool) else None,
    )


def _listed(vouchers: Sequence[Any], voucher_id: str) -> Mapping[str, Any] | None:
    wanted = voucher_id.lower()
    for raw in vouchers:
        if isinstance(raw, Mapping) and str(raw.get("id") or "").lower() == wanted:
            return raw
    return None


def decide_voucher(
    requested: str | None,
    *,
    available: Sequence[Any],
    currency: str,
    merchandise: int,
    now: datetime,
) -> Voucher | Rejection:
    """Whether the cart may use voucher `requested` of the contact's `available` vouchers."""
    if not is_voucher_id(requested):
        return Rejection(RedemptionError.UNKNOWN_OPTION, "not a voucher id")
    assert requested is not None
    raw = _listed(available, requested)
    if raw is None:
        # Not this contact's, already redeemed, or expired: Voyado lists only usable ones.
        return Rejection(RedemptionError.NOT_ELIGIBLE, "not among the available vouchers")
    voucher = read_voucher(raw, currency)
    if voucher is None:
        return Rejection(RedemptionError.CURRENCY_NOT_SUPPORTED, f"no value in {currency}")
    if voucher.expires_at is not None and voucher.expires_at <= now:
        return Rejection(RedemptionError.NOT_ELIGIBLE, "expired")
    if voucher.amount_minor > merchandise:
        return Rejection(RedemptionError.BELOW_MINIMUM, str(voucher.amount_minor))
    return voucher


def voucher_approval(voucher: Voucher) -> Approval:
    """The voucher as the checkout's approval: a fixed reward worth its whole value, whose
    value is also its minimum, so the cart keeps the rule when it shrinks (`maintain_plan`
    takes the reward off below its minimum). Its points are 0: the voucher's points left the
    balance when Voyado made it, and a cancelled order gives the *voucher* back (a
    reactivation), never points (the planner returns sealed points on cancel)."""
    return Approval(
        option_id=voucher.id,
        kind="fixed",
        amount=voucher.amount_minor,
        points=0,
        percent_bp=None,
        minimum=voucher.amount_minor,
        face=voucher.amount_minor,
    )


def still_available(voucher_id: str, available: Sequence[Any]) -> bool:
    """Whether the sealed voucher is still among the contact's available vouchers."""
    return _listed(available, voucher_id) is not None
