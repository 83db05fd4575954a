"""Any delivery schedule gives the shopper the same points as in-order, exactly-once delivery.

A tiny pure simulator. A lifecycle is a list of order snapshots (each state change of the
order makes the next one). Every state change emits one message, delivered 1–3 times, each
copy at any moment after the change: before the next change or any later one. Because the
connector reconciles instead of replaying, a delivery is simply a *look*: plan on the snapshot
current at that moment, apply, then send every due operation (marking it done). Some looks
crash after recording their plan and before sending; the lease lets a later look send those
operations. A final look after the last state (past the lease) ends every schedule.

Properties:
(a) no operation key is ever sent twice;
(b) without cancellation (and without a guest order being assigned to a customer), the
    operations sent — keys and exact payloads — are those of in-order exactly-once delivery;
(c) for every lifecycle, the net amount (earned − refunded) is the same as with in-order
    delivery, and refunds never exceed what was earned, at any moment.

Why (b) cannot hold literally for cancellations: the first look at an order may come after it
was cancelled. If it was paid and then cancelled, in-order delivery earns and then refunds the
remainder ("-cancel"), while a late first look sees a cancelled order that never earned and
blocks it: different operations, both ending at zero. Likewise a guest order assigned to a
customer before the first look earns with the customer id in the order itself instead of a
separate `customer` operation. (c) is the invariant that matters for the shopper: the points
balance depends only on the net amount, and that never depends on the delivery schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.ledger_state import OrderLedger
from shared.domain.order_view import order_view
from shared.domain.planner import AccountView, PlannerConfig, plan_order
from tests.domain.builders import OrderBuilder

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
STEP = timedelta(seconds=25)  # between two looks: a crashed look's work waits a few looks
ACCOUNT = AccountView(key="eu", currencies=frozenset())
# Refunds and returns are listed more than once so that lifecycles often carry several.
EVENTS = (
    "pay",
    "ship",
    "deliver",
    "refund",
    "refund",
    "refund",
    "return",
    "return",
    "return_refunded",
    "return_refunded",
    "set_customer",
    "complete",
    "cancel",
)


@dataclass(frozen=True)
class Lifecycle:
    snapshots: list[dict[str, Any]]
    cancelled: bool
    customer_assigned: bool


@dataclass(frozen=True)
class Look:
    state: int  # index of the snapshot current when the look happens
    crashes: bool  # records its plan, then dies before sending


@dataclass
class Outcome:
    sent: list[tuple[str, tuple[tuple[str, Any], ...]]]  # (key, payload) in sending order
    net: int


def _freeze(payload: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, repr(v)) for k, v in payload.items()))


def simulate(lifecycle: Lifecycle, config: PlannerConfig, looks: list[Look]) -> Outcome:
    snapshots = lifecycle.snapshots
    ledger = OrderLedger(order_id=snapshots[0]["id"])
    sent: list[tuple[str, tuple[tuple[str, Any], ...]]] = []
    now = T0
    final = Look(state=len(snapshots) - 1, crashes=False)
    for number, look in enumerate([*looks, final]):
        now = now + (LEASE * 2 if number == len(looks) else STEP)
        view = order_view(snapshots[look.state])
        plan = plan_order(view, ledger, config, ACCOUNT, now)
        ledger = plan.apply(ledger)
        assert ledger.refunded_amount() <= ledger.earned_amount()
        if look.crashes:
            continue
        due = ledger.due_ops(now, LEASE, claimed=[op.key for op in plan.new_ops])
        ledger = ledger.claim([op.key for op in due], now)
        for op in due:
            sent.append((op.key, _freeze(op.payload)))
            ledger = ledger.mark_done(op.key, now)
    assert not [op for op in ledger.ops.values() if op.status != "DONE"]
    return Outcome(sent, ledger.earned_amount() - ledger.refunded_amount())


def in_order(lifecycle: Lifecycle) -> list[Look]:
    return [Look(state, crashes=False) for state in range(len(lifecycle.snapshots))]


@st.composite
def lifecycles(draw: st.DrawFn) -> Lifecycle:
    currency = draw(st.sampled_from(["EUR", "JPY", "KWD"]))
    guest = draw(st.booleans())
    order = OrderBuilder(
        currency=currency,
        order_number=draw(st.sampled_from(["CT-1", None])),
        customer_id=None if guest else "customer-1",
        tax_included=draw(st.booleans()),
        tax_rate_bp=draw(st.sampled_from([0, 700, 1000, 1900])),
    )
    lines = [
        order.add_line(
            f"SKU{n}",
            draw(st.integers(min_value=1, max_value=3)),
            draw(st.integers(min_value=1, max_value=50_000)),
        )
        for n in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    order.with_shipping(draw(st.integers(min_value=0, max_value=2_000)))
    quantities = {line.id: line.quantity for line in order.lines}
    snapshots = [order.build()]
    paid = cancelled = assigned = False
    pending_returns: list[str] = []
    events = draw(st.lists(st.sampled_from(EVENTS), min_size=2, max_size=10))
    if draw(st.booleans()):
        events.insert(0, "pay")  # most orders get paid, and early
    for event in events:
        final = cancelled or order.order_state == "Complete"
        if event == "pay" and not paid:
            order.pay()
            paid = True
        elif event == "ship" and order.shipment_state is None and not cancelled:
            order.ship()
        elif event == "deliver" and order.shipment_state == "Shipped":
            order.ship("Delivered")
        elif event == "refund" and paid:
            # mostly partial refunds, so that several fit; sometimes more than what is left
            share = draw(st.sampled_from([3, 3, 3, 1]))
            top = max(order.total_gross() // share, 1)
            order.refund(draw(st.integers(min_value=1, max_value=top)))
        elif event == "return" and not cancelled:
            line = draw(st.sampled_from(lines))
            quantity = draw(st.integers(min_value=1, max_value=quantities[line]))
            refunded = draw(st.booleans())
            (item,) = order.add_return(
                (line, quantity), payment_state="Refunded" if refunded else "Initial"
            )
            if not refunded:
                pending_returns.append(item)
        elif event == "return_refunded" and pending_returns:
            item = draw(st.sampled_from(pending_returns))
            pending_returns.remove(item)
            order.set_return_payment_state(item, "Refunded")
        elif event == "set_customer" and order.customer_id is None:
            order.set_customer("customer-late")
            assigned = True
        elif event == "complete" and not final:
            order.complete()
        elif event == "cancel" and not final:
            order.cancel()
            cancelled = True
        else:
            continue
        snapshots.append(order.build())
    return Lifecycle(snapshots, cancelled, assigned)


configs = st.builds(
    PlannerConfig,
    earning_trigger=st.sampled_from(["created", "paid", "shipped", "completed"]),
    amount_base=st.sampled_from(["total", "subtotal"]),
    refund_source=st.sampled_from(["payments", "returns"]),
)


def schedules(lifecycle: Lifecycle) -> st.SearchStrategy[list[Look]]:
    """Every state change's message, 1–3 copies, each delivered at that state or any later."""
    last = len(lifecycle.snapshots) - 1
    copies = [
        st.lists(
            st.builds(
                Look, state=st.integers(min_value=state, max_value=last), crashes=st.booleans()
            ),
            min_size=1,
            max_size=3,
        )
        for state in range(last + 1)
    ]
    return st.tuples(*copies).map(
        lambda per_state: sorted(
            (look for looks in per_state for look in looks), key=lambda x: x.state
        )
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lifecycle=lifecycles(), config=configs, data=st.data())
def test_any_delivery_schedule_matches_in_order_delivery(
    lifecycle: Lifecycle, config: PlannerConfig, data: st.DataObject
) -> None:
    reference = simulate(lifecycle, config, in_order(lifecycle))
    looks = data.draw(schedules(lifecycle))
    actual = simulate(lifecycle, config, looks)

    keys = [key for key, _ in actual.sent]
    assert len(keys) == len(set(keys)), "an operation was sent twice"  # (a)
    if not lifecycle.cancelled and not lifecycle.customer_assigned:
        assert set(actual.sent) == set(reference.sent)  # (b)
    assert actual.net == reference.net  # (c)
    assert actual.net >= 0


@settings(max_examples=100, deadline=None, derandomize=True)
@given(lifecycle=lifecycles(), config=configs)
def test_looking_again_and_again_changes_nothing(
    lifecycle: Lifecycle, config: PlannerConfig
) -> None:
    once = simulate(lifecycle, config, in_order(lifecycle))
    thrice = simulate(
        lifecycle,
        config,
        [Look(state, crashes=False) for state in range(len(lifecycle.snapshots)) for _ in range(3)],
    )
    assert thrice.sent == once.sent


def test_a_cancelled_order_first_seen_late_never_earns() -> None:
    order = OrderBuilder()
    order.add_line("A", 1, 1000)
    lifecycle = Lifecycle([order.build(), order.pay().build(), order.cancel().build()], True, False)
    config = PlannerConfig()
    reference = simulate(lifecycle, config, in_order(lifecycle))
    late = simulate(lifecycle, config, [Look(2, crashes=False)])
    assert [key for key, _ in reference.sent] == ["order:CT-1001", "refund:CT-1001-cancel"]
    assert late.sent == []
    assert reference.net == late.net == 0
