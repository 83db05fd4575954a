"""Corrections of an order that changed after it was recorded (pure, ADR 0096).

A provider whose receipts are final (`Capabilities.corrects_changed_orders`; Voyado: "Data
sent to this endpoint cannot be reversed or updated",
https://developer.voyado.com/en/receipts/register-a-purchase.html) never hears of an Order
Edit (https://docs.commercetools.com/api/projects/order-edits) or a line the merchant removed
unless the connector tells it with a reversal: a return is "just another transaction"
(https://developer.voyado.com/en/receipts/register-a-return.html).

The rule, on every look at an order recorded once (no member move) and not cancelled:

- what the order earns now (`earns_now`): its earning base as it is now, after the refunds
  the order shows. With REFUND_SOURCE=payments a Refund transaction gives money back without
  touching the order, and the merchant usually refunds an Order Edit's difference that way:
  the order earns the lesser of what it is worth now and what was recorded minus the money
  given back, so an edit refunded by payment is one reversal, never two. With
  REFUND_SOURCE=returns a return leaves the lines as they were: the order earns its base minus
  the refunded return items' shares.
- what the provider still holds for it (`held`): what was recorded minus every reversal
  planned (refused ones included: an operator replays those, and counting them out would
  plan their amount a second time).
- `held - earns_now` is what reversals must still take back. The refunds the order shows are
  planned first, capped by it; what is left is one correction `Reversal` (reason "changed")
  under `refund:{ref}-changed-{n}` (`n` counts this order's corrections). After it is planned,
  the same order looks the same and nothing more is due: plan, apply, plan again is empty.
- an order that is worth more than recorded minus its corrections (a line added), or earns
  more than the provider holds (a line put back after it was corrected), is not sent again —
  a second purchase of the same order would need its own receipt and its own refund
  routing — but skipped as `order_grew`, so the reconciler's outcome and the ledger say so
  on every look while it holds.

A correction names the units that went away (line by line, from the recorded purchase) when
those units are worth exactly the correction; otherwise (a price change, shipping, a
re-spread discount) it is a reversal by amount, which a provider spreads over what the
purchase still holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.domain.money import allocate
from shared.domain.orders.ledger import LedgerOp, OpStatus, OrderLedger
from shared.domain.orders.order_facts import REFUND_KEY_PREFIX, earning_base, refunds_due
from shared.domain.orders.order_view import OrderView
from shared.domain.orders.planner_config import PlannerConfig
from shared.domain.providers.port import Capabilities, Line, OrderRecorded, ReturnedLine, Reversal

ORDER_GREW = "order_grew"  # the order earns more than it was recorded with (skip reason)
CHANGED_INFIX = "-changed-"


@dataclass(frozen=True)
class ChangeCheck:
    """What a look at a recorded order finds about its changes."""

    earns_now: int  # what the order as it is now earns, after the refunds it shows
    held: int  # what the provider holds for it: recorded minus every reversal planned
    grew: bool  # it earns more than recorded (minus the corrections already planned)

    @property
    def to_reverse(self) -> int:
        """What reversals (refunds first, then a correction) must still take back."""
        return max(self.held - self.earns_now, 0)


def applies(
    capabilities: Capabilities,
    view: OrderView,
    orders: Iterable[LedgerOp],
) -> LedgerOp | None:
    """The recorded order operation corrections are measured against, or None when they do
    not apply: the provider updates orders in place (Yotpo), the order is cancelled (its
    cancellation takes back what remains), it was moved to another member (two recorded
    orders: out of scope, ADR 0096), or the provider refused its order."""
    if not capabilities.corrects_changed_orders or view.cancelled:
        return None
    recorded = list(orders)
    if len(recorded) != 1 or recorded[0].status == OpStatus.FAILED:
        return None
    return recorded[0]


def paid_gross(recorded: LedgerOp | None) -> int | None:
    """The recorded order's gross total, the whole its refunds by payment are shares of (an
    edit afterwards must not change what they are worth); None: not recorded with it."""
    intent = recorded.intent if recorded is not None else None
    return intent.total_gross_minor if isinstance(intent, OrderRecorded) else None


def correction_ops(ledger: OrderLedger, pinned: str) -> list[LedgerOp]:
    prefix = f"{REFUND_KEY_PREFIX}{pinned}{CHANGED_INFIX}"
    return [op for op in ledger.ops.values() if op.key.startswith(prefix)]


def check_change(
    view: OrderView,
    config: PlannerConfig,
    ledger: OrderLedger,
    recorded: LedgerOp,
    pinned: str,
    earned: int,
) -> ChangeCheck:
    """`earned`: what the recorded order earned (the base refunds are shares of)."""
    base = earning_base(view, config)
    shown = sum(
        amount
        for _, amount, _, _ in refunds_due(view, config, earned, paid_gross=paid_gross(recorded))
    )
    payments = config.refund_source == "payments"
    earns_now = min(base, earned - shown) if payments else base - shown
    # Every reversal planned counts, whatever its fate (see the module docstring).
    reversed_ = sum(
        op.amount_cents or 0
        for op in ledger.ops.values()
        if op.kind == "refund" and op.order_ref == str(recorded.order_ref)
    )
    corrected = sum(op.amount_cents or 0 for op in correction_ops(ledger, pinned))
    earns_now = max(earns_now, 0)
    held = max((recorded.amount_cents or 0) - reversed_, 0)
    return ChangeCheck(
        earns_now=earns_now,
        held=held,
        # Worth more than recorded minus what corrections took back (a line added, even when
        # refunds cap what it earns), or earning more than the provider holds (a line put
        # back after a correction took it).
        grew=base > (recorded.amount_cents or 0) - corrected or earns_now > held,
    )


def correction(
    view: OrderView,
    config: PlannerConfig,
    ledger: OrderLedger,
    recorded: LedgerOp,
    pinned: str,
    amount: int,
) -> tuple[str, Reversal]:
    """The key and the reversal of a correction of `amount` (> 0)."""
    earlier = correction_ops(ledger, pinned)
    n = len(earlier) + 1
    key = f"{REFUND_KEY_PREFIX}{pinned}{CHANGED_INFIX}{n}"
    while key in ledger.ops:  # keys are never reused
        n += 1
        key = f"{REFUND_KEY_PREFIX}{pinned}{CHANGED_INFIX}{n}"
    intent = recorded.intent if isinstance(recorded.intent, OrderRecorded) else None
    lines = _gone_lines(view, config, intent, earlier) if intent is not None else ()
    if sum(line.amount_minor or 0 for line in lines) != amount:
        lines = ()  # not only units that went away: a reversal by amount
    return key, Reversal(
        refund_ref=key.removeprefix(REFUND_KEY_PREFIX),
        order_ref=str(recorded.order_ref),
        amount_minor=amount,
        currency=view.currency,
        reason="changed",
        lines=lines,
        ct_order_id=view.id,
        member=intent.member if intent is not None else None,
    )


def _worth(line: Line, config: PlannerConfig) -> int:
    """A recorded line's total in earning terms (AMOUNT_BASE)."""
    if config.amount_base == "total":
        return max(line.paid_total_minor, 0)
    return max(line.paid_total_minor - (line.tax_minor or 0), 0)


