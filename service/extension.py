"""The cart API Extension: the I/O around the pure checkout rules.

Budget: commercetools waits `EXTENSION_TIMEOUT_MS` (2 s by default) for the answer.
- Updates that do not concern loyalty answer from the cart's custom fields alone.
- Keeping an applied reward consistent costs one quick commercetools read (was its code
  cancelled by Yotpo?); a reward that leaves the cart is also cancelled in Yotpo.
- A new redemption talks to Yotpo only, through a client bounded by `LOYALTY_CALL_BUDGET_MS`:
  the customer and the options offered to them at once, then the redemption. When the Yotpo
  member id is not the commercetools id (`MEMBER_ID_SOURCE`, docs/adr/0010-member-identity.md)
  it first reads the customer from commercetools, once, inside the same budget and alongside
  the Yotpo call that needs no member.
A failure after Yotpo created a redemption cancels it, so no rejected update leaves a code
(or, with immediate deduction, spent points) behind.

A store served by Voyado Engage (`runtime.provider_for_store`) asks for a reward voucher in the
same field: its contact and available vouchers are read (service/provider_checkout.py), the
voucher is validated (shared/domain/checkout/vouchers.py) and applied with the same seal and
actions; nothing is redeemed until the order is paid (docs/adr/0095).
Refusals carry a `loyaltyError` code and a fixed message, never upstream text. When it fails
open or closed: docs/adr/0021.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from service.cancellations import CancelledCodes
from service.options_cache import OptionsCache
from service.provider_checkout import VoyadoCheckout, customer_email, voyado_checkout
from service.redemption_undo import give_back
from service.settings import ServiceSettings
from service.yotpo_calls import cancel_redemption, in_background, together
from shared.commercetools import CommercetoolsClient
from shared.domain.checkout.cart import (
    AppliedReward,
    Approval,
    CartFacts,
    CheckoutConfig,
    CheckoutMember,
    LoyaltyError,
    Rejection,
    Step,
    cart_facts,
    checkout_member,
    concerns_loyalty,
    evaluate,
    maintain_plan,
    precheck,
    redeem_actions,
    settle_amount,
    triage,
)
from shared.domain.checkout.redemption import currency_refusal
from shared.domain.checkout.reward_state import seal_key
from shared.domain.checkout.vouchers import decide_voucher, is_voucher_id, voucher_approval
from shared.domain.customers.member_identity import MemberIdentity
from shared.errors import NotFoundError, PermanentError, TransientError, describe
from shared.logs import log_event
from shared.runtime import ProviderRoute, Runtime, YotpoRoute, commercetools_client
from shared.yotpo import YotpoClient

logger = logging.getLogger(__name__)

# The customer read on the redemption path: a few hundred milliseconds at most, no retry, so
# what is left of the budget still covers the Yotpo calls.
_CUSTOMER_READ_TIMEOUT = 0.5


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


class MemberNotFound(PermanentError):
    """The checkout's customer does not exist in commercetools (deleted, or never was)."""


class MemberLookup:
    """The Yotpo member of a checkout's commercetools customer.

    With the default `MEMBER_ID_SOURCE=id` it is the customer id itself: no I/O. Otherwise the
    customer is read from commercetools (its `externalId` or custom field is not on the cart,
    and the cart's own fields are the shopper's to write), with a short timeout and no retry.
    """

    def __init__(
        self, identity: MemberIdentity, commercetools: CommercetoolsClient | None = None
    ) -> None:
        self._identity = identity
        self._ct = commercetools

    @property
    def identity(self) -> MemberIdentity:
        return self._identity

    @property
    def reads(self) -> bool:
        """Whether finding the member costs a commercetools read."""
        return self._identity.needs_customer

    def member(self, customer_id: str, email: str | None) -> CheckoutMember:
        """Raises TransientError (commercetools unavailable) or PermanentError (no customer)."""
        customer: dict[str, Any] | None = None
        if self.reads:
            if self._ct is None:
                raise PermanentError("no commercetools client to read the customer")
            try:
                customer = self._ct.get_by_id("customers", customer_id)
            except NotFoundError:
                customer = None
        found = checkout_member(customer_id, email, self._identity, customer)
        if found is None:
            raise MemberNotFound("the checkout's customer does not exist")
        return found


