"""The pure planner: what Yotpo must still be told about an order, given what it was told.

`plan_order(view, ledger, config, account, now)` compares the order as it is now with the
ledger and returns the operations to add. Calling it again after applying its plan returns an
empty plan, whatever order, delay or duplication the signals that caused the looks had: that is
what keeps points right under at-least-once, unordered delivery.

Rules, in the order they are checked:
1. A blocked ledger gets nothing, ever.
2. A cancelled order that never had an order operation is blocked ("cancelled_before_earning").
3. Skips (re-evaluated on every look, nothing planned while they hold): no Yotpo account for
   the order's store, the order's currency not enabled for that account. A missing email, or a
   member id that needs the customer when the customer was not read ("member_unknown"), only
   holds back the earning (the order operation needs them; refunds of an order already told to
   Yotpo do not).
4. Earning: trigger met, no order operation yet, not cancelled → one `order` operation.
   The Yotpo order id is pinned in the ledger with it.
5. Refunds, only once an order operation exists (or is in the same plan, before them), never
   more in total than what was earned: per Refund transaction (`payments`) or per refunded
   return item (`returns`).
6. Cancellation after earning: one refund of whatever remains, with id "{order id}-cancel".
   If the order used a loyalty reward whose points Yotpo deducted, one `reward_return`
   operation gives them back (Yotpo's points-adjust call), once (setting
   RETURN_REWARD_POINTS_ON_CANCEL, default on; facts relied on in `_reward_return_op`).
7. The member: an order belongs to its customer's Yotpo member (`view.member`, the member id
   chosen by MEMBER_ID_SOURCE and the customer's own email). A guest order since assigned to a
   customer whose email is the order's gets one `customer` operation so the member carries the
   id. One assigned to a customer under another email (or reassigned to another customer)
   is moved: a refund of what remains on the Yotpo order told so far ("{id}-moved") and a new
   Yotpo order "{order id}-{n}" under the right member, so all its points end on one member
   and every later refund follows the new Yotpo order (ADR 0010).

Payload fields are the documented ones of Create Order
(https://loyaltyapi.yotpo.com/reference/create-order) and Create Refund
(https://loyaltyapi.yotpo.com/reference/create-refund); see `_order_payload` (ADR 0011).

Trigger `paid` holds when the payment state is Paid or a Charge transaction succeeded: the
payment state can move on (e.g. to CreditOwed after a refund) before the first look, and a
late look must still earn what an early one would have.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.customers.customer_sync import CustomerSyncConfig
from shared.domain.money import allocate
from shared.domain.orders.ledger import LedgerOp, OpStatus, OrderLedger
from shared.domain.orders.order_view import (
    ORDER_STATE_COMPLETE,
    PAYMENT_STATE_PAID,
    RETURN_PAYMENT_REFUNDED,
    SHIPMENT_STATES_SHIPPED,
    LineItemView,
    OrderView,
)
from shared.domain.yotpo_fields import YotpoFields as F

# Documented Create Order fields not (yet) spelled in YotpoFields, all from
# https://loyaltyapi.yotpo.com/reference/create-order.
IGNORE_IP_UA = F.IGNORE_IP_UA
CHANNEL_TYPE = "channel_type"
STORE_ADDRESS = "store_address"
STORE_CITY = "store_city"
STORE_STATE = "store_state"
CLERK_EMPLOYEE_ID = "clerk_employee_id"
CLERK_NAME = "clerk_name"
ITEM_COLLECTIONS = "collections"
ITEM_TYPE = "type"
ITEM_VENDOR = "vendor"
CHANNEL_ONLINE = "online"
CHANNEL_OFFLINE = "offline"

CANCELLED_BEFORE_EARNING = "cancelled_before_earning"
NO_ACCOUNT_FOR_STORE = "no_account_for_store"
CURRENCY_NOT_ENABLED = "currency_not_enabled"
NO_EMAIL = "no_email"
MEMBER_UNKNOWN = "member_unknown"  # MEMBER_ID_SOURCE needs the customer, and it was not read

ORDER_KEY_PREFIX = "order:"
REFUND_KEY_PREFIX = "refund:"
CUSTOMER_KEY_PREFIX = "customer:"
REWARD_RETURN_KEY_PREFIX = "reward_return:"
CANCEL_REFUND_SUFFIX = "-cancel"
MOVED_REFUND_SUFFIX = "-moved"
RETURN_REFUND_PREFIX = "return-"


class StoreLocation(BaseModel):
    """A physical store whose sales are imported as orders (setting INSTORE_STORES)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = None
    city: str | None = None
    state: str | None = None


class PlannerConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    earning_trigger: Literal["created", "paid", "shipped", "completed"] = "paid"
    yotpo_order_status: str = "paid"
    order_id_source: Literal["orderNumber", "id"] = "orderNumber"
    amount_base: Literal["total", "subtotal"] = "total"
    item_id_source: Literal["sku", "productId"] = "sku"
    locale: str = "en"
    refund_source: Literal["payments", "returns"] = "payments"
    return_reward_points_on_cancel: bool = True
    members: CustomerSyncConfig = CustomerSyncConfig()
    # Store key → location: imported orders of these stores are in-store sales.
    instore_stores: dict[str, StoreLocation] = {}
    item_vendor_attribute: str | None = None  # a variant attribute naming the vendor/brand


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
        if _member_unresolved(view, config):
            return OrderPlan(planned_at=now, skipped_reason=MEMBER_UNKNOWN)
        # Points go back only through a Yotpo account that routes this order.
        spent = _spent_reward_return_op(view, ledger, config, now) if account else None
        return OrderPlan(
            planned_at=now,
            new_ops=[spent] if spent is not None else [],
            blocked_reason=CANCELLED_BEFORE_EARNING,
        )
    if account is None:
        return OrderPlan(planned_at=now, skipped_reason=NO_ACCOUNT_FOR_STORE)
    if not account.accepts(view.currency):
        return OrderPlan(planned_at=now, skipped_reason=CURRENCY_NOT_ENABLED)

    new_ops: list[LedgerOp] = []
    pin: str | None = None
    told = _Told.of(ledger)
    if told.first is None:
        if not _trigger_met(view, config):
            return OrderPlan(planned_at=now)  # refunds wait for the earning
        if view.customer_email is None:
            return OrderPlan(planned_at=now, skipped_reason=NO_EMAIL)
        if _member_unresolved(view, config):
            return OrderPlan(planned_at=now, skipped_reason=MEMBER_UNKNOWN)
        pinned = ledger.yotpo_order_id or _yotpo_order_id(view, config)
        pin = pinned if ledger.yotpo_order_id is None else None
        order_op = _order_op(view, config, pinned, pinned, now)
        new_ops.append(order_op)
        told = told.with_order(order_op)
    else:
        pinned = ledger.yotpo_order_id or str(told.first.payload[F.ORDER_ID])

    # What the order earned (the base refunds are shares of) and what Yotpo still holds of it.
    earned = told.base
    remaining = told.earned_total - ledger.refunded_amount()

    current = told.current_yotpo_order_id or pinned
    for key, amount, items in _refunds_due(view, config, earned):
        if key in ledger.ops:
            continue
        amount = min(amount, remaining)
        if amount <= 0:
            continue  # nothing left to give back: not sent, not recorded
        new_ops.append(_refund_op(key, current, amount, view.currency, now, items))
        remaining -= amount

    # Refunds seen now go to the Yotpo order that holds the points; then what remains moves.
    moved = _move_to_member(view, ledger, config, told, pinned, remaining, now)
    new_ops.extend(moved)
    if moved:
        told = told.with_order(moved[-1])
        current = told.current_yotpo_order_id or pinned

    if view.cancelled:
        cancel_key = f"{REFUND_KEY_PREFIX}{pinned}{CANCEL_REFUND_SUFFIX}"
        if cancel_key not in ledger.ops and remaining > 0:
            new_ops.append(_refund_op(cancel_key, current, remaining, view.currency, now))
        reward_return = _reward_return_op(view, ledger, config, told, pinned, now)
        if reward_return is not None:
            new_ops.append(reward_return)

    if not moved:
        customer_op = _customer_op(view, ledger, config, told, now)
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


