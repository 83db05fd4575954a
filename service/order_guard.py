"""The order-creation half of the API Extension: a reward is consumed when its order is placed.

With delayed deduction Yotpo takes a reward's points only when an order carrying its code
reaches Yotpo (Create Redemption, https://loyaltyapi.yotpo.com/reference/create-redemption),
and it cancels an unconsumed delayed reward when the same customer redeems again (the POS
guide, https://support.yotpo.com/docs/omnichannel-store-associate-managed-loyalty-pos-loyalty-interface).
The event app tells Yotpo about an order only at its earning trigger (payment, shipment), which
can be days after placement. Left alone, a second redemption in that window cancels the first
order's code: two rewards for one set of points.

So when an order is created from a cart with a sealed delayed reward, this handler redeems the
same option again *with immediate deduction* and puts that code on the order; the delayed
code is cancelled. From placement on, the points are spent, whatever the earning trigger. An
order whose reward Yotpo no longer grants (points gone, option withdrawn) is refused; an order
whose reward fields were not written by the connector is refused. Yotpo unreachable: refused
too (fail closed, docs/adr/0021-checkout-fail-open-or-closed.md). With immediate deduction the
points were spent at redemption; the handler only refuses a code that was cancelled since.

The redemption names the customer's Yotpo member (`MEMBER_ID_SOURCE`,
docs/adr/0010-member-identity.md): with a source other than the commercetools id, the customer
is read from commercetools once before Yotpo is asked. The seal keeps the commercetools id.

commercetools calls API Extensions on order creation (ExtensionResourceTypeId `order`,
https://docs.commercetools.com/api/projects/api-extensions) and applies the returned update
actions to the order before it is persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from service.cancellations import CancelledCodes
from service.extension import NO_ACTIONS, ExtensionAnswer, MemberLookup, rejection_answer
from service.yotpo_calls import cancel_redemption, in_background
from shared.domain.checkout import CheckoutConfig, LoyaltyError, Rejection, concerns_loyalty
from shared.domain.loyalty_fields import CartFields as F
from shared.domain.reward_state import AppliedReward, seal, unseal
from shared.errors import PermanentError, TransientError, describe
from shared.logs import log_event
from shared.runtime import Runtime
from shared.yotpo import YotpoClient

logger = logging.getLogger(__name__)

CONSUMED = "consumed"


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


class OrderGuard:
    def __init__(
        self,
        config: CheckoutConfig,
        runtime: Runtime,
        cancelled: CancelledCodes,
        budget_seconds: float,
        members: MemberLookup | None = None,
    ) -> None:
        self._config = config
        self._runtime = runtime
        self._cancelled = cancelled
        self._budget = budget_seconds
        # Pass the checkout extension's lookup (its client has the checkout's short timeout);
        # without one, a source that needs the customer reads it through the runtime's client.
        self._members = members or MemberLookup(
            config.identity, runtime.commercetools if config.identity.needs_customer else None
        )

    def handle(self, order: dict[str, Any]) -> ExtensionAnswer:
        """Raises InvalidCart (a ValueError) for custom fields of an impossible shape."""
        if not concerns_loyalty(order):
            return NO_ACTIONS
        fields = (order.get("custom") or {}).get("fields") or {}
        cart = order.get("cart")
        cart_id = _text(cart.get("id")) if isinstance(cart, Mapping) else None
        order_ref = _text(order.get("orderNumber")) or _text(order.get("id"))
        if cart_id is None:
            # Not made from a cart (an import): no checkout applied anything to it.
            return NO_ACTIONS
        applied = unseal(fields.get(F.REWARD_SEAL), cart_id, self._config.seal_key)
        owned = any(
            fields.get(name) is not None for name in (F.REWARD_CODE, F.REWARD_SEAL, F.REDEMPTION_ID)
        )
        if applied is None:
            if not owned:
                return NO_ACTIONS  # a request that never became a reward
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "unsealed reward fields"),
            )
        if applied.customer_id != _text(order.get("customerId")):
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "customer changed"),
            )
        if applied.delayed:
            return self._consume(order, order_ref, cart_id, applied)
        return self._check_still_valid(order_ref, cart_id, applied)

    def _check_still_valid(
        self, order_ref: str | None, cart_id: str, applied: AppliedReward
    ) -> ExtensionAnswer:
        try:
            cancelled = self._cancelled.contains(applied.code)
        except (TransientError, PermanentError) as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        if cancelled:
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "code cancelled"),
            )
        return NO_ACTIONS

    def _consume(
        self, order: dict[str, Any], order_ref: str | None, cart_id: str, applied: AppliedReward
    ) -> ExtensionAnswer:
        store = order.get("store")
        store_key = _text(store.get("key")) if isinstance(store, Mapping) else None
        route = self._runtime.yotpo_for_store(store_key)
        if route is None:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.NOT_ELIGIBLE))
        if applied.customer_id is None:
            # A redemption always has a customer (precheck); a seal without one is not ours.
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "no customer"),
            )
        client = route.client.bounded(self._budget)
        try:
            # `handle` checked that the seal's customer is the order's customer.
            member = self._members.member(applied.customer_id, _text(order.get("customerEmail")))
        except TransientError as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            return self._refuse(
                order_ref, cart_id, Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE), exc
            )
        payload: dict[str, Any] = {
            "customer_id": member.member_id,
            "redemption_option_id": int(applied.option_id),
            "delay_points_deduction": False,
            "currency": applied.currency,
        }
        if member.email:
            payload["customer_email"] = member.email
        if applied.kind == "variable" and applied.points:
            payload["points_to_redeem"] = applied.points
        try:
            redemption = client.create_redemption(payload)
        except TransientError as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            # Not enough points any more, or the option is gone: this order cannot have it.
            return self._refuse(
                order_ref, cart_id, Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE), exc
            )
        code = _text(redemption.get("reward_text"))
        redemption_id = redemption.get("id")
        if code is None or redemption_id is None:
            if redemption_id is not None:
                self._cancel_quietly(
                    client, order_ref, replace(applied, code="", redemption_id=str(redemption_id))
                )
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE))
        consumed = replace(applied, code=code, redemption_id=str(redemption_id), delayed=False)
        actions = [
            _set(F.REWARD_CODE, consumed.code),
            _set(F.REDEMPTION_ID, consumed.redemption_id),
            _set(F.REWARD_SEAL, seal(consumed, cart_id, self._config.seal_key)),
            _set(F.REWARD_STATUS, CONSUMED),
        ]
        # The delayed code is now worth nothing to anyone; cancelling it frees its
        # reservation. Best effort, after the answer is decided.
        self._cancel_quietly(client, order_ref, applied)
        in_background(lambda: self._remember(applied))
        log_event(
            logger,
            "checkout.reward_consumed",
            order=order_ref,
            cart_id=cart_id,
            redemption_id=consumed.redemption_id,
            replaced_redemption_id=applied.redemption_id,
            points=applied.points,
            outcome=CONSUMED,
        )
        return ExtensionAnswer(200, {"actions": actions}, CONSUMED)

    def _remember(self, reward: AppliedReward) -> None:
        try:
            self._cancelled.record(
                reward.code, redemption_id=reward.redemption_id, customer_id=reward.customer_id
            )
        except (TransientError, PermanentError) as exc:
            log_event(
                logger,
                "checkout.release_not_recorded",
                level=logging.WARNING,
                redemption_id=reward.redemption_id,
                error=describe(exc),
                outcome="not_recorded",
            )

    def _cancel_quietly(
        self, client: YotpoClient, order_ref: str | None, reward: AppliedReward
    ) -> None:
        try:
            cancel_redemption(client, reward)
        except (TransientError, PermanentError, ValueError) as exc:
            log_event(
                logger,
                "checkout.redemption_not_cancelled",
                level=logging.WARNING,
                order=order_ref,
                redemption_id=reward.redemption_id,
                error=describe(exc),
                outcome="needs_operator",
            )

    def _refuse(
        self,
        order_ref: str | None,
        cart_id: str,
        rejection: Rejection,
        exc: Exception | None = None,
    ) -> ExtensionAnswer:
        fields: dict[str, Any] = {
            "order": order_ref,
            "cart_id": cart_id,
            "reason": rejection.error.value,
            "outcome": "rejected",
        }
        if rejection.detail:
            fields["detail"] = rejection.detail
        if exc is not None:
            fields["error"] = describe(exc)
        log_event(logger, "checkout.order_refused", level=logging.WARNING, **fields)
        return rejection_answer(rejection)


def _set(name: str, value: Any) -> dict[str, Any]:
    return {"action": "setCustomField", "name": name, "value": value}
