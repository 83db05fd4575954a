"""Write a loyalty provider's `MemberState` onto its commercetools customer, whatever the provider.

The Yotpo path (`shared.customers.writeback.CustomerWriteback`) reads Yotpo's own member
record; this one asks the provider port (`LoyaltyProvider.member_state`) and so serves every
provider, Voyado first (ADR 0085: its webhooks and its balance read-back). The steps, per
customer, are the same as Yotpo's:

1. the customer as it is now (given, or read by id); its version guards the write;
2. the member as the provider has it now, named by the customer's email and member id
   (`member_id(customer, identity)`, docs/adr/0010-member-identity.md);
3. the pure diff (`shared.domain.customers.writeback_diff.plan_writeback`); nothing to change,
   no write;
4. the update with the customer's version. A lost race (409 ConcurrentModification) starts
   again at 1, so the last writer always holds the provider's freshest answer and a late
   webhook cannot put an older balance over a newer one.

What the port's `MemberState` leaves out is left alone. `plan_writeback` reads a `None` as "the
field must be absent" (it removes a tier the customer shows, and with VIP_TIER_GROUPS the
group). A provider without tiers (`Capabilities.tiers` false, Voyado: no tier API is
documented) therefore gets the tier fields the customer already has and no group policy, so
neither is touched. The same holds for the referral code (`Capabilities.referrals`) and for a
points balance the provider did not give (`points_balance=None`: the contact has no point
account yet, which says nothing about a balance the customer shows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.commercetools import CommercetoolsClient
from shared.customers.writeback import WritebackResult
from shared.customers.writeback_loop import Planned, WritebackTargets, write_until_settled
from shared.domain import values
from shared.domain.customers.member_identity import MemberIdentity, member_id
from shared.domain.customers.writeback_diff import (
    GroupPolicy,
    TypeTarget,
    current_fields,
    parse_datetime,
    plan_writeback,
)
from shared.domain.customers.writeback_diff import (
    MemberState as FieldState,
)
from shared.domain.loyalty_fields import CustomerFields
from shared.errors import (
    NotFoundError,
    TransientError,
)
from shared.logs import log_event
from shared.providers.port import LoyaltyProvider, MemberState

logger = logging.getLogger(__name__)


class ProviderWritebackTimeout(TransientError):
    """The time budget ran out before the provider could be asked (try again later)."""


def field_state(
    customer: Mapping[str, Any], state: MemberState, provider: LoyaltyProvider
) -> FieldState:
    """The wanted loyalty fields: the provider's values where it gives them, the customer's own
    where it cannot (no tiers, no referrals) or did not (no balance)."""
    current = current_fields(customer)
    capabilities = provider.capabilities
    if capabilities.tiers:
        tier, tier_ends_at = state.tier, state.tier_ends_at
    else:
        tier = values.text(current.get(CustomerFields.VIP_TIER), numbers=True)
        tier_ends_at = parse_datetime(current.get(CustomerFields.TIER_ENDS_AT))
    if capabilities.referrals:
        referral = state.referral_code
    else:
        referral = values.text(current.get(CustomerFields.REFERRAL_CODE), numbers=True)
    points = state.points_balance
    if points is None:
        stored = current.get(CustomerFields.POINTS_BALANCE)
        is_number = isinstance(stored, int | float) and not isinstance(stored, bool)
        points = int(stored) if is_number and float(stored).is_integer() else None
    return FieldState(
        points_balance=points, vip_tier=tier, tier_ends_at=tier_ends_at, referral_code=referral
    )


class ProviderWriteback:
    """The write-back of any `LoyaltyProvider` (the provider is given per call: one customer is
    served by the account of its store)."""

    def __init__(
        self,
        commercetools: CommercetoolsClient,
        *,
        type_key: str,
        tier_groups: Mapping[str, str] | None = None,
        identity: MemberIdentity | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ct = commercetools
        self._identity = identity or MemberIdentity()
        self._now = now
        self._monotonic = monotonic
        # A missing group is asked for again on every customer (no retry pause here).
        self._targets = WritebackTargets(
            commercetools, type_key=type_key, tier_groups=tier_groups, monotonic=monotonic
        )

    @property
    def identity(self) -> MemberIdentity:
        return self._identity

    # --- entry points --------------------------------------------------------------------------
    def sync(
        self, customer_id: str, provider: LoyaltyProvider, *, deadline: float | None = None
    ) -> WritebackResult:
        """Write back one customer, read by id."""
        try:
            customer = self._ct.get_by_id("customers", customer_id)
        except NotFoundError:
            return WritebackResult(customer_id, "customer_gone")
        return self.sync_customer(customer, provider, deadline=deadline)

    def sync_customer(
        self,
        customer: Mapping[str, Any],
        provider: LoyaltyProvider,
        *,
        deadline: float | None = None,
    ) -> WritebackResult:
        """Write back one customer as just read. Raises TransientError (the provider or
        commercetools may answer later) or PermanentError (configuration, or a provider that
        cannot tell who the member is, e.g. Voyado's MultipleMatches)."""
        customer_id = str(customer["id"])

        def plan_round(customer: Mapping[str, Any]) -> Planned | WritebackResult:
            target = self.target()  # a configuration problem costs no provider call
            email = values.text(customer.get("email"))
            member = member_id(customer, self._identity)
            state = self._provider(provider, deadline).member_state(member_id=member, email=email)
            if state is None:
                log_event(
                    logger,
                    "writeback.not_a_member",
                    customer_id=customer_id,
                    provider=provider.name,
                    account=provider.account_key,
                    outcome="skipped",
                )
                return WritebackResult(customer_id, "not_a_member")
            wanted = field_state(customer, state, provider)
            tiers = provider.capabilities.tiers
            groups = self._targets.groups(wanted.vip_tier) if tiers else GroupPolicy()
            plan = plan_writeback(customer, wanted, target, groups, self._now())
            return Planned(
                plan,
                unchanged_fields={"provider": provider.name},
                updated_fields={"provider": provider.name, "account": provider.account_key},
            )

        return write_until_settled(self._ct, logger, customer, plan_round, WritebackResult)

    # --- configuration lookups -----------------------------------------------------------------
    def target(self) -> TypeTarget:
        """The custom type that carries the fields (looked up once; install creates it)."""
        return self._targets.target()

    def _provider(self, provider: LoyaltyProvider, deadline: float | None) -> LoyaltyProvider:
        if deadline is None:
            return provider
        remaining = deadline - self._monotonic()
        if remaining <= 0:
            raise ProviderWritebackTimeout("write-back time budget used up")
        return provider.bounded(remaining)
