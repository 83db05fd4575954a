"""Voyado Engage's reward vouchers behind the rewards port (`shared/providers/rewards.py`), on
the tenant's `VoyadoClient` (its rate limiter, time budget and errors).

- The member is a contact: `GET /api/v3/contacts/id?customKey=` with the member id where the
  tenant's customKey is the externalId the connector writes, else (or when that finds none)
  by the email of the commercetools customer *record*
  (https://developer.voyado.com/en/contacts/identify-contact/find-contact.html). Two contacts
  holding one key is `AmbiguousContact` (permanent: someone merges them in Engage). Its
  balance is the tenant's point account (`point_definition_id`), read only when the caller
  shows it (`RewardsSetup.full_member`).
- The rewards: the contact's available reward vouchers
  (https://voyado.mintlify.app/docs/loyalty/vouchers), the same on every channel. Voyado has
  no points-spend options: a voucher is made from points by the tenant's own model.
- The decision: `shared/domain/checkout/vouchers.decide_voucher`.
- Redeem: online nothing is redeemed before payment ("redeem the promotion after the payment
  has been successfully processed",
  https://developer.voyado.com/en/promotions/introduction-to-promotions.html), so
  `deferred=True` makes no call; the till redeems the voucher now
  (`POST /api/v3/reward-vouchers/{id}/redeem`). Cancel: a redeemed voucher is reactivated
  (`POST .../reactivate`); a deferred one was never redeemed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from shared.domain.checkout.redemption import Approval, Channel, RedemptionError, Rejection
from shared.domain.checkout.vouchers import (
    decide_voucher,
    is_voucher_id,
    read_voucher,
    voucher_approval,
)
from shared.domain.customers.member_identity import MemberIdentity, member_id
from shared.domain.money import MAX_MINOR_UNITS
from shared.domain.values import text
from shared.errors import PermanentError
from shared.providers.port import MemberState
from shared.providers.rewards import (
    AmbiguousMember,
    CodedApproval,
    NotReversible,
    Redeemed,
    RewardAsk,
    RewardGone,
    RewardMember,
    RewardsAdapter,
    RewardsSetup,
    RewardView,
)
from shared.providers.voyado import VoyadoProvider, finite_decimal
from shared.voyado import AmbiguousContact, VoyadoClient, VoyadoPermanentError

CONTACT_ID = "contactId"


class AmbiguousContactMember(AmbiguousContact, AmbiguousMember):
    """Voyado's 409 MultipleMatches, as the rewards port names it (still `AmbiguousContact`)."""


POINT_ACCOUNT = "pointAccount"


