"""The pure planner: what Yotpo must still be told about an order, given what it was told.

`plan_order(view, ledger, config, account, now)` compares the order as it is now with the
ledger and returns the operations to add. Calling it again after applying its plan returns an
empty plan, whatever order, delay or duplication the signals that caused the looks had: that is
what keeps points right under at-least-once, unordered delivery.

Rules, in the order they are checked:
1. A blocked ledger gets nothing, ever.
2. A cancelled order that never had an order operation is blocked ("cancelled_before_earning").
3. Skips (re-evaluated on every look, nothing planned while they hold): no Yotpo account for
   the order's store, the order's currency not enabled for that account. A missing email only
   holds back the earning (the order operation needs it; refunds of an order already told to
   Yotpo do not).
4. Earning: trigger met, no order operation yet, not cancelled → one `order` operation.
   The Yotpo order id is pinned in the ledger with it.
5. Refunds, only once an order operation exists (or is in the same plan, before them), never
   more in total than what was earned: per Refund transaction (`payments`) or per refunded
   return item (`returns`).
6. Cancellation after earning: one refund of whatever remains, with id "{order id}-cancel".
7. A guest order since assigned to a customer: one `customer` operation so the Yotpo member
   carries the commercetools customer id.

Trigger `paid` holds when the payment state is Paid or a Charge transaction succeeded: the
payment state can move on (e.g. to CreditOwed after a refund) before the first look, and a
late look must still earn what an early one would have.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.ledger_state import LedgerOp, OpStatus, OrderLedger
from shared.domain.money import allocate
from shared.domain.order_view import (
    ORDER_STATE_COMPLETE,
    PAYMENT_STATE_PAID,
    RETURN_PAYMENT_REFUNDED,
    SHIPMENT_STATES_SHIPPED,
    LineItemView,
    OrderView,
)
from shared.yotpo import YotpoFields as F

CANCELLED_BEFORE_EARNING = "cancelled_before_earning"
NO_ACCOUNT_FOR_STORE = "no_account_for_store"
CURRENCY_NOT_ENABLED = "currency_not_enabled"
NO_EMAIL = "no_email"

ORDER_KEY_PREFIX = "order:"
REFUND_KEY_PREFIX = "refund:"
CUSTOMER_KEY_PREFIX = "customer:"
CANCEL_REFUND_SUFFIX = "-cancel"
RETURN_REFUND_PREFIX = "return-"


class PlannerConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    earning_trigger: Literal["created", "paid", "shipped", "completed"] = "paid"
    yotpo_order_status: str = "paid"
    order_id_source: Literal["orderNumber", "id"] = "orderNumber"
    amount_base: Literal["total", "subtotal"] = "total"
    item_id_source: Literal["sku", "productId"] = "sku"
    locale: str = "en"
    refund_source: Literal["payments", "returns"] = "payments"


class AccountView(BaseModel):
    """The Yotpo account an order's store routes to."""

    model_config = ConfigDict(frozen=True)

    key: str
    currencies: frozenset[str] = frozenset()  # empty: whatever the account accepts

    def accepts(self, currency: str) -> bool:
        return not self.currencies or currency.upper() in {c.upper() for c in self.currencies}


class OrderPlan(BaseModel):
    """The difference between what Yotpo should know and what the ledger says it was told."""

    model_config = ConfigDict(frozen=True)

    planned_at: datetime
    new_ops: list[LedgerOp] = []  # to add as PENDING, in execution order
    pin_yotpo_order_id: str | None = None
    account: str | None = None
    currency: str | None = None
    blocked_reason: str | None = None  # a new block to record
    skipped_reason: str | None = None  # why nothing can happen on this look (None: no skip)

    @property
    def empty(self) -> bool:
        """Nothing to send. (`apply` may still record a skip reason or a block.)"""
        return not self.new_ops

    def apply(self, ledger: OrderLedger) -> OrderLedger:
        """The ledger with this plan recorded; the same ledger when nothing changes.

        The plan must have been made from this ledger: an operation key already present means
        it was not, and raises ValueError rather than overwrite an operation's history.
        """
        update: dict[str, Any] = {}
        if self.new_ops:
            clash = [op.key for op in self.new_ops if op.key in ledger.ops]
            if clash:
                raise ValueError(f"plan adds operations already in the ledger: {clash}")
            update["ops"] = {**ledger.ops, **{op.key: op for op in self.new_ops}}
        if self.pin_yotpo_order_id and ledger.yotpo_order_id is None:
            update["yotpo_order_id"] = self.pin_yotpo_order_id
        if self.account and ledger.account is None:
            update["account"] = self.account
        if self.currency and ledger.currency is None:
            update["currency"] = self.currency
        if self.blocked_reason and ledger.blocked_reason is None:
            update["blocked_reason"] = self.blocked_reason
        if self.skipped_reason != ledger.skipped_reason:
            update["skipped_reason"] = self.skipped_reason
        if not update:
            return ledger
        update["updated_at"] = self.planned_at
        return ledger.model_copy(update=update)


