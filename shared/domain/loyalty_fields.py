"""Names and definitions of the connector's custom fields in commercetools (one place).

Cart fields live on a Type whose resourceTypeIds is ["order"]: commercetools uses such a type
for carts and for the orders made from them, so what the checkout records arrives on the order
for the event app. Customer fields hold the loyalty state the job writes back.
"""

from __future__ import annotations

from typing import Any, Final


class CartFields:
    # Set by the storefront.
    REQUESTED_OPTION: Final = "loyaltyRedemptionOptionId"
    REQUESTED_POINTS: Final = "loyaltyRedemptionPoints"
    REFERRAL_CODE: Final = "loyaltyReferralCode"
    IP_ADDRESS: Final = "loyaltyIpAddress"
    USER_AGENT: Final = "loyaltyUserAgent"
    # Owned by the connector: what the checkout applied, and why it changed.
    REWARD_CODE: Final = "loyaltyRewardCode"
    REWARD_AMOUNT: Final = "loyaltyRewardAmount"
    REWARD_OPTION: Final = "loyaltyRewardOptionId"
    REWARD_POINTS: Final = "loyaltyRewardPoints"
    REWARD_KIND: Final = "loyaltyRewardKind"
    REWARD_PERCENT_BP: Final = "loyaltyRewardPercentBp"
    REWARD_MINIMUM: Final = "loyaltyRewardMinimum"
    REWARD_CUSTOMER: Final = "loyaltyRewardCustomerId"
    REDEMPTION_ID: Final = "loyaltyRedemptionId"
    REWARD_STATUS: Final = "loyaltyRewardStatus"
    # The authoritative record of the applied reward: its values under an HMAC only the
    # connector can compute (shared/domain/checkout/reward_state.py). The fields above are its
    # readable projection and are never believed on their own.
    REWARD_SEAL: Final = "loyaltyRewardSeal"


# Every field only the connector may write: a cart carrying any of them without a valid seal
# was written by someone else.
OWNED_CART_FIELDS: Final = (
    CartFields.REWARD_CODE,
    CartFields.REWARD_AMOUNT,
    CartFields.REWARD_OPTION,
    CartFields.REWARD_POINTS,
    CartFields.REWARD_KIND,
    CartFields.REWARD_PERCENT_BP,
    CartFields.REWARD_MINIMUM,
    CartFields.REWARD_CUSTOMER,
    CartFields.REDEMPTION_ID,
    CartFields.REWARD_SEAL,
)


class CustomerFields:
    POINTS_BALANCE: Final = "loyaltyPointsBalance"
    VIP_TIER: Final = "loyaltyVipTier"
    TIER_ENDS_AT: Final = "loyaltyVipTierEndsAt"
    REFERRAL_CODE: Final = "loyaltyReferralCode"
    SYNCED_AT: Final = "loyaltySyncedAt"


def _field(name: str, type_name: str, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": {"name": type_name},
        "required": False,
        "label": {"en": label},
        "inputHint": "SingleLine",
    }


CART_FIELD_DEFINITIONS: Final = (
    _field(CartFields.REQUESTED_OPTION, "String", "Loyalty: requested reward option"),
    _field(CartFields.REQUESTED_POINTS, "Number", "Loyalty: points to redeem (variable rewards)"),
    _field(CartFields.REFERRAL_CODE, "String", "Loyalty: referral code"),
    _field(CartFields.IP_ADDRESS, "String", "Loyalty: shopper IP address"),
    _field(CartFields.USER_AGENT, "String", "Loyalty: shopper user agent"),
    _field(CartFields.REWARD_CODE, "String", "Loyalty: applied reward code"),
    _field(CartFields.REWARD_AMOUNT, "Number", "Loyalty: reward amount (minor units)"),
    _field(CartFields.REWARD_OPTION, "String", "Loyalty: applied reward option"),
    _field(CartFields.REWARD_POINTS, "Number", "Loyalty: points the reward costs"),
    _field(CartFields.REWARD_KIND, "String", "Loyalty: reward kind"),
    _field(CartFields.REWARD_PERCENT_BP, "Number", "Loyalty: reward percentage (basis points)"),
    _field(CartFields.REWARD_MINIMUM, "Number", "Loyalty: reward minimum cart (minor units)"),
    _field(CartFields.REWARD_CUSTOMER, "String", "Loyalty: customer the reward was issued to"),
    _field(CartFields.REDEMPTION_ID, "String", "Loyalty: Yotpo redemption id"),
    _field(CartFields.REWARD_STATUS, "String", "Loyalty: reward status"),
    _field(CartFields.REWARD_SEAL, "String", "Loyalty: reward seal (connector-owned)"),
)

CUSTOMER_FIELD_DEFINITIONS: Final = (
    _field(CustomerFields.POINTS_BALANCE, "Number", "Loyalty: points balance"),
    _field(CustomerFields.VIP_TIER, "String", "Loyalty: VIP tier"),
    _field(CustomerFields.TIER_ENDS_AT, "DateTime", "Loyalty: VIP tier ends at"),
    _field(CustomerFields.REFERRAL_CODE, "String", "Loyalty: referral code"),
    _field(CustomerFields.SYNCED_AT, "DateTime", "Loyalty: synced at"),
)