class VoyadoRewards(RewardsAdapter[VoyadoProvider]):
    """`RewardsAccount` of one Voyado tenant (API key)."""

    def __init__(self, provider: VoyadoProvider, setup: RewardsSetup | None = None) -> None:
        super().__init__(provider, setup)
        self._client: VoyadoClient = provider.client

    def id_refusal(self, reward_id: str | None) -> Rejection | None:
        # Before any call: junk in the cart field costs the tenant nothing.
        if is_voucher_id(reward_id):
            return None
        return Rejection(RedemptionError.UNKNOWN_OPTION, "not a voucher id")

    # --- the member ----------------------------------------------------------------------------
    def presumed(self, customer: Mapping[str, Any], identity: MemberIdentity) -> None:
        return None  # the vouchers are listed by contact id, which only a look-up gives

    def find_member(
        self, customer: Mapping[str, Any], identity: MemberIdentity
    ) -> RewardMember | None:
        try:
            return self._find_member(customer, identity)
        except AmbiguousContact as exc:
            raise AmbiguousContactMember(
                str(exc), status=exc.status, error_code=exc.error_code
            ) from None

    def _find_member(
        self, customer: Mapping[str, Any], identity: MemberIdentity
    ) -> RewardMember | None:
        customer_id = str(customer["id"])
        member = member_id(customer, identity)
        config = self._provider.renderer.config
        contact_id: str | None = None
        found_by: Any = "member_id"
        if config.custom_key_is_external_id:
            contact_id = self._client.find_contact_id(custom_key=member)
        # The email is read only now, and only when it is needed (no contact by customKey, or a
        # person is shown the member): a caller may hand over a record whose email is still
        # being read from commercetools while the customKey look-up runs (ADR 0095), and a
        # contact found by customKey need not wait for it.
        needs_email = contact_id is None or self._setup.full_member
        email = text(customer.get("email"), limit=320) if needs_email else None
        if contact_id is None and email:
            contact_id = self._client.find_contact_id(email=email)
            found_by = "email"
        if contact_id is None:
            return None
        balance: int | None = None
        profile: dict[str, Any] = {CONTACT_ID: contact_id}
        if self._setup.full_member:
            account = self._point_account(contact_id, config.point_definition_id)
            if account is not None:
                profile[POINT_ACCOUNT] = account
                balance = _points(account.get("balance"))
        return RewardMember(
            customer_id=customer_id,
            member_id=str(contact_id),
            email=email,
            balance=balance,
            profile=profile,
            found_by=found_by,
        )

    def _point_account(self, contact_id: str, definition_id: int) -> dict[str, Any] | None:
        for account in self._client.point_accounts(contact_id):
            if str(account.get("definitionId")) == str(definition_id):
                return account
        return None

    def state(self, member: RewardMember) -> MemberState:
        # Voyado documents no tier or level API and no referral program (ADR 0085).
        return MemberState(
            member_id=member.member_id,
            email=member.email,
            points_balance=member.balance,
            raw=dict(member.profile),
        )

    def tiers(self) -> Sequence[Mapping[str, Any]]:
        return []  # no tier API (capabilities.tiers is False): nothing to ask

    # --- the rewards ---------------------------------------------------------------------------
    def offers(
        self, member: RewardMember, *, channel: Channel, in_store_only: bool = False
    ) -> Sequence[Mapping[str, Any]]:
        # A voucher is usable in stores and online alike: no channel filter to apply.
        return self._client.available_vouchers(member.member_id)

    def view(self, offer: Mapping[str, Any], *, currency: str | None) -> RewardView:
        value = offer.get("value")
        own = text(value.get("currency"), limit=3) if isinstance(value, Mapping) else None
        wanted = currency or own
        voucher = read_voucher(offer, wanted) if wanted else None
        expires = offer.get("expiresOn")
        return RewardView(
            id=str(offer.get("id")),
            name=text(offer.get("name"), limit=256),
            description=text(offer.get("description"), limit=2048) or "",
            cost_text=None,
            # Its points left the balance when Voyado made the voucher: redeeming spends none.
            points=0,
            kind="fixed",
            amount_minor=voucher.amount_minor if voucher is not None else None,
            percentage=None,
            # Used whole, at the till too: its value is its minimum.
            minimum_minor=voucher.amount_minor if voucher is not None else None,
            currency=voucher.currency if voucher is not None else wanted,
            offline=True,
            expires_at=expires if isinstance(expires, str) else None,
        )

    def decide(
        self, member: RewardMember, offers: Sequence[Mapping[str, Any]], ask: RewardAsk
    ) -> Approval | Rejection:
        if ask.channel is Channel.IN_STORE and ask.points is not None:
            # Voyado has no points-spend rewards: a voucher's points left the balance when it
            # was made (as the till's rule for a fixed-cost Yotpo option: points must be its
            # cost, here none).
            return Rejection(RedemptionError.INVALID_POINTS, "a reward voucher spends no points")
        currency = ask.currency or self._setup.base_currency
        if not currency:
            return Rejection(RedemptionError.CURRENCY_NOT_SUPPORTED, "no currency to value it in")
        decision = decide_voucher(
            ask.reward_id,
            available=offers,
            currency=currency,
            # The till has no basket: a voucher is used whole where its number is entered.
            merchandise=ask.basket if ask.basket is not None else MAX_MINOR_UNITS,
            now=ask.now or datetime.now(UTC),
        )
        if isinstance(decision, Rejection):
            return decision
        approval = voucher_approval(decision)
        values = {f.name: getattr(approval, f.name) for f in fields(approval)}
        return CodedApproval(**values, code=decision.number)

    # --- redeem and give back ------------------------------------------------------------------
    def redeem(
        self, member: RewardMember, approval: Approval, ask: RewardAsk, *, deferred: bool
    ) -> Redeemed:
        voucher_id = approval.option_id
        if not is_voucher_id(voucher_id):
            raise PermanentError("not a Voyado voucher id")
        code = getattr(approval, "code", None) or voucher_id
        if deferred:
            return Redeemed(redemption_id=voucher_id, code=code, deferred=True)
        outcome = self._client.redeem_voucher(voucher_id)
        if outcome.outcome != "done":
            # 409 RewardVoucherAlreadyRedeemed: used elsewhere meanwhile, not by this call.
            raise PermanentError("the voucher was already redeemed")
        told = text(outcome.voucher.get("voucherNumber"), limit=64, numbers=True)
        return Redeemed(
            redemption_id=voucher_id, code=told or code, answer=outcome.voucher, deferred=False
        )

    def cancel(self, redeemed: Redeemed) -> int | None:
        if redeemed.deferred:
            return None  # nothing was redeemed in Voyado
        try:
            self._client.reactivate_voucher(redeemed.redemption_id)
        except VoyadoPermanentError as exc:
            if exc.status == 404:
                raise RewardGone("Voyado knows no such voucher", status=404) from None
            raise NotReversible(
                f"Voyado refused to reactivate the voucher ({exc.status} {exc.error_code})",
                status=exc.status,
            ) from None
        # Active again (or already: the documented 409 on a repeat); no points move.
        return None


def _points(value: Any) -> int | None:
    number = finite_decimal(value)
    return math.floor(number) if number is not None else None


def make_rewards(provider: VoyadoProvider, setup: RewardsSetup) -> VoyadoRewards:
    return VoyadoRewards(provider, setup)


REWARDS = make_rewards
