"""Yotpo's rewards behind the rewards port (`shared/providers/rewards.py`), on the account's
`YotpoClient` (its rate limiter, time budget and errors).

- The member: the id `MEMBER_ID_SOURCE` gives the commercetools customer
  (docs/adr/0010-member-identity.md), else the customer record's own email (a member Yotpo
  made from guest orders before the customer was synced); Fetch Customer Details,
  https://loyaltyapi.yotpo.com/reference/fetch-customer-details.
- The rewards: the redemption options Yotpo offers the member now; the in-store-only ones are
  those Yotpo lists under `is_offline=true`
  (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options).
- The decision: `shared/domain/checkout/redemption.redeemable`
  (docs/adr/0090-one-set-of-redemption-rules.md).
- Redeem: Create Redemption (https://loyaltyapi.yotpo.com/reference/create-redemption);
  `deferred` is `delay_points_deduction`. Cancel: approve the redemption's cancellation with
  its code as `reward_text`
  (https://loyaltyapi.yotpo.com/reference/approve-redemption-cancellation).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from shared.domain.checkout.redemption import (
    Approval,
    Channel,
    RedemptionError,
    Rejection,
    find_option,
    is_offline,
    is_option_id,
    option_kind,
    redeemable,
    whole_number,
)
from shared.domain.customers.member_identity import MemberIdentity, member_id
from shared.domain.customers.writeback_diff import member_state as yotpo_member_state
from shared.domain.values import text
from shared.errors import PermanentError, YotpoPermanentError
from shared.logs import log_event
from shared.providers.port import MemberState
from shared.providers.rewards import (
    NotReversible,
    Redeemed,
    RewardAsk,
    RewardGone,
    RewardMember,
    RewardsAdapter,
    RewardsSetup,
    RewardView,
    in_store_key,
)
from shared.providers.yotpo import YotpoProvider
from shared.yotpo import YotpoClient
from shared.yotpo import YotpoFields as F

logger = logging.getLogger(__name__)

A = TypeVar("A")
B = TypeVar("B")

# The second of two independent Yotpo calls of one request runs here; each call is bounded by
# the caller's budget (`bounded`), so a hanging Yotpo cannot hold a thread longer.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="yotpo-rewards")


def _together(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Both results, `second` run on the pool in the caller's context (correlation id); the
    first error when either fails (after both have ended)."""
    pending = _POOL.submit(contextvars.copy_context().run, second)
    try:
        one = first()
    except BaseException:
        pending.exception()  # wait: no call outlives the request that made it
        raise
    return one, pending.result()