def plan_order(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    account: AccountView | None,
    now: datetime,
) -> OrderPlan:
    """What Yotpo must still be told about this order (rules in the module docstring)."""
    if ledger.blocked_reason:
        return OrderPlan(planned_at=now)
    if view.cancelled and ledger.order_op is None:
        return OrderPlan(planned_at=now, blocked_reason=CANCELLED_BEFORE_EARNING)
    if account is None:
        return OrderPlan(planned_at=now, skipped_reason=NO_ACCOUNT_FOR_STORE)
    if not account.accepts(view.currency):
        return OrderPlan(planned_at=now, skipped_reason=CURRENCY_NOT_ENABLED)

    new_ops: list[LedgerOp] = []
    pin: str | None = None
    order_op = ledger.order_op
    if order_op is None:
        if not _trigger_met(view, config):
            return OrderPlan(planned_at=now)  # refunds wait for the earning
        if view.customer_email is None:
            return OrderPlan(planned_at=now, skipped_reason=NO_EMAIL)
        yotpo_order_id = ledger.yotpo_order_id or _yotpo_order_id(view, config)
        pin = yotpo_order_id if ledger.yotpo_order_id is None else None
        order_op = _order_op(view, config, yotpo_order_id, now)
        new_ops.append(order_op)
        earned = order_op.amount_cents or 0
    else:
        yotpo_order_id = ledger.yotpo_order_id or str(order_op.payload[F.ORDER_ID])
        earned = ledger.earned_amount()

    remaining = earned - ledger.refunded_amount()
    for key, amount in _refunds_due(view, config, earned):
        if key in ledger.ops:
            continue
        amount = min(amount, remaining)
        if amount <= 0:
            continue  # nothing left to give back: not sent, not recorded
        new_ops.append(_refund_op(key, yotpo_order_id, amount, view.currency, now))
        remaining -= amount

    if view.cancelled:
        cancel_key = f"{REFUND_KEY_PREFIX}{yotpo_order_id}{CANCEL_REFUND_SUFFIX}"
        if cancel_key not in ledger.ops and remaining > 0:
            new_ops.append(_refund_op(cancel_key, yotpo_order_id, remaining, view.currency, now))

    customer_op = _customer_op(view, ledger, now)
    if customer_op is not None:
        new_ops.append(customer_op)

    earns_now = ledger.order_op is None
    return OrderPlan(
        planned_at=now,
        new_ops=new_ops,
        pin_yotpo_order_id=pin,
        account=account.key if earns_now else None,
        currency=view.currency if earns_now else None,
    )


def _trigger_met(view: OrderView, config: PlannerConfig) -> bool:
    trigger = config.earning_trigger
    if trigger == "created":
        return True
    if trigger == "paid":
        return view.payment_state == PAYMENT_STATE_PAID or view.charge_succeeded
    if trigger == "shipped":
        return view.shipment_state in SHIPMENT_STATES_SHIPPED
    return view.order_state == ORDER_STATE_COMPLETE


def _yotpo_order_id(view: OrderView, config: PlannerConfig) -> str:
    if config.order_id_source == "orderNumber" and view.order_number:
        return view.order_number
    return view.id


def _earning_base(view: OrderView, config: PlannerConfig) -> int:
    base = view.total_gross_minor if config.amount_base == "total" else view.subtotal_net_minor
    return max(base, 0)


def _coupon_code(view: OrderView) -> str | None:
    # The loyalty reward code first: Yotpo deducts delayed-redemption points only when an
    # order carries that code. Then a referral code the checkout captured (Yotpo credits the
    # referrer on an order carrying it). Otherwise the first applied code whose text is known.
    if view.loyalty_reward_code:
        return view.loyalty_reward_code
    if view.referral_code:
        return view.referral_code
    codes = view.code_strings
    return codes[0] if codes else None


