"""Rewards committed after payment, and given back on cancellation (pure).

A Voyado reward voucher is validated at the cart and at placement but redeemed only once the
order is paid ("redeem the promotion after the payment has been successfully processed",
https://developer.voyado.com/en/promotions/introduction-to-promotions.html). So when an order
whose sealed reward is a voucher meets its earning trigger, the planner adds one
`RedemptionCommitted` operation (key `redemption:{voucher id}`, Voyado's redeem,
https://developer.voyado.com/en/points-and-vouchers/redeem-a-voucher.html). When that order is
cancelled after the commit was planned, one reactivation follows (key
`redemption-release:{voucher id}`, the renderer's `render_reactivation`,
https://developer.voyado.com/en/points-and-vouchers/reactivate-a-voucher.html): the shopper
gets the voucher back, never points (the seal carries none, `vouchers.voucher_approval`).

Only the sealed record is believed (`view.reward.verified`), only for the order's own customer,
and only for a provider that commits after payment
(`Capabilities.redemption_commit_after_payment`); a Yotpo reward is consumed at placement
instead (docs/adr/0022) and plans nothing here. Both keys are planned at most once per order
ledger. A reactivation Voyado refuses (ReactivationLimitExceeded, expired) fails permanently and
is recorded like any refused operation. Design: docs/adr/0095-voyado-vouchers-at-checkout.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from shared.domain.checkout.vouchers import is_voucher_id
from shared.domain.orders.ledger import LedgerOp, OpStatus, OrderLedger
from shared.domain.orders.order_view import OrderView
from shared.domain.providers.port import PayloadRenderer, RedemptionCommitted

__all__ = [
    "COMMIT_KEY_PREFIX",
    "RELEASE_KEY_PREFIX",
    "committed_voucher",
    "plan_redemption_ops",
]

COMMIT_KEY_PREFIX = "redemption:"
RELEASE_KEY_PREFIX = "redemption-release:"


def committed_voucher(view: OrderView) -> str | None:
    """The voucher id the order's sealed reward names, when it is the order's customer's."""
    reward = view.reward
    if reward is None or not reward.verified or not view.customer_id:
        return None
    if reward.customer_id != view.customer_id:
        return None
    voucher_id = reward.redemption_id
    return voucher_id.lower() if voucher_id and is_voucher_id(voucher_id) else None


def plan_redemption_ops(
    view: OrderView,
    ledger: OrderLedger,
    renderer: PayloadRenderer,
    now: datetime,
    *,
    order_ref: str,
    trigger_met: bool,
    before: tuple[LedgerOp, ...] = (),
) -> list[LedgerOp]:
    """The commit (trigger met, not cancelled) or the release (cancelled, commit planned and
    not refused) of the order's voucher; [] otherwise. `before`: this plan's operations made
    so far (a commit planned in the same plan counts as planned)."""
    capabilities = renderer.capabilities
    if not capabilities.redemption_commit_after_payment or not capabilities.supports("redemption"):
        return []
    voucher_id = committed_voucher(view)
    if voucher_id is None:
        return []
    commit_key = f"{COMMIT_KEY_PREFIX}{voucher_id}"
    release_key = f"{RELEASE_KEY_PREFIX}{voucher_id}"
    planned = {**ledger.ops, **{op.key: op for op in before}}
    commit = planned.get(commit_key)
    if commit is None:
        if view.cancelled or not trigger_met:
            return []  # an unpaid or cancelled order never spent the voucher
        reward = view.reward
        intent = RedemptionCommitted(
            redemption_ref=voucher_id,
            order_ref=order_ref,
            code=reward.code if reward is not None else None,
        )
        return [LedgerOp.rendered(commit_key, intent, renderer, before=(), now=now)]
    if not view.cancelled or release_key in planned or commit.status == OpStatus.FAILED:
        return []
    intent_of = commit.intent
    if not isinstance(intent_of, RedemptionCommitted):
        return []
    reactivation: Callable[[RedemptionCommitted], Mapping[str, Any]] | None = getattr(
        renderer, "render_reactivation", None
    )
    if reactivation is None:
        return []
    return [
        LedgerOp(
            key=release_key,
            kind="redemption",
            payload=dict(reactivation(intent_of)),
            provider=capabilities.provider,
            intent=intent_of,
            created_at=now,
            updated_at=now,
        )
    ]
