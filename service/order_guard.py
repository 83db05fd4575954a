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

Consumption is idempotent per cart. commercetools may still refuse the order after this handler
answered (another order extension says 400, a concurrent placement gets 409, a timeout;
https://docs.commercetools.com/api/projects/api-extensions runs extensions without
dependencies concurrently). So every immediate redemption is recorded before the answer in a
connector-only custom object (`ConsumptionRecords`, container `yotpo-loyalty-consumptions`,
key derived from the cart id, created with `version: 0`,
https://docs.commercetools.com/api/projects/custom-objects#create-or-update-customobject).
A retry of the same cart reuses the recorded redemption instead of spending the points again;
`job/consumptions.py` gives back the points of records whose order never appeared
(docs/adr/0022-reward-consumed-at-order-placement.md).

Every provider goes through its rewards account (`shared/providers/rewards.py`,
docs/adr/0098-rewards-through-the-port.md), and where they differ it is a capability
(`RedemptionMode`, service/checkout_rewards.py). A provider that redeems only after payment
(`Capabilities.redemption_commit_after_payment`, a Voyado Engage reward voucher) consumes
nothing at placement (docs/adr/0095-voyado-vouchers-at-checkout.md): the handler asks the
provider again whether the sealed reward is still among the member's offers (it may have been
used in a store since) and claims it for this cart (`VoucherClaims`, service/voucher_claims.py),
so no second order can carry it before the first is paid; either failing refuses the order,
and the provider unreachable refuses it too (fail closed, as above).

