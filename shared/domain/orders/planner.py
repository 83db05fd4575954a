"""The pure planner: what the loyalty provider must still be told about an order, given what it
was told.

Kept whole at ~760 lines (a third of it this docstring): the rules of one plan, checked in
order, share the ledger's reading (`_Told`) and the operation factory (`_Emit`); the parts
that stand alone live beside it (`order_facts`, `corrections`, `redemption_ops`).

`plan_order(view, ledger, config, account, now)` compares the order as it is now with the
ledger and returns the operations to add. Calling it again after applying its plan returns an
empty plan, whatever order, delay or duplication the signals that caused the looks had: that is
what keeps points right under at-least-once, unordered delivery.

Rules, in the order they are checked:
1. A blocked ledger gets nothing, ever.
2. A cancelled order that never had an order operation is blocked ("cancelled_before_earning").
3. Skips (re-evaluated on every look, nothing planned while they hold): no provider account
   for the order's store, the order's currency not enabled for that account, an order told to
   another provider than the store's now ("provider_changed"). A missing email, a member id
   that needs the customer when the customer was not read ("member_unknown"), or an
   EARNING_TRIGGER the provider cannot earn on ("earning_trigger_unsupported") only hold back
   the earning (refunds of an order already told to the provider do not need them).
4. Earning: trigger met, no order operation yet, not cancelled → one `order` operation.
   The provider order reference (the Yotpo order id) is pinned in the ledger with it. A
   provider whose orders must name a member it already holds (Voyado) gets a `customer`
   operation for the order's member first ("member:{ref}"), guests included.
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
8. Changes after recording, for a provider whose receipts are final
   (`Capabilities.corrects_changed_orders`, Voyado), measured against the current order
   operation (the first one or its last re-issue; not after a move, not once cancelled): an
   order that now earns less than the provider holds for it (an Order Edit, a line removed)
   gets a correction refund "{ref}-changed-{n}" of the difference, after the refunds the order
   shows and sharing their cap, so money refunded by payment is never also a change. One that
   grew (earns more than the provider holds, is worth more than it was told, or earns on units
   of a line the purchase does not hold, the returns of this look counted) is re-issued:
   the refunds it shows are taken from the current purchase, what that purchase still holds
   comes back whole ("{ref}-changed-{n}" naming every unit), and the order as it is now is a
   new order operation "order:{ref}-r{n}" with its own provider reference, earning what the
   order earns now; later refunds, corrections, the cancellation and a move go to it. A growth
   that cannot name its member on this look waits, skipped as "order_grew"
   (`shared/domain/orders/corrections.py`, ADR 0096). Yotpo is unchanged.

The planner says what to tell with provider-neutral operations (`shared/domain/providers/port`:
`OrderRecorded`, `Reversal`, `MemberUpsert`, `PointsReturned`); the store's provider renderer
(`renderer=`, Yotpo's by default) turns each into the exact request body the ledger pins with
it (ADR 0080). Yotpo's bodies are the documented ones of Create Order and Create Refund
(`shared/domain/providers/yotpo.py`, ADR 0011). What earlier operations said is read back
through the ledger operation (`LedgerOp.order_ref`, `.member_id`, `.member_email`,
`.coupon_codes`), so a ledger written before the port plans the same. A kind the store's
provider does not take (`Capabilities.dedup`) is not planned for it; one its renderer cannot
make a body for is planned FAILED, for an operator to see.

Trigger `paid` holds when the payment state is Paid or a Charge transaction succeeded: the
payment state can move on (e.g. to CreditOwed after a refund) before the first look, and a
late look must still earn what an early one would have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.orders import corrections as changes
from shared.domain.orders.ledger import LedgerOp, OpStatus, OrderLedger
from shared.domain.orders.order_facts import (
    CHANNEL_OFFLINE,
    CHANNEL_ONLINE,
    ORDER_KEY_PREFIX,
    REFUND_KEY_PREFIX,
    RETURN_REFUND_PREFIX,
    earning_base,
    member_of,
    member_unresolved,
    new_order_ref,
    order_recorded,
    refunds_due,
)
from shared.domain.orders.order_view import (
    ORDER_STATE_COMPLETE,
    PAYMENT_STATE_PAID,
    SHIPMENT_STATES_SHIPPED,
    OrderView,
)
from shared.domain.orders.planner_config import PlannerConfig
from shared.domain.orders.redemption_ops import plan_redemption_ops
from shared.domain.providers.port import (
    AnyNeutralOp,
    MemberUpsert,
    OrderRecorded,
    PayloadRenderer,
    PointsReturned,
    ReturnedLine,
    Reversal,
    StoreLocation,
)
from shared.domain.providers.yotpo import YOTPO_RENDERER

# Re-exported: the settings and callers import them from here.
__all__ = [
    "CHANNEL_OFFLINE",
    "CHANNEL_ONLINE",
    "RETURN_REFUND_PREFIX",
    "PlannerConfig",
    "StoreLocation",
]


CANCELLED_BEFORE_EARNING = "cancelled_before_earning"
NO_ACCOUNT_FOR_STORE = "no_account_for_store"
CURRENCY_NOT_ENABLED = "currency_not_enabled"
NO_EMAIL = "no_email"
MEMBER_UNKNOWN = "member_unknown"  # MEMBER_ID_SOURCE needs the customer, and it was not read
# The store's provider cannot earn on EARNING_TRIGGER (Capabilities.earning_triggers).
EARNING_TRIGGER_UNSUPPORTED = "earning_trigger_unsupported"
# The order was told to another provider than the one its store has now.
PROVIDER_CHANGED = "provider_changed"
# The order grew, at a provider whose receipts are final, and cannot be re-issued on this look.
ORDER_GREW = changes.ORDER_GREW

CUSTOMER_KEY_PREFIX = "customer:"
MEMBER_KEY_PREFIX = "member:"  # the member a provider must hold before the order (see above)
REWARD_RETURN_KEY_PREFIX = "reward_return:"
CANCEL_REFUND_SUFFIX = "-cancel"
MOVED_REFUND_SUFFIX = "-moved"


class AccountView(BaseModel):
    """The provider account an order's store routes to."""

    model_config = ConfigDict(frozen=True)

    key: str
    currencies: frozenset[str] = frozenset()  # empty: whatever the account accepts

    def accepts(self, currency: str) -> bool:
        return not self.currencies or currency.upper() in {c.upper() for c in self.currencies}


