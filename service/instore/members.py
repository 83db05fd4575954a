"""A commercetools customer's Yotpo membership, and what a store associate may be shown of it.

The till always starts from the commercetools customer (found by id, email or phone); the Yotpo
member is then named by `member_id(customer, identity)` (`MEMBER_ID_SOURCE`,
docs/adr/0010-member-identity.md), the same id the event app sends orders under, so a member
migrated with a legacy id is found and redeemed at the till.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.instore.problems import not_found
from shared.domain import values
from shared.domain.customers.member_identity import MemberIdentity, member_id
from shared.logs import mask_email
from shared.yotpo import YotpoClient
from shared.yotpo import YotpoFields as F

_UPGRADE_REQUIREMENTS = "vip_tier_upgrade_requirements"


@dataclass(frozen=True)
class Member:
    """A Yotpo member and the one identifier that found it (used for every later call)."""

    customer_id: str  # the commercetools customer id (what the till knows the customer by)
    member_id: str  # the id Yotpo knows the member by
    email: str | None
    by_member_id: bool
    profile: dict[str, Any]

    @property
    def identifier(self) -> dict[str, str]:
        """Keyword arguments of YotpoClient lookups (`customer_id=` or `email=`)."""
        if self.by_member_id or not self.email:
            return {"customer_id": self.member_id}
        return {"email": self.email}

    @property
    def payload_identifier(self) -> dict[str, str]:
        """The same identifier as Yotpo request fields."""
        if self.by_member_id or not self.email:
            return {F.CUSTOMER_ID: self.member_id}
        return {F.CUSTOMER_EMAIL: self.email}


def find_member(
    client: YotpoClient,
    customer: Mapping[str, Any],
    identity: MemberIdentity | None = None,
) -> Member:
    """The customer's Yotpo member: by member id, else by email (a member Yotpo created from
    guest orders before the customer was synced); 404 when Yotpo knows neither."""
    customer_id = str(customer["id"])
    member = member_id(customer, identity or MemberIdentity())
    email = customer.get("email") if isinstance(customer.get("email"), str) else None
    profile = client.get_customer(customer_id=member, with_referral_code=True)
    if profile is not None:
        return Member(customer_id, member, email, True, profile)
    if email:
        profile = client.get_customer(email=email, with_referral_code=True)
        if profile is not None:
            return Member(customer_id, member, email, False, profile)
    raise not_found(
        "not_a_member", "the customer exists but is not a member of the loyalty program"
    )


def _name(customer: Mapping[str, Any]) -> str | None:
    parts = [customer.get("firstName"), customer.get("lastName")]
    return " ".join(t for p in parts if (t := values.text(p)) is not None) or None


def masked(email: Any) -> str | None:
    return mask_email(email) if isinstance(email, str) and email else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def needs_next_tier_name(profile: Mapping[str, Any]) -> bool:
    """Whether Yotpo's upgrade requirements leave the next tier unnamed (Yotpo's customer
    answer gives what is needed, not for which tier)."""
    needs = profile.get(_UPGRADE_REQUIREMENTS)
    return isinstance(needs, Mapping) and not needs.get("tier_name")


def next_tier_name(tiers: list[dict[str, Any]], current: Any) -> str | None:
    """The tier above `current` by rank in Yotpo's `/vip_tiers` (the lowest one without a tier)."""
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
        return None  # top tier, or Yotpo did not say
    return {
        "next_tier": needs.get("tier_name") or next_tier,
        "points_needed": needs.get("points_needed"),
        "amount_minor_needed": needs.get("amount_cents_needed"),
        "purchases_needed": needs.get("purchases_needed"),
    }


def _referral_code(profile: Mapping[str, Any]) -> str | None:
    code = profile.get(F.REFERRAL_CODE)
    if isinstance(code, Mapping):
        code = code.get("code")
    return values.text(code)


def customer_summary(
    customer: Mapping[str, Any], member: Member, next_tier: str | None = None
) -> dict[str, Any]:
    """What the till shows: never the full email or a phone number."""
    profile = member.profile
    tier = profile.get(F.VIP_TIER_NAME)
    return {
        "customer_id": member.customer_id,
        "name": _name(customer),
        "email": masked(customer.get("email")),
        "points_balance": _int(profile.get(F.POINTS_BALANCE)),
        "vip_tier": values.text(tier),
        "vip_tier_progress": _progress(profile, next_tier),
        "referral_code": _referral_code(profile),
    }


def candidate(customer: Mapping[str, Any]) -> dict[str, Any]:
    """One of several customers a lookup matched, shown so the associate can ask which."""
    return {
        "customer_id": str(customer["id"]),
        "name": _name(customer),
        "email": masked(customer.get("email")),
    }
