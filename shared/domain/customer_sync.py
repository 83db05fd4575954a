"""The Yotpo customer (`POST /customers`) for a commercetools Customer. Pure.

Phone number: the customer's custom field `loyaltyPhoneNumber` first, then the default billing
address, the default shipping address and the other addresses (`mobile` before `phone` in
each), keeping the first that is E.164-shaped once spaces, dashes, dots and parentheses are
removed. Yotpo wants E.164; a number without its country code cannot be completed safely, so
it is left out rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from shared.yotpo import YotpoFields as F

FIELD_PHONE_NUMBER = "loyaltyPhoneNumber"

_E164 = re.compile(r"\+[1-9]\d{1,14}")
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def e164(value: Any) -> str | None:
    """`value` as an E.164 number, or None when it is not shaped like one."""
    text = _text(value)
    if text is None:
        return None
    compact = _PHONE_SEPARATORS.sub("", text)
    return compact if _E164.fullmatch(compact) else None


def _addresses_by_preference(customer: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    addresses = [a for a in customer.get("addresses") or [] if isinstance(a, Mapping)]
    for id_field in ("defaultBillingAddressId", "defaultShippingAddressId"):
        address_id = customer.get(id_field)
        if address_id:
            yield from (a for a in addresses if a.get("id") == address_id)
    yield from addresses


def _phone_number(customer: Mapping[str, Any]) -> str | None:
    custom = customer.get("custom") or {}
    fields = custom.get("fields") if isinstance(custom, Mapping) else None
    if isinstance(fields, Mapping):
        number = e164(fields.get(FIELD_PHONE_NUMBER))
        if number:
            return number
    for address in _addresses_by_preference(customer):
        for field in ("mobile", "phone"):
            number = e164(address.get(field))
            if number:
                return number
    return None


def _timestamp(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        return None


def customer_payload(customer: Mapping[str, Any]) -> dict[str, Any] | None:
    """Yotpo's create-or-update body for this customer; None when it has no email."""
    email = _text(customer.get("email"))
    if email is None:
        return None
    payload: dict[str, Any] = {F.ID: str(customer["id"]), F.EMAIL: email}
    first_name = _text(customer.get("firstName"))
    if first_name:
        payload[F.FIRST_NAME] = first_name
    last_name = _text(customer.get("lastName"))
    if last_name:
        payload[F.LAST_NAME] = last_name
    phone = _phone_number(customer)
    if phone:
        payload[F.PHONE_NUMBER] = phone
    payload[F.HAS_ACCOUNT] = True
    created_at = _timestamp(customer.get("createdAt"))
    if created_at:
        payload[F.PLATFORM_ACCOUNT_CREATED_AT] = created_at
    return payload
