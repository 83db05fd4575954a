"""Voucher claims: which cart's order carries a reward voucher that is redeemed only after
payment (`Capabilities.redemption_commit_after_payment`, a Voyado Engage reward voucher;
docs/adr/0095-voyado-vouchers-at-checkout.md).

Order placement asks the provider again whether the sealed voucher is still available (it may
have been used in a store meanwhile, service/order_guard.py) and claims it for the cart in a
connector-only custom object (container `loyalty-voucher-claims`, key the voucher id, created
with `version: 0`,
https://docs.commercetools.com/api/projects/custom-objects#create-or-update-customobject).
Voyado redeems only after payment ("redeem the promotion after the payment has been
successfully processed",
https://developer.voyado.com/en/promotions/introduction-to-promotions.html), so without the
claim two orders could carry one voucher until the second redeem meets 409
RewardVoucherAlreadyRedeemed
(https://developer.voyado.com/en/points-and-vouchers/redeem-a-voucher.html) — after its
discount was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from shared.commercetools import CommercetoolsClient
from shared.domain import values
from shared.errors import ConcurrentModificationError

VOUCHER_CLAIMS_CONTAINER: Final = "loyalty-voucher-claims"
# commercetools gives an API Extension at most 10 s (api-extensions page, `timeoutInMs`): an
# order whose extension answered less than this ago may still be being persisted, so its claim
# is never taken over however its order looks.
CLAIM_SETTLE: Final = timedelta(seconds=60)


@dataclass(frozen=True)
class VoucherClaim:
    voucher_id: str
    cart_id: str
    customer_id: str
    claimed_at: datetime
    version: int = 0

    def value(self) -> dict[str, Any]:
        return {
            "voucherId": self.voucher_id,
            "cartId": self.cart_id,
            "customerId": self.customer_id,
            "claimedAt": self.claimed_at.isoformat(),
        }

    @classmethod
    def from_object(cls, found: Mapping[str, Any]) -> VoucherClaim | None:
        value = found.get("value")
        version = found.get("version")
        if not isinstance(value, Mapping) or not isinstance(version, int):
            return None
        texts = [values.text(value.get(n)) for n in ("voucherId", "cartId", "customerId")]
        raw_moment = value.get("claimedAt")
        try:
            moment = datetime.fromisoformat(raw_moment) if isinstance(raw_moment, str) else None
        except ValueError:
            moment = None
        if any(t is None for t in texts) or moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        voucher_id, cart_id, customer_id = (str(t) for t in texts)
        return cls(voucher_id, cart_id, customer_id, moment, version)


ClaimOutcome = Literal["claimed", "held", "taken"]


class VoucherClaims:
    """One claim per voucher: which cart's order carries it. Only the connector writes them."""

    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def claim(self, voucher_id: str, cart_id: str, customer_id: str, now: datetime) -> ClaimOutcome:
        """`claimed` (new), `held` (this cart's already: a retried placement) or `taken`
        (another cart's order carries it). A claim of another cart is taken over only when
        that cart has no order, or a cancelled one, and the claim is older than
        `CLAIM_SETTLE` (the placement has settled). Raises TransientError / PermanentError."""
        mine = VoucherClaim(voucher_id.lower(), cart_id, customer_id, now)
        try:
            self._write(mine)
            return "claimed"
        except ConcurrentModificationError:
            pass
        found = self._ct.get_custom_object(VOUCHER_CLAIMS_CONTAINER, mine.voucher_id)
        held = VoucherClaim.from_object(found) if found is not None else None
        if held is None:
            return "taken"  # created and deleted meanwhile, or not ours: refuse, never guess
        if held.cart_id == cart_id and held.customer_id == customer_id:
            return "held"
        if now - held.claimed_at < CLAIM_SETTLE or self._order_carries(held.cart_id):
            return "taken"
        try:
            self._write(VoucherClaim(mine.voucher_id, cart_id, customer_id, now, held.version))
        except ConcurrentModificationError:
            return "taken"
        return "claimed"

    def _write(self, claim: VoucherClaim) -> None:
        self._ct.put_custom_object(
            VOUCHER_CLAIMS_CONTAINER, claim.voucher_id, claim.value(), version=claim.version
        )

    def _order_carries(self, cart_id: str) -> bool:
        """Whether an order not cancelled was made from `cart_id` (Order `cart` reference,
        https://docs.commercetools.com/api/projects/orders#order)."""
        page = self._ct.query(
            "orders", where=f'cart(id="{_quoted(cart_id)}")', limit=5, with_total=False
        )
        results = page.get("results") or []
        return any(isinstance(o, Mapping) and o.get("orderState") != "Cancelled" for o in results)


def _quoted(value: str) -> str:
    # A predicate string literal: backslashes and quotes escaped (query-predicates page).
    return value.replace("\\", "\\\\").replace('"', '\\"')