class _Told(BaseModel):
    """What the ledger says Yotpo was told about the order's earning (pure reading)."""

    model_config = ConfigDict(frozen=True)

    orders: tuple[LedgerOp, ...] = ()  # every order operation, in execution order

    @classmethod
    def of(cls, ledger: OrderLedger) -> _Told:
        return cls(orders=tuple(op for op in ledger.ops.values() if op.kind == "order"))

    def with_order(self, op: LedgerOp) -> _Told:
        return _Told(orders=(*self.orders, op))

    @property
    def first(self) -> LedgerOp | None:
        return self.orders[0] if self.orders else None

    @property
    def live(self) -> tuple[LedgerOp, ...]:
        return tuple(op for op in self.orders if op.status != OpStatus.FAILED)

    @property
    def base(self) -> int:
        """What the order earned when first told (0 when Yotpo refused it)."""
        first = self.first
        if first is None or first.status == OpStatus.FAILED:
            return 0
        return first.amount_cents or 0

    @property
    def earned_total(self) -> int:
        """Everything told as earning; a move adds its refund and its new order, which cancel."""
        return sum(op.amount_cents or 0 for op in self.live)

    @property
    def current(self) -> LedgerOp | None:
        """The Yotpo order refunds go to: the last one not refused."""
        live = self.live
        return live[-1] if live else self.first

    @property
    def current_yotpo_order_id(self) -> str | None:
        current = self.current
        return str(current.payload[F.ORDER_ID]) if current is not None else None


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


def _coupon_codes(view: OrderView) -> list[str]:
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


def _item_name(line: LineItemView, locale: str) -> str:
    if line.name.get(locale):
        return line.name[locale]
    return next((name for name in line.name.values() if name), "")


def _item_id(line: LineItemView, config: PlannerConfig) -> str:
    if config.item_id_source == "sku":
        return line.sku or line.product_id or line.id
    return line.product_id or line.sku or line.id


def _member_unresolved(view: OrderView, config: PlannerConfig) -> bool:
    """The member id depends on the customer (MEMBER_ID_SOURCE) and the customer was not read."""
    return bool(view.customer_id) and view.member is None and config.members.identity.needs_customer


def _member(view: OrderView) -> tuple[str | None, str | None]:
    """(member id, email) the order is told under: its customer's member, else the order's."""
    if view.customer_id is None:
        return None, view.customer_email
    if view.member is not None:
        return view.member.member_id, view.member.email or view.customer_email
    return view.customer_id, view.customer_email


def _instore(view: OrderView, config: PlannerConfig) -> StoreLocation | None:
    """The store of an in-store sale: an imported order (no cart) of a configured store."""
    if view.from_cart or view.store_key is None:
        return None
    return config.instore_stores.get(view.store_key)


def _customer_block(view: OrderView, config: PlannerConfig) -> dict[str, Any]:
    """The order's `customer` object: `has_account`, `tags`, `opted_in` (Create Order)."""
    block: dict[str, Any] = {F.HAS_ACCOUNT: view.customer_id is not None}
    member = view.member
    if member is not None and member.tags_known:
        # "Include this if customer-based include or exclude rules are configured."
        block[F.TAGS] = ",".join(member.tags)
    if member is not None:
        opted = member.opted_in
    else:
        opted = True if config.members.opt_in_policy == "always" else None
    if opted is not None:
        block[F.OPTED_IN] = opted
    return block


def _order_tags(view: OrderView, channel: str | None) -> list[str]:
    """Order tags Yotpo's order rules can match: the store key and the sales channel.

    Only facts the shopper cannot write: never a cart custom field.
    """
    tags = [view.store_key, channel]
    return [t.replace(",", " ") for t in tags if t]


