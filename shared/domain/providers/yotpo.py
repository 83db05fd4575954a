"""Yotpo's renderer: the exact Yotpo request body of each neutral operation (pure).

Bodies are the documented ones (ADR 0011):
- order → Create Order, https://loyaltyapi.yotpo.com/reference/create-order;
- refund → Create Refund, https://loyaltyapi.yotpo.com/reference/create-refund;
- customer → Create/Update Customer Records,
  https://loyaltyapi.yotpo.com/reference/createupdate-customer-records;
- reward_return → Adjust a Customer's Point Balance,
  https://loyaltyapi.yotpo.com/reference/adjust-a-customers-point-balance;
- birthday → Set Customer Birthday, https://loyaltyapi.yotpo.com/reference/set-customer-birthday
  (Create/Update Customer Records has no birthday field, so the customer sync sends it as an
  operation of its own, after the member's upsert).
Yotpo needs no redemption commit: an order carrying the reward's code is what makes Yotpo
deduct delayed-redemption points (https://support.yotpo.com/docs/implementing-redemptions-via-api).

How Yotpo deduplicates: its pages document no idempotency key and no answer to a repeated
order or refund id, so orders, refunds and points adjustments are `DedupMode.NONE` (the
ambiguous window of ADR 0001 stays as it is); a customer upsert and a birthday set a state.
"""

from __future__ import annotations

from typing import Any

from shared.domain.providers.port import (
    AnyNeutralOp,
    Capabilities,
    DedupMode,
    Line,
    MemberBirthday,
    MemberRef,
    MemberUpsert,
    OrderRecorded,
    PointsReturned,
    Reversal,
)
from shared.domain.providers.rendering import (
    is_given,
    points_returned_text,
    put_given,
    render_kind,
)
from shared.domain.yotpo_fields import YotpoFields as F

PROVIDER = "yotpo"

# Create Order's channel, store, clerk and item fields (spelled in YotpoFields).
CHANNEL_TYPE = F.CHANNEL_TYPE
STORE_ADDRESS = F.STORE_ADDRESS
STORE_CITY = F.STORE_CITY
STORE_STATE = F.STORE_STATE
CLERK_EMPLOYEE_ID = F.CLERK_EMPLOYEE_ID
CLERK_NAME = F.CLERK_NAME
ITEM_COLLECTIONS = F.ITEM_COLLECTIONS
ITEM_TYPE = F.ITEM_TYPE
ITEM_VENDOR = F.ITEM_VENDOR
# Adjust a Customer's Point Balance
# (https://loyaltyapi.yotpo.com/reference/adjust-a-customers-point-balance).
POINT_ADJUSTMENT_AMOUNT = F.POINT_ADJUSTMENT_AMOUNT
# Create/Update Customer Records: the member's phone.
PHONE_NUMBER = F.PHONE_NUMBER
# Set Customer Birthday's body, not (yet) spelled in YotpoFields
# (https://loyaltyapi.yotpo.com/reference/set-customer-birthday).
BIRTHDAY_DAY = "day"
BIRTHDAY_MONTH = "month"
BIRTHDAY_YEAR = "year"

YOTPO_CAPABILITIES = Capabilities(
    provider=PROVIDER,
    dedup={
        "order": DedupMode.NONE,
        "refund": DedupMode.NONE,
        "customer": DedupMode.STATE_UPSERT,
        "reward_return": DedupMode.NONE,
        "birthday": DedupMode.STATE_UPSERT,
    },
    idempotency_ttl_seconds=None,
    amount_unit="minor",  # `total_amount_cents`, `price_cents`
    tiers=True,
    referrals=True,
    partial_refunds=True,
    refund_lines_required=False,
    cancel_redemption=True,
    redemption_commit_after_payment=False,
    earning_triggers=frozenset({"created", "paid", "shipped", "completed"}),
    # "10 requests per second per merchant"
    # (https://loyaltyapi.yotpo.com/reference/guidelines-and-conventions).
    rate_limit_per_second=10.0,
)


def _listed(values: tuple[str, ...]) -> str:
    """Yotpo's comma-separated lists: a value holding a comma would split, so it is spaced."""
    return ",".join(v.replace(",", " ") for v in values)