class OrderPlan(BaseModel):
    """The difference between what the provider should know and what the ledger says it was
    told."""

    model_config = ConfigDict(frozen=True)

    planned_at: datetime
    new_ops: list[LedgerOp] = []  # to add as PENDING, in execution order
    pin_yotpo_order_id: str | None = None  # the provider order reference to pin (old name)
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
        if self.pin_yotpo_order_id and ledger.provider_order_ref is None:
            update["provider_order_ref"] = self.pin_yotpo_order_id
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
    *,
    renderer: PayloadRenderer = YOTPO_RENDERER,
) -> OrderPlan:
    """What the provider must still be told about this order (rules in the module docstring).

    `renderer`: the provider of the order's store renders every new operation's body."""
    emit = _Emit(renderer, now, ledger)
    if ledger.blocked_reason:
        return OrderPlan(planned_at=now)
    if view.cancelled and ledger.order_op is None:
        if member_unresolved(view, config):
            return OrderPlan(planned_at=now, skipped_reason=MEMBER_UNKNOWN)
        # Points go back only through a Yotpo account that routes this order.
        spent = _spent_reward_return_op(view, ledger, config, emit) if account else None
        return OrderPlan(
            planned_at=now,
            new_ops=[spent] if spent is not None else [],
            blocked_reason=CANCELLED_BEFORE_EARNING,
        )
    if account is None:
        return OrderPlan(planned_at=now, skipped_reason=NO_ACCOUNT_FOR_STORE)
    if not account.accepts(view.currency):
        return OrderPlan(planned_at=now, skipped_reason=CURRENCY_NOT_ENABLED)
    told_to = ledger.order_op.provider if ledger.order_op is not None else None
    if told_to is not None and told_to != renderer.capabilities.provider:
        # The order's points are with the provider it was told to; another one cannot take
        # its refunds. Nothing is planned until the store's provider is that one again.
        return OrderPlan(planned_at=now, skipped_reason=PROVIDER_CHANGED)

    new_ops: list[LedgerOp] = []
    pin: str | None = None
    told = _Told.of(ledger)
    if told.first is None:
        if config.earning_trigger not in renderer.capabilities.earning_triggers:
            return OrderPlan(planned_at=now, skipped_reason=EARNING_TRIGGER_UNSUPPORTED)
        if not _trigger_met(view, config):
            return OrderPlan(planned_at=now)  # refunds wait for the earning
        if view.customer_email is None:
            return OrderPlan(planned_at=now, skipped_reason=NO_EMAIL)
        if member_unresolved(view, config):
            return OrderPlan(planned_at=now, skipped_reason=MEMBER_UNKNOWN)
        pinned = ledger.provider_order_ref or new_order_ref(view, config)
        pin = pinned if ledger.provider_order_ref is None else None
        member_first = _member_first(view, ledger, pinned, emit)
        if member_first is not None:
            new_ops.append(member_first)
        order_op = _order_op(view, config, pinned, pinned, emit)
        new_ops.append(order_op)
        told = told.with_order(order_op)
    else:
        pinned = ledger.provider_order_ref or str(told.first.order_ref)

    # What the order earned (the base refunds are shares of) and what the provider still holds.
    earned = told.base
    remaining = told.earned_total - ledger.refunded_amount()

    # A provider whose receipts are final hears of an order that changed since it was recorded
    # only through reversals and re-issues (rule 8): refunds the order shows and a correction
    # share one cap.
    recorded = changes.applies(renderer.capabilities, view, told.orders, pinned)
    whole = changes.paid_gross(told.first) if recorded is not None else None
    check = (
        changes.check_change(view, config, ledger, recorded, earned, whole)
        if recorded is not None
        else None
    )
    reissue = check is not None and check.grew and changes.can_reissue(view, config)
    to_reverse = check.to_reverse if check is not None and not reissue else None
    refunds = _refunds(view, ledger, config, told, earned, whole, remaining, to_reverse, emit)
    if (
        recorded is not None
        and check is not None
        and not check.grew
        and changes.has_new_units(
            view, config, ledger, recorded, earned, whole, [ln for *_, lns in refunds for ln in lns]
        )
    ):
        # The returns seen now name units of the purchase the order still earns on (units
        # added since came back instead): only a new purchase can hold those (ADR 0096).
        check = changes.with_new_units(check)
        reissue = changes.can_reissue(view, config)
        to_reverse = None if reissue else to_reverse
        refunds = _refunds(view, ledger, config, told, earned, whole, remaining, to_reverse, emit)

    current = told.current_order_ref or pinned
    for key, amount, reason, lines in refunds:
        new_ops.append(_refund_op(key, current, amount, view, emit, reason, told, lines))
        remaining -= amount
        if to_reverse is not None:
            to_reverse -= amount

    skipped: str | None = None
    if reissue and recorded is not None and check is not None:
        reissued = _reissue(view, ledger, config, told, recorded, pinned, remaining, check, emit)
        new_ops.extend(reissued)
        remaining = check.earns_now
        if reissued and reissued[-1].kind == "order":
            told = told.with_order(reissued[-1])
            current = told.current_order_ref or pinned
    elif recorded is not None and check is not None and to_reverse is not None:
        if check.grew:
            skipped = ORDER_GREW  # it cannot be re-issued on this look (`can_reissue`)
        amount = min(to_reverse, remaining)
        if amount > 0:
            key, intent = changes.correction(
                view,
                config,
                ledger,
                recorded,
                pinned,
                amount,
                earned=earned,
                whole=whole,
                planned=new_ops,
            )
            new_ops.append(emit.op(key, intent, amount=amount))
            remaining -= amount

    # Refunds seen now go to the provider order that holds the points; then what remains moves.
    moved = _move_to_member(view, ledger, config, told, pinned, remaining, emit)
    new_ops.extend(moved)
    if moved:
        told = told.with_order(moved[-1])
        current = told.current_order_ref or pinned

    if view.cancelled:
        cancel_key = f"{REFUND_KEY_PREFIX}{pinned}{CANCEL_REFUND_SUFFIX}"
        if cancel_key not in ledger.ops and remaining > 0:
            new_ops.append(_refund_op(cancel_key, current, remaining, view, emit, "cancel", told))
        reward_return = _reward_return_op(view, ledger, config, told, pinned, emit)
        if reward_return is not None:
            new_ops.append(reward_return)

    # A provider that redeems a reward after payment (a Voyado voucher) commits it now, and
    # gives it back when the order is cancelled afterwards (ADR 0095).
    new_ops += plan_redemption_ops(
        view,
        ledger,
        renderer,
        now,
        order_ref=pinned,
        trigger_met=_trigger_met(view, config),
        before=tuple(new_ops),
    )

    if not moved:
        customer_op = _customer_op(view, ledger, config, told, emit)
        if customer_op is not None:
            new_ops.append(customer_op)

    earns_now = ledger.order_op is None
    return OrderPlan(
        planned_at=now,
        new_ops=new_ops,
        pin_yotpo_order_id=pin,
        account=account.key if earns_now else None,
        currency=view.currency if earns_now else None,
        skipped_reason=skipped,
    )