def _item(line: LineItemView, config: PlannerConfig) -> dict[str, Any]:
    item: dict[str, Any] = {
        F.ID: _item_id(line, config),
        F.ITEM_NAME: _item_name(line, config.locale),
        F.ITEM_PRICE_CENTS: line.unit_price_minor,
        F.ITEM_QUANTITY: line.quantity,
    }
    # Product rules in Yotpo's admin ("exclude the gift card collection") match these.
    if line.collections:
        item[ITEM_COLLECTIONS] = ",".join(c.replace(",", " ") for c in line.collections)
    if line.product_type:
        item[ITEM_TYPE] = line.product_type
    vendor = line.attributes.get(config.item_vendor_attribute or "")
    if vendor:
        item[ITEM_VENDOR] = vendor
    return item


def _order_payload(
    view: OrderView,
    config: PlannerConfig,
    yotpo_order_id: str,
    amount: int,
    *,
    with_codes: bool = True,
) -> dict[str, Any]:
    payload: dict[str, Any] = {F.ORDER_ID: yotpo_order_id}
    member_id, email = _member(view)
    if member_id:
        payload[F.CUSTOMER_ID] = member_id
    payload[F.CUSTOMER_EMAIL] = email
    payload[F.TOTAL_AMOUNT_CENTS] = amount
    payload[F.DISCOUNT_AMOUNT_CENTS] = max(view.discount_minor, 0)
    codes = _coupon_codes(view) if with_codes else []
    if codes:
        payload[F.COUPON_CODE] = ",".join(codes)
    payload[F.CURRENCY_CODE] = view.currency
    payload[F.CREATED_AT] = view.created_at.isoformat()
    payload[F.STATUS] = config.yotpo_order_status
    payload[F.ITEMS] = [_item(line, config) for line in view.line_items]
    payload[F.CUSTOMER] = _customer_block(view, config)
    store = _instore(view, config)
    channel = CHANNEL_OFFLINE if store is not None else CHANNEL_ONLINE if view.from_cart else None
    if channel:
        payload[CHANNEL_TYPE] = channel
    tags = _order_tags(view, channel)
    if tags:
        payload[F.TAGS] = ",".join(tags)
    if store is not None:
        for field, value in (
            (STORE_ADDRESS, store.address),
            (STORE_CITY, store.city),
            (STORE_STATE, store.state),
        ):
            if value:
                payload[field] = value
    if not view.from_cart:
        if view.clerk_employee_id:
            payload[CLERK_EMPLOYEE_ID] = view.clerk_employee_id
        if view.clerk_name:
            payload[CLERK_NAME] = view.clerk_name
    if view.ip_address:
        payload[F.IP_ADDRESS] = view.ip_address
    if view.user_agent:
        payload[F.USER_AGENT] = view.user_agent
    if not (view.ip_address and view.user_agent):
        # Create Order lists ip_address and user_agent as required, with `ignore_ip_ua`
        # ("Ignore IP address and user-agent fraud checks for this order") for orders that
        # have none: server-side, back-office, backfilled and in-store orders.
        payload[IGNORE_IP_UA] = True
    return payload


def _order_op(
    view: OrderView,
    config: PlannerConfig,
    key_id: str,
    yotpo_order_id: str,
    now: datetime,
    *,
    amount: int | None = None,
    with_codes: bool = True,
) -> LedgerOp:
    amount = _earning_base(view, config) if amount is None else amount
    return LedgerOp(
        key=f"{ORDER_KEY_PREFIX}{key_id}",
        kind="order",
        payload=_order_payload(view, config, yotpo_order_id, amount, with_codes=with_codes),
        status=OpStatus.PENDING,
        created_at=now,
        updated_at=now,
        amount_cents=amount,
    )


def _refund_op(
    key: str,
    yotpo_order_id: str,
    amount: int,
    currency: str,
    now: datetime,
    items: list[dict[str, Any]] | None = None,
) -> LedgerOp:
    payload: dict[str, Any] = {
        F.ID: key.removeprefix(REFUND_KEY_PREFIX),
        F.ORDER_ID: yotpo_order_id,
        F.TOTAL_AMOUNT_CENTS: amount,
        F.CURRENCY: currency,
    }
    if items:
        # `items[].id` "must match the item ID used when the order was created".
        payload[F.ITEMS] = items
    return LedgerOp(
        key=key,
        kind="refund",
        payload=payload,
        status=OpStatus.PENDING,
        created_at=now,
        updated_at=now,
        amount_cents=amount,
    )