class YotpoRenderer:
    """Neutral operations → Yotpo request bodies. Stateless; one instance serves every account."""

    @property
    def capabilities(self) -> Capabilities:
        return YOTPO_CAPABILITIES

    def render(self, op: AnyNeutralOp) -> dict[str, Any]:
        return render_kind(
            "Yotpo",
            op,
            (
                (OrderRecorded, self._order),
                (Reversal, self._refund),
                (MemberUpsert, self._customer),
                (PointsReturned, self._points_back),
                (MemberBirthday, self._birthday),
            ),
        )

    @staticmethod
    def _item(line: Line) -> dict[str, Any]:
        item: dict[str, Any] = {
            F.ID: line.item_id,
            F.ITEM_NAME: line.name,
            F.ITEM_PRICE_CENTS: line.unit_price_minor,
            F.ITEM_QUANTITY: line.quantity,
        }
        # Product rules in Yotpo's admin ("exclude the gift card collection") match these.
        if line.collections:
            item[ITEM_COLLECTIONS] = _listed(line.collections)
        if line.product_type:
            item[ITEM_TYPE] = line.product_type
        if line.vendor:
            item[ITEM_VENDOR] = line.vendor
        return item

    @staticmethod
    def _customer_block(member: MemberRef) -> dict[str, Any]:
        """The order's `customer` object: `has_account`, `tags`, `opted_in` (Create Order)."""
        block: dict[str, Any] = {F.HAS_ACCOUNT: member.has_account}
        if member.tags is not None:
            # "Include this if customer-based include or exclude rules are configured."
            block[F.TAGS] = ",".join(member.tags)
        if member.opted_in is not None:
            block[F.OPTED_IN] = member.opted_in
        return block

    def _order(self, op: OrderRecorded) -> dict[str, Any]:
        payload: dict[str, Any] = {F.ORDER_ID: op.order_ref}
        if op.member.member_id:
            payload[F.CUSTOMER_ID] = op.member.member_id
        payload[F.CUSTOMER_EMAIL] = op.member.email
        payload[F.TOTAL_AMOUNT_CENTS] = op.amount_minor
        payload[F.DISCOUNT_AMOUNT_CENTS] = op.discount_minor
        if op.coupon_codes:
            # "Comma-separated list of coupon codes used on the order": the planner leaves out
            # a code holding a comma (it cannot travel in the list).
            payload[F.COUPON_CODE] = ",".join(op.coupon_codes)
        payload[F.CURRENCY_CODE] = op.currency
        payload[F.CREATED_AT] = op.created_at.isoformat()
        payload[F.STATUS] = op.status
        payload[F.ITEMS] = [self._item(line) for line in op.lines]
        payload[F.CUSTOMER] = self._customer_block(op.member)
        if op.channel:
            payload[CHANNEL_TYPE] = op.channel
        if op.tags:
            payload[F.TAGS] = _listed(op.tags)
        if op.location is not None:
            put_given(
                payload,
                (
                    (STORE_ADDRESS, op.location.address),
                    (STORE_CITY, op.location.city),
                    (STORE_STATE, op.location.state),
                ),
            )
        if op.clerk_employee_id:
            payload[CLERK_EMPLOYEE_ID] = op.clerk_employee_id
        if op.clerk_name:
            payload[CLERK_NAME] = op.clerk_name
        if op.ip_address:
            payload[F.IP_ADDRESS] = op.ip_address
        if op.user_agent:
            payload[F.USER_AGENT] = op.user_agent
        if not (op.ip_address and op.user_agent):
            # Create Order lists ip_address and user_agent as required, with `ignore_ip_ua`
            # ("Ignore IP address and user-agent fraud checks for this order") for orders that
            # have none: server-side, back-office, backfilled and in-store orders.
            payload[F.IGNORE_IP_UA] = True
        return payload

    @staticmethod
    def _refund(op: Reversal) -> dict[str, Any]:
        payload: dict[str, Any] = {
            F.ID: op.refund_ref,
            F.ORDER_ID: op.order_ref,
            F.TOTAL_AMOUNT_CENTS: op.amount_minor,
            F.CURRENCY: op.currency,
        }
        if op.lines:
            # `items[].id` "must match the item ID used when the order was created".
            payload[F.ITEMS] = [
                {F.ID: line.item_id, F.ITEM_QUANTITY: line.quantity} for line in op.lines
            ]
        return payload

    @staticmethod
    def _customer(op: MemberUpsert) -> dict[str, Any]:
        # `birthday` is not a field of this body: Yotpo takes it on its own call, a
        # `MemberBirthday` (`_birthday`). The fields the upsert does not say (None) are left
        # out, so the planner's upserts (id and email) change nothing else of the member.
        payload: dict[str, Any] = {F.ID: op.member_id}
        if op.email is not None:
            payload[F.EMAIL] = op.email
        put_given(
            payload,
            (
                (F.FIRST_NAME, op.first_name),
                (F.LAST_NAME, op.last_name),
                (PHONE_NUMBER, op.phone),
                (F.HAS_ACCOUNT, op.has_account),
                (
                    F.PLATFORM_ACCOUNT_CREATED_AT,
                    op.account_created_at.isoformat() if op.account_created_at else None,
                ),
                (F.OPTED_IN, op.opted_in),
            ),
            given=is_given,
        )
        if op.tags is not None:
            # `tags` "overwrites existing tags": the customer sync sends them, possibly empty.
            payload[F.TAGS] = ",".join(op.tags)
        return payload

    @staticmethod
    def _birthday(op: MemberBirthday) -> dict[str, Any]:
        # The member by email, the identifier every Yotpo member has ("customer_email ...
        # Provide this or Customer ID").
        return {
            F.CUSTOMER_EMAIL: op.email,
            BIRTHDAY_DAY: op.born.day,
            BIRTHDAY_MONTH: op.born.month,
            BIRTHDAY_YEAR: op.born.year,
        }

    @staticmethod
    def _points_back(op: PointsReturned) -> dict[str, Any]:
        return {
            F.CUSTOMER_ID: op.member_id,
            POINT_ADJUSTMENT_AMOUNT: op.points,
            F.APPLY_ADJUSTMENT_TO_POINTS_EARNED: False,
            F.HISTORY_TITLE: points_returned_text(op.order_ref),
            F.VISIBLE_TO_CUSTOMER: True,
        }


YOTPO_RENDERER = YotpoRenderer()