@dataclass(frozen=True)
class _Emit:
    """Makes the ledger operation of a neutral one: rendered by the store's provider, now."""

    renderer: PayloadRenderer
    now: datetime
    ledger: OrderLedger
    made: list[LedgerOp] = field(default_factory=list)  # this plan's, in the order made

    def supports(self, kind: str) -> bool:
        return self.renderer.capabilities.supports(kind)

    def op(self, key: str, intent: AnyNeutralOp, *, amount: int | None = None) -> LedgerOp:
        before = (*self.ledger.ops.values(), *self.made)
        made = LedgerOp.rendered(
            key, intent, self.renderer, before=before, now=self.now, amount_cents=amount
        )
        self.made.append(made)
        return made


class _Told(BaseModel):
    """What the ledger says the provider was told about the order's earning (pure reading)."""

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
        """What the order earned when first told (0 when the provider refused it)."""
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
        """The provider order refunds go to: the last one not refused."""
        live = self.live
        return live[-1] if live else self.first

    @property
    def current_order_ref(self) -> str | None:
        current = self.current
        return str(current.order_ref) if current is not None else None


def _trigger_met(view: OrderView, config: PlannerConfig) -> bool:
    trigger = config.earning_trigger
    if trigger == "created":
        return True
    if trigger == "paid":
        return view.payment_state == PAYMENT_STATE_PAID or view.charge_succeeded
    if trigger == "shipped":
        return view.shipment_state in SHIPMENT_STATES_SHIPPED
    return view.order_state == ORDER_STATE_COMPLETE


