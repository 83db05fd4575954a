"""Yotpo behind the provider port: `YotpoClient`'s calls, limiter and errors, unchanged.

`send` makes exactly the call the reconciler made before the port (Create Order, Create
Refund, Create/Update Customer, points adjust) or the customer sync made (Create/Update
Customer, Set Customer Birthday), on the same client, so the account's rate
limiter, the `bounded()` time budget and the error taxonomy (`YotpoTransientError`,
`YotpoRateLimited`, `YotpoPermanentError`) are Yotpo's own. Yotpo documents no idempotency
key and no answer to a repeated order or refund (`DedupMode.NONE`), so `was_applied` can tell
only for a member upsert (Fetch Customer Details shows the member's email).
Pages: https://loyaltyapi.yotpo.com/reference/ + create-order, create-refund,
createupdate-customer-records, adjust-a-customers-point-balance, set-customer-birthday,
fetch-customer-details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.customers.writeback_diff import member_state as yotpo_member_state
from shared.domain.providers.port import OpKind
from shared.domain.providers.yotpo import (
    PROVIDER,
    YOTPO_CAPABILITIES,
    YOTPO_RENDERER,
    YotpoRenderer,
)
from shared.domain.yotpo_fields import YotpoFields as F
from shared.errors import PermanentError
from shared.providers.adapter import AccountAdapter
from shared.providers.port import MemberState, SendOutcome
from shared.providers.registry import ProviderContext, ProviderFactory
from shared.ratelimit import ARRIVAL_GUARD_SECONDS, RateLimiter
from shared.settings import YotpoAccount
from shared.yotpo import YotpoClient


class YotpoProvider(AccountAdapter[YotpoClient]):
    """One Yotpo account (`account_key`: `default` or a store key) and its client."""

    PROVIDER = PROVIDER
    CAPABILITIES = YOTPO_CAPABILITIES

    @property
    def renderer(self) -> YotpoRenderer:
        return YOTPO_RENDERER

    def send(
        self, kind: OpKind, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> SendOutcome:
        # Yotpo has no idempotency key (DedupMode.NONE): `idempotency_key` is not sent.
        if kind == "order":
            self._client.create_order(payload)
        elif kind == "refund":
            self._client.create_refund(payload)
        elif kind == "customer":
            self._client.upsert_customer(payload)
        elif kind == "reward_return":
            self._client.adjust_points(payload)
        elif kind == "birthday":
            self._client.set_customer_birthday(payload)
        else:  # a ledger written by a newer version of the connector
            raise PermanentError(f"unknown operation kind {kind!r}")
        return SendOutcome.SENT

    def was_applied(self, kind: OpKind, payload: Mapping[str, Any]) -> bool | None:
        """A member upsert is applied when Yotpo's member by that id has that email; nothing
        else can be looked up (no order or refund read in Yotpo's API reference)."""
        if kind != "customer":
            return None
        member_id, email = payload.get(F.ID), payload.get(F.EMAIL)
        if not isinstance(member_id, str) or not isinstance(email, str):
            return None
        found = self._client.get_customer(customer_id=member_id, with_referral_code=False)
        if found is None:
            return False
        told = found.get(F.EMAIL)
        return isinstance(told, str) and told.strip().lower() == email.strip().lower()

    def member_state(
        self,
        *,
        member_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> MemberState | None:
        found = self._client.get_customer(customer_id=member_id, email=email, phone_number=phone)
        if found is None:
            return None
        state = yotpo_member_state(found)
        link = found.get(F.REFERRAL_LINK)
        told_email = found.get(F.EMAIL)
        return MemberState(
            member_id=member_id,
            email=told_email if isinstance(told_email, str) else None,
            points_balance=state.points_balance,
            tier=state.vip_tier,
            tier_ends_at=state.tier_ends_at,
            referral_code=state.referral_code,
            referral_link=link if isinstance(link, str) else None,
            raw=dict(found),
        )

    def bounded(self, budget_seconds: float, *, max_retries: int | None = None) -> YotpoProvider:
        return YotpoProvider(
            self._key, self._client.bounded(budget_seconds, max_retries=max_retries)
        )


def _build(key: str, account: YotpoAccount, context: ProviderContext) -> YotpoProvider:
    """A provider on its own client. (`build_runtime` shares one client between stores of one
    Yotpo account instead, so they share its rate limit.)"""
    rate = context.rate_share(YOTPO_CAPABILITIES.rate_limit_per_second)
    client = YotpoClient(
        guid=account.guid,
        api_key=account.api_key.get_secret_value(),
        api_url=account.api_url,
        rate_limit_per_second=rate,
        limiter=RateLimiter(rate, guard_seconds=ARRIVAL_GUARD_SECONDS),
        session=context.session(PROVIDER),
    )
    return YotpoProvider(key, client)


FACTORY = ProviderFactory(name=PROVIDER, account_model=YotpoAccount, build=_build)
