"""The cart update actions of the checkout (pure): the discount (a direct discount or a
negative custom line item), the sealed record of what was applied and the readable fields
that mirror it.

`redeem_actions` applies a reward Yotpo just issued; `maintain_plan` keeps an applied reward
consistent with the cart as it is now (or takes it off). Money drafts are
`shared.domain.money.money_draft` (currency first), as commercetools takes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from shared.domain.checkout.cart_facts import (
    REWARD_SLUG,
    CartFacts,
    looks_like_ours,
    projection,
    projection_names,
)
from shared.domain.checkout.redemption import Approval
from shared.domain.checkout.reward_state import AppliedReward, seal
from shared.domain.customers.member_identity import MemberIdentity
from shared.domain.loyalty_fields import CartFields as F
from shared.domain.money import money_draft
from shared.domain.values import text

__all__ = ["CheckoutConfig", "MaintainPlan", "maintain_plan", "redeem_actions"]

Strategy = Literal["direct-discount", "custom-line-item"]
Stacking = Literal["stack", "exclusive"]


@dataclass(frozen=True)
class CheckoutConfig:
    strategy: Strategy = "direct-discount"
    # "stack": the reward applies alongside the shopper's cart discounts and discount codes
    # (directDiscountsIgnoreCartDiscounts=false, possible since the 2026-09-17 API release);
    # "exclusive": direct discounts replace cart discounts (refused while the cart has codes).
    stacking: Stacking = "stack"
    # Whether commercetools may drop the reward when a product or cart discount is better.
    best_deal: bool = False
    tax_category_key: str | None = None
    label_locale: str = "en"
    delay_points_deduction: bool = True
    # The key that seals the applied reward (reward_state.seal_key of EXTENSION_SECRET).
    seal_key: bytes = b""
    # Who the cart's customer is in Yotpo (MEMBER_ID_SOURCE, docs/adr/0010-member-identity.md).
    identity: MemberIdentity = field(default_factory=MemberIdentity)


@dataclass(frozen=True)
class MaintainPlan:
    actions: list[dict[str, Any]]
    status: str | None  # why the reward left the cart, None when it stays
    dropped: AppliedReward | None  # a sealed reward that left the cart (to cancel in Yotpo)


def redeem_actions(
    facts: CartFacts,
    approval: Approval,
    redemption: Mapping[str, Any],
    config: CheckoutConfig,
) -> list[dict[str, Any]]:
    """Apply a reward Yotpo just issued (replacing any reward applied before).

    `approval` must carry its settled amount (`settle_amount`). Raises ValueError when Yotpo's
    answer lacks a code: the caller then cancels the redemption.
    """
    # Yotpo's fields: its ids are integers (Create Redemption), read as their decimal text.
    code = text(redemption.get("reward_text"), limit=256, numbers=True)
    if code is None:
        raise ValueError("Yotpo's redemption carries no reward code")
    if approval.amount is None:
        raise ValueError("the reward amount was not settled")
    reward = AppliedReward(
        code=code,
        amount=approval.amount,
        option_id=approval.option_id,
        kind=approval.kind,
        customer_id=facts.customer_id,
        points=approval.points,
        percent_bp=approval.percent_bp,
        minimum=approval.minimum,
        redemption_id=text(redemption.get("id"), limit=256, numbers=True),
        currency=facts.currency,
        delayed=config.delay_points_deduction,
        face=approval.face or 0,
    )
    return _discount_actions(facts, reward, config) + _field_actions(
        reward, "applied", _seal_value(reward, facts, config)
    )


def maintain_plan(facts: CartFacts, config: CheckoutConfig, *, cancelled: bool) -> MaintainPlan:
    """Keep an applied reward consistent with the cart as it is now. No Yotpo call here:
    the caller cancels `dropped` in Yotpo."""
    applied = facts.applied
    if applied is None:
        if facts.tampered:
            # Never grant, never cancel: clear what someone else wrote, and any discount
            # that looks like ours (none could be: only a sealed reward makes one).
            actions = _discount_actions(facts, None, config)
            return MaintainPlan(actions + _field_actions(None, "invalid"), "invalid", None)
        return MaintainPlan([], None, None)
    status = None
    if facts.requested_option is None:
        status = "removed"
    elif cancelled:
        status = "cancelled_by_yotpo"
    elif applied.customer_id != facts.customer_id:
        status = "customer_changed"
    elif applied.minimum and facts.merchandise < applied.minimum:
        status = "below_minimum"
    if status is not None:
        actions = _removal(facts, config, status, unset_request=status != "removed")
        # A code Yotpo already cancelled needs no cancellation from us.
        return MaintainPlan(actions, status, None if status == "cancelled_by_yotpo" else applied)
    base = applied.face if applied.kind != "percentage" else 0
    if applied.kind == "percentage" and applied.percent_bp is not None:
        base = facts.merchandise * applied.percent_bp // 10_000
    amount = max(min(base, facts.total_before_reward), 0)
    if amount == applied.amount and facts.reward_on_cart == applied.amount:
        actions = _stacking_action(facts, config) if amount else []
        if facts.projection_stale:
            # The shopper rewrote the readable fields: put the sealed values back.
            actions += _field_actions(applied, "applied", _seal_value(applied, facts, config))
        return MaintainPlan(actions, None, None)
    updated = replace(applied, amount=amount)
    actions = _discount_actions(facts, updated, config)
    actions += _field_actions(updated, "applied", _seal_value(updated, facts, config))
    return MaintainPlan(actions, None, None)


def _seal_value(reward: AppliedReward, facts: CartFacts, config: CheckoutConfig) -> str | None:
    return seal(reward, facts.id, config.seal_key) if config.seal_key else None


def _removal(
    facts: CartFacts, config: CheckoutConfig, status: str, *, unset_request: bool = True
) -> list[dict[str, Any]]:
    # Unsetting the request too keeps later, unrelated updates off the network: a dropped
    # reward must be asked for again by the shopper, not silently re-requested from Yotpo.
    actions = _discount_actions(facts, None, config)
    actions += _field_actions(None, status)
    if unset_request:
        actions += [_set(F.REQUESTED_OPTION, None), _set(F.REQUESTED_POINTS, None)]
    return actions


def _set(name: str, value: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"action": "setCustomField", "name": name}
    if value is not None:
        action["value"] = value
    return action


def _field_actions(
    reward: AppliedReward | None, status: str, seal_text: str | None = None
) -> list[dict[str, Any]]:
    values: dict[str, Any] = projection(reward) if reward else dict.fromkeys(projection_names())
    values[F.REWARD_SEAL] = seal_text if reward else None
    values[F.REWARD_STATUS] = status
    return [_set(name, value) for name, value in values.items()]


def _draft(discount: Mapping[str, Any]) -> dict[str, Any]:
    """A direct discount as setDirectDiscounts takes it back: everything but its server id.

    Kept whole, whatever its kind: `giftLineItem` has no `target`, multi-buy and pattern
    targets carry fields of their own (DirectDiscount, https://docs.commercetools.com/api/
    projects/carts#directdiscount), and a field added by a later API release survives too.
    """
    return {key: value for key, value in discount.items() if key != "id"}


def _discount_actions(
    facts: CartFacts, reward: AppliedReward | None, config: CheckoutConfig
) -> list[dict[str, Any]]:
    if config.strategy == "custom-line-item":
        return _line_item_actions(facts, reward, config)
    # setDirectDiscounts replaces the whole list: keep every discount we did not create.
    foreign = list(facts.direct_discounts)
    removed = False
    if facts.tampered and facts.applied is None:
        kept = [d for d in foreign if looks_like_ours(d, facts.currency) is None]
        removed = len(kept) != len(foreign)
        foreign = kept
    else:
        own = facts.own_direct_discount_index()
        if own is not None:
            del foreign[own]
            removed = True
    discounts = [_draft(d) for d in foreign]
    if reward is not None and reward.amount > 0:
        discounts.append(
            {
                "value": {
                    "type": "absolute",
                    "money": [money_draft(facts.currency, reward.amount)],
                },
                "target": {"type": "totalPrice"},
                "participateInBestDealSelection": config.best_deal,
            }
        )
    actions: list[dict[str, Any]] = []
    adds = reward is not None and reward.amount > 0
    if adds:
        # The flag first: with it still true, setDirectDiscounts meets a cart holding codes
        # and is refused (Set DirectDiscounts: "only if no DiscountCode has been added").
        actions += _stacking_action(facts, config)
    if removed or adds:
        actions.append({"action": "setDirectDiscounts", "discounts": discounts})
    return actions


def _stacking_action(facts: CartFacts, config: CheckoutConfig) -> list[dict[str, Any]]:
    if config.strategy != "direct-discount":
        return []
    wanted = config.stacking == "exclusive"
    if facts.ignores_cart_discounts == wanted:
        return []
    return [
        {
            "action": "setDirectDiscountsIgnoreCartDiscounts",
            "directDiscountsIgnoreCartDiscounts": wanted,
        }
    ]


def _line_item_actions(
    facts: CartFacts, reward: AppliedReward | None, config: CheckoutConfig
) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    if facts.reward_line_item_id:
        actions.append(
            {"action": "removeCustomLineItem", "customLineItemId": facts.reward_line_item_id}
        )
    if reward is not None and reward.amount > 0:
        line: dict[str, Any] = {
            "action": "addCustomLineItem",
            "name": {config.label_locale: f"Loyalty reward {reward.code}"},
            "quantity": 1,
            "money": money_draft(facts.currency, -reward.amount),
            "slug": REWARD_SLUG,
        }
        if config.tax_category_key:
            line["taxCategory"] = {"typeId": "tax-category", "key": config.tax_category_key}
        actions.append(line)
    return actions
