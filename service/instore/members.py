"""A commercetools customer's loyalty membership, and what a store associate may be shown of it.

The till always starts from the commercetools customer (found by id, email or phone); the
member is then found through the store's rewards account (`shared/providers/rewards.py`):
named by `member_id(customer, identity)` (`MEMBER_ID_SOURCE`, docs/adr/0010-member-identity.md),
the same id the event app sends orders under, else by the customer record's own email. Yotpo's
member or Voyado's contact alike; what a provider does not hold (Voyado: tiers, referrals) is
shown as null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.instore.problems import conflict, not_found
from shared.domain import values
from shared.domain.customers.member_identity import MemberIdentity
from shared.logs import mask_email
from shared.providers.port import MemberState
from shared.providers.rewards import AmbiguousMember, RewardMember, RewardsAccount

# Yotpo's customer answer: what the next tier needs (fetch-customer-details).
_UPGRADE_REQUIREMENTS = "vip_tier_upgrade_requirements"


def find_member(
    rewards: RewardsAccount,
    customer: Mapping[str, Any],
    identity: MemberIdentity | None = None,
) -> RewardMember:
    """The customer's member: by member id, else by email (a member the provider made from
    guest orders before the customer was synced); 404 when the provider knows neither."""
    try:
        found = rewards.find_member(customer, identity or MemberIdentity())
    except AmbiguousMember:
        raise conflict(
            "ambiguous_member",
            "several loyalty members hold this customer's details; merge them in the loyalty "
            "program first",
        ) from None
    if found is None:
        raise not_found(
            "not_a_member", "the customer exists but is not a member of the loyalty program"
        )
    return found


def _name(customer: Mapping[str, Any]) -> str | None:
    parts = [customer.get("firstName"), customer.get("lastName")]
    return " ".join(t for p in parts if (t := values.text(p)) is not None) or None


def masked(email: Any) -> str | None:
    return mask_email(email) if isinstance(email, str) and email else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def needs_next_tier_name(profile: Mapping[str, Any]) -> bool:
    """Whether the member record's upgrade requirements (Yotpo's) leave the next tier unnamed
    (the answer gives what is needed, not for which tier). A provider without them: False."""
    needs = profile.get(_UPGRADE_REQUIREMENTS)
    return isinstance(needs, Mapping) and not needs.get("tier_name")


def next_tier_name(tiers: Sequence[Mapping[str, Any]], current: Any) -> str | None:
    """The tier above `current` by rank in the program's tiers (the lowest one without a
    tier)."""
    ranked = sorted(
        (t for t in tiers if isinstance(t, Mapping) and isinstance(t.get("rank"), int)),
        key=lambda t: t["rank"],
    )
    here = next((t["rank"] for t in ranked if t.get("name") == current), None)
    above = [t for t in ranked if here is None or t["rank"] > here]
    name = above[0].get("name") if above else None
    return name if isinstance(name, str) else None


def _progress(profile: Mapping[str, Any], next_tier: str | None = None) -> dict[str, Any] | None:
    needs = profile.get(_UPGRADE_REQUIREMENTS)
    if not isinstance(needs, Mapping):
        return None  # top tier, the provider did not say, or it has no tiers
    return {
        "next_tier": needs.get("tier_name") or next_tier,
        "points_needed": needs.get("points_needed"),
        "amount_minor_needed": needs.get("amount_cents_needed"),
        "purchases_needed": needs.get("purchases_needed"),
    }


def customer_summary(
    customer: Mapping[str, Any],
    member: RewardMember,
    state: MemberState,
    next_tier: str | None = None,
) -> dict[str, Any]:
    """What the till shows: never the full email or a phone number."""
    return {
        "customer_id": member.customer_id,
        "name": _name(customer),
        "email": masked(customer.get("email")),
        "points_balance": _int(member.balance),
        "vip_tier": state.tier,
        "vip_tier_progress": _progress(state.raw, next_tier),
        "referral_code": state.referral_code,
    }


def candidate(customer: Mapping[str, Any]) -> dict[str, Any]:
    """One of several customers a lookup matched, shown so the associate can ask which."""
    return {
        "customer_id": str(customer["id"]),
        "name": _name(customer),
        "email": masked(customer.get("email")),
    }
