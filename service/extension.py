"""The cart API Extension: the I/O around the pure checkout rules, for every loyalty provider.

Budget: commercetools waits `EXTENSION_TIMEOUT_MS` (2 s by default) for the answer.
- Updates that do not concern loyalty answer from the cart's custom fields alone.
- Keeping an applied reward consistent costs one quick commercetools read (was its code
  cancelled by the provider?); a reward that leaves the cart is also given back.
- A new redemption talks to the store's loyalty provider only, through its rewards account
  (`shared/providers/rewards.py`, docs/adr/0098-rewards-through-the-port.md) bounded by
  `LOYALTY_CALL_BUDGET_MS`: the member and the rewards offered to them at once where the
  member id alone names the member (Yotpo: the customer and its redemption options, one
  round trip), else the member first (a Voyado contact, then its vouchers); then the
  decision by the provider's rules and the redemption. When the member id is not the
  commercetools id (`MEMBER_ID_SOURCE`, docs/adr/0010-member-identity.md) the customer is
  first read from commercetools, once, inside the same budget.
A failure after the provider made a redemption gives it back, so no rejected update leaves a
code (or, with immediate deduction, spent points) behind.

One flow serves every provider; where they differ it is a capability
(`Capabilities.redemption_commit_after_payment`, `RedemptionMode` in
service/checkout_rewards.py): a Voyado reward voucher is validated and applied with the same
seal and actions, and nothing is redeemed until the order is paid
(docs/adr/0095-voyado-vouchers-at-checkout.md), so nothing is given back at the cart either.

The member is found from the commercetools customer *record* (its own email), never from the
cart's `customerEmail`, which the shopper can set (My Carts `setCustomerEmail`).
Refusals carry a `loyaltyError` code and a fixed message, never upstream text. When it fails
open or closed: docs/adr/0021.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from service.cancellations import CancelledCodes
from service.checkout_rewards import (
    CUSTOMER_READ_TIMEOUT,
    MemberLookup,
    RedemptionMode,
    StoreRewards,
    given_back,
    member_lookup,
    redemption_mode,
)
from service.concurrent_calls import in_background, together
from service.options_cache import OptionsCache
from service.redemption_undo import give_back
from service.settings import ServiceSettings
from shared.commercetools import CommercetoolsClient
from shared.domain.checkout.cart import (
    AppliedReward,
    Approval,
    CartFacts,
    CheckoutConfig,
    LoyaltyError,
    Rejection,
    Step,
    cart_facts,
    concerns_loyalty,
    maintain_plan,
    redeem_actions,
    settle_amount,
    triage,
)
from shared.domain.checkout.redemption import Channel, currency_refusal
from shared.domain.checkout.reward_state import seal_key
from shared.errors import PermanentError, TransientError, describe
from shared.logs import log_event
from shared.providers.rewards import (
    Redeemed,
    RewardAsk,
    RewardMember,
    RewardsAccount,
)
from shared.runtime import ProviderRoute, Runtime, commercetools_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtensionAnswer:
    status: int
    body: dict[str, Any]
    outcome: str


NO_ACTIONS = ExtensionAnswer(200, {"actions": []}, "not_loyalty")


def checkout_config(settings: ServiceSettings) -> CheckoutConfig:
    return CheckoutConfig(
        strategy=settings.reward_strategy,
        stacking=settings.reward_stacking,
        best_deal=settings.reward_best_deal,
        tax_category_key=settings.reward_tax_category_key,
        delay_points_deduction=settings.delay_points_deduction,
        seal_key=seal_key(settings.extension_secret.get_secret_value()),
        identity=settings.member_identity(),
    )


def rejection_answer(rejection: Rejection) -> ExtensionAnswer:
    return ExtensionAnswer(400, {"errors": [rejection.extension_error()]}, "rejected")


def refuse(
    log: logging.Logger,
    event: str,
    rejection: Rejection,
    exc: Exception | None = None,
    *,
    level: int = logging.WARNING,
    **context: Any,
) -> ExtensionAnswer:
    """Log a refused reward (`context` names the cart or order) and answer with its error.
    Shared by the cart extension and the order-creation handler (service/order_guard.py)."""
    fields: dict[str, Any] = {**context, "reason": rejection.error.value, "outcome": "rejected"}
    if rejection.detail:
        fields["detail"] = rejection.detail
    if exc is not None:
        fields["error"] = describe(exc)
    log_event(log, event, level=level, **fields)
    return rejection_answer(rejection)


def remember_released(
    log: logging.Logger, cancelled: CancelledCodes, reward: AppliedReward, **context: Any
) -> None:
    """Record a released reward's code so a replayed seal cannot bring it back. A failure is
    logged, never raised: it runs in the background, after the answer."""
    try:
        cancelled.record(
            reward.code, redemption_id=reward.redemption_id, customer_id=reward.customer_id
        )
    except (TransientError, PermanentError) as exc:
        log_event(
            log,
            "checkout.release_not_recorded",
            level=logging.WARNING,
            **context,
            redemption_id=reward.redemption_id,
            error=describe(exc),
            outcome="not_recorded",
        )


def reward_precheck(
    facts: CartFacts,
    route: ProviderRoute | None,
    rewards: RewardsAccount | None,
    config: CheckoutConfig,
) -> Rejection | None:
    """Checks that need no call (`rewards` None: no account offers rewards in this store)."""
    if not facts.customer_id or not facts.email:
        return Rejection(LoyaltyError.CUSTOMER_REQUIRED, "the cart has no customer id and email")
    if route is None:
        return currency_refusal(facts.currency, None)
    if rewards is None:
        return Rejection(LoyaltyError.NOT_ELIGIBLE, "the store's provider offers no rewards")
    # The provider's own id syntax: junk in the field costs the provider nothing.
    refused = rewards.id_refusal(facts.requested_option) or currency_refusal(
        facts.currency, route.currencies
    )
    if refused is not None:
        return refused
    if (
        config.strategy == "direct-discount"
        and config.stacking == "exclusive"
        and facts.discount_codes
    ):
        # commercetools refuses directDiscountsIgnoreCartDiscounts=true on a cart that has
        # both discount codes and direct discounts (Set DirectDiscountsIgnoreCartDiscounts,
        # 2026-09-17 release); refusing here says why instead of failing the whole update.
        return Rejection(LoyaltyError.DISCOUNT_CODE_CONFLICT)
    return None


def capped(approval: Approval, facts: CartFacts) -> Approval:
    """The discount never exceeds what the cart costs before it."""
    if approval.amount is None:
        return approval
    return replace(approval, amount=min(approval.amount, max(facts.total_before_reward, 0)))


class CheckoutExtension:
    def __init__(
        self,
        settings: ServiceSettings,
        runtime: Runtime,
        cancelled: CancelledCodes,
        options: OptionsCache | None = None,
        members: MemberLookup | None = None,
        customers: CommercetoolsClient | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._runtime = runtime
        self._config = checkout_config(settings)
        self._members = members or member_lookup(settings)
        self._budget = settings.loyalty_call_budget_ms / 1000
        self._cancelled = cancelled
        self._rewards = StoreRewards(
            options or OptionsCache(settings.redemption_options_cache_seconds),
            settings.reward_base_currency,
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        # A provider that looks its member up (a Voyado contact) finds it by the customer
        # record's own email (the cart's `customerEmail` is the shopper's to write). Short
        # timeout, no retry.
        if customers is None and runtime.providers and not self._members.reads:
            timeout = min(CUSTOMER_READ_TIMEOUT, settings.loyalty_call_budget_ms / 3000)
            customers = commercetools_client(settings, timeout=timeout, max_retries=0)
        self._customers = customers

    @property
    def config(self) -> CheckoutConfig:
        return self._config

    @property
    def members(self) -> MemberLookup:
        """Shared with the order-creation handler (service/order_guard.py)."""
        return self._members

    @property
    def rewards(self) -> StoreRewards:
        """Shared with the order-creation handler (the same cached program lists)."""
        return self._rewards

    def handle(self, cart: dict[str, Any]) -> ExtensionAnswer:
        """Raises InvalidCart (a ValueError) for a cart commercetools could not have sent."""
        if not concerns_loyalty(cart):
            return NO_ACTIONS  # no parsing of lines, no I/O
        facts = cart_facts(cart, self._config.seal_key)
        step = triage(facts)
        if step is Step.NOTHING:
            return NO_ACTIONS
        route = self._runtime.provider_for_store(facts.store_key)  # in memory
        if step is Step.MAINTAIN:
            return self._maintain(facts, route)
        return self._redeem(facts, route)

    def _mode(self, rewards: RewardsAccount | None) -> RedemptionMode:
        return redemption_mode(rewards.capabilities if rewards is not None else None, self._config)

    # --- keeping an applied reward consistent ------------------------------------------------
    def _maintain(self, facts: CartFacts, route: ProviderRoute | None) -> ExtensionAnswer:
        rewards = self._rewards.of(route)
        mode = self._mode(rewards)
        applied = facts.applied
        cancelled = False
        if applied is not None and facts.requested_option is not None and mode.redeemed_at_cart:
            try:
                cancelled = self._cancelled.contains(applied.code)
            except (TransientError, PermanentError) as exc:
                # Fail open: the order-creation check asks the provider again before the
                # reward is used, so a missed cancellation cannot become a free discount.
                log_event(
                    logger,
                    "checkout.cancellation_lookup_failed",
                    level=logging.WARNING,
                    cart_id=facts.id,
                    error=describe(exc),
                    outcome="fail_open",
                )
        plan = maintain_plan(facts, self._config, cancelled=cancelled)
        if facts.tampered:
            log_event(
                logger,
                "checkout.forged_reward_fields",
                level=logging.WARNING,
                cart_id=facts.id,
                outcome="cleared",
            )
        if plan.dropped is not None:
            bounded = rewards.bounded(self._budget) if rewards is not None else None
            self._release(facts, plan.dropped, mode, bounded, reason=plan.status or "dropped")
        if plan.actions:
            log_event(
                logger,
                "checkout.reward_updated",
                cart_id=facts.id,
                actions=[a["action"] for a in plan.actions],
                status=plan.status,
                outcome="updated",
            )
        return ExtensionAnswer(200, {"actions": plan.actions}, "maintained")

    def _release(
        self,
        facts: CartFacts,
        reward: AppliedReward,
        mode: RedemptionMode,
        rewards: RewardsAccount | None,
        *,
        reason: str,
    ) -> None:
        """A reward left the cart: give it back to the provider (its points return, or stop
        being held) and record its code so a replayed seal cannot bring it back. A reward
        redeemed only after payment was never redeemed: nothing to give back."""
        if reward.redemption_id is None or not mode.redeemed_at_cart:
            return
        in_background(lambda: remember_released(logger, self._cancelled, reward, cart_id=facts.id))

        def cancel() -> None:
            if rewards is None:
                raise PermanentError("no loyalty account serves this store")
            rewards.cancel(given_back(reward, mode))

        give_back(
            logger,
            cancel,
            failed="checkout.redemption_not_cancelled",
            done="checkout.redemption_cancelled",
            errors=(TransientError, PermanentError),
            cart_id=facts.id,
            redemption_id=reward.redemption_id,
            reason=reason,
        )

    # --- a new redemption --------------------------------------------------------------------
    def _redeem(self, facts: CartFacts, route: ProviderRoute | None) -> ExtensionAnswer:
        found = self._rewards.of(route)
        rejection = reward_precheck(facts, route, found, self._config)
        if rejection is not None or route is None or found is None:
            return self._reject(facts, rejection or Rejection(LoyaltyError.NOT_ELIGIBLE))
        mode = self._mode(found)
        rewards = found.bounded(self._budget)
        ask = RewardAsk(
            reward_id=facts.requested_option or "",
            channel=Channel.ONLINE,
            currency=facts.currency,
            points=facts.requested_points,
            basket=facts.merchandise,
            now=self._clock(),
        )
        try:
            member, offers = self._member_and_offers(rewards, facts)
            if member is None:
                return self._reject(
                    facts, Rejection(LoyaltyError.NOT_ELIGIBLE, "the customer is not a member")
                )
            decision = rewards.decide(member, offers, ask)
            if isinstance(decision, Rejection):
                return self._reject(facts, decision)
            decision = capped(decision, facts)
            redeemed = rewards.redeem(member, decision, ask, deferred=mode.deferred)
        except TransientError as exc:
            return self._reject(facts, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            return self._reject(facts, Rejection(LoyaltyError.NOT_ELIGIBLE), exc)
        try:
            settled = settle_amount(facts, decision, redeemed.answer)
            if isinstance(settled, Rejection):
                self._undo(rewards, mode, facts, redeemed)
                return self._reject(facts, settled)
            issued = {"reward_text": redeemed.code, "id": redeemed.redemption_id}
            # The seal's `delayed`: whether the order-creation check consumes the reward.
            sealing = replace(self._config, delay_points_deduction=mode.consumed_at_placement)
            actions = redeem_actions(facts, settled, issued, sealing)
        except Exception as exc:
            self._undo(rewards, mode, facts, redeemed)
            return self._reject(facts, Rejection(LoyaltyError.UNAVAILABLE), exc)
        if facts.applied is not None:
            # What is left of this call's budget, not a fresh one.
            self._release(facts, facts.applied, mode, rewards, reason="replaced")
        log_event(
            logger,
            "checkout.reward_applied",
            cart_id=facts.id,
            option_id=settled.option_id,
            amount=settled.amount,
            currency=facts.currency,
            points=settled.points,
            account=route.key,
            provider=rewards.provider,
            outcome="applied",
        )
        return ExtensionAnswer(200, {"actions": actions}, "applied")

    def _member_and_offers(
        self, rewards: RewardsAccount, facts: CartFacts
    ) -> tuple[RewardMember | None, Sequence[Mapping[str, Any]]]:
        """The member and the rewards offered to them online. Where the member id alone names
        the member (`presumed`), one round trip: the member and its rewards at once (Yotpo:
        the customer and its redemption options, with the program's in-store-only ids unless
        cached, https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options).
        Otherwise the member is looked up first (a Voyado contact, then its vouchers).
        Raises TransientError / PermanentError."""
        if facts.customer_id is None:
            raise PermanentError("the cart has no customer")  # the precheck refuses these first
        identity = self._members.identity
        customer, presumed = self._members.customer(rewards, facts.customer_id, self._customers)
        if presumed is None:
            member = rewards.find_member(customer, identity)
            return member, (rewards.offers(member, channel=Channel.ONLINE) if member else [])

        def presumed_offers() -> Sequence[Mapping[str, Any]] | PermanentError:
            # The presumed member may be unknown (a refusal) when another key finds it.
            try:
                return rewards.offers(presumed, channel=Channel.ONLINE)
            except PermanentError as exc:
                return exc

        member, offers = together(lambda: rewards.find_member(customer, identity), presumed_offers)
        if member is None:
            return None, []
        if (member.member_id, member.found_by) != (presumed.member_id, presumed.found_by):
            # Found by another key (the record's email): its rewards are that member's.
            return member, rewards.offers(member, channel=Channel.ONLINE)
        if isinstance(offers, PermanentError):
            raise offers
        return member, offers

    def _undo(
        self, rewards: RewardsAccount, mode: RedemptionMode, facts: CartFacts, redeemed: Redeemed
    ) -> None:
        """Give back a redemption this call made and will not apply (after payment: none)."""
        if not mode.redeemed_at_cart:
            return
        give_back(
            logger,
            lambda: rewards.cancel(redeemed),
            failed="checkout.orphan_redemption",
            done="checkout.redemption_undone",
            failed_level=logging.ERROR,
            cart_id=facts.id,
            redemption_id=redeemed.redemption_id,
        )

    def _reject(
        self, facts: CartFacts, rejection: Rejection, exc: Exception | None = None
    ) -> ExtensionAnswer:
        return refuse(
            logger,
            "checkout.reward_rejected",
            rejection,
            exc,
            level=logging.WARNING if rejection.error is LoyaltyError.UNAVAILABLE else logging.INFO,
            cart_id=facts.id,
            option_id=facts.requested_option,
        )
