"""The cart API Extension: the I/O around the pure checkout rules.

Budget: commercetools waits `EXTENSION_TIMEOUT_MS` (2 s by default) for the answer. Updates
that do not concern loyalty answer from the cart alone; keeping an applied reward consistent
costs one quick commercetools read; only a new redemption talks to Yotpo, through a client
bounded by `LOYALTY_CALL_BUDGET_MS` so the answer always arrives in time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from service.cancellations import CancelledCodes
from service.settings import ServiceSettings
from shared.domain.checkout import (
    Approval,
    CartFacts,
    CheckoutConfig,
    LoyaltyError,
    Rejection,
    Step,
    cart_facts,
    evaluate,
    maintain_actions,
    precheck,
    redeem_actions,
    triage,
)
from shared.domain.loyalty_fields import CartFields
from shared.errors import PermanentError, TransientError, describe
from shared.logs import log_event
from shared.runtime import Runtime
from shared.yotpo import YotpoClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtensionAnswer:
    status: int
    body: dict[str, Any]
    outcome: str


def checkout_config(settings: ServiceSettings) -> CheckoutConfig:
    return CheckoutConfig(
        strategy=settings.reward_strategy,
        stacking=settings.reward_stacking,
        best_deal=settings.reward_best_deal,
        tax_category_key=settings.reward_tax_category_key,
        delay_points_deduction=settings.delay_points_deduction,
    )


class CheckoutExtension:
    def __init__(
        self, settings: ServiceSettings, runtime: Runtime, cancelled: CancelledCodes
    ) -> None:
        self._runtime = runtime
        self._config = checkout_config(settings)
        self._budget = settings.loyalty_call_budget_ms / 1000
        self._cancelled = cancelled

    def handle(self, cart: dict[str, Any]) -> ExtensionAnswer:
        facts = cart_facts(cart)
        step = triage(facts)
        if step is Step.NOTHING:
            return ExtensionAnswer(200, {"actions": []}, "not_loyalty")
        if step is Step.MAINTAIN:
            return self._maintain(facts)
        return self._redeem(facts)

    def _maintain(self, facts: CartFacts) -> ExtensionAnswer:
        applied = facts.applied
        cancelled = False
        if applied is not None and facts.requested_option is not None:
            try:
                cancelled = self._cancelled.contains(applied.code)
            except (TransientError, PermanentError) as exc:
                # Fail open: a code Yotpo cancelled deducts nothing, and the next update looks
                # again. Failing the shopper's cart update would be worse.
                log_event(
                    logger,
                    "checkout.cancellation_lookup_failed",
                    level=logging.WARNING,
                    cart_id=facts.id,
                    error=describe(exc),
                )
        actions = maintain_actions(facts, self._config, cancelled=cancelled)
        if not cancelled and _drops_reward(actions):
            self._give_points_back(facts)
        if actions:
            log_event(
                logger,
                "checkout.reward_updated",
                cart_id=facts.id,
                actions=[a["action"] for a in actions],
                cancelled=cancelled,
                outcome="updated",
            )
        return ExtensionAnswer(200, {"actions": actions}, "maintained")

    def _redeem(self, facts: CartFacts) -> ExtensionAnswer:
        route = self._runtime.yotpo_for_store(facts.store_key)
        rejection = precheck(facts, route.account.currencies if route else None)
        if rejection is not None or route is None:
            return self._reject(facts, rejection or Rejection(LoyaltyError.NOT_ELIGIBLE))
        client = route.client.bounded(self._budget)
        try:
            decision = self._decide(client, facts)
            if isinstance(decision, Rejection):
                return self._reject(facts, decision)
            redemption = client.create_redemption(self._redemption_payload(facts, decision))
        except TransientError as exc:
            return self._reject(facts, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            return self._reject(facts, Rejection(LoyaltyError.NOT_ELIGIBLE, str(exc)[:200]), exc)
        try:
            actions = redeem_actions(facts, decision, redemption, self._config)
        except ValueError as exc:
            return self._reject(facts, Rejection(LoyaltyError.UNAVAILABLE), exc)
        self._give_points_back(facts)  # the reward it replaces, if any
        log_event(
            logger,
            "checkout.reward_applied",
            cart_id=facts.id,
            option_id=decision.option_id,
            amount=decision.amount,
            currency=facts.currency,
            points=decision.points,
            account=route.key,
            outcome="applied",
        )
        return ExtensionAnswer(200, {"actions": actions}, "applied")

    def _give_points_back(self, facts: CartFacts) -> None:
        """A reward leaving the cart returns its points when they were already deducted.

        With delayed deduction (the default) an unused code costs nothing and there is
        nothing to return. Best effort inside the budget: the cart update never fails for it,
        and an operator sees a WARNING naming the redemption to return by hand.
        """
        applied = facts.applied
        if self._config.delay_points_deduction or applied is None or not applied.redemption_id:
            return
        route = self._runtime.yotpo_for_store(facts.store_key)
        try:
            if route is None:
                raise PermanentError("no Yotpo account serves this store")
            route.client.bounded(self._budget).cancel_redemption(applied.redemption_id)
        except (TransientError, PermanentError) as exc:
            log_event(
                logger,
                "checkout.points_not_returned",
                level=logging.WARNING,
                cart_id=facts.id,
                redemption_id=applied.redemption_id,
                error=describe(exc),
                outcome="needs_operator",
            )
            return
        log_event(
            logger,
            "checkout.points_returned",
            cart_id=facts.id,
            redemption_id=applied.redemption_id,
            outcome="returned",
        )

    def _decide(self, client: YotpoClient, facts: CartFacts) -> Approval | Rejection:
        customer = client.get_customer(customer_id=facts.customer_id, with_referral_code=False)
        balance = None if customer is None else int(customer.get("points_balance") or 0)
        offered = client.redemption_options(customer_id=facts.customer_id)
        if balance is not None and not any(
            str(o.get("id")) == facts.requested_option for o in offered
        ):
            # Only to tell the shopper *why*: unknown reward, or not enough points.
            return evaluate(
                facts, offered=offered, balance=balance, all_options=client.redemption_options()
            )
        return evaluate(facts, offered=offered, balance=balance)

    def _redemption_payload(self, facts: CartFacts, decision: Approval) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "customer_id": facts.customer_id,
            "customer_email": facts.email,
            "redemption_option_id": int(decision.option_id),
            "delay_points_deduction": self._config.delay_points_deduction,
            "currency": facts.currency,
        }
        if decision.kind == "variable":
            payload["points_to_redeem"] = decision.points
        return payload

    def _reject(
        self, facts: CartFacts, rejection: Rejection, exc: Exception | None = None
    ) -> ExtensionAnswer:
        fields: dict[str, Any] = {
            "cart_id": facts.id,
            "reason": rejection.error.value,
            "option_id": facts.requested_option,
            "outcome": "rejected",
        }
        if exc is not None:
            fields["error"] = describe(exc)
        log_event(
            logger,
            "checkout.reward_rejected",
            level=logging.WARNING if rejection.error is LoyaltyError.UNAVAILABLE else logging.INFO,
            **fields,
        )
        return ExtensionAnswer(400, {"errors": [rejection.extension_error()]}, "rejected")


def _drops_reward(actions: list[dict[str, Any]]) -> bool:
    return any(
        a["action"] == "setCustomField" and a["name"] == CartFields.REWARD_CODE and "value" not in a
        for a in actions
    )
