"""Corrections of an order that changed after it was recorded (pure, ADR 0096).

A provider whose receipts are final (`Capabilities.corrects_changed_orders`; Voyado: "Data
sent to this endpoint cannot be reversed or updated",
https://developer.voyado.com/en/receipts/register-a-purchase.html) never hears of an Order
Edit (https://docs.commercetools.com/api/projects/order-edits) or a line the merchant removed
unless the connector tells it with a reversal, or with a new receipt: a return is "just another
transaction" with "no actual connection between a purchase and a possible return"
(https://developer.voyado.com/en/receipts/register-a-return.html).

Corrections are measured against the *current* order operation (`applies`): the order's first
one, or the last re-issue of it (below). Not after a move to another member (an order
operation that is neither: out of scope), nor once the order is cancelled (its cancellation
takes back what remains), nor while the current one is refused (an operator replays it).

On every look:

- what the order earns now (`earns_now`): its earning base as it is now (`W`), after the
  refunds the order shows (`R`, every one, whatever was planned of it). With
  REFUND_SOURCE=payments a Refund transaction gives money back without touching the order,
  and the merchant usually refunds an Order Edit's difference that way; the connector cannot
  tell which refund paid back which edit, so a fall of the order's worth below the most the
  provider was told it was worth (`reference`, the current order operation's
  `amount_minor`) is taken as what refunds paid back: the order earns
  `min(W, max(W, reference) - R)`. An edit refunded by payment is one reversal, never two,
  whichever of the two is seen first. With REFUND_SOURCE=returns a return leaves the lines as
  they were: the order earns `W - R`, R the refunded return items' shares.
- what the provider still holds for it (`held`): the current order operation's amount minus
  every reversal planned from it (refused ones included: an operator replays those, and
  counting them out would plan their amount a second time).
- an order that shrank: `held - earns_now` is what reversals must still take back. The
  refunds the order shows are planned first, capped by it; what is left is one correction
  `Reversal` (reason "changed") under `refund:{ref}-changed-{n}` (`n` counts this order's
  corrections, over all its receipts). It names the units that went away (line by line, from
  the current purchase) when those units are worth exactly the correction; otherwise (a price
  change, shipping, a re-spread discount) it is a reversal by amount, which a provider spreads
  over what the purchase still holds. Units went away when the purchase still holds them (its
  recorded units less those every reversal of it named, refunded returns included) and the
  order no longer earns on them (`_gone_lines`). A refunded return names its units only where
  the purchase holds them all and it takes them back whole (`held_lines`); otherwise it is a
  reversal by amount too.
- an order that grew (`ChangeCheck.grew`: it earns more than the provider holds, is worth more
  than `reference`, or earns on more units of a line than the purchase holds, `has_new_units`,
  counting the returns planned in the same look) is **re-issued**: the refunds it shows are
  taken from the current purchase, what that purchase still holds comes back whole (a "changed"
  reversal naming every unit, `whole_reversal`), and the order as it is now is recorded again
  as a new order operation `order:{ref}-r{n}` (`reissued`), with its own provider reference
  `{ref}-r{n}` and what it earns now. It becomes the current one: later refunds, corrections,
  the cancellation and a member move go to it. Its `amount_minor` is the new `reference`; what
  the order earns less than its lines are worth (money refunded by payment) is an extra
  discount on it, and units of refunded return items are left out of its lines, so its receipt
  holds what the order earns now.

After a plan is applied the same order looks the same and nothing more is due: plan, apply,
plan again is empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from shared.domain.money import allocate
from shared.domain.orders.ledger import LedgerOp, OpStatus, OrderLedger
from shared.domain.orders.order_facts import (
    ORDER_KEY_PREFIX,
    REFUND_KEY_PREFIX,
    earning_base,
    member_unresolved,
    order_discount_gross,
    order_recorded,
    refunds_due,
)
from shared.domain.orders.order_view import OrderView
from shared.domain.orders.planner_config import PlannerConfig
from shared.domain.providers.port import Capabilities, Line, OrderRecorded, ReturnedLine, Reversal

# The order grew and cannot be re-issued on this look (skip reason; see `can_reissue`).
ORDER_GREW = "order_grew"
CHANGED_INFIX = "-changed-"
REISSUE_INFIX = "-r"  # order:{ref}-r{n}, provider reference {ref}-r{n}


@dataclass(frozen=True)
class ChangeCheck:
    """What a look at a recorded order finds about its changes."""

    earns_now: int  # what the order as it is now earns, after the refunds it shows
    held: int  # what the provider holds on the current purchase: its amount minus reversals
    grew: bool  # earns more than held, worth more than the reference, or has new units
    worth: int  # the order's earning base now
    reference: int  # the most the provider was told the order is worth
    new_units: bool = False  # units that earn, on a line the current purchase holds fewer of

    @property
    def to_reverse(self) -> int:
        """What reversals (refunds first, then a correction) must still take back."""
        return max(self.held - self.earns_now, 0)


def is_reissue(op: LedgerOp, pinned: str) -> bool:
    """An order operation that re-issued the order `pinned` (`order:{pinned}-r{n}`)."""
    rest = op.key.removeprefix(f"{ORDER_KEY_PREFIX}{pinned}{REISSUE_INFIX}")
    return op.kind == "order" and rest != op.key and rest.isdigit()


def applies(
    capabilities: Capabilities,
    view: OrderView,
    orders: Sequence[LedgerOp],
    pinned: str,
) -> LedgerOp | None:
    """The current order operation corrections are measured against, or None when they do not
    apply: the provider updates orders in place (Yotpo), the order is cancelled (its
    cancellation takes back what remains), it was moved to another member (an order operation
    that is not a re-issue: out of scope, ADR 0096), or the provider refused the first order
    operation or the current one (an operator replays it; planning around it would re-issue
    again on every look)."""
    if not capabilities.corrects_changed_orders or view.cancelled or not orders:
        return None
    first, current = orders[0], orders[-1]
    if any(not is_reissue(op, pinned) for op in orders[1:]):
        return None
    if first.status == OpStatus.FAILED or current.status == OpStatus.FAILED:
        return None
    return current


def paid_gross(recorded: LedgerOp | None) -> int | None:
    """The recorded order's gross total, the whole its refunds by payment are shares of (an
    edit afterwards must not change what they are worth); None: not recorded with it."""
    intent = recorded.intent if recorded is not None else None
    return intent.total_gross_minor if isinstance(intent, OrderRecorded) else None


def reference(recorded: LedgerOp) -> int:
    """The most the provider was told the order is worth: the order operation's
    `amount_minor` (the first one's is its amount; a re-issue's is set by `reissued`)."""
    intent = recorded.intent
    if isinstance(intent, OrderRecorded):
        return intent.amount_minor
    return recorded.amount_cents or 0


def correction_ops(ledger: OrderLedger, pinned: str) -> list[LedgerOp]:
    """Every correction of the order, over all its receipts (their keys are numbered on)."""
    prefix = f"{REFUND_KEY_PREFIX}{pinned}{CHANGED_INFIX}"
    return [op for op in ledger.ops.values() if op.key.startswith(prefix)]


def reversals_of(
    ledger: OrderLedger, recorded: LedgerOp, planned: Iterable[LedgerOp] = ()
) -> list[LedgerOp]:
    """Every reversal taken from the purchase `recorded`, those `planned` in this look too."""
    return [
        op
        for op in (*ledger.ops.values(), *planned)
        if op.kind == "refund" and op.order_ref == recorded.order_ref
    ]


def _named_units(
    reversals: Iterable[LedgerOp], lines: Iterable[ReturnedLine] = ()
) -> dict[str, int]:
    """Units per line id the reversals named (a correction's, a refunded return's), and
    `lines` (named by refunds not in the ledger yet)."""
    named: dict[str, int] = {}
    every = [
        line for op in reversals if isinstance(op.intent, Reversal) for line in op.intent.lines
    ]
    for line in (*every, *lines):
        if line.line_id:
            named[line.line_id] = named.get(line.line_id, 0) + line.quantity
    return named


def held_lines(
    lines: tuple[ReturnedLine, ...],
    amount: int,
    due: int,
    ledger: OrderLedger,
    recorded: LedgerOp,
    planned: Iterable[ReturnedLine] = (),
) -> tuple[ReturnedLine, ...]:
    """The returned `lines` of a refund of `amount` (of `due`, what they are worth) taken from
    the purchase `recorded`, when it still holds every one of their units and takes them back
    whole; otherwise none: the refund is a reversal by amount, spread over what the purchase
    holds (`planned`: the lines this look's refunds before it name).

    A refunded return can name units a purchase never held: units an Order Edit added after it
    was recorded, returned before the connector looked, or more units than the line had then.
    A provider matches a return to the purchase's own items (Voyado: a return is "just another
    transaction", https://developer.voyado.com/en/receipts/register-a-return.html) and gives
    back what the named units hold, so it could neither take those units from this purchase
    nor take back only part of what named units hold."""
    intent = recorded.intent if isinstance(recorded.intent, OrderRecorded) else None
    if not lines or intent is None:
        return lines
    if amount < due:
        return ()
    named = _named_units(reversals_of(ledger, recorded), planned)
    held = {line.line_id: line.quantity for line in intent.lines if line.line_id}
    wanted: dict[str, int] = {}
    for line in lines:
        key = line.line_id or ""
        wanted[key] = wanted.get(key, 0) + line.quantity
    if all(units <= held.get(key, 0) - named.get(key, 0) for key, units in wanted.items()):
        return lines
    return ()


def check_change(
    view: OrderView,
    config: PlannerConfig,
    ledger: OrderLedger,
    recorded: LedgerOp,
    earned: int,
    whole: int | None,
) -> ChangeCheck:
    """`recorded`: the current order operation (`applies`); `earned` and `whole`: what the
    first order operation earned and the gross total it was recorded with, the base refunds
    are shares of (a re-issue does not change what a refund is worth)."""
    base = earning_base(view, config)
    shown = sum(amount for _, amount, _, _ in refunds_due(view, config, earned, paid_gross=whole))
    told = reference(recorded)
    if config.refund_source == "payments":
        earns_now = min(base, max(base, told) - shown)
    else:
        earns_now = base - shown
    # Every reversal planned counts, whatever its fate (see the module docstring).
    reversed_ = sum(
        op.amount_cents or 0
        for op in ledger.ops.values()
        if op.kind == "refund" and op.order_ref == str(recorded.order_ref)
    )
    earns_now = max(earns_now, 0)
    held = max((recorded.amount_cents or 0) - reversed_, 0)
    new_units = has_new_units(view, config, ledger, recorded, earned, whole)
    return ChangeCheck(
        earns_now=earns_now,
        held=held,
        # Earning more than the provider holds (a line added, a line put back after a
        # correction took it), worth more than it was told (a line added while refunds cap
        # what it earns: the new worth is what later refunds and edits are measured from), or
        # earning on units the purchase does not hold, whatever the order earns in all (a unit
        # added in the same edit or look as another went: only a new purchase can hold it,
        # and a correction by the net difference would leave the wrong units on the receipt).
        grew=earns_now > held or base > told or new_units,
        worth=base,
        reference=told,
        new_units=new_units,
    )


def has_new_units(
    view: OrderView,
    config: PlannerConfig,
    ledger: OrderLedger,
    recorded: LedgerOp,
    earned: int,
    whole: int | None,
    planned: Iterable[ReturnedLine] = (),
) -> bool:
    """Whether a line of the order that is worth something has more units that earn (its
    units less those of its refunded return items) than the purchase `recorded` still holds of
    it (its recorded units less those its reversals named, and `planned`: the lines this
    look's refunds name). A purchase recorded before the port (no lines known) has none."""
    intent = recorded.intent if isinstance(recorded.intent, OrderRecorded) else None
    if intent is None:
        return False
    named = _named_units(reversals_of(ledger, recorded), planned)
    held = {line.line_id: line.quantity for line in intent.lines if line.line_id}
    returned = _refunded_units(view, config, earned, whole)
    for line in view.line_items:
        total = (
            line.taxed_total_gross_minor if config.amount_base == "total" else line.net_total_minor
        )
        if total <= 0:
            continue  # a free line earns nothing: no new purchase for it
        earning = line.quantity - returned.get(line.id, 0)
        if earning > held.get(line.id, 0) - named.get(line.id, 0):
            return True
    return False


def with_new_units(check: ChangeCheck) -> ChangeCheck:
    """`check` for an order found to earn on units its purchase does not hold."""
    return replace(check, grew=True, new_units=True)


def can_reissue(view: OrderView, config: PlannerConfig) -> bool:
    """A re-issue names the order's member as it is now: it needs the order's email and, where
    the member id comes from the customer, the customer read."""
    return view.customer_email is not None and not member_unresolved(view, config)


def _next_key(ledger: OrderLedger, pinned: str, made: Iterable[str] = ()) -> str:
    taken = set(ledger.ops) | set(made)
    n = len(correction_ops(ledger, pinned)) + 1
    key = f"{REFUND_KEY_PREFIX}{pinned}{CHANGED_INFIX}{n}"
    while key in taken:  # keys are never reused
        n += 1
        key = f"{REFUND_KEY_PREFIX}{pinned}{CHANGED_INFIX}{n}"
    return key


def _reversal(
    key: str, view: OrderView, recorded: LedgerOp, amount: int, lines: tuple[ReturnedLine, ...]
) -> Reversal:
    intent = recorded.intent if isinstance(recorded.intent, OrderRecorded) else None
    return Reversal(
        refund_ref=key.removeprefix(REFUND_KEY_PREFIX),
        order_ref=str(recorded.order_ref),
        amount_minor=amount,
        currency=view.currency,
        reason="changed",
        lines=lines,
        ct_order_id=view.id,
        member=intent.member if intent is not None else None,
    )


def correction(
    view: OrderView,
    config: PlannerConfig,
    ledger: OrderLedger,
    recorded: LedgerOp,
    pinned: str,
    amount: int,
    *,
    earned: int,
    whole: int | None,
    planned: Iterable[LedgerOp] = (),
) -> tuple[str, Reversal]:
    """The key and the reversal of a correction of `amount` (> 0) from the current purchase.

    `planned`: the operations planned before it in the same look (the refunds the order shows
    are planned first); `earned` and `whole` as for `check_change`."""
    key = _next_key(ledger, pinned)
    intent = recorded.intent if isinstance(recorded.intent, OrderRecorded) else None
    # Units earlier reversals of this purchase named (corrections and returns, not those of an
    # earlier receipt): the purchase no longer holds them, so they cannot go away again.
    earlier = reversals_of(ledger, recorded, planned)
    returned = _refunded_units(view, config, earned, whole)
    lines = _gone_lines(view, config, intent, earlier, returned) if intent is not None else ()
    if sum(line.amount_minor or 0 for line in lines) != amount:
        lines = ()  # not only units that went away: a reversal by amount
    return key, _reversal(key, view, recorded, amount, lines)


def whole_reversal(
    view: OrderView,
    ledger: OrderLedger,
    recorded: LedgerOp,
    pinned: str,
    amount: int,
    *,
    made: Iterable[str] = (),
) -> tuple[str, Reversal]:
    """The key and the reversal of everything the current purchase still holds (`amount`, in
    earning terms), before the order is re-issued. It names every unit the purchase had: a
    provider returns those still held, whatever earlier reversals took, so no unit comes back
    twice and none stays behind; a purchase without lines is reversed by amount."""
    key = _next_key(ledger, pinned, made)
    intent = recorded.intent if isinstance(recorded.intent, OrderRecorded) else None
    lines = tuple(
        ReturnedLine(line_id=line.line_id, item_id=line.item_id, quantity=line.quantity)
        for line in (intent.lines if intent is not None else ())
        if line.quantity > 0
    )
    return key, _reversal(key, view, recorded, amount, lines)


def reissue_ref(pinned: str, orders: Iterable[LedgerOp]) -> str:
    """The provider reference of the order's next re-issue: `{pinned}-r{n}`, deterministic
    (n counts the re-issues so far), never one an order operation already has."""
    orders = list(orders)
    keys = {op.key for op in orders}
    n = sum(1 for op in orders if is_reissue(op, pinned)) + 1
    while f"{ORDER_KEY_PREFIX}{pinned}{REISSUE_INFIX}{n}" in keys:
        n += 1
    return f"{pinned}{REISSUE_INFIX}{n}"


def reissued(
    view: OrderView,
    config: PlannerConfig,
    ref: str,
    amount: int,
    check: ChangeCheck,
    *,
    earned: int,
    whole: int | None,
) -> OrderRecorded:
    """The order as it is now, recorded again under `ref`, holding `amount` (what it earns now).

    Its `amount_minor` is the new reference, the most the provider was told the order is worth
    (its worth now, or more: a fall below the reference stays what refunds paid back); what it
    holds is `holding`'s. No coupon codes: the first order consumed them. `total_gross_minor`
    is the order's total now (refunds keep their shares of the first order's, `check_change`).
    """
    told = max(check.worth, check.reference)
    intent = order_recorded(view, config, ref, told, with_codes=False)
    return holding(intent, view, config, amount, earned=earned, whole=whole)


def holding(
    intent: OrderRecorded,
    view: OrderView,
    config: PlannerConfig,
    amount: int,
    *,
    earned: int,
    whole: int | None,
) -> OrderRecorded:
    """`intent` (the order as it is now) made to hold `amount`, for a provider that records
    the lines (a re-issue, or the new order of a member move):

    - lines: the order's lines, less the units of refunded return items (REFUND_SOURCE=returns:
      they were given back already, and a later return must not find them again);
    - `order_discount_minor`: the order's own discount on its total, plus what the order earns
      less than those lines are worth (money refunded by payment), gross, in proportion, so
      the receipt holds `amount`. With no line left, the receipt is one item worth
      `amount_minor - order_discount_minor` (`purchase_lines`), which is then `amount`.
    """
    gone = _refunded_units(view, config, earned, whole)
    lines = tuple(_less(line, gone.get(line.line_id or "", 0)) for line in intent.lines)
    full = sum(max(line.paid_total_minor, 0) for line in intent.lines if line.quantity > 0)
    left = sum(max(line.paid_total_minor, 0) for line in lines if line.quantity > 0)
    if left <= 0:
        discount = max(intent.amount_minor - amount, 0)
    else:
        own = allocate(order_discount_gross(view), left, full) if full > 0 else 0
        gross = max(left - own, 0)
        # What the remaining lines are worth in earning terms: the base less the refunded
        # return items' shares (payments: the base).
        worth = earning_base(view, config) - sum(_return_shares(view, config, earned, whole))
        target = allocate(gross, min(amount, worth), worth) if worth > 0 else 0
        discount = own + gross - target
    return intent.model_copy(update={"lines": lines, "order_discount_minor": max(discount, 0)})


def _return_shares(
    view: OrderView, config: PlannerConfig, earned: int, whole: int | None
) -> list[int]:
    if config.refund_source != "returns":
        return []
    return [amount for _, amount, _, _ in refunds_due(view, config, earned, paid_gross=whole)]


def _refunded_units(
    view: OrderView, config: PlannerConfig, earned: int, whole: int | None
) -> dict[str, int]:
    """Units of each line given back by refunded return items (REFUND_SOURCE=returns)."""
    units: dict[str, int] = {}
    if config.refund_source != "returns":
        return units
    for _, _, _, returned in refunds_due(view, config, earned, paid_gross=whole):
        for line in returned:
            if line.line_id:
                units[line.line_id] = units.get(line.line_id, 0) + line.quantity
    return units


def _less(line: Line, units: int) -> Line:
    """`line` without `units` of its units, its totals less their cumulative share."""
    if units <= 0 or line.quantity <= 0:
        return line
    units = min(units, line.quantity)
    left = line.quantity - units
    paid = line.paid_total_minor - allocate(line.paid_total_minor, units, line.quantity)
    tax = line.tax_minor
    if tax is not None:
        tax = tax - allocate(tax, units, line.quantity)
    return line.model_copy(update={"quantity": left, "paid_total_minor": paid, "tax_minor": tax})


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
    returned: dict[str, int],
) -> tuple[ReturnedLine, ...]:
    """Units the recorded purchase still holds and the order no longer earns on, each worth its
    cumulative share of its recorded line (so all units of a line add up to the line's total).

    The purchase holds a line's recorded units less those earlier reversals of it named (a
    correction's, a refunded return's); the order earns on its line's units now less the units
    of its refunded return items (`returned`, REFUND_SOURCE=returns: a return leaves the line
    as it was). A line removed after a unit of it was returned must not name that unit again:
    the return receipt already took it back."""
    now = {line.id: line.quantity for line in view.line_items}
    named = _named_units(earlier)
    gone: list[ReturnedLine] = []
    for line in recorded.lines:
        if line.quantity <= 0:
            continue
        before = min(named.get(line.line_id or "", 0), line.quantity)
        held = line.quantity - before
        earning = max(now.get(line.line_id or "", 0) - returned.get(line.line_id or "", 0), 0)
        units = held - min(earning, held)
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
