"""What a loyalty provider's `MemberState` (the provider port) means for a commercetools
customer's loyalty fields: the half of the write-back that speaks to the port.

The one write-back (`shared.customers.writeback.CustomerWriteback`, ADR 0097) asks every
provider, Yotpo included, through `LoyaltyProvider.member_state`. Three rules live here:

- `member_keys`: which identifiers the member is asked by. Every provider gets the customer's
  member id (`member_id(customer, identity)`, docs/adr/0010-member-identity.md). The email goes
  too, so a provider that finds its members by email (Voyado: a contact is found by its email,
  or by `customKey` when that key holds the external id, ADR 0085) can find them, except for a
  provider whose look-up takes exactly one identifier and keys its members on that id: Yotpo's
  Fetch Customer Details takes one of `customer_id`, `customer_email`, `phone_number`
  (https://loyaltyapi.yotpo.com/reference/fetch-customer-details), and Yotpo's members are
  created under the member id (https://loyaltyapi.yotpo.com/reference/createupdate-customer-records).
  So Yotpo is asked `GET /customers?customer_id=<member id>&with_referral_code=true`.
- `field_state`: what the port's `MemberState` leaves out is left alone. `plan_writeback`
  reads a `None` as "the field must be absent" (it removes a tier the customer shows, and
  with VIP_TIER_GROUPS the group). A provider without tiers (`Capabilities.tiers` false,
  Voyado: no tier API is documented) therefore gets the tier fields the customer already has
  and no group policy, so neither is touched. The same holds for the referral code
  (`Capabilities.referrals`) and for a points balance the provider did not give
  (`points_balance=None`: the contact has no point account yet, or Yotpo's answer held no
  readable balance; neither says anything about the balance the customer shows).
- `bounded_provider`: the provider's calls end by the caller's deadline (a webhook answers
  within its sender's timeout, the nightly run within its budget); a budget already used up
  is `ProviderWritebackTimeout`, which the nightly run does not count as the provider failing
  (`job/nightly_outages.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.domain import values
from shared.domain.customers.writeback_diff import (
    MemberState as FieldState,
)
from shared.domain.customers.writeback_diff import (
    current_fields,
    parse_datetime,
)
from shared.domain.loyalty_fields import CustomerFields
from shared.domain.providers.yotpo import PROVIDER as YOTPO
from shared.errors import TransientError
from shared.providers.port import LoyaltyProvider, MemberState

# Providers asked by the member id alone (see the module docstring: one identifier per look-up).
MEMBER_ID_ONLY = frozenset({YOTPO})


class ProviderWritebackTimeout(TransientError):
    """The time budget ran out before the provider could be asked (try again later)."""


def member_keys(provider: LoyaltyProvider, member: str, email: str | None) -> dict[str, Any]:
    """The keyword identifiers `provider.member_state` is called with."""
    if provider.name in MEMBER_ID_ONLY:
        return {"member_id": member}
    return {"member_id": member, "email": email}


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


def bounded_provider(
    provider: LoyaltyProvider, deadline: float | None, monotonic: Callable[[], float]
) -> LoyaltyProvider:
    """`provider`, its calls ending by `deadline` (a `monotonic()` time; None: no deadline)."""
    if deadline is None:
        return provider
    remaining = deadline - monotonic()
    if remaining <= 0:
        raise ProviderWritebackTimeout("write-back time budget used up")
    return provider.bounded(remaining)
