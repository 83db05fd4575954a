"""What an order says, in the provider-neutral terms of the port (pure).

The planner decides what to tell; these read the facts it tells from the order view: the
order reference, the earning base, the codes, the member, the lines (`order_recorded`), and
the refunds the order shows (`refunds_due`, uncapped: the planner caps them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from shared.domain.money import allocate
from shared.domain.orders.order_view import RETURN_PAYMENT_REFUNDED, LineItemView, OrderView
from shared.domain.orders.planner_config import PlannerConfig
from shared.domain.providers.port import Line, MemberRef, OrderRecorded, ReturnedLine, StoreLocation

CHANNEL_ONLINE = "online"
CHANNEL_OFFLINE = "offline"
ORDER_KEY_PREFIX = "order:"
REFUND_KEY_PREFIX = "refund:"
RETURN_REFUND_PREFIX = "return-"


def new_order_ref(view: OrderView, config: PlannerConfig) -> str:
    if config.order_id_source == "orderNumber" and view.order_number:
        return view.order_number
    return view.id


def earning_base(view: OrderView, config: PlannerConfig) -> int:
    base = view.total_gross_minor if config.amount_base == "total" else view.subtotal_net_minor
    return max(base, 0)


def coupon_codes(view: OrderView) -> list[str]:
    """Every code the order carries, for `coupon_code` ("Comma-separated list of coupon codes
    used on the order", https://loyaltyapi.yotpo.com/reference/create-order).

    The loyalty reward code first (Yotpo deducts delayed-redemption points only when an order
    carries it, https://support.yotpo.com/docs/implementing-redemptions-via-api), then a
    referral code the checkout captured, then the shop's applied discount codes whose text is
    known (a reward turned into a commercetools discount code appears once). A code holding a
    comma cannot travel in the list and is left out.
    """
    codes: list[str] = []
    for code in (view.loyalty_reward_code, view.referral_code, *view.code_strings):
        if code and "," not in code and code not in codes:
            codes.append(code)
    return codes


def item_name(line: LineItemView, locale: str) -> str:
    if line.name.get(locale):
        return line.name[locale]
    return next((name for name in line.name.values() if name), "")


def item_id(line: LineItemView, config: PlannerConfig) -> str:
    if config.item_id_source == "sku":
        return line.sku or line.product_id or line.id
    return line.product_id or line.sku or line.id


def member_unresolved(view: OrderView, config: PlannerConfig) -> bool:
    """The member id depends on the customer (MEMBER_ID_SOURCE) and the customer was not read."""
    return bool(view.customer_id) and view.member is None and config.members.identity.needs_customer


def member_of(view: OrderView) -> tuple[str | None, str | None]:
    """(member id, email) the order is told under: its customer's member, else the order's."""
    if view.customer_id is None:
        return None, view.customer_email
    if view.member is not None:
        return view.member.member_id, view.member.email or view.customer_email
    return view.customer_id, view.customer_email


def instore(view: OrderView, config: PlannerConfig) -> StoreLocation | None:
    """The store of an in-store sale: an imported order (no cart) of a configured store."""
    if view.from_cart or view.store_key is None:
        return None
    return config.instore_stores.get(view.store_key)


def member_ref(view: OrderView, config: PlannerConfig) -> MemberRef:
    """Who the order is told under: its customer's member, else the order's email (`member_of`),
    with what the provider's rules may match (tags, opt-in)."""
    member_id, email = member_of(view)
    member = view.member
    if member is not None:
        opted = member.opted_in
    else:
        opted = True if config.members.opt_in_policy == "always" else None
    return MemberRef(
        member_id=member_id,
        email=email,
        ct_customer_id=view.customer_id,
        has_account=view.customer_id is not None,
        # Tags only when they are the connector's to send (customer_sync's policy).
        tags=member.tags if member is not None and member.tags_known else None,
        opted_in=opted,
    )


def line_of(line: LineItemView, config: PlannerConfig) -> Line:
    return Line(
        line_id=line.id,
        item_id=item_id(line, config),
        sku=line.sku,
        product_id=line.product_id,
        name=item_name(line, config.locale),
        unit_price_minor=line.unit_price_minor,
        quantity=line.quantity,
        paid_total_minor=line.taxed_total_gross_minor,
        tax_minor=line.tax_minor,
        tax_rate=line.tax_rate,
        collections=line.collections,
        product_type=line.product_type,
        vendor=line.attributes.get(config.item_vendor_attribute or "") or None,
    )


def order_discount_gross(view: OrderView) -> int:
    """The merchandise's share, gross, of a discount on the order's total price that no line's
    total carries. `order_view` already took that share off the net subtotal (ADR 0012; zero
    where the line totals carry it): it is the lines' net total minus that subtotal, turned
    gross at the lines' own gross-to-net ratio. Never below zero, never above the lines."""
    net = sum(line.net_total_minor for line in view.line_items)
    gross = sum(line.taxed_total_gross_minor for line in view.line_items)
    share = net - view.subtotal_net_minor
    if share <= 0 or net <= 0 or gross <= 0:
        return 0
    return min(allocate(gross, min(share, net), net), gross)


def order_recorded(
    view: OrderView,
    config: PlannerConfig,
    order_ref: str,
    amount: int,
    *,
    with_codes: bool = True,
) -> OrderRecorded:
    store = instore(view, config)
    channel = CHANNEL_OFFLINE if store is not None else CHANNEL_ONLINE if view.from_cart else None
    # Clerk fields are believed only on imported orders: on a cart's order the shopper wrote them.
    imported = not view.from_cart
    return OrderRecorded(
        ct_order_id=view.id,
        order_ref=order_ref,
        amount_minor=amount,
        discount_minor=max(view.discount_minor, 0),
        order_discount_minor=order_discount_gross(view),
        total_gross_minor=view.total_gross_minor,
        currency=view.currency,
        created_at=view.created_at,
        status=config.yotpo_order_status,
        lines=tuple(line_of(line, config) for line in view.line_items),
        coupon_codes=tuple(coupon_codes(view)) if with_codes else (),
        member=member_ref(view, config),
        channel=channel,
        store_key=view.store_key,
        location=store,
        clerk_employee_id=view.clerk_employee_id if imported else None,
        clerk_name=view.clerk_name if imported else None,
        ip_address=view.ip_address,
        user_agent=view.user_agent,
        # Facts order rules can match, never a cart custom field: the store and the channel.
        tags=tuple(t for t in (view.store_key, channel) if t),
    )


# (key, amount in earning terms, reason, returned lines)
Due = tuple[str, int, Literal["refund", "return"], tuple[ReturnedLine, ...]]


def refunds_due(
    view: OrderView, config: PlannerConfig, earned: int, *, paid_gross: int | None = None
) -> Iterator[Due]:
    """(key, amount, reason, lines) of every refund the order shows, uncapped.

    `paid_gross`: the order's gross total when it was recorded, the whole a refund by payment
    is a share of (AMOUNT_BASE=subtotal); None: the order's total now."""
    if config.refund_source == "payments":
        yield from _payment_refunds(view, config, earned, paid_gross)
    else:
        yield from _return_refunds(view, config)


def _payment_refunds(
    view: OrderView, config: PlannerConfig, earned: int, paid_gross: int | None
) -> Iterator[Due]:
    whole = view.total_gross_minor if paid_gross is None else paid_gross
    for refund in view.refunds:
        if refund.amount_minor <= 0:
            continue
        if config.amount_base == "total":
            amount = refund.amount_minor
        elif whole > 0:
            # The shopper got back this share of what they paid; take back the same share of
            # what earned.
            amount = allocate(earned, refund.amount_minor, whole)
        else:
            amount = 0
        yield f"{REFUND_KEY_PREFIX}{refund.transaction_id}", amount, "refund", ()


def _return_refunds(view: OrderView, config: PlannerConfig) -> Iterator[Due]:
    """Refunded return items, each worth its units' share of its line's total.

    Shares are cumulative over every return item of the line in a stable order (return infos
    as listed, then items), refunded or not, so an item's amount never depends on which other
    items were refunded when it was looked at, and all units of a line add up to the line total.
    """
    lines = {line.id: line for line in view.line_items}
    returned_so_far: dict[str, int] = {}
    for info in view.return_infos:
        for item in info.items:
            line = lines.get(item.line_item_id or "")
            if line is None or line.quantity <= 0 or item.quantity <= 0:
                continue  # custom line items and unknown lines earned nothing of their own
            total = (
                line.taxed_total_gross_minor
                if config.amount_base == "total"
                else line.net_total_minor
            )
            before = returned_so_far.get(line.id, 0)
            after = before + item.quantity
            returned_so_far[line.id] = after
            share = allocate(total, min(after, line.quantity), line.quantity) - allocate(
                total, min(before, line.quantity), line.quantity
            )
            if item.payment_state == RETURN_PAYMENT_REFUNDED and share > 0:
                returned = ReturnedLine(
                    line_id=line.id,
                    item_id=item_id(line, config),
                    quantity=item.quantity,
                    amount_minor=share,
                )
                key = f"{REFUND_KEY_PREFIX}{RETURN_REFUND_PREFIX}{item.id}"
                yield key, share, "return", (returned,)