def _refunds(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    told: _Told,
    earned: int,
    whole: int | None,
    remaining: int,
    to_reverse: int | None,
    emit: _Emit,
) -> list[tuple[str, int, Literal["refund", "return"], tuple[ReturnedLine, ...]]]:
    """Rule 5: (key, amount, reason, lines) of each refund the order shows and the ledger does
    not hold, capped by what remains and, for a provider whose receipts are final, by what a
    correction must still take back (`to_reverse`; None: no such cap)."""
    planned: list[tuple[str, int, Literal["refund", "return"], tuple[ReturnedLine, ...]]] = []
    named: list[ReturnedLine] = []
    for key, due, reason, lines in refunds_due(view, config, earned, paid_gross=whole):
        if key in ledger.ops:
            continue
        amount = min(due, remaining)
        if to_reverse is not None:
            amount = min(amount, to_reverse)
        if amount <= 0:
            continue  # nothing left to give back: not sent, not recorded
        current = told.current
        if emit.renderer.capabilities.corrects_changed_orders and current is not None:
            # Named units only where the purchase holds them all and gives them back whole.
            lines = changes.held_lines(lines, amount, due, ledger, current, named)
            named.extend(lines)
        planned.append((key, amount, reason, lines))
        remaining -= amount
        if to_reverse is not None:
            to_reverse -= amount
    return planned


