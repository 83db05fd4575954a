"""The planner through the port with a provider other than Yotpo (pure): capabilities decide
what is planned, a reversal gets its context when its provider needs refund lines, and an
operation a renderer cannot make is planned FAILED and rendered again on replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.customers.member_identity import MemberView
from shared.domain.orders.ledger import CANNOT_RENDER, OpStatus, OrderLedger
from shared.domain.orders.order_view import order_view
from shared.domain.orders.planner import (
    EARNING_TRIGGER_UNSUPPORTED,
    PROVIDER_CHANGED,
    AccountView,
    PlannerConfig,
    plan_order,
)
from shared.domain.providers.port import (
    Capabilities,
    DedupMode,
    OrderRecorded,
    Reversal,
    UnsupportedOperation,
)
from tests.domain.builders import OrderBuilder

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EU = AccountView(key="nordic")


class Recording:
    """A renderer that records how it was called; `refuse` kinds raise UnsupportedOperation."""

    def __init__(self, *, lines: bool = False, refuse: tuple[str, ...] = (), **caps: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse = set(refuse)
        self._caps = Capabilities(
            provider="other",
            dedup={"order": DedupMode.NATURAL_KEY, "refund": DedupMode.NATURAL_KEY},
            refund_lines_required=lines,
            **caps,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def render(self, op: Any, **context: Any) -> dict[str, Any]:
        self.calls.append((op.kind, context))
        if op.kind in self.refuse:
            raise UnsupportedOperation(f"no {op.kind} today")
        return {"kind": op.kind, "amount": getattr(op, "amount_minor", None)}


def _order() -> OrderBuilder:
    order = OrderBuilder(order_number="CT-5")
    order.add_line("SHIRT", 2, 2500)
    return order.pay()


def _look(order: OrderBuilder, ledger: OrderLedger, renderer: Any, at: datetime) -> OrderLedger:
    plan = plan_order(order_view(order.build()), ledger, PlannerConfig(), EU, at, renderer=renderer)
    ledger = plan.apply(ledger)
    for op in plan.new_ops:
        if op.status == OpStatus.PENDING:
            ledger = ledger.mark_done(op.key, at)
    return ledger


def test_a_reversal_is_rendered_with_its_purchase_and_the_reversals_before_it():
    renderer = Recording(lines=True)
    order = _order()
    ledger = _look(order, OrderLedger(order_id=order.order_id), renderer, T0)
    assert renderer.calls == [("order", {})]  # other kinds get no context
    purchase = ledger.ops["order:CT-5"].intent
    assert isinstance(purchase, OrderRecorded) and ledger.ops["order:CT-5"].provider == "other"

    order.refund(1000, txn_id="t-1")
    order.refund(500, txn_id="t-2")
    later = T0 + timedelta(hours=1)
    ledger = _look(order, ledger, renderer, later)
    (_, first), (_, second) = renderer.calls[1:]
    assert first == {"purchase": purchase, "earlier": [], "at": later}
    assert second["purchase"] == purchase and second["at"] == later
    assert second["earlier"] == [ledger.ops["refund:t-1"].payload]  # planned in the same look


def test_kinds_the_provider_does_not_take_are_not_planned():
    renderer = Recording()  # no customer, no reward_return
    order = OrderBuilder(order_number="CT-6", customer_id=None)
    order.add_line("SHIRT", 1, 1000)
    order.pay()
    ledger = _look(order, OrderLedger(order_id=order.order_id), renderer, T0)
    told = _look(order, OrderLedger(order_id=order.order_id), _yotpo(), T0)
    order.set_customer("customer-ada")  # a guest order assigned later
    member = MemberView(
        customer_id="customer-ada", member_id="customer-ada", email="ada.lovelace@example.com"
    )
    view = order_view(order.build(), member=member)
    plan = plan_order(view, ledger, PlannerConfig(), EU, T0, renderer=renderer)
    assert [op.kind for op in plan.new_ops] == []
    # The same look for Yotpo (which takes member upserts) attaches the member id.
    assert [op.kind for op in plan_order(view, told, PlannerConfig(), EU, T0).new_ops] == [
        "customer"
    ]


def test_an_earning_trigger_the_provider_cannot_earn_on_holds_the_earning_back():
    renderer = Recording(earning_triggers=frozenset({"paid", "shipped"}))
    order = _order()
    config = PlannerConfig(earning_trigger="created")
    plan = plan_order(
        order_view(order.build()),
        OrderLedger(order_id=order.order_id),
        config,
        EU,
        T0,
        renderer=renderer,
    )
    assert plan.empty and plan.skipped_reason == EARNING_TRIGGER_UNSUPPORTED


def test_an_order_told_to_another_provider_gets_nothing_from_this_one():
    order = _order()
    yotpo_ledger = _look(order, OrderLedger(order_id=order.order_id), _yotpo(), T0)
    assert yotpo_ledger.ops["order:CT-5"].provider == "yotpo"
    order.refund(1000, txn_id="t-1")
    plan = plan_order(
        order_view(order.build()), yotpo_ledger, PlannerConfig(), EU, T0, renderer=Recording()
    )
    assert plan.empty and plan.skipped_reason == PROVIDER_CHANGED


def _yotpo():
    from shared.domain.providers.yotpo import YOTPO_RENDERER

    return YOTPO_RENDERER


def test_an_operation_the_renderer_cannot_make_is_planned_failed_and_rendered_on_replay():
    renderer = Recording(refuse=("refund",))
    order = _order()
    ledger = _look(order, OrderLedger(order_id=order.order_id), renderer, T0)
    order.refund(1000, txn_id="t-1")
    plan = plan_order(order_view(order.build()), ledger, PlannerConfig(), EU, T0, renderer=renderer)
    (refund,) = plan.new_ops
    assert refund.status == OpStatus.FAILED and refund.payload == {}
    assert refund.error == f"{CANNOT_RENDER}: no refund today"
    assert isinstance(refund.intent, Reversal) and refund.intent.amount_minor == 1000
    ledger = plan.apply(ledger)
    assert ledger.refunded_amount() == 0  # a refund nobody sent takes nothing back
    assert ledger.due_ops(T0, timedelta(seconds=60), claimed=[refund.key]) == []

    # Still refused on replay: it stays FAILED, saying so.
    again = ledger.reset_failed(T0, {"other": renderer}).ops[refund.key]
    assert again.status == OpStatus.FAILED and again.error.startswith(CANNOT_RENDER)
    # Once the renderer takes it, the replay renders its body.
    renderer.refuse.clear()
    replayed = ledger.reset_failed(T0, {"other": renderer}).ops[refund.key]
    assert replayed.status == OpStatus.PENDING
    assert replayed.payload == {"kind": "refund", "amount": 1000}
    # Without the renderer it cannot be replayed with a body.
    blind = ledger.reset_failed(T0).ops[refund.key]
    assert blind.status == OpStatus.FAILED