def member_lookup(
    settings: ServiceSettings, commercetools: CommercetoolsClient | None = None
) -> MemberLookup:
    """The lookup the cart and order extensions share. Pass the checkout's commercetools client
    (short timeout, no retry; its token is already warm); without one, a client of its own is
    made when the identity source needs the customer."""
    identity = settings.member_identity()
    if not identity.needs_customer:
        return MemberLookup(identity)
    if commercetools is None:
        timeout = min(_CUSTOMER_READ_TIMEOUT, settings.loyalty_call_budget_ms / 3000)
        commercetools = commercetools_client(settings, timeout=timeout, max_retries=0)
    return MemberLookup(identity, commercetools)


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


def base_currency(route: YotpoRoute, configured: str | None) -> str | None:
    """The program's base currency: configured, else the account's one currency, else unknown
    (then only percentage rewards without a minimum can be valued)."""
    if configured:
        return configured
    currencies = route.account.currencies
    return next(iter(currencies)) if len(currencies) == 1 else None


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
        self._options = options or OptionsCache(settings.redemption_options_cache_seconds)
        self._base_currency = settings.reward_base_currency
        self._clock = clock or (lambda: datetime.now(UTC))
        # Voyado stores only: the customer record's own email finds the member's contact
        # (the cart's `customerEmail` is the shopper's to write). Short timeout, no retry.
        if customers is None and runtime.providers and not self._members.reads:
            timeout = min(_CUSTOMER_READ_TIMEOUT, settings.loyalty_call_budget_ms / 3000)
            customers = commercetools_client(settings, timeout=timeout, max_retries=0)
        self._customers = customers

    @property
    def config(self) -> CheckoutConfig:
        return self._config

    @property
    def members(self) -> MemberLookup:
        """Shared with the order-creation handler (service/order_guard.py)."""
        return self._members

    def handle(self, cart: dict[str, Any]) -> ExtensionAnswer:
        """Raises InvalidCart (a ValueError) for a cart commercetools could not have sent."""
        if not concerns_loyalty(cart):
            return NO_ACTIONS  # no parsing of lines, no I/O
        facts = cart_facts(cart, self._config.seal_key)
        step = triage(facts)
        if step is Step.NOTHING:
            return NO_ACTIONS
        other = self._other_provider(facts.store_key)
        if other is not None:
            if step is Step.MAINTAIN:
                return self._maintain(facts, redeemed_in_provider=False)
            return self._redeem_voucher(facts, other)
        if step is Step.MAINTAIN:
            return self._maintain(facts)
        return self._redeem(facts)

    def _other_provider(self, store_key: str | None) -> ProviderRoute | None:
        """The store's account when a provider other than Yotpo serves it (in memory)."""
        if not self._runtime.providers:
            return None
        route = self._runtime.provider_for_store(store_key)
        return route if route is not None and route.yotpo is None else None

    # --- keeping an applied reward consistent ------------------------------------------------
    def _maintain(self, facts: CartFacts, *, redeemed_in_provider: bool = True) -> ExtensionAnswer:
        """`redeemed_in_provider` False (a Voyado voucher): nothing was redeemed at the cart,
        so there is no cancelled code to look up and nothing to release when it goes."""
        applied = facts.applied
        cancelled = False
        if applied is not None and facts.requested_option is not None and redeemed_in_provider:
            try:
                cancelled = self._cancelled.contains(applied.code)
            except (TransientError, PermanentError) as exc:
                # Fail open: the order-creation check asks Yotpo again before the reward is
                # used, so a missed cancellation cannot become a free discount.
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
        if plan.dropped is not None and redeemed_in_provider:
            self._release(facts, plan.dropped, reason=plan.status or "dropped")
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
        *,
        reason: str,
        client: YotpoClient | None = None,
    ) -> None:
        """A reward left the cart: cancel it in Yotpo (its points return, or stop being held)
        and record its code so a replayed seal cannot bring it back."""
        if reward.redemption_id is None:
            return
        route = self._runtime.yotpo_for_store(facts.store_key)
        in_background(lambda: remember_released(logger, self._cancelled, reward, cart_id=facts.id))

        def cancel() -> None:
            yotpo = client
            if yotpo is None:
                if route is None:
                    raise PermanentError("no Yotpo account serves this store")
                yotpo = route.client.bounded(self._budget)
            cancel_redemption(yotpo, reward)

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
    def _redeem(self, facts: CartFacts) -> ExtensionAnswer:
        route = self._runtime.yotpo_for_store(facts.store_key)
        rejection = precheck(facts, route.account.currencies if route else None, self._config)
        if rejection is not None or route is None:
            return self._reject(facts, rejection or Rejection(LoyaltyError.NOT_ELIGIBLE))
        client = route.client.bounded(self._budget)
        try:
            member, decision = self._decide(client, route, facts)
            if isinstance(decision, Rejection):
                return self._reject(facts, decision)
            redemption = client.create_redemption(self._redemption_payload(member, facts, decision))
        except TransientError as exc:
            return self._reject(facts, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            return self._reject(facts, Rejection(LoyaltyError.NOT_ELIGIBLE), exc)
        try:
            settled = settle_amount(facts, decision, redemption)
            if isinstance(settled, Rejection):
                self._undo(client, facts, redemption)
                return self._reject(facts, settled)
            actions = redeem_actions(facts, settled, redemption, self._config)
        except Exception as exc:
            self._undo(client, facts, redemption)
            return self._reject(facts, Rejection(LoyaltyError.UNAVAILABLE), exc)
        if facts.applied is not None:
            # What is left of this call's budget, not a fresh one.
            self._release(facts, facts.applied, reason="replaced", client=client)
        log_event(
            logger,
            "checkout.reward_applied",
            cart_id=facts.id,
            option_id=settled.option_id,
            amount=settled.amount,
            currency=facts.currency,
            points=settled.points,
            account=route.key,
            outcome="applied",
        )
        return ExtensionAnswer(200, {"actions": actions}, "applied")

    # --- a Voyado reward voucher --------------------------------------------------------------
    def _redeem_voucher(self, facts: CartFacts, route: ProviderRoute) -> ExtensionAnswer:
        """Validate the requested voucher against the contact's available ones and apply it;
        nothing is redeemed in Voyado (that happens after payment, redemption_ops.py)."""
        if not facts.customer_id or not facts.email:
            return self._reject(facts, Rejection(LoyaltyError.CUSTOMER_REQUIRED))
        if not is_voucher_id(facts.requested_option):
            # Before any call: junk in the field costs Voyado nothing.
            return self._reject(facts, Rejection(LoyaltyError.UNKNOWN_OPTION, "not a voucher id"))
        refused = currency_refusal(facts.currency, route.currencies)
        if refused is not None:
            return self._reject(facts, refused)
        if (
            self._config.strategy == "direct-discount"
            and self._config.stacking == "exclusive"
            and facts.discount_codes
        ):
            return self._reject(facts, Rejection(LoyaltyError.DISCOUNT_CODE_CONFLICT))
        checkout = voyado_checkout(route.provider, self._budget)
        if checkout is None:
            return self._reject(facts, Rejection(LoyaltyError.NOT_ELIGIBLE, "no checkout"))
        try:
            available = self._vouchers(checkout, facts.customer_id, facts.email)
        except TransientError as exc:
            return self._reject(facts, Rejection(LoyaltyError.UNAVAILABLE), exc)
        except PermanentError as exc:
            return self._reject(facts, Rejection(LoyaltyError.NOT_ELIGIBLE), exc)
        if available is None:
            return self._reject(facts, Rejection(LoyaltyError.NOT_ELIGIBLE, "no contact"))
        decision = decide_voucher(
            facts.requested_option,
            available=available,
            currency=facts.currency,
            merchandise=facts.merchandise,
            now=self._clock(),
        )
        if isinstance(decision, Rejection):
            return self._reject(facts, decision)
        # The seal keeps the voucher id as the redemption id (the order path reads it from
        # there) and its number as the code; never delayed: there are no Yotpo points.
        issued = {"reward_text": decision.number or decision.id, "id": decision.id}
        config = replace(self._config, delay_points_deduction=False)
        actions = redeem_actions(facts, voucher_approval(decision), issued, config)
        log_event(
            logger,
            "checkout.reward_applied",
            cart_id=facts.id,
            option_id=decision.id,
            amount=decision.amount_minor,
            currency=facts.currency,
            account=route.key,
            provider=route.provider.name,
            outcome="applied",
        )
        return ExtensionAnswer(200, {"actions": actions}, "applied")

    def _vouchers(
        self, checkout: VoyadoCheckout, customer_id: str, email: str | None
    ) -> list[dict[str, Any]] | None:
        """The member's available vouchers (None: no contact). Raises Transient/Permanent."""
        member = self._members.member(customer_id, email)
        if self._members.reads:
            trusted = member.email  # the customer record's own (checkout_member)
            read_email: Callable[[], str | None] = lambda: trusted  # noqa: E731
        elif self._customers is not None:
            customers = self._customers
            read_email = lambda: customer_email(customers, customer_id)  # noqa: E731
        else:
            read_email = lambda: None  # noqa: E731
        contact_id = checkout.find_contact(member.member_id, read_email)
        if contact_id is None:
            return None
        return checkout.list_rewards(contact_id)

    def _undo(self, client: YotpoClient, facts: CartFacts, redemption: dict[str, Any]) -> None:
        """Cancel a redemption this call created and will not apply."""
        redemption_id = redemption.get("id") if isinstance(redemption, dict) else None
        if redemption_id is None:
            log_event(
                logger,
                "checkout.orphan_redemption",
                level=logging.ERROR,
                cart_id=facts.id,
                outcome="needs_operator",
            )
            return
        code = redemption.get("reward_text")
        orphan = AppliedReward(
            code=str(code or ""),
            amount=0,
            option_id="",
            kind="fixed",
            customer_id=facts.customer_id,
            redemption_id=str(redemption_id),
        )
        give_back(
            logger,
            lambda: cancel_redemption(client, orphan),
            failed="checkout.orphan_redemption",
            done="checkout.redemption_undone",
            failed_level=logging.ERROR,
            cart_id=facts.id,
            redemption_id=str(redemption_id),
        )

    def _decide(
        self, client: YotpoClient, route: YotpoRoute, facts: CartFacts
    ) -> tuple[CheckoutMember, Approval | Rejection]:
        # One round trip: the customer, the options offered to them and (unless cached) the
        # in-store-only option ids, which Yotpo lists only under `is_offline=true`
        # (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options). When the
        # member id comes from the customer record, its read comes first, alongside the
        # in-store ids (the one Yotpo call that names no member).
        if facts.customer_id is None:
            raise PermanentError("the cart has no customer")  # precheck refuses these first
        customer_id = facts.customer_id
        offline_key = f"{route.key}#offline"
        offline_cached = self._options.fresh(offline_key)

        def fetch_offline() -> list[dict[str, Any]]:
            return self._options.get(
                offline_key,
                lambda: [{"id": i} for i in sorted(client.offline_option_ids())],
            )

        pending_offline = fetch_offline if offline_cached is None else None
        if self._members.reads and pending_offline is not None:
            member, offline_cached = together(
                lambda: self._members.member(customer_id, facts.email), pending_offline
            )
            pending_offline = None
        else:
            member = self._members.member(customer_id, facts.email)
        calls: list[Any] = [
            lambda: client.get_customer(customer_id=member.member_id, with_referral_code=False),
            lambda: client.redemption_options(customer_id=member.member_id),
        ]
        if pending_offline is not None:
            calls.append(pending_offline)
        customer, offered, *rest = together(*calls)
        offline = {str(o.get("id")) for o in (rest[0] if rest else offline_cached or [])}
        if facts.requested_option in offline:
            return member, Rejection(LoyaltyError.NOT_ELIGIBLE, "an in-store reward")
        balance = None
        if isinstance(customer, dict):
            raw = customer.get("points_balance")
            balance = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
        offered = [o for o in offered if isinstance(o, dict) and str(o.get("id")) not in offline]
        base = base_currency(route, self._base_currency)
        if balance is not None and not any(
            str(o.get("id")) == facts.requested_option for o in offered
        ):
            # Only to tell the shopper *why*: unknown reward, or not enough points.
            every = self._options.get(route.key, lambda: list(client.redemption_options()))
            return member, evaluate(
                facts, offered=offered, balance=balance, all_options=every, base_currency=base
            )
        return member, evaluate(facts, offered=offered, balance=balance, base_currency=base)

    def _redemption_payload(
        self, member: CheckoutMember, facts: CartFacts, decision: Approval
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            # The Yotpo member; the sealed reward keeps the commercetools id (redeem_actions).
            "customer_id": member.member_id,
            "customer_email": member.email,
            "redemption_option_id": int(decision.option_id),
            "delay_points_deduction": self._config.delay_points_deduction,
            # Yotpo converts the reward into this currency (Create Redemption, `currency`).
            "currency": facts.currency,
        }
        if decision.kind == "variable":
            payload["points_to_redeem"] = decision.points
        return payload

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