commercetools calls API Extensions on order creation (ExtensionResourceTypeId `order`,
https://docs.commercetools.com/api/projects/api-extensions) and applies the returned update
actions to the order before it is persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from service.cancellations import CancelledCodes
from service.checkout_rewards import (
    MemberLookup,
    RedemptionMode,
    StoreRewards,
    given_back,
    redemption_mode,
    still_offered,
)
from service.concurrent_calls import in_background
from service.consumption_records import (
    CONSUMPTIONS_CONTAINER,
    PENDING,
    RELEASE_FAILED,
    RELEASED,
    RELEASING,
    Consumption,
    ConsumptionRecords,
    consumption_key,
)
from service.extension import NO_ACTIONS, ExtensionAnswer, refuse, remember_released
from service.options_cache import OptionsCache
from service.redemption_undo import give_back
from service.voucher_claims import VoucherClaims
from shared.commercetools import CommercetoolsClient
from shared.domain import values
from shared.domain.checkout.cart import CheckoutConfig, LoyaltyError, Rejection, concerns_loyalty
from shared.domain.checkout.redemption import Approval, Channel
from shared.domain.checkout.reward_state import AppliedReward, seal, unseal
from shared.domain.loyalty_fields import OWNED_CART_FIELDS
from shared.domain.loyalty_fields import CartFields as F
from shared.errors import ConcurrentModificationError, PermanentError, TransientError, describe
from shared.logs import log_event
from shared.providers.rewards import Redeemed, RewardAsk, RewardsAccount
from shared.runtime import ProviderRoute, Runtime

logger = logging.getLogger(__name__)

# The records moved to service/consumption_records.py; these names stay importable from here.
__all__ = [
    "CONSUMED",
    "CONSUMPTIONS_CONTAINER",
    "PENDING",
    "RELEASED",
    "RELEASE_FAILED",
    "RELEASING",
    "Consumption",
    "ConsumptionRecords",
    "OrderGuard",
    "consumption_key",
]

CONSUMED = "consumed"

# Giving back a surplus redemption runs after the answer; the provider gets this long for it.
_GIVE_BACK_SECONDS: Final = 10.0


class OrderGuard:
    def __init__(
        self,
        config: CheckoutConfig,
        runtime: Runtime,
        cancelled: CancelledCodes,
        budget_seconds: float,
        members: MemberLookup | None = None,
        consumptions: ConsumptionRecords | None = None,
        clock: Callable[[], datetime] | None = None,
        claims: VoucherClaims | None = None,
        customers: CommercetoolsClient | None = None,
        rewards: StoreRewards | None = None,
    ) -> None:
        self._config = config
        self._runtime = runtime
        self._cancelled = cancelled
        self._budget = budget_seconds
        # Pass records on the checkout's quick commercetools client (service/app.py).
        self._consumptions = consumptions or ConsumptionRecords(runtime.commercetools)
        self._clock = clock or (lambda: datetime.now(UTC))
        # Pass the checkout extension's lookup (its client has the checkout's short timeout);
        # without one, a source that needs the customer reads it through the runtime's client.
        self._members = members or MemberLookup(
            config.identity, runtime.commercetools if config.identity.needs_customer else None
        )
        # Pass the checkout extension's (`CheckoutExtension.rewards`: the same cached lists).
        self._rewards = rewards or StoreRewards(OptionsCache(), None)
        # Rewards claimed at placement (after payment): the claims and the customer record's
        # own email (to find a member that is looked up), on the same quick client as the
        # consumption records.
        quick = self._consumptions.commercetools
        self._claims = claims or VoucherClaims(quick)
        self._customers = customers or quick

    def handle(self, order: dict[str, Any]) -> ExtensionAnswer:
        """Raises InvalidCart (a ValueError) for custom fields of an impossible shape."""
        if not concerns_loyalty(order):
            return NO_ACTIONS
        fields = (order.get("custom") or {}).get("fields") or {}
        cart = order.get("cart")
        cart_id = values.text(cart.get("id")) if isinstance(cart, Mapping) else None
        order_ref = values.text(order.get("orderNumber")) or values.text(order.get("id"))
        if cart_id is None:
            # Not made from a cart (an import): no checkout applied anything to it.
            return NO_ACTIONS
        applied = unseal(fields.get(F.REWARD_SEAL), cart_id, self._config.seal_key)
        # Any connector-owned field without a seal that opens was written by someone else.
        owned = any(fields.get(name) is not None for name in OWNED_CART_FIELDS)
        if applied is None:
            if not owned:
                return NO_ACTIONS  # a request that never became a reward
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "unsealed reward fields"),
            )
        if applied.customer_id != values.text(order.get("customerId")):
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "customer changed"),
            )
        store = order.get("store")
        store_key = values.text(store.get("key")) if isinstance(store, Mapping) else None
        route = self._runtime.provider_for_store(store_key)  # in memory
        rewards = self._rewards.of(route)
        mode = redemption_mode(rewards.capabilities if rewards else None, self._config)
        if route is not None and rewards is not None and mode.after_payment:
            return self._claim(order_ref, cart_id, applied, route, rewards)
        if applied.delayed:
            if route is None or rewards is None:
                return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.NOT_ELIGIBLE))
            return self._consume(order_ref, cart_id, applied, route, rewards, mode)
        return self._check_still_valid(order_ref, cart_id, applied)

    # --- a reward redeemed after payment (a Voyado reward voucher) ---------------------------
    def _claim(
        self,
        order_ref: str | None,
        cart_id: str,
        applied: AppliedReward,
        route: ProviderRoute,
        found: RewardsAccount,
    ) -> ExtensionAnswer:
        """The sealed reward must still be offered to the order's customer and not be claimed
        by another cart's order; nothing is redeemed (after payment, ADR 0095)."""
        reward_id = applied.redemption_id
        if (
            reward_id is None
            or applied.customer_id is None
            or found.id_refusal(reward_id) is not None
        ):
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "not a sealed reward"),
            )
        rewards = found.bounded(self._budget)
        customer_id = applied.customer_id
        try:
            # `handle` checked that the seal's customer is the order's customer.
            customer, _ = self._members.customer(rewards, customer_id, self._customers)
            member = rewards.find_member(customer, self._members.identity)
            offers = rewards.offers(member, channel=Channel.ONLINE) if member is not None else []
        except TransientError as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            return self._refuse(
                order_ref, cart_id, Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE), exc
            )
        if not still_offered(reward_id, offers):
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "reward not available"),
            )
        try:
            claimed = self._claims.claim(reward_id, cart_id, customer_id, self._clock())
        except (TransientError, PermanentError) as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        if claimed == "taken":
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "voucher on another order"),
            )
        log_event(
            logger,
            "checkout.voucher_claimed",
            order=order_ref,
            cart_id=cart_id,
            voucher_id=reward_id,
            account=route.key,
            provider=rewards.provider,
            outcome=claimed,
        )
        return NO_ACTIONS

    # --- immediate deduction: the points were spent at the cart --------------------------------
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

    # --- a delayed reward: consumed now --------------------------------------------------------
    def _consume(
        self,
        order_ref: str | None,
        cart_id: str,
        applied: AppliedReward,
        route: ProviderRoute,
        found: RewardsAccount,
        mode: RedemptionMode,
    ) -> ExtensionAnswer:
        if applied.customer_id is None:
            # A redemption always has a customer (precheck); a seal without one is not ours.
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "no customer"),
            )
        rewards = found.bounded(self._budget)
        # The one commercetools read of this path, and only for a cart with a sealed reward:
        # did an earlier placement of this cart, refused after we answered, consume it already?
        try:
            held = self._consumptions.get(cart_id)
        except (TransientError, PermanentError) as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        if held is not None and held.serves(cart_id, applied, route.key):
            # The provider may have cancelled it since (a cancellation request the webhook
            # receiver approved, service/cancellations.py): a cancelled code is never put on
            # an order.
            try:
                gone = self._cancelled.contains(held.code)
            except (TransientError, PermanentError) as exc:
                return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
            if not gone:
                return self._reuse(order_ref, cart_id, applied, held)
        ask = RewardAsk(
            reward_id=applied.option_id, channel=Channel.ONLINE, currency=applied.currency
        )
        try:
            # `handle` checked that the seal's customer is the order's customer. Without a
            # record (the default member id source) the id alone names the member, as it did
            # at the cart: redeeming needs no other call. With the record, the cart may have
            # found the member by the record's own email (`RewardMember.found_by`), so the
            # member is looked up the same way here; so is one whose provider must look it up.
            identity = self._members.identity
            customer, member = self._members.customer(rewards, applied.customer_id, None)
            if member is None or customer.get("email"):
                member = rewards.find_member(customer, identity)
        except TransientError as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            return self._refuse(
                order_ref, cart_id, Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE), exc
            )
        if member is None:
            return self._refuse(
                order_ref,
                cart_id,
                Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE, "not a member"),
            )
        try:
            redeemed = rewards.redeem(member, _sealed_terms(applied), ask, deferred=False)
        except TransientError as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            # Not enough points any more, or the option is gone: this order cannot have it.
            return self._refuse(
                order_ref, cart_id, Rejection(LoyaltyError.REWARD_NO_LONGER_AVAILABLE), exc
            )
        code = redeemed.code
        if code is None:
            self._cancel_quietly(rewards, order_ref, redeemed)
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE))
        consumed = replace(applied, code=code, redemption_id=redeemed.redemption_id, delayed=False)
        now = self._clock()
        mine = Consumption(
            cart_id=cart_id,
            customer_id=applied.customer_id,
            option_id=str(applied.option_id),
            redemption_id=redeemed.redemption_id,
            code=code,
            account=route.key,
            status=PENDING,
            created_at=now,
            touched_at=now,
            replaced_redemption_id=applied.redemption_id,
            # A record that no longer serves (released, another reward) is replaced in place.
            version=held.version if held is not None else 0,
        )
        recorded = self._record(found, order_ref, cart_id, applied, redeemed, mine)
        if recorded is not None:
            return recorded
        # The delayed code is now worth nothing to anyone; cancelling it frees its
        # reservation. Best effort, after the answer is decided.
        if applied.redemption_id is not None:
            self._cancel_quietly(rewards, order_ref, given_back(applied, mode))
        in_background(lambda: remember_released(logger, self._cancelled, applied))
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
        return self._consumed_answer(cart_id, consumed)

    def _record(
        self,
        rewards: RewardsAccount,
        order_ref: str | None,
        cart_id: str,
        applied: AppliedReward,
        redeemed: Redeemed,
        mine: Consumption,
    ) -> ExtensionAnswer | None:
        """Record the new redemption before answering; None when it is recorded, else the
        answer (the winner's redemption after a lost race, or a refusal)."""
        try:
            self._consumptions.write(mine)
            return None
        except ConcurrentModificationError:
            # A concurrent placement of the same cart recorded its redemption first: ours is
            # the surplus one. Give it back and answer with the winner's.
            self._give_back(rewards, order_ref, redeemed)
            try:
                winner = self._consumptions.get(cart_id)
            except (TransientError, PermanentError) as exc:
                return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
            if winner is not None and winner.serves(cart_id, applied, mine.account):
                log_event(
                    logger,
                    "checkout.consumption_race_lost",
                    order=order_ref,
                    cart_id=cart_id,
                    redemption_id=winner.redemption_id,
                    cancelled_redemption_id=mine.redemption_id,
                    outcome="reused",
                )
                return self._consumed_answer(cart_id, self._from_record(applied, winner))
            return self._refuse(
                order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE, "consumption race")
            )
        except (TransientError, PermanentError) as exc:
            write_error = exc
        # The write's answer was lost: it may have landed. A record that names our redemption
        # means it did; no record means it did not, and our redemption is given back.
        try:
            stored = self._consumptions.get(cart_id)
        except (TransientError, PermanentError):
            log_event(
                logger,
                "checkout.consumption_not_recorded",
                level=logging.ERROR,
                order=order_ref,
                cart_id=cart_id,
                redemption_id=mine.redemption_id,
                error=describe(write_error),
                outcome="needs_operator",
            )
            return self._refuse(
                order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), write_error
            )
        if stored is not None and stored.redemption_id == mine.redemption_id:
            return None
        self._give_back(rewards, order_ref, redeemed)
        return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), write_error)

    def _reuse(
        self, order_ref: str | None, cart_id: str, applied: AppliedReward, held: Consumption
    ) -> ExtensionAnswer:
        """A retry of a cart whose earlier order was refused after its reward was consumed:
        the same immediate redemption goes on this order; no points are spent twice."""
        try:
            # Touching the record (versioned) keeps the sweep from releasing a redemption an
            # order is being placed with: whichever write comes second fails.
            self._consumptions.write(replace(held, touched_at=self._clock()))
        except ConcurrentModificationError:
            # The sweep claimed it (or a concurrent retry touched it): look again once.
            try:
                again = self._consumptions.get(cart_id)
            except (TransientError, PermanentError) as exc:
                return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
            if again is None or not again.serves(cart_id, applied, held.account):
                return self._refuse(
                    order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE, "being released")
                )
            held = again
        except (TransientError, PermanentError) as exc:
            return self._refuse(order_ref, cart_id, Rejection(LoyaltyError.UNAVAILABLE), exc)
        log_event(
            logger,
            "checkout.reward_consumption_reused",
            order=order_ref,
            cart_id=cart_id,
            redemption_id=held.redemption_id,
            outcome=CONSUMED,
        )
        return self._consumed_answer(cart_id, self._from_record(applied, held))

    @staticmethod
    def _from_record(applied: AppliedReward, record: Consumption) -> AppliedReward:
        return replace(applied, code=record.code, redemption_id=record.redemption_id, delayed=False)

    def _consumed_answer(self, cart_id: str, consumed: AppliedReward) -> ExtensionAnswer:
        actions = [
            _set(F.REWARD_CODE, consumed.code),
            _set(F.REDEMPTION_ID, consumed.redemption_id),
            _set(F.REWARD_SEAL, seal(consumed, cart_id, self._config.seal_key)),
            _set(F.REWARD_STATUS, CONSUMED),
        ]
        return ExtensionAnswer(200, {"actions": actions}, CONSUMED)

    def _give_back(
        self, rewards: RewardsAccount, order_ref: str | None, redeemed: Redeemed
    ) -> None:
        """Give back a surplus immediate redemption after the answer is decided: in the
        background and on its own budget, so the points come back even when the extension's
        budget is spent and the answer does not wait for it."""
        in_background(
            lambda: self._cancel_quietly(rewards.bounded(_GIVE_BACK_SECONDS), order_ref, redeemed)
        )

    def _cancel_quietly(
        self, rewards: RewardsAccount, order_ref: str | None, redeemed: Redeemed
    ) -> None:
        give_back(
            logger,
            lambda: rewards.cancel(redeemed),
            failed="checkout.redemption_not_cancelled",
            order=order_ref,
            redemption_id=redeemed.redemption_id,
        )

    def _refuse(
        self,
        order_ref: str | None,
        cart_id: str,
        rejection: Rejection,
        exc: Exception | None = None,
    ) -> ExtensionAnswer:
        return refuse(
            logger, "checkout.order_refused", rejection, exc, order=order_ref, cart_id=cart_id
        )


def _set(name: str, value: Any) -> dict[str, Any]:
    return {"action": "setCustomField", "name": name, "value": value}


def _sealed_terms(applied: AppliedReward) -> Approval:
    """The sealed reward's terms, to redeem the same reward again (the seal is the
    connector's own record of what the cart was granted)."""
    return Approval(
        option_id=applied.option_id,
        kind=applied.kind,
        amount=applied.amount,
        points=applied.points,
        percent_bp=applied.percent_bp,
        minimum=applied.minimum,
        face=applied.face,
    )
