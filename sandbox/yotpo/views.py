"""How the Yotpo stand-in shows its state: members as Fetch Customer Details answers, VIP tiers,
redemption options, and an account's program with its secrets hidden. Pure functions of
the records in `sandbox.yotpo.state`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.yotpo.program import TIER_DURATION, RedemptionOptionConfig, TierConfig
from sandbox.yotpo.state import Account, Member, iso


def customer_view(
    account: Account,
    member: Member,
    *,
    referral: bool = False,
    history: bool = False,
) -> dict[str, Any]:
    """A member as Fetch Customer Details answers: the fields real answers carry (the
    connector's own id as `third_party_id`, no `id`; `history_items`; upgrade requirements
    without a tier name), https://loyaltyapi.yotpo.com/reference/fetch-customer-details."""
    tier = account.tier(member.tier_id)
    ranked = account.tiers_by_rank()
    above = [t for t in ranked if tier is None or (t.rank or 0) > (tier.rank or 0)]
    upcoming = above[0] if above else None
    profile = member.profile
    last = member.history[-1]["created_at"] if member.history else None
    view: dict[str, Any] = {
        "email": member.email,
        "first_name": profile.get("first_name"),
        "last_name": profile.get("last_name"),
        "phone_number": profile.get("phone_number"),
        "third_party_id": member.customer_id,
        "pos_account_id": profile.get("pos_account_id"),
        "points_balance": member.points_balance,
        "points_earned": member.points_earned,
        "total_spend_cents": member.total_spend_cents,
        "total_purchases": member.total_purchases,
        "perks_redeemed": sum(
            1
            for r in account.redemptions.values()
            if r.member_no == member.member_no and r.state == "used"
        ),
        "last_purchase_at": last,
        "last_seen_at": last,
        "has_store_account": bool(profile.get("has_account")),
        "credit_balance": "0",
        "credit_balance_in_customer_currency": "0",
        "opt_in": profile.get("opted_in"),
        "opted_in_at": profile.get("opted_in_at"),
        "points_expire_at": None,
        "vip_tier_name": tier.name if tier else None,
        "vip_tier_ends_at": (
            iso(member.tier_earned_at + TIER_DURATION) if tier and member.tier_earned_at else None
        ),
        "vip_tier_actions_completed": {
            "points_earned": member.points_earned,
            "amount_spent_cents": member.total_spend_cents,
            "purchases_made": member.total_purchases,
            "referrals_completed": 0,
        },
        "vip_tier_upgrade_requirements": (
            {
                "points_needed": max(0, upcoming.points_earned - member.points_earned),
                "amount_cents_needed": (
                    needed := max(0, upcoming.amount_spent_cents - member.total_spend_cents)
                ),
                "amount_cents_needed_in_customer_currency": needed,
                "purchases_needed": max(0, upcoming.purchases_made - member.total_purchases),
                "referrals_needed": 0,
                "campaigns_needed": 0,
            }
            if upcoming
            else None
        ),
    }
    if referral:
        view["referral_code"] = {"code": member.referral_code}
        view["referral_link"] = f"https://sandbox.invalid/r/{member.referral_code}"
    if history:
        view["history_items"] = [dict(h) for h in member.history]
    return view


def program_view(account: Account) -> dict[str, Any]:
    view = account.config.model_dump(mode="json", exclude={"api_key"})
    if view["program"].get("webhook_secret"):
        view["program"]["webhook_secret"] = "[set]"
    url = view["program"].get("webhook_url")
    if url and "?" in url:
        # A webhook URL may carry the receiver's token: show the path only.
        view["program"]["webhook_url"] = url.split("?", 1)[0] + "?[redacted]"
    return view


def tier_view(tier: TierConfig) -> dict[str, Any]:
    return {
        "id": tier.id,
        "name": tier.name,
        "description": tier.description,
        "points_earned": tier.points_earned,
        "amount_spent_cents": tier.amount_spent_cents,
        "purchases_made": tier.purchases_made,
        # A display value (e.g. 1.5), never used in arithmetic from this representation.
        "points_multiplier": float(tier.points_multiplier),
        "rank": tier.rank,
    }


def _number(value: Decimal) -> int | float:
    # JSON has no decimals: whole numbers stay exact, others are display values.
    return int(value) if value == value.to_integral_value() else float(value)


def option_view(option: RedemptionOptionConfig, *, amount_as_string: bool) -> dict[str, Any]:
    """An option with the documented fields (`id, name, description, icon, cost_text, amount,
    applies_to_product_type, duration`) plus the `type`/`discount_*` fields real answers carry;
    never `is_offline` or a currency (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options)."""
    variable = option.discount_type == "generic_variable"
    cost_text = option.cost_text or (
        f"{option.amount} Point" + ("" if option.amount == 1 else "s")
        if not variable
        else f"{option.amount} Points per step"
    )
    rate = option.discount_rate_cents
    return {
        "id": option.id,
        "name": option.name,
        "description": option.description,
        "icon": "fa-dollar",
        "cost_text": cost_text,
        "amount": str(option.amount) if amount_as_string else option.amount,
        "applies_to_product_type": option.applies_to_product_type,
        "duration": "single_use",
        "type": option.type,
        "discount_type": option.discount_type,
        "discount_amount_cents": option.discount_amount_cents,
        "discount_rate_cents": _number(rate) if rate is not None else None,
        "discount_value_cents": None,
        "discount_percentage": option.discount_percentage,
        "cart_greater_than": option.cart_greater_than,
        "unrendered_name": option.name,
        "unrendered_description": option.description,
    }
