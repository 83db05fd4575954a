"""Rewards at the till: list what a customer can redeem, redeem one for a code, reverse it.

Everything goes through the store's rewards account (`shared/providers/rewards.py`, routed by
`runtime.provider_for_store`), so a Yotpo store and a Voyado store are served by the same desk
(docs/adr/0098-rewards-through-the-port.md):

- Yotpo: the rewards are the redemption options Yotpo offers the member; a redemption spends
  the points at once (`delay_points_deduction: false`: the code is used within minutes at the
  till, and a delayed code would keep the points spendable online meanwhile); a reversal is
  Yotpo's redemption cancellation.
- Voyado: the rewards are the contact's available reward vouchers; a redemption redeems the
  voucher now (the till is its use); a reversal reactivates it. No points move at the till:
  the voucher's points left the balance when Voyado made it.

Redemption ids given to terminals are not the provider's (Yotpo's are small sequential
integers any key could walk through) but random tokens naming a record in
`yotpo-loyalty-pos-redemptions`: the provider's redemption id and code, and the key, store and
account that redeemed. A reversal finds that record and refuses anything another store or
account created — or that was never a POS redemption, such as an online checkout's
(docs/adr/0063-pos-keys-stay-in-their-store.md). A reversal claims the record first (written
at the version read), so one request, and only one, gives a redemption back. Records keep the
names they were first written with (`yotpoRedemptionId`, `accountGuid`) for Yotpo redemptions,
so records of earlier versions (and these, read by an earlier version) still reverse; every
record also carries the neutral `providerRedemptionId`, `account` and `provider`.

Which reward, its points, its currency and its value follow the same rules, with the same
error codes, as the online checkout: the provider's `decide`
(docs/adr/0090-one-set-of-redemption-rules.md). The HTTP status of each code is the till's own
(`problems.REDEMPTION_STATUS`).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from service.instore.access import Principal
from service.instore.commerce import CustomerDirectory, account_identity
from service.instore.members import find_member
from service.instore.models import RedemptionRequest, ReversalRequest
from service.instore.problems import Problem, redemption_problem
from service.instore.replays import Answer, RequestLog, fingerprint
from service.redemption_undo import give_back
from shared.commercetools import CommercetoolsClient
from shared.domain.checkout.redemption import (
    Approval,
    Channel,
    RedemptionError,
    Rejection,
    currency_refusal,
    program_currency,
    settled_face,
    whole_number,
)
from shared.domain.customers.member_identity import MemberIdentity
from shared.errors import ConcurrentModificationError, PermanentError, describe
from shared.logs import log_event
from shared.providers.rewards import (
    NotReversible,
    Redeemed,
    RewardAsk,
    RewardGone,
    RewardMember,
    RewardsAccount,
    RewardView,
    rewards_account,
)
from shared.runtime import ProviderRoute, Runtime

logger = logging.getLogger(__name__)

# A terminal waits for the associate's screen: answer (or fail) well within a human's patience.
PROVIDER_BUDGET_SECONDS = 8.0
RECORDS_CONTAINER = "yotpo-loyalty-pos-redemptions"
# 144 random bits, URL- and custom-object-key-safe (`[-_A-Za-z0-9]`).
_TOKEN_BYTES = 18
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{24}$")

# Record fields: the names Yotpo records were first written with, and the neutral ones.
LEGACY_REDEMPTION_ID = "yotpoRedemptionId"
LEGACY_ACCOUNT = "accountGuid"
REDEMPTION_ID = "providerRedemptionId"
ACCOUNT = "account"
PROVIDER = "provider"
# A reversal claims its record before it calls the provider (`reversedBy`, version-checked),
# and notes the outcome after (`reversedAt`, `reversedPoints`): a redemption is given back
# once, never again by another request, concurrent or later (a Voyado voucher reactivated,
# then used online again, must not be reactivated by a second reversal).
REVERSED_BY = "reversedBy"
REVERSED_AT = "reversedAt"
REVERSED_POINTS = "reversedPoints"


def new_redemption_token() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


def record_redemption_id(record: Mapping[str, Any]) -> str | None:
    """The provider's redemption id of a record, whichever version wrote it."""
    for name in (REDEMPTION_ID, LEGACY_REDEMPTION_ID):
        value = record.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def record_account(record: Mapping[str, Any]) -> str | None:
    """The account that made a record's redemption, whichever version wrote it."""
    for name in (ACCOUNT, LEGACY_ACCOUNT):
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
    return None


@dataclass(frozen=True)
class StoredRecord:
    value: dict[str, Any]
    version: int