def _item_name(line: LineItemView, locale: str) -> str:
    if line.name.get(locale):
        return line.name[locale]
    return next((name for name in line.name.values() if name), "")


def _item_id(line: LineItemView, config: PlannerConfig) -> str:
    if config.item_id_source == "sku":
        return line.sku or line.product_id or line.id
    return line.product_id or line.sku or line.id


def _order_payload(
    view: OrderView, config: PlannerConfig, yotpo_order_id: str, amount: int
) -> dict[str, Any]:
    payload: dict[str, Any] = {F.ORDER_ID: yotpo_order_id}
    if view.customer_id:
        payload[F.CUSTOMER_ID] = view.customer_id
    payload[F.CUSTOMER_EMAIL] = view.customer_email
    payload[F.TOTAL_AMOUNT_CENTS] = amount
    payload[F.DISCOUNT_AMOUNT_CENTS] = max(view.discount_minor, 0)
    coupon = _coupon_code(view)
    if coupon:
        payload[F.COUPON_CODE] = coupon
    payload[F.CURRENCY_CODE] = view.currency
    payload[F.CREATED_AT] = view.created_at.isoformat()
    payload[F.STATUS] = config.yotpo_order_status
    payload[F.ITEMS] = [
        {
            F.ID: _item_id(line, config),
            F.ITEM_NAME: _item_name(line, config.locale),
            F.ITEM_PRICE_CENTS: line.unit_price_minor,
            F.ITEM_QUANTITY: line.quantity,
        }
        for line in view.line_items
    ]
    if view.ip_address:
        payload[F.IP_ADDRESS] = view.ip_address
    if view.user_agent:
        payload[F.USER_AGENT] = view.user_agent
    return payload


def _order_op(
    view: OrderView, config: PlannerConfig, yotpo_order_id: str, now: datetime
) -> LedgerOp:
    amount = _earning_base(view, config)
    return LedgerOp(
        key=f"{ORDER_KEY_PREFIX}{yotpo_order_id}",
        kind="order",
        payload=_order_payload(view, config, yotpo_order_id, amount),
        status=OpStatus.PENDING,
        created_at=now,
        updated_at=now,
        amount_cents=amount,
    )


def _refund_op(
    key: str, yotpo_order_id: str, amount: int, currency: str, now: datetime
) -> LedgerOp:
    return LedgerOp(
        key=key,
        kind="refund",
        payload={
            F.ID: key.removeprefix(REFUND_KEY_PREFIX),
            F.ORDER_ID: yotpo_order_id,
            F.TOTAL_AMOUNT_CENTS: amount,
            F.CURRENCY: currency,
        },
        status=OpStatus.PENDING,
        created_at=now,
        updated_at=now,
        amount_cents=amount,
    )


def _refunds_due(view: OrderView, config: PlannerConfig, earned: int) -> Iterator[tuple[str, int]]:
    """(key, amount in earning terms) of every refund the order shows, uncapped, in order."""
    if config.refund_source == "payments":
        yield from _payment_refunds(view, config, earned)
    else:
        yield from _return_refunds(view, config)


def _payment_refunds(
    view: OrderView, config: PlannerConfig, earned: int
) -> Iterator[tuple[str, int]]:
    for refund in view.refunds:
        if refund.amount_minor <= 0:
            continue
        if config.amount_base == "total":
            amount = refund.amount_minor
        elif view.total_gross_minor > 0:
            # The shopper got back this share of what they paid; take back the same share of
            # what earned.
            amount = allocate(earned, refund.amount_minor, view.total_gross_minor)
        else:
            amount = 0
        yield f"{REFUND_KEY_PREFIX}{refund.transaction_id}", amount


def _return_refunds(view: OrderView, config: PlannerConfig) -> Iterator[tuple[str, int]]:
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
                yield f"{REFUND_KEY_PREFIX}{RETURN_REFUND_PREFIX}{item.id}", share


def _customer_op(view: OrderView, ledger: OrderLedger, now: datetime) -> LedgerOp | None:
    order_op = ledger.order_op
    if order_op is None or not view.customer_id or not view.customer_email:
        return None
    if order_op.payload.get(F.CUSTOMER_ID):
        return None
    key = f"{CUSTOMER_KEY_PREFIX}{view.customer_id}"
    if key in ledger.ops:
        return None
    return LedgerOp(
        key=key,
        kind="customer",
        payload={F.ID: view.customer_id, F.EMAIL: view.customer_email},
        status=OpStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