_Due = tuple[str, int, list[dict[str, Any]] | None]


def _refunds_due(view: OrderView, config: PlannerConfig, earned: int) -> Iterator[_Due]:
    """(key, amount in earning terms, items) of every refund the order shows, uncapped."""
    if config.refund_source == "payments":
        yield from _payment_refunds(view, config, earned)
    else:
        yield from _return_refunds(view, config)


def _payment_refunds(view: OrderView, config: PlannerConfig, earned: int) -> Iterator[_Due]:
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
        yield f"{REFUND_KEY_PREFIX}{refund.transaction_id}", amount, None


def _return_refunds(view: OrderView, config: PlannerConfig) -> Iterator[_Due]:
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
                items = [{F.ID: _item_id(line, config), F.ITEM_QUANTITY: item.quantity}]
                yield f"{REFUND_KEY_PREFIX}{RETURN_REFUND_PREFIX}{item.id}", share, items


def _customer_op(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    told: _Told,
    now: datetime,
) -> LedgerOp | None:
    """A guest order since assigned to a customer with the order's email: attach the member id.

    Yotpo made (or credited) a member by the order's email; upserting that email with the
    member id makes it the customer's member. When the customer's own email is another one,
    `_move_to_member` moves the order instead (an upsert would be refused: 422, the email
    belongs to another member).
    """
    current = told.current
    if current is None or not view.customer_id or _member_unresolved(view, config):
        return None
    if current.payload.get(F.CUSTOMER_ID):
        return None
    member_id, email = _member(view)
    told_email = current.payload.get(F.CUSTOMER_EMAIL)
    if not member_id or not email or not _same_email(email, told_email):
        return None
    key = f"{CUSTOMER_KEY_PREFIX}{view.customer_id}"
    if key in ledger.ops:
        return None
    return LedgerOp(
        key=key,
        kind="customer",
        payload={F.ID: member_id, F.EMAIL: email},
        status=OpStatus.PENDING,
        created_at=now,
        updated_at=now,
    )