class RedemptionRecords:
    """Which POS key, store and provider account created each in-store redemption, and
    whether (and by which request) it was reversed."""

    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def create(self, token: str, value: dict[str, Any]) -> None:
        # version 0: create only; a token collision (2^-144) fails loudly instead of overwriting.
        self._ct.put_custom_object(RECORDS_CONTAINER, token, value, version=0)

    def find(self, token: str) -> dict[str, Any] | None:
        found = self.find_stored(token)
        return found.value if found is not None else None

    def find_stored(self, token: str) -> StoredRecord | None:
        if not TOKEN_PATTERN.match(token):
            return None
        found = self._ct.get_custom_object(RECORDS_CONTAINER, token)
        value = found.get("value") if isinstance(found, dict) else None
        version = found.get("version") if isinstance(found, dict) else None
        if not isinstance(value, dict) or not isinstance(version, int):
            return None
        return StoredRecord(value, version)

    def write(self, token: str, value: dict[str, Any], version: int) -> StoredRecord:
        """Replace the record at the version read (a concurrent write makes this raise
        ConcurrentModificationError); the record as stored now."""
        written = self._ct.put_custom_object(RECORDS_CONTAINER, token, value, version=version)
        new_version = written.get("version") if isinstance(written, dict) else None
        return StoredRecord(value, new_version if isinstance(new_version, int) else version + 1)


def reward_view(rewards: RewardsAccount, offer: Mapping[str, Any], currency: str | None) -> dict:
    """A reward as the till shows it (amounts in minor units of `currency`), the same fields
    for a Yotpo option and a Voyado voucher."""
    return asdict(rewards.view(offer, currency=currency))