def _order_op(
    view: OrderView,
    config: PlannerConfig,
    key_id: str,
    order_ref: str,
    emit: _Emit,
    *,
    amount: int | None = None,
    with_codes: bool = True,
) -> LedgerOp:
    amount = earning_base(view, config) if amount is None else amount
    intent = order_recorded(view, config, order_ref, amount, with_codes=with_codes)
    return emit.op(f"{ORDER_KEY_PREFIX}{key_id}", intent, amount=amount)


def _reissue(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    told: _Told,
    recorded: LedgerOp,
    pinned: str,
    remaining: int,
    check: changes.ChangeCheck,
    emit: _Emit,
) -> list[LedgerOp]:
    """Rule 8, an order that grew: what the current purchase still holds comes back whole, and
    the order as it is now is recorded again (its member first, for a provider that needs
    it), earning what it earns now (`corrections.reissued`). An order that earns nothing now
    is only reversed: nothing is recorded for it. Nothing here depends on whether the current
    purchase was sent yet: the ledger keeps execution order, and the reversal waits for it."""
    ops: list[LedgerOp] = []
    if remaining > 0:
        made = [op.key for op in emit.made]
        key, back = changes.whole_reversal(view, ledger, recorded, pinned, remaining, made=made)
        ops.append(emit.op(key, back, amount=remaining))
    if check.earns_now <= 0:
        return ops
    ref = changes.reissue_ref(pinned, told.orders)
    member_id, email = member_of(view)
    if member_id != recorded.member_id or not _same_email(email, recorded.member_email):
        # Named under another member than the purchase it replaces: that one first, as for the
        # order's first purchase (a provider whose receipts must name a member it holds).
        member_first = _member_first(view, ledger, ref, emit)
        if member_first is not None:
            ops.append(member_first)
    intent = changes.reissued(
        view,
        config,
        ref,
        check.earns_now,
        check,
        earned=told.base,
        whole=changes.paid_gross(told.first),
    )
    ops.append(emit.op(f"{ORDER_KEY_PREFIX}{ref}", intent, amount=check.earns_now))
    return ops


def _refund_op(
    key: str,
    order_ref: str,
    amount: int,
    view: OrderView,
    emit: _Emit,
    reason: Literal["refund", "return", "cancel", "moved"],
    told: _Told,
    lines: tuple[ReturnedLine, ...] = (),
) -> LedgerOp:
    # The member the reversed order was told under (a provider that files reversals by member).
    owner = next((op for op in reversed(told.orders) if op.order_ref == order_ref), None)
    intent = Reversal(
        refund_ref=key.removeprefix(REFUND_KEY_PREFIX),
        order_ref=order_ref,
        amount_minor=amount,
        currency=view.currency,
        reason=reason,
        lines=lines,
        ct_order_id=view.id,
        member=owner.intent.member
        if owner is not None and isinstance(owner.intent, OrderRecorded)
        else None,
    )
    return emit.op(key, intent, amount=amount)