def _same_email(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.strip().lower() == b.strip().lower()


def _move_to_member(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    told: _Told,
    pinned: str,
    remaining: int,
    now: datetime,
) -> list[LedgerOp]:
    """Move an order Yotpo holds under another member to the customer's member.

    Only when the customer was read (`view.member`), the Yotpo order told so far was not
    refused (a pending one goes out first: the ledger keeps execution order, and the refund
    waits for its order like every refund), it still holds points, and the order is not
    cancelled (its points leave anyway). The new Yotpo order carries what remains, without
    coupon codes: the first order already consumed them. Whether the first order is pending or
    done does not change the plan, so a look after its sending finds nothing new to do.
    """
    member = view.member
    current = told.current
    if (
        member is None
        or view.cancelled
        or remaining <= 0
        or current is None
        or current.status == OpStatus.FAILED
    ):
        return []
    told_id = current.payload.get(F.CUSTOMER_ID)
    if told_id:
        # Told under this customer, by its member id or by its commercetools id (a changed
        # MEMBER_ID_SOURCE must not move every order looked at again): it is where it belongs.
        if told_id in (member.member_id, member.customer_id):
            return []
    elif not member.email or _same_email(member.email, current.payload.get(F.CUSTOMER_EMAIL)):
        return []  # the guest's member becomes the customer's: `_customer_op`
    current_id = str(current.payload[F.ORDER_ID])
    refund_key = f"{REFUND_KEY_PREFIX}{current_id}{MOVED_REFUND_SUFFIX}"
    new_id = f"{pinned}-{len(told.orders) + 1}"
    if refund_key in ledger.ops or f"{ORDER_KEY_PREFIX}{new_id}" in ledger.ops:
        return []
    refund = _refund_op(refund_key, current_id, remaining, view.currency, now)
    order = _order_op(view, config, new_id, new_id, now, amount=remaining, with_codes=False)
    return [refund, order]


def _spent_reward_return_op(
    view: OrderView, ledger: OrderLedger, config: PlannerConfig, now: datetime
) -> LedgerOp | None:
    """Points of an immediately deducted reward, given back when its order is cancelled before
    Yotpo was told about the order.

    The checkout consumes a reward when its order is placed (it re-redeems it with immediate
    deduction, so one set of points cannot pay for two rewards): those points left the balance
    whatever the earning trigger, and an order cancelled before earning would otherwise keep
    them. A delayed reward whose order never reached Yotpo cost nothing, so nothing goes back.
    Only the sealed record is believed (`view.reward.verified`), and only for the order's own
    customer; the points go to the member the order would have been told under.
    """
    reward = view.reward
    key = f"{REWARD_RETURN_KEY_PREFIX}{_yotpo_order_id(view, config)}"
    member_id, _ = _member(view)
    if (
        not config.return_reward_points_on_cancel
        or key in ledger.ops
        or reward is None
        or not reward.verified
        or reward.delayed
        or not reward.points
        or reward.points <= 0
        or not view.customer_id
        or reward.customer_id != view.customer_id
        or not member_id
    ):
        return None
    return _points_back(key, member_id, reward.points, _yotpo_order_id(view, config), now)


def _points_back(key: str, member_id: str, points: int, order_id: str, now: datetime) -> LedgerOp:
    return LedgerOp(
        key=key,
        kind="reward_return",
        payload={
            F.CUSTOMER_ID: member_id,
            F.POINT_ADJUSTMENT_AMOUNT: points,
            F.APPLY_ADJUSTMENT_TO_POINTS_EARNED: False,
            F.HISTORY_TITLE: f"Points returned: order {order_id} was cancelled",
            F.VISIBLE_TO_CUSTOMER: True,
        },
        status=OpStatus.PENDING,
        created_at=now,
        updated_at=now,
    )


def _reward_return_op(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    told: _Told,
    pinned: str,
    now: datetime,
) -> LedgerOp | None:
    """Points spent on a reward, given back when the order that used it is cancelled.

    Facts relied on, all of which the shopper cannot forge:
    - the reward as the checkout sealed it (`view.reward.verified`: opened with the connector's
      key, see `reward_state`): its code, its points and the customer it was issued to;
    - the ledger: an order operation whose `coupon_code` carried that code and that Yotpo did
      not refuse. Under delayed deduction Yotpo deducts the points when it receives that order
      (https://support.yotpo.com/docs/implementing-redemptions-via-api); under immediate
      deduction they left at redemption, and the order is still the proof the code was used.
      A pending order operation counts (the plan must not depend on whether it was sent yet,
      or a look after its sending would find new work): like a refund, the reward return comes
      after it in the ledger and must wait for it, and fail if Yotpo refuses it;
    - the reward was issued to the order's customer, so the points go back to the member the
      order was told under (by id).
    Planned once (key "reward_return:{order id}"), whatever later looks see. The body is Yotpo's
    points-adjust call (https://loyaltyapi.yotpo.com/reference/adjust-a-customers-point-balance):
    a positive `point_adjustment_amount`, not counted as points earned (tiers unchanged).
    """
    reward = view.reward
    key = f"{REWARD_RETURN_KEY_PREFIX}{pinned}"
    if (
        not config.return_reward_points_on_cancel
        or key in ledger.ops
        or reward is None
        or not reward.verified
        or not reward.points
        or reward.points <= 0
        or not view.customer_id
        or reward.customer_id != view.customer_id
    ):
        return None
    used = next(
        (
            op
            for op in told.orders
            if op.status != OpStatus.FAILED
            and reward.code in str(op.payload.get(F.COUPON_CODE) or "").split(",")
        ),
        None,
    )
    member_id = used.payload.get(F.CUSTOMER_ID) if used is not None else None
    if not member_id:
        return None
    return _points_back(key, str(member_id), reward.points, pinned, now)