class RedemptionDesk:
    def __init__(
        self,
        runtime: Runtime,
        directory: CustomerDirectory,
        requests: RequestLog,
        records: RedemptionRecords | None = None,
        identity: MemberIdentity | None = None,
        base_currency: str | None = None,
    ) -> None:
        self._runtime = runtime
        # REWARD_BASE_CURRENCY: the currency Yotpo's option amounts are in (ADR 0023).
        self._base_currency = base_currency
        self._directory = directory
        self._requests = requests
        self._records = records or RedemptionRecords(runtime.commercetools)
        self._identity = identity or MemberIdentity()

    @property
    def identity(self) -> MemberIdentity:
        """Who a customer is in the provider (MEMBER_ID_SOURCE); lookups use the same."""
        return self._identity

    def route(self, principal: Principal) -> ProviderRoute:
        route = self._runtime.provider_for_store(principal.store)
        if route is None:  # register_instore checks this at start-up; config may still drift
            raise Problem(503, "not_configured", "no loyalty program serves this store")
        return route

    def rewards(self, principal: Principal, *, shown: bool = False) -> RewardsAccount:
        """The store's rewards account within the till's budget. `shown`: the member as the
        associate sees it (referral code, balance); redeeming reads only what it needs."""
        route = self.route(principal)
        found = rewards_account(
            route.provider,
            base_currency=self._default_currency(route),
            full_member=shown,
        )
        if found is None:
            raise Problem(503, "not_configured", "this store's loyalty program has no rewards")
        return found.bounded(PROVIDER_BUDGET_SECONDS)

    def member(self, rewards: RewardsAccount, customer: Mapping[str, Any]) -> RewardMember:
        return find_member(rewards, customer, self._identity)

    def _default_currency(self, route: ProviderRoute) -> str | None:
        """The program's base currency, when known: the till's currency if it names none."""
        return program_currency(self._base_currency, route.currencies)

    # --- rewards ---------------------------------------------------------------------------
    def list_rewards(
        self, principal: Principal, customer_id: str, offline_only: bool
    ) -> dict[str, Any]:
        customer = self._directory.by_id(principal, customer_id)
        rewards = self.rewards(principal, shown=True)
        member = self.member(rewards, customer)
        # Yotpo: its `is_offline=true` filter lists the in-store options
        # (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options); a Voyado
        # voucher is usable in stores and online alike.
        offers = rewards.offers(member, channel=Channel.IN_STORE, in_store_only=offline_only)
        currency = self._default_currency(self.route(principal))
        views = [reward_view(rewards, o, currency) for o in offers]
        return {
            "customer_id": customer_id,
            "points_balance": member.balance or 0,
            "rewards": [v for v in views if not offline_only or v["offline"]],
        }

    # --- redemption ------------------------------------------------------------------------
    def redeem(self, principal: Principal, request: RedemptionRequest) -> Answer:
        digest = fingerprint("redemption", request.model_dump())
        replay = self._requests.recall(principal, request.request_id, digest)
        if replay is not None:
            return replay
        route = self.route(principal)
        currency = request.currency or self._default_currency(route)
        if currency:
            not_taken = currency_refusal(currency, route.currencies)
            if not_taken is not None:
                raise redemption_problem(not_taken, f"the loyalty program does not use {currency}")
        rewards = self.rewards(principal)
        refused_id = rewards.id_refusal(request.option_id)
        if refused_id is not None:
            raise redemption_problem(refused_id)
        customer = self._directory.by_id(principal, request.customer_id)
        member = self.member(rewards, customer)
        ask = RewardAsk(
            reward_id=request.option_id,
            channel=Channel.IN_STORE,
            currency=currency,
            points=request.points,
            basket=None,  # the till has no basket yet: minimums apply where the code is used
        )
        offers = rewards.offers(member, channel=Channel.IN_STORE)
        decision = rewards.decide(member, offers, ask)
        if isinstance(decision, Rejection):
            raise redemption_problem(decision)
        wanted = decision.option_id.lower()
        option = next((o for o in offers if str(o.get("id")).lower() == wanted), {})
        try:
            redeemed = rewards.redeem(member, decision, ask, deferred=False)
        except PermanentError as exc:
            # The provider's words stay in the log: the answer goes to a till screen.
            log_event(
                logger,
                "pos.redemption_refused",
                level=logging.WARNING,
                key_id=principal.key_id,
                option_id=request.option_id,
                provider=rewards.provider,
                error=describe(exc),
                outcome="refused",
            )
            raise redemption_problem(RedemptionError.REDEMPTION_REFUSED) from None
        shown = rewards.view(option, currency=currency)
        return self._answer(
            principal, request, digest, route, rewards, member, decision, redeemed, shown
        )

    def _answer(
        self,
        principal: Principal,
        request: RedemptionRequest,
        digest: str,
        route: ProviderRoute,
        rewards: RewardsAccount,
        member: RewardMember,
        approval: Approval,
        redeemed: Redeemed,
        shown: RewardView,
    ) -> Answer:
        """Record the redemption and keep its answer; give it back when that fails or a
        concurrent copy of the request won."""
        currency = request.currency or self._default_currency(route)
        told = redeemed.answer.get("currency")
        token = new_redemption_token()
        body = {
            "redemption_id": token,
            "code": redeemed.code,
            "amount_minor": settled_face(approval, redeemed.answer, currency),
            "currency": (told if isinstance(told, str) and told else None)
            or currency
            or shown.currency,
            "points": approval.points,
            "customer_id": request.customer_id,
            "option_id": request.option_id,
        }
        try:
            if redeemed.code is None:
                raise redemption_problem(
                    RedemptionError.REDEMPTION_REFUSED,
                    "the loyalty program answered without a code",
                )
            record = self._record(principal, route, rewards, member, body, redeemed)
            self._records.create(token, record)
            answer, ours = self._requests.keep(
                principal, request.request_id, digest, Answer(201, body)
            )
        except Exception:
            # Unrecorded, a retry would redeem again: give this redemption back now.
            self._undo(rewards, principal, redeemed, "not_recorded")
            raise
        if not ours:
            # A concurrent copy of this request won; its code is the one the till shows.
            self._undo(rewards, principal, redeemed, "lost_race")
            return answer
        log_event(
            logger,
            "pos.redemption",
            key_id=principal.key_id,
            store=principal.store,
            customer_id=request.customer_id,
            option_id=request.option_id,
            redemption_id=token,
            provider=rewards.provider,
            provider_redemption_id=redeemed.redemption_id,
            points=approval.points,
            request_id=request.request_id,
            outcome="redeemed",
        )
        return answer

    @staticmethod
    def _record(
        principal: Principal,
        route: ProviderRoute,
        rewards: RewardsAccount,
        member: RewardMember,
        body: Mapping[str, Any],
        redeemed: Redeemed,
    ) -> dict[str, Any]:
        account = account_identity(route)
        record: dict[str, Any] = {
            REDEMPTION_ID: redeemed.redemption_id,
            "code": body["code"],
            "keyId": principal.key_id,
            "store": principal.store,
            PROVIDER: rewards.provider,
            ACCOUNT: account,
            "customerId": body["customer_id"],
            # The provider's member the reward left (MEMBER_ID_SOURCE may make it differ).
            "memberId": member.member_id,
            "points": body["points"],
            "at": datetime.now(UTC).isoformat(),
        }
        if rewards.provider == "yotpo":
            # Stored names of earlier versions, so a rolled-back version still reverses it.
            record[LEGACY_REDEMPTION_ID] = redeemed.redemption_id
            record[LEGACY_ACCOUNT] = account
        return record

    def _undo(
        self, rewards: RewardsAccount, principal: Principal, redeemed: Redeemed, reason: str
    ) -> None:
        # A failure leaves the reward spent for a code nobody was shown: an operator acts.
        give_back(
            logger,
            lambda: rewards.cancel(redeemed),
            failed="pos.redemption_orphaned",
            done="pos.redemption_undone",
            errors=(Exception,),
            failed_level=logging.ERROR,
            done_level=logging.WARNING,
            done_outcome="reversed",
            key_id=principal.key_id,
            redemption_id=redeemed.redemption_id,
            reason=reason,
        )

    # --- reversal --------------------------------------------------------------------------
    def reverse(self, principal: Principal, redemption_id: str, request: ReversalRequest) -> Answer:
        digest = fingerprint("reversal", {"redemption_id": redemption_id})
        replay = self._requests.recall(principal, request.request_id, digest)
        if replay is not None:
            return replay
        stored = self._records.find_stored(redemption_id)
        record = stored.value if stored is not None else None
        route = self.route(principal)
        provider_id = record_redemption_id(record) if record is not None else None
        if (
            stored is None
            or record is None
            or provider_id is None
            or record.get("store") != principal.store
            or record_account(record) != account_identity(route)
        ):
            # Another store's, an online checkout's, or none at all: the same answer for each.
            raise redemption_problem(
                RedemptionError.UNKNOWN_REDEMPTION, "no redemption with this id"
            )
        me = f"{principal.key_id}:{request.request_id}"
        claimed = self._claim(redemption_id, stored, me)
        if REVERSED_AT in claimed.value:
            # This request's own earlier attempt reversed it and lost its answer.
            points = whole_number(claimed.value.get(REVERSED_POINTS))
        else:
            try:
                returned = self._give_back(principal, record, provider_id)
            except BaseException:
                self._release(redemption_id, claimed, record)
                raise
            points = returned if returned is not None else whole_number(record.get("points"))
            done = {
                **claimed.value,
                REVERSED_POINTS: points,
                REVERSED_AT: datetime.now(UTC).isoformat(),
            }
            try:
                self._records.write(redemption_id, done, claimed.version)
            except Exception as exc:
                # Given back, and claimed by this request: no other request can reverse it
                # again; only this request's retry would not find the points it returned.
                log_event(
                    logger,
                    "pos.reversal_not_noted",
                    level=logging.WARNING,
                    key_id=principal.key_id,
                    redemption_id=redemption_id,
                    error=describe(exc),
                    outcome="reversed",
                )
        body = {"redemption_id": redemption_id, "status": "reversed", "points": points}
        answer, _ = self._requests.keep(principal, request.request_id, digest, Answer(200, body))
        log_event(
            logger,
            "pos.reversal",
            key_id=principal.key_id,
            store=principal.store,
            redemption_id=redemption_id,
            provider=record.get(PROVIDER) or "yotpo",
            points=body["points"],
            request_id=request.request_id,
            outcome="reversed",
        )
        return answer

    def _claim(self, token: str, stored: StoredRecord, me: str) -> StoredRecord:
        """The record claimed for this reversal request; 409 not_reversible when another
        request claimed (or reversed) it first."""
        held = stored.value.get(REVERSED_BY)
        if held == me:
            return stored
        if held is not None:
            raise redemption_problem(RedemptionError.NOT_REVERSIBLE, "already reversed")
        try:
            return self._records.write(token, {**stored.value, REVERSED_BY: me}, stored.version)
        except ConcurrentModificationError:
            again = self._records.find_stored(token)
            if again is not None and again.value.get(REVERSED_BY) == me:
                return again
            raise redemption_problem(RedemptionError.NOT_REVERSIBLE, "already reversed") from None

    def _release(self, token: str, claimed: StoredRecord, original: dict[str, Any]) -> None:
        """Give up this request's claim after the provider did not give the reward back, so
        the reversal can be tried again (best effort: a claim left behind refuses others)."""
        try:
            self._records.write(token, dict(original), claimed.version)
        except Exception as exc:
            log_event(
                logger,
                "pos.reversal_claim_kept",
                level=logging.WARNING,
                redemption_id=token,
                error=describe(exc),
                outcome="needs_operator",
            )

    def _give_back(
        self, principal: Principal, record: Mapping[str, Any], provider_id: str
    ) -> int | None:
        """Cancel the provider's redemption; the points it returned, when it says."""
        rewards = self.rewards(principal)
        code = record.get("code")
        made = Redeemed(provider_id, code if isinstance(code, str) else None, deferred=False)
        try:
            return rewards.cancel(made)
        except RewardGone:
            raise redemption_problem(RedemptionError.UNKNOWN_REDEMPTION) from None
        except NotReversible:
            raise redemption_problem(
                RedemptionError.NOT_REVERSIBLE,
                "the redemption cannot be reversed (already used on an order?)",
            ) from None
