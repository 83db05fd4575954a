"""Checkout rules for loyalty rewards on a cart (pure: a cart and Yotpo's answers in, actions out).

The API Extension calls these in three steps:
1. `concerns_loyalty` / `cart_facts` / `triage` — from the cart alone: nothing to do (no I/O at
   all), keep what is applied consistent (no Yotpo call unless a reward leaves the cart), or
   redeem a newly requested reward (Yotpo is asked). Reading the cart: `cart_facts.py`.
2. `precheck` / `evaluate` / `settle_amount` — the reward rules: a known customer, an enabled
   currency, an option Yotpo offers this customer now, enough points, the option's minimum,
   an amount known in the cart's own currency. The rules themselves are the ones the till uses
   too (`redemption.py`, docs/adr/0090-one-set-of-redemption-rules.md); here they meet the cart.
3. `redeem_actions` / `maintain_plan` — the cart update actions (`cart_actions.py`).

This module is the checkout's one import: it re-exports what the extension, the order guard
and the tests use from the two modules beside it.

Nothing the shopper can write is believed: the applied reward comes only from the seal
(`shared/domain/checkout/reward_state.py`, docs/adr/0020-reward-state-trust-model.md).
Amounts are the cart currency's minor units, computed here or reported by Yotpo for that
currency — never taken from the cart's fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from enum import Enum
from typing import Any

from shared.domain.checkout.cart_actions import (
    CheckoutConfig,
    MaintainPlan,
    maintain_plan,
    redeem_actions,
)
from shared.domain.checkout.cart_facts import (
    REWARD_SLUG,
    CartFacts,
    CheckoutMember,
    InvalidCart,
    cart_facts,
    checkout_member,
    concerns_loyalty,
)
from shared.domain.checkout.redemption import (
    Approval,
    Channel,
    RedemptionError,
    Rejection,
    currency_refusal,
    is_option_id,
    redeemable,
    settled_face,
    with_face,
)
from shared.domain.checkout.reward_state import AppliedReward, RewardKind

__all__ = [
    "REWARD_SLUG",
    "AppliedReward",
    "Approval",
    "CartFacts",
    "CheckoutConfig",
    "CheckoutMember",
    "InvalidCart",
    "LoyaltyError",
    "MaintainPlan",
    "Rejection",
    "RewardKind",
    "Step",
    "cart_facts",
    "checkout_member",
    "concerns_loyalty",
    "evaluate",
    "maintain_plan",
    "precheck",
    "redeem_actions",
    "settle_amount",
    "triage",
]

# The codes the storefront receives in `extensionExtraInfo.loyaltyError`: the one code enum of
# every channel, under the name the checkout has always used.
LoyaltyError = RedemptionError


# --- step 1: what kind of work is this update? ---------------------------------------------


class Step(Enum):
    NOTHING = "nothing"
    MAINTAIN = "maintain"
    REDEEM = "redeem"


def triage(facts: CartFacts) -> Step:
    applied = facts.applied
    if facts.requested_option is None:
        return Step.MAINTAIN if applied is not None or facts.tampered else Step.NOTHING
    if applied is None:
        return Step.REDEEM
    if applied.customer_id != facts.customer_id:
        return Step.MAINTAIN  # the reward belonged to someone else: it goes, no new redemption
    same = applied.option_id == facts.requested_option and (
        applied.kind != "variable" or applied.points == facts.requested_points
    )
    return Step.MAINTAIN if same else Step.REDEEM


# --- step 2: the rules ---------------------------------------------------------------------


def precheck(
    facts: CartFacts,
    accepted_currencies: frozenset[str] | None,
    config: CheckoutConfig | None = None,
) -> Rejection | None:
    """Checks that need no Yotpo call. `accepted_currencies` None: no account serves the store."""
    if not facts.customer_id or not facts.email:
        return Rejection(LoyaltyError.CUSTOMER_REQUIRED, "the cart has no customer id and email")
    if not is_option_id(facts.requested_option):
        return Rejection(LoyaltyError.UNKNOWN_OPTION, "not an option id")
    refused = currency_refusal(facts.currency, accepted_currencies)
    if refused is not None:
        return refused
    if (
        config is not None
        and config.strategy == "direct-discount"
        and config.stacking == "exclusive"
        and facts.discount_codes
    ):
        # commercetools refuses directDiscountsIgnoreCartDiscounts=true on a cart that has
        # both discount codes and direct discounts (Set DirectDiscountsIgnoreCartDiscounts,
        # 2026-09-17 release); refusing here says why instead of failing the whole update.
        return Rejection(LoyaltyError.DISCOUNT_CODE_CONFLICT)
    return None


def evaluate(
    facts: CartFacts,
    *,
    offered: list[dict[str, Any]],
    balance: int | None,
    all_options: list[dict[str, Any]] | None = None,
    base_currency: str | None = None,
) -> Approval | Rejection:
    """Decide a requested reward from what Yotpo offers this customer now and their balance.

    `all_options` (every option of the program) is only needed to explain a refusal when the
    option is not among those offered. Option amounts and minimums are in the program's base
    currency: the option's own `currency` when Yotpo names it, else `base_currency`. In any
    other cart currency a fixed amount is left to Yotpo's redemption (`settle_amount`) and a
    minimum, which cannot be compared without a rate, refuses the reward.
    """
    decision = redeemable(
        facts.requested_option or "",
        channel=Channel.ONLINE,
        offered=offered,
        all_options=all_options,
        balance=balance,
        points=facts.requested_points,
        currency=facts.currency,
        base_currency=base_currency,
        basket=facts.merchandise,
    )
    if isinstance(decision, Rejection) or decision.amount is None:
        return decision
    # The discount never exceeds what the cart costs before it.
    return replace(decision, amount=min(decision.amount, max(facts.total_before_reward, 0)))


def settle_amount(
    facts: CartFacts, approval: Approval, redemption: Mapping[str, Any]
) -> Approval | Rejection:
    """The approval with its final amount in the cart's currency.

    Yotpo's documented Create Redemption answer carries no amount
    (https://loyaltyapi.yotpo.com/reference/create-redemption), so the option's own amount
    stands (`evaluate` allowed it only in the base currency). Should an answer report
    `discount_amount_cents` together with the cart's `currency`, that converted amount wins.
    """
    if approval.kind == "percentage":
        return approval
    face = settled_face(approval, redemption, facts.currency)
    if face is None:
        return Rejection(LoyaltyError.CURRENCY_NOT_SUPPORTED, "no amount in the cart currency")
    return with_face(approval, face, facts.total_before_reward)