def _customer_op(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    told: _Told,
    emit: _Emit,
) -> LedgerOp | None:
    """A guest order since assigned to a customer with the order's email: attach the member id.

    Yotpo made (or credited) a member by the order's email; upserting that email with the
    member id makes it the customer's member. When the customer's own email is another one,
    `_move_to_member` moves the order instead (an upsert would be refused: 422, the email
    belongs to another member).
    """
    current = told.current
    if current is None or not view.customer_id or member_unresolved(view, config):
        return None
    if current.member_id or not emit.supports("customer"):
        return None
    member_id, email = member_of(view)
    if not member_id or not email or not _same_email(email, current.member_email):
        return None
    key = f"{CUSTOMER_KEY_PREFIX}{view.customer_id}"
    if key in ledger.ops:
        return None
    intent = MemberUpsert(member_id=member_id, email=email, ct_customer_id=view.customer_id)
    return emit.op(key, intent)


def _member_first(
    view: OrderView, ledger: OrderLedger, pinned: str, emit: _Emit
) -> LedgerOp | None:
    """The member upsert a provider needs before an order can name the member
    (`Capabilities.member_before_order`): a guest too, by email; once per order."""
    if not emit.renderer.capabilities.member_before_order or not emit.supports("customer"):
        return None
    key = f"{MEMBER_KEY_PREFIX}{pinned}"
    if key in ledger.ops:
        return None
    member_id, email = member_of(view)
    if not email:
        return None
    intent = MemberUpsert(member_id=member_id, email=email, ct_customer_id=view.customer_id)
    return emit.op(key, intent)


def _same_email(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.strip().lower() == b.strip().lower()


def _move_to_member(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    told: _Told,
    pinned: str,
    remaining: int,
    emit: _Emit,
) -> list[LedgerOp]:
    """Move an order the provider holds under another member to the customer's member.

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
    told_id = current.member_id
    if told_id:
        # Told under this customer, by its member id or by its commercetools id (a changed
        # MEMBER_ID_SOURCE must not move every order looked at again): it is where it belongs.
        if told_id in (member.member_id, member.customer_id):
            return []
    elif not member.email or _same_email(member.email, current.member_email):
        return []  # the guest's member becomes the customer's: `_customer_op`
    current_id = str(current.order_ref)
    refund_key = f"{REFUND_KEY_PREFIX}{current_id}{MOVED_REFUND_SUFFIX}"
    new_id = f"{pinned}-{len(told.orders) + 1}"
    if refund_key in ledger.ops or f"{ORDER_KEY_PREFIX}{new_id}" in ledger.ops:
        return []
    refund = _refund_op(refund_key, current_id, remaining, view, emit, "moved", told)
    if not emit.renderer.capabilities.corrects_changed_orders:
        order = _order_op(view, config, new_id, new_id, emit, amount=remaining, with_codes=False)
        return [refund, order]
    # A provider that records the lines (Voyado) would otherwise hold the whole order again on
    # the new purchase, refunds included: it holds what remains (`corrections.holding`).
    intent = changes.holding(
        order_recorded(view, config, new_id, remaining, with_codes=False),
        view,
        config,
        remaining,
        earned=told.base,
        whole=changes.paid_gross(told.first),
    )
    return [refund, emit.op(f"{ORDER_KEY_PREFIX}{new_id}", intent, amount=remaining)]


def _spent_reward_return_op(
    view: OrderView, ledger: OrderLedger, config: PlannerConfig, emit: _Emit
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
    key = f"{REWARD_RETURN_KEY_PREFIX}{new_order_ref(view, config)}"
    member_id, _ = member_of(view)
    if (
        not config.return_reward_points_on_cancel
        or not emit.supports("reward_return")
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
    intent = PointsReturned(
        member_id=member_id, points=reward.points, order_ref=new_order_ref(view, config)
    )
    return emit.op(key, intent)


def _reward_return_op(
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    told: _Told,
    pinned: str,
    emit: _Emit,
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
        or not emit.supports("reward_return")
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
            if op.status != OpStatus.FAILED and reward.code in op.coupon_codes
        ),
        None,
    )
    member_id = used.member_id if used is not None else None
    if not member_id:
        return None
    return emit.op(key, PointsReturned(member_id=member_id, points=reward.points, order_ref=pinned))