class YotpoRewards(RewardsAdapter[YotpoProvider]):
    """`RewardsAccount` of one Yotpo account."""

    def __init__(self, provider: YotpoProvider, setup: RewardsSetup | None = None) -> None:
        super().__init__(provider, setup)
        self._client: YotpoClient = provider.client

    @property
    def client(self) -> YotpoClient:
        return self._client

    def id_refusal(self, reward_id: str | None) -> Rejection | None:
        if is_option_id(reward_id):
            return None
        return Rejection(RedemptionError.UNKNOWN_OPTION, "not an option id")

    # --- the member ----------------------------------------------------------------------------
    def presumed(self, customer: Mapping[str, Any], identity: MemberIdentity) -> RewardMember:
        return RewardMember(
            customer_id=str(customer["id"]),
            member_id=member_id(customer, identity),
            email=_email(customer),
            balance=None,
        )

    def find_member(
        self, customer: Mapping[str, Any], identity: MemberIdentity
    ) -> RewardMember | None:
        presumed = self.presumed(customer, identity)
        with_code = self._setup.full_member
        profile = self._client.get_customer(
            customer_id=presumed.member_id, with_referral_code=with_code
        )
        found_by: Any = "member_id"
        if profile is None and presumed.email:
            profile = self._client.get_customer(email=presumed.email, with_referral_code=with_code)
            found_by = "email"
        if profile is None:
            return None
        return RewardMember(
            customer_id=presumed.customer_id,
            member_id=presumed.member_id,
            email=presumed.email,
            balance=whole_number(profile.get(F.POINTS_BALANCE)) or 0,
            profile=profile,
            found_by=found_by,
        )

    def state(self, member: RewardMember) -> MemberState:
        told = yotpo_member_state(member.profile)
        link = text(member.profile.get(F.REFERRAL_LINK), limit=2048)
        return MemberState(
            member_id=member.member_id,
            email=member.email,
            points_balance=member.balance,
            tier=told.vip_tier,
            tier_ends_at=told.tier_ends_at,
            referral_code=told.referral_code,
            referral_link=link,
            raw=dict(member.profile),
        )

    def tiers(self) -> Sequence[Mapping[str, Any]]:
        # https://loyaltyapi.yotpo.com/reference/fetch-vip-tiers (`name`, `rank`, ...)
        return self._client.vip_tiers()

    # --- the rewards ---------------------------------------------------------------------------
    def offers(
        self, member: RewardMember, *, channel: Channel, in_store_only: bool = False
    ) -> Sequence[Mapping[str, Any]]:
        who = _lookup(member)
        if in_store_only:
            # Yotpo's own filter lists the in-store options (and only those).
            return self._client.redemption_options(**who, is_offline=True)
        if channel is Channel.IN_STORE:
            # The till redeems any option Yotpo offers the member.
            return self._client.redemption_options(**who)
        cached = self._cached_in_store_ids()
        if cached is None:
            # Online the in-store-only ids (one call naming no member) are read at the same
            # time as the member's options: one round trip, not two.
            offered, in_store = _together(
                lambda: self._client.redemption_options(**who), self._in_store_ids
            )
        else:
            offered, in_store = self._client.redemption_options(**who), cached
        return [o for o in offered if str(o.get(F.ID)) not in in_store]

    def _cached_in_store_ids(self) -> frozenset[str] | None:
        cache = self._setup.cache
        found = cache.fresh(in_store_key(self.account_key)) if cache is not None else None
        return frozenset(str(o.get("id")) for o in found) if found is not None else None

    def _in_store_ids(self) -> frozenset[str]:
        """The ids Yotpo lists under `is_offline=true`, through the caller's cache."""

        def load() -> list[dict[str, Any]]:
            return [{"id": i} for i in sorted(self._client.offline_option_ids())]

        cache = self._setup.cache
        found = cache.get(in_store_key(self.account_key), load) if cache else load()
        return frozenset(str(o.get("id")) for o in found)

    def _catalogue(self) -> Sequence[Mapping[str, Any]]:
        def load() -> list[dict[str, Any]]:
            return list(self._client.redemption_options())

        cache = self._setup.cache
        return cache.get(self.account_key, load) if cache is not None else load()

    def view(self, offer: Mapping[str, Any], *, currency: str | None) -> RewardView:
        return RewardView(
            id=str(offer.get(F.ID)),
            name=text(offer.get("name"), limit=256),
            description=text(offer.get("description"), limit=2048) or "",
            cost_text=text(offer.get("cost_text"), limit=256),
            points=whole_number(offer.get(F.AMOUNT)),
            kind=option_kind(offer),
            amount_minor=whole_number(offer.get("discount_amount_cents")),
            percentage=offer.get("discount_percentage"),
            minimum_minor=whole_number(offer.get(F.CART_GREATER_THAN)),
            # An option names its currency only in some programs; else the till's or base's.
            currency=text(offer.get(F.CURRENCY), limit=3) or currency,
            offline=is_offline(offer),
        )

    def decide(
        self, member: RewardMember, offers: Sequence[Mapping[str, Any]], ask: RewardAsk
    ) -> Approval | Rejection:
        offered = find_option(offers, ask.reward_id) is not None
        every: Sequence[Mapping[str, Any]] | None = None
        if not offered and member.balance is not None:
            # Only to say *why* (the refusal path): an in-store reward online, an unknown
            # reward, or not enough points.
            if ask.channel is Channel.ONLINE and ask.reward_id in self._in_store_ids():
                return Rejection(RedemptionError.NOT_ELIGIBLE, "an in-store reward")
            every = list(self._catalogue())
        return redeemable(
            ask.reward_id,
            channel=ask.channel,
            offered=offers,
            all_options=every,
            balance=member.balance,
            points=ask.points,
            currency=ask.currency,
            base_currency=self._setup.base_currency,
            basket=ask.basket,
        )

    # --- redeem and give back ------------------------------------------------------------------
    def redeem(
        self, member: RewardMember, approval: Approval, ask: RewardAsk, *, deferred: bool
    ) -> Redeemed:
        payload: dict[str, Any] = {
            **_payload_identity(member, ask.channel),
            F.REDEMPTION_OPTION_ID: int(approval.option_id),
            F.DELAY_POINTS_DEDUCTION: deferred,
        }
        if ask.currency:
            # Yotpo converts the reward into this currency (Create Redemption, `currency`).
            payload[F.CURRENCY] = ask.currency
        if approval.kind == "variable" and approval.points:
            payload[F.POINTS_TO_REDEEM] = approval.points
        answer = self._client.create_redemption(payload)
        redemption_id = text(answer.get(F.ID), limit=64, numbers=True)
        if redemption_id is None:
            # Points may have left the member for a redemption nobody can name, so nobody can
            # give back: an operator looks in Yotpo's admin.
            log_event(
                logger,
                "rewards.orphan_redemption",
                level=logging.ERROR,
                provider=self.provider,
                account=self.account_key,
                option_id=approval.option_id,
                outcome="needs_operator",
            )
            raise PermanentError("Yotpo answered a redemption without its id")
        return Redeemed(
            redemption_id=redemption_id,
            code=text(answer.get(F.REWARD_TEXT), limit=256, numbers=True),
            answer=answer,
            deferred=deferred,
        )

    def cancel(self, redeemed: Redeemed) -> int | None:
        try:
            answer = self._client.cancel_redemption(
                redeemed.redemption_id, reward_text=redeemed.code or None
            )
        except YotpoPermanentError as exc:
            if exc.status == 404:
                raise RewardGone(
                    f"Yotpo knows no redemption {redeemed.redemption_id}", status=404
                ) from None
            raise NotReversible(
                f"Yotpo refused to cancel redemption {redeemed.redemption_id} ({exc.status})",
                status=exc.status,
            ) from None
        return whole_number(answer.get(F.AMOUNT)) if isinstance(answer, Mapping) else None


def _email(customer: Mapping[str, Any]) -> str | None:
    return text(customer.get("email"), limit=320)


def _lookup(member: RewardMember) -> dict[str, str]:
    """Keyword arguments of `YotpoClient` look-ups: the key that found the member."""
    if member.found_by == "email" and member.email:
        return {"email": member.email}
    return {"customer_id": member.member_id}


def _payload_identity(member: RewardMember, channel: Channel) -> dict[str, str]:
    """The member in a Create Redemption body. Found by email: the email alone. Online the
    checkout has always sent the email beside the member id; the till sends one key."""
    if member.found_by == "email" and member.email:
        return {F.CUSTOMER_EMAIL: member.email}
    found = {F.CUSTOMER_ID: member.member_id}
    if channel is Channel.ONLINE and member.email:
        found[F.CUSTOMER_EMAIL] = member.email
    return found


def make_rewards(provider: YotpoProvider, setup: RewardsSetup) -> YotpoRewards:
    return YotpoRewards(provider, setup)


REWARDS = make_rewards
