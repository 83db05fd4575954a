"""Yotpo's names for request headers, query parameters and payload fields (one place).

Pure data: the planner, the checkout rules and the ledger use these names, and the client
(`shared/yotpo.py`) sends them, so the pure core needs no I/O import to spell a Yotpo field.
Pages: https://loyaltyapi.yotpo.com/reference (one per endpoint, named where a field is used).
"""

from __future__ import annotations

from typing import Final


class YotpoFields:
    """Yotpo's names for request headers, query parameters and payload fields."""

    # headers
    GUID_HEADER: Final = "X-GUID"
    API_KEY_HEADER: Final = "X-API-KEY"
    # https://loyaltyapi.yotpo.com/reference/guidelines-and-conventions
    RATELIMIT_LIMIT_HEADER: Final = "ratelimit-limit"
    RATELIMIT_REMAINING_HEADER: Final = "ratelimit-remaining"
    RATELIMIT_RESET_HEADER: Final = "ratelimit-reset"
    # Not documented by Yotpo; honoured only as a fallback because it is standard HTTP.
    RETRY_AFTER_HEADER: Final = "Retry-After"

    # customer lookups (GET /customers, GET /redemption_options)
    CUSTOMER_ID: Final = "customer_id"
    CUSTOMER_EMAIL: Final = "customer_email"
    PHONE_NUMBER: Final = "phone_number"
    POS_ACCOUNT_ID: Final = "pos_account_id"
    WITH_REFERRAL_CODE: Final = "with_referral_code"
    WITH_HISTORY: Final = "with_history"
    # GET /redemption_options: "If set to true, only offline redemption options will be
    # returned" (a query parameter; options carry no such field).
    IS_OFFLINE: Final = "is_offline"

    # customers (POST /customers)
    ID: Final = "id"
    EMAIL: Final = "email"
    FIRST_NAME: Final = "first_name"
    LAST_NAME: Final = "last_name"
    COUNTRY_ISO_CODE: Final = "country_iso_code"
    HAS_ACCOUNT: Final = "has_account"
    PLATFORM_ACCOUNT_CREATED_AT: Final = "platform_account_created_at"
    OPTED_IN: Final = "opted_in"
    OPTED_IN_AT: Final = "opted_in_at"
    TAGS: Final = "tags"

    # customer answers
    POINTS_BALANCE: Final = "points_balance"
    POINTS_EARNED: Final = "points_earned"
    VIP_TIER_NAME: Final = "vip_tier_name"
    REFERRAL_CODE: Final = "referral_code"
    REFERRAL_LINK: Final = "referral_link"
    THIRD_PARTY_ID: Final = "third_party_id"
    HISTORY_ITEMS: Final = "history_items"

    # orders (POST /orders) and refunds (POST /refunds)
    ORDER_ID: Final = "order_id"
    TOTAL_AMOUNT_CENTS: Final = "total_amount_cents"
    CURRENCY_CODE: Final = "currency_code"
    CURRENCY: Final = "currency"
    STATUS: Final = "status"
    CREATED_AT: Final = "created_at"
    COUPON_CODE: Final = "coupon_code"
    DISCOUNT_AMOUNT_CENTS: Final = "discount_amount_cents"
    IP_ADDRESS: Final = "ip_address"
    USER_AGENT: Final = "user_agent"
    IGNORE_IP_UA: Final = "ignore_ip_ua"
    ITEMS: Final = "items"
    CUSTOMER: Final = "customer"
    ITEM_NAME: Final = "name"
    ITEM_PRICE_CENTS: Final = "price_cents"
    ITEM_QUANTITY: Final = "quantity"
    # Create Order's channel, store, clerk and item fields
    # (https://loyaltyapi.yotpo.com/reference/create-order).
    CHANNEL_TYPE: Final = "channel_type"
    STORE_ADDRESS: Final = "store_address"
    STORE_CITY: Final = "store_city"
    STORE_STATE: Final = "store_state"
    CLERK_EMPLOYEE_ID: Final = "clerk_employee_id"
    CLERK_NAME: Final = "clerk_name"
    ITEM_COLLECTIONS: Final = "collections"
    ITEM_TYPE: Final = "type"
    ITEM_VENDOR: Final = "vendor"

    # redemptions
    REDEMPTION_OPTION_ID: Final = "redemption_option_id"
    DELAY_POINTS_DEDUCTION: Final = "delay_points_deduction"
    POINTS_TO_REDEEM: Final = "points_to_redeem"
    REWARD_TEXT: Final = "reward_text"
    POINT_REDEMPTION_ID: Final = "point_redemption_id"
    AMOUNT: Final = "amount"
    DISCOUNT_TYPE: Final = "discount_type"
    GENERIC_VARIABLE: Final = "generic_variable"
    # Cents of discount per point of a generic-variable option (public integrations compute
    # points_to_redeem * discount_rate_cents; Yotpo's reference does not describe the field).
    DISCOUNT_RATE_CENTS: Final = "discount_rate_cents"
    CART_GREATER_THAN: Final = "cart_greater_than"
    CODE: Final = "code"
    CODES: Final = "codes"

    # points
    POINT_ADJUSTMENT_AMOUNT: Final = "point_adjustment_amount"
    APPLY_ADJUSTMENT_TO_POINTS_EARNED: Final = "apply_adjustment_to_points_earned"
    HISTORY_TITLE: Final = "history_title"
    VISIBLE_TO_CUSTOMER: Final = "visible_to_customer"


# 408/429 are the server asking for a retry; 423 is what `/points/adjust` answers while the
# member's record is busy (https://loyaltyapi.yotpo.com/reference/adjust-a-customers-point-balance
# lists 200/422/423). 409 is documented nowhere in the loyalty API: retrying an undocumented
# conflict forever would be a poison loop, so it is permanent (dead letter, replayable).
