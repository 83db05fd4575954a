"""The consumption records: one connector-only custom object per cart whose reward the order
guard (`service/order_guard.py`) redeemed with immediate deduction at order creation.

Each is written before the extension answers (created with `version: 0`,
https://docs.commercetools.com/api/projects/custom-objects#create-or-update-customobject), so
a retry of the same cart reuses the redemption instead of spending the points again, and
`job/consumptions.py` gives back the points of records whose order never appeared
(docs/adr/0022-reward-consumed-at-order-placement.md). Only the connector writes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from shared.commercetools import CommercetoolsClient
from shared.domain import values
from shared.domain.checkout.reward_state import AppliedReward

CONSUMPTIONS_CONTAINER: Final = "yotpo-loyalty-consumptions"
# A consumption record's `status`: `pending` (redeemed, order not seen yet, reusable by a retry
# of the same cart), `releasing` (the sweep claimed it and is giving the points back; never
# reused), `released` (cancelled in Yotpo), `release_failed` (Yotpo refused the cancellation;
# an operator settles it).
PENDING: Final = "pending"
RELEASING: Final = "releasing"
RELEASED: Final = "released"
RELEASE_FAILED: Final = "release_failed"


def consumption_key(cart_id: str) -> str:
    """The custom-object key of a cart's record: a SHA-256 of the cart id, so any id is a
    valid key (`^[-_~.a-zA-Z0-9]+$`, at most 256 characters) and no two carts share one."""
    return hashlib.sha256(cart_id.encode()).hexdigest()


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Consumption:
    """One cart's immediate redemption, as the order guard recorded it before answering."""

    cart_id: str
    customer_id: str
    option_id: str
    redemption_id: str
    code: str
    account: str
    status: str
    created_at: datetime
    touched_at: datetime
    # The sealed delayed redemption this one replaced (None: the seal named none).
    replaced_redemption_id: str | None = None
    # The custom object's version; 0 means "not stored yet" (create-only write).
    version: int = 0

    def serves(self, cart_id: str, applied: AppliedReward, account: str) -> bool:
        """Whether a retry of `cart_id` with the sealed `applied` may reuse this redemption."""
        return (
            self.status == PENDING
            and self.cart_id == cart_id
            and self.customer_id == applied.customer_id
            and self.option_id == str(applied.option_id)
            and self.replaced_redemption_id == applied.redemption_id
            and self.account == account
        )

    def value(self) -> dict[str, Any]:
        # commercetools drops null fields of a custom object's value: absent, not null.
        value: dict[str, Any] = {
            "cartId": self.cart_id,
            "customerId": self.customer_id,
            "optionId": self.option_id,
            "redemptionId": self.redemption_id,
            "code": self.code,
            "account": self.account,
            "status": self.status,
            "createdAt": self.created_at.isoformat(),
            "touchedAt": self.touched_at.isoformat(),
        }
        if self.replaced_redemption_id is not None:
            value["replacedRedemptionId"] = self.replaced_redemption_id
        return value

    @classmethod
    def from_object(cls, found: Mapping[str, Any]) -> Consumption | None:
        """The record a custom object holds; None for a shape the connector never writes."""
        value = found.get("value")
        version = found.get("version")
        if not isinstance(value, Mapping) or isinstance(version, bool):
            return None
        texts = {
            name: values.text(value.get(name))
            for name in ("cartId", "customerId", "optionId", "redemptionId", "code", "account")
        }
        status = values.text(value.get("status"))
        created = _moment(value.get("createdAt"))
        touched = _moment(value.get("touchedAt")) or created
        if any(v is None for v in texts.values()) or status is None or created is None:
            return None
        if not isinstance(version, int) or touched is None:
            return None
        return cls(
            cart_id=str(texts["cartId"]),
            customer_id=str(texts["customerId"]),
            option_id=str(texts["optionId"]),
            redemption_id=str(texts["redemptionId"]),
            code=str(texts["code"]),
            account=str(texts["account"]),
            status=status,
            created_at=created,
            touched_at=touched,
            replaced_redemption_id=values.text(value.get("replacedRedemptionId")),
            version=version,
        )


class ConsumptionRecords:
    """The consumption records (container `yotpo-loyalty-consumptions`); only the connector
    writes them: the order guard on order creation, `job/consumptions.py` when it sweeps."""

    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    @property
    def commercetools(self) -> CommercetoolsClient:
        """The client the records are kept with (the checkout's quick one, service/app.py)."""
        return self._ct

    def get(self, cart_id: str) -> Consumption | None:
        found = self._ct.get_custom_object(CONSUMPTIONS_CONTAINER, consumption_key(cart_id))
        record = Consumption.from_object(found) if found is not None else None
        return record if record is not None and record.cart_id == cart_id else None

    def write(self, record: Consumption) -> Consumption:
        """Store `record` if the stored version is still `record.version` (0: only create).

        Raises ConcurrentModificationError when another writer got there first.
        """
        stored = self._ct.put_custom_object(
            CONSUMPTIONS_CONTAINER,
            consumption_key(record.cart_id),
            record.value(),
            version=record.version,
        )
        version = stored.get("version")
        return replace(record, version=version if isinstance(version, int) else record.version)

    def delete(self, record: Consumption) -> None:
        self._ct.delete_custom_object(
            CONSUMPTIONS_CONTAINER, consumption_key(record.cart_id), version=record.version
        )

    def all(self) -> Iterator[Consumption | None]:
        """Every record (None for an object of a shape the connector never writes)."""
        for found in self._ct.iterate(f"custom-objects/{CONSUMPTIONS_CONTAINER}"):
            yield Consumption.from_object(found)