def _gone_lines(
    view: OrderView,
    config: PlannerConfig,
    recorded: OrderRecorded,
    earlier: Iterable[LedgerOp],
) -> tuple[ReturnedLine, ...]:
    """Units of the recorded purchase the order no longer has, less those earlier corrections
    named, each worth its cumulative share of its recorded line (so all units of a line add up
    to the line's total)."""
    now = {line.id: line.quantity for line in view.line_items}
    named: dict[str, int] = {}
    for op in earlier:
        if isinstance(op.intent, Reversal):
            for line in op.intent.lines:
                if line.line_id:
                    named[line.line_id] = named.get(line.line_id, 0) + line.quantity
    gone: list[ReturnedLine] = []
    for line in recorded.lines:
        if line.quantity <= 0:
            continue
        before = min(named.get(line.line_id, 0), line.quantity)
        still = max(min(now.get(line.line_id, 0), line.quantity), 0)
        units = line.quantity - still - before
        if units <= 0:
            continue
        worth = _worth(line, config)
        share = allocate(worth, before + units, line.quantity) - allocate(
            worth, before, line.quantity
        )
        gone.append(
            ReturnedLine(
                line_id=line.line_id, item_id=line.item_id, quantity=units, amount_minor=share
            )
        )
    return tuple(gone)
