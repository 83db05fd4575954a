"""An order edited after its purchase receipt was sent, planned for Voyado and rendered by
Voyado's renderer: the change is a RETURN receipt with its own `uniqueReceiptId`, never the
purchase sent again ("Data sent to this endpoint cannot be reversed or updated",
https://developer.voyado.com/en/receipts/register-a-purchase.html; a return is its own receipt,
https://developer.voyado.com/en/receipts/register-a-return.html). ADR 0096."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.domain.orders.ledger import OpStatus, OrderLedger
from shared.domain.orders.order_view import order_view
from shared.domain.orders.planner import AccountView, PlannerConfig, plan_order
from shared.domain.providers.port import AnyNeutralOp, Capabilities
from shared.domain.providers.voyado import (
    RETURN,
    VOYADO_CAPABILITIES,
    VoyadoRenderConfig,
    VoyadoRenderer,
    returned_so_far,
)
from tests.domain.builders import OrderBuilder

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ACCOUNT = AccountView(key="nordic")
CONFIG = PlannerConfig()
RETURNS = PlannerConfig(refund_source="returns")


class CorrectingVoyado(VoyadoRenderer):
    """Voyado's renderer with `corrects_changed_orders` on, whether or not
    `VOYADO_CAPABILITIES` carries it yet (the flag is one line there, ADR 0096)."""

    @property
    def capabilities(self) -> Capabilities:
        return VOYADO_CAPABILITIES.model_copy(update={"corrects_changed_orders": True})

    def render(self, op: AnyNeutralOp, **context: Any) -> dict[str, Any]:
        return super().render(op, **context)


RENDERER = CorrectingVoyado(VoyadoRenderConfig(default_store_external_id="ecom-1"))


def _look(
    order: OrderBuilder, ledger: OrderLedger, at: datetime, config: PlannerConfig = CONFIG
) -> tuple[OrderLedger, list]:
    plan = plan_order(order_view(order.build()), ledger, config, ACCOUNT, at, renderer=RENDERER)
    ledger = plan.apply(ledger)
    for op in plan.new_ops:
        assert op.status == OpStatus.PENDING, op.error
        ledger = ledger.mark_done(op.key, at)
    again = plan_order(order_view(order.build()), ledger, config, ACCOUNT, at, renderer=RENDERER)
    assert again.empty
    return ledger, plan.new_ops


def _order() -> tuple[OrderBuilder, str, str]:
    order = OrderBuilder(order_number="CT-9", currency="SEK")
    shirt = order.add_line("SHIRT", 2, 25000)
    cap = order.add_line("CAP", 1, 15000)
    return order, shirt, cap


def test_a_line_removed_after_the_purchase_is_a_return_receipt_of_that_line():
    order, _, cap = _order()
    order.pay()
    ledger, (member, purchase) = _look(order, OrderLedger(order_id=order.order_id), T0)
    assert member.kind == "customer"  # a receipt's contact first
    assert purchase.payload["uniqueReceiptId"] == "CT-9"
    assert purchase.payload["totalGrossPrice"] == "650.00"

    order.lines = [line for line in order.lines if line.id != cap]  # an Order Edit
    later = T0 + timedelta(days=1)
    ledger, (correction,) = _look(order, ledger, later)
    body = correction.payload
    assert correction.key == "refund:CT-9-changed-1" and correction.provider == "voyado"
    assert body["uniqueReceiptId"] == "CT-9:refund:CT-9-changed-1"
    assert body["receiptNumber"] == order.order_id
    assert body["totalGrossPrice"] == "-150.00"
    assert [(i["type"], i["sku"], i["quantity"], i["grossPaidPrice"]) for i in body["items"]] == [
        (RETURN, "CAP", -1, "150.00")
    ]
    assert body["createdDate"] == later.isoformat()
    assert body["contact"]["matchKey"] == "ada.lovelace@example.com"
    # The purchase is never rendered again: it is still the one pinned body.
    assert ledger.ops["order:CT-9"].payload == purchase.payload


def test_a_later_cancellation_returns_only_what_the_purchase_still_holds():
    order, _, cap = _order()
    order.pay()
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), T0)
    order.lines = [line for line in order.lines if line.id != cap]
    ledger, _ = _look(order, ledger, T0 + timedelta(hours=1))
    order.cancel()
    ledger, (cancel,) = _look(order, ledger, T0 + timedelta(hours=2))
    assert cancel.payload["uniqueReceiptId"] == "CT-9:cancel"
    assert [(i["sku"], i["quantity"]) for i in cancel.payload["items"]] == [("SHIRT", -2)]
    assert cancel.payload["totalGrossPrice"] == "-500.00"
    # Every unit of the purchase came back exactly once over the two return receipts.
    receipts = [op.payload for op in ledger.ops.values() if op.kind == "refund"]
    taken = returned_so_far(receipts, "SEK")
    assert {sku: (r.quantity, r.paid_minor) for sku, r in taken.items()} == {
        "CAP": (1, 15000),
        "SHIRT": (2, 50000),
    }


def test_a_price_change_is_a_return_and_buy_back_at_the_lower_price():
    order, _, _ = _order()
    order.pay()
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), T0)
    order.with_total_discount(6500)  # 10 % off the order, applied in an edit
    ledger, (correction,) = _look(order, ledger, T0 + timedelta(hours=1))
    body = correction.payload
    assert correction.amount_cents == 6500 and body["totalGrossPrice"] == "-65.00"
    kinds = {(i["type"], i["sku"]) for i in body["items"]}
    assert kinds == {(RETURN, "SHIRT"), ("PURCHASE", "SHIRT"), (RETURN, "CAP"), ("PURCHASE", "CAP")}


# --- an order that grew: re-issued -------------------------------------------------------------
def _receipts(ledger: OrderLedger) -> dict[str, list[dict[str, Any]]]:
    """Each purchase receipt's id → its own body followed by the return receipts taken from it
    (a return names its purchase only through its own `uniqueReceiptId`, `{purchase}:...`)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for op in ledger.ops.values():
        if op.kind == "order":
            found[op.payload["uniqueReceiptId"]] = [op.payload]
    for op in ledger.ops.values():
        if op.kind == "refund":
            purchase = op.payload["uniqueReceiptId"].split(":", 1)[0]
            assert purchase == op.order_ref
            found[purchase].append(op.payload)
    return found


def _minor(value: str) -> int:
    return int(Decimal(value) * 100)


def _holds(receipts: list[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """Units per sku and money one purchase still holds after its return receipts."""
    units: dict[str, int] = {}
    money = 0
    for body in receipts:
        for item in body["items"]:
            units[item["sku"]] = units.get(item["sku"], 0) + item["quantity"]
        money += _minor(body["totalGrossPrice"])
    return units, money


def test_a_line_added_after_the_purchase_reverses_it_whole_and_records_a_new_receipt():
    order, _, _ = _order()
    order.pay()
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), T0)
    order.add_line("SOCKS", 3, 5000)  # an Order Edit adds a line
    later = T0 + timedelta(days=1)
    ledger, (back, again) = _look(order, ledger, later)

    assert back.key == "refund:CT-9-changed-1"
    assert back.payload["uniqueReceiptId"] == "CT-9:refund:CT-9-changed-1"
    assert back.payload["totalGrossPrice"] == "-650.00"
    assert [(i["type"], i["sku"], i["quantity"]) for i in back.payload["items"]] == [
        (RETURN, "SHIRT", -2),
        (RETURN, "CAP", -1),
    ]
    assert again.key == "order:CT-9-r1" and again.kind == "order"
    body = again.payload
    assert body["uniqueReceiptId"] == "CT-9-r1" and body["receiptNumber"] == order.order_id
    assert body["totalGrossPrice"] == "800.00"
    assert [(i["type"], i["sku"], i["quantity"]) for i in body["items"]] == [
        ("PURCHASE", "SHIRT", 2),
        ("PURCHASE", "CAP", 1),
        ("PURCHASE", "SOCKS", 3),
    ]
    assert body["contact"] == back.payload["contact"]
    # The first purchase is never rendered again, and what Voyado holds is the new order.
    receipts = _receipts(ledger)
    assert _holds(receipts["CT-9"]) == ({"SHIRT": 0, "CAP": 0}, 0)
    assert _holds(receipts["CT-9-r1"]) == ({"SHIRT": 2, "CAP": 1, "SOCKS": 3}, 80000)


def test_a_re_issue_after_a_correction_returns_only_the_units_still_held():
    order, _, cap = _order()
    order.pay()
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), T0)
    order.lines = [line for line in order.lines if line.id != cap]
    ledger, (correction,) = _look(order, ledger, T0 + timedelta(hours=1))
    assert [(i["sku"], i["quantity"]) for i in correction.payload["items"]] == [("CAP", -1)]
    order.add_line("SOCKS", 1, 5000)
    ledger, (back, again) = _look(order, ledger, T0 + timedelta(hours=2))
    assert back.key == "refund:CT-9-changed-2"
    assert [(i["sku"], i["quantity"]) for i in back.payload["items"]] == [("SHIRT", -2)]
    assert back.payload["totalGrossPrice"] == "-500.00"
    assert again.payload["totalGrossPrice"] == "550.00"
    assert _holds(_receipts(ledger)["CT-9"]) == ({"SHIRT": 0, "CAP": 0}, 0)


def test_a_refund_by_amount_before_the_growth_is_not_returned_again():
    order, _, _ = _order()
    order.pay()
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), T0)
    order.refund(10000, txn_id="t-goodwill")
    ledger, (refund,) = _look(order, ledger, T0 + timedelta(hours=1))
    assert refund.payload["totalGrossPrice"] == "-100.00"

    order.add_line("SOCKS", 1, 5000)
    ledger, (back, again) = _look(order, ledger, T0 + timedelta(hours=2))
    # The old receipt gives back what it still holds (the units, at their price after the
    # refund), the new one holds what the order earns: 700 less the 100 refunded.
    assert back.payload["totalGrossPrice"] == "-550.00"
    assert again.payload["totalGrossPrice"] == "600.00"
    receipts = _receipts(ledger)
    assert _holds(receipts["CT-9"]) == ({"SHIRT": 0, "CAP": 0}, 0)
    assert (
        _holds(receipts["CT-9-r1"])[1]
        == 60000
        == ledger.earned_amount() - (ledger.refunded_amount())
    )

    # A cancellation now returns the re-issue, under its own id.
    order.cancel()
    ledger, (cancel,) = _look(order, ledger, T0 + timedelta(hours=3))
    assert cancel.payload["uniqueReceiptId"] == "CT-9-r1:cancel"
    assert cancel.payload["totalGrossPrice"] == "-600.00"
    assert all(_holds(r)[1] == 0 for r in _receipts(ledger).values())


def test_a_growth_under_another_member_finds_its_contact_first():
    order, _, _ = _order()
    order.pay()
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), T0)
    order.add_line("SOCKS", 1, 5000)
    order.email = "grace.hopper@example.com"
    order.customer_id = None  # the order was handed to a guest's email in the same edit
    ledger, ops = _look(order, ledger, T0 + timedelta(hours=1))
    assert [op.key for op in ops] == ["refund:CT-9-changed-1", "member:CT-9-r1", "order:CT-9-r1"]
    assert ops[0].payload["contact"]["matchKey"] == "ada.lovelace@example.com"
    assert ops[2].payload["contact"]["matchKey"] == "grace.hopper@example.com"


Step = tuple[str, int, int]


def _edit(order: OrderBuilder, step: Step) -> None:
    what, which, how = step
    if what == "remove" and order.lines:
        line = order.lines[which % len(order.lines)]
        order.lines = [other for other in order.lines if other.id != line.id]
    elif what == "quantity" and order.lines:
        line = order.lines[which % len(order.lines)]
        line.quantity = max(line.quantity - 1, 0) if how % 2 else line.quantity + 1
    elif what == "refund":
        order.refund(1000 + 1000 * (how % 20))
    elif what == "return" and order.lines:
        line = order.lines[which % len(order.lines)]
        if line.quantity > 0:
            order.add_return((line.id, 1), payment_state="Refunded")
    elif what == "add":
        # A new sku: Voyado matches returns by sku, and commercetools merges a variant added
        # again into its line (https://docs.commercetools.com/api/carts-orders-overview).
        order.add_line(f"NEW{order.version}", 1 + how % 3, 5000 + 1000 * (how % 7))
    order.version += 1


# A line removed after one of its units was returned: its correction must not name the
# returned unit again (it made a correction by amount, the receipt bought NEW units back at a
# lower price, and the last NEW unit's return then gave back half of what it held).
MINIMAL = [
    ("remove", 0, 0),
    ("add", 0, 1),
    ("return", 0, 0),
    ("remove", 0, 0),
    ("quantity", 0, 1),
    ("return", 0, 0),
]
# A unit returned twice, then the line grown so the second return is worth something: the
# purchase never held that unit, so the return is by amount (it could not be rendered).
RETURNED_BEYOND = [("return", 1, 0), ("return", 1, 0), ("quantity", 1, 0)]


@settings(max_examples=80, deadline=None)
@example(steps=MINIMAL, cancel=False, config=RETURNS)
@example(steps=MINIMAL, cancel=True, config=RETURNS)
@example(steps=RETURNED_BEYOND, cancel=False, config=RETURNS)
@example(
    steps=[("remove", 0, 0), *RETURNED_BEYOND[:2], ("add", 0, 0), ("quantity", 0, 0)],
    cancel=True,
    config=RETURNS,
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["remove", "quantity", "refund", "return", "add"]),
            st.integers(0, 5),
            st.integers(0, 100),
        ),
        min_size=1,
        max_size=10,
    ),
    st.booleans(),
    st.sampled_from([CONFIG, RETURNS]),
)
def test_over_every_receipt_of_an_order_no_unit_comes_back_twice(steps, cancel, config):
    order, _, _ = _order()
    order.pay()
    at = T0
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), at, config)
    for step in steps:
        _edit(order, step)
        at += timedelta(minutes=5)
        ledger, _ = _look(order, ledger, at, config)
    if cancel:
        order.cancel()
        ledger, _ = _look(order, ledger, at + timedelta(minutes=5), config)
    receipts = _receipts(ledger)
    current = [op for op in ledger.ops.values() if op.kind == "order"][-1]
    for ref, bodies in receipts.items():
        units, money = _holds(bodies)
        assert all(n >= 0 for n in units.values()), (ref, units)  # never more back than bought
        assert money >= 0, ref
        if ref != current.order_ref or cancel:
            assert set(units.values()) <= {0} and money == 0, (ref, units, money)
    # Voyado holds, on the current receipt, what the ledger says the order holds.
    held = ledger.earned_amount() - ledger.refunded_amount()
    assert _holds(receipts[str(current.order_ref)])[1] == held


def test_a_unit_added_as_a_line_goes_is_re_issued_not_corrected_by_the_difference():
    """Seen in one look, the SHIRTs removed and a second CAP added earn 350 less: a correction
    of 350 would leave the SHIRTs on the receipt and not the new CAP, and a later return of a
    CAP would give back what the receipt holds for one CAP (less than a CAP), not 150."""
    order, shirt, cap = _order()
    order.pay()
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), T0, RETURNS)
    order.lines = [line for line in order.lines if line.id != shirt]
    order.lines[0].quantity = 2
    ledger, (back, again) = _look(order, ledger, T0 + timedelta(hours=1), RETURNS)
    assert back.key == "refund:CT-9-changed-1" and again.key == "order:CT-9-r1"
    assert [(i["sku"], i["quantity"]) for i in again.payload["items"]] == [("CAP", 2)]
    order.add_return((cap, 1), payment_state="Refunded")
    ledger, (returned,) = _look(order, ledger, T0 + timedelta(hours=2), RETURNS)
    assert returned.payload["totalGrossPrice"] == "-150.00"
    receipts = _receipts(ledger)
    assert _holds(receipts["CT-9"]) == ({"SHIRT": 0, "CAP": 0}, 0)
    assert _holds(receipts["CT-9-r1"]) == ({"CAP": 1}, 15000)
    assert ledger.earned_amount() - ledger.refunded_amount() == 15000


def test_a_return_and_a_new_line_in_one_look_end_on_a_receipt_of_the_new_line():
    """The CAP returned and a line added in the same look: the CAP comes back from the first
    receipt whole (its return is not capped to what the order lost), the new line is re-issued."""
    order, shirt, cap = _order()
    order.pay()
    ledger, _ = _look(order, OrderLedger(order_id=order.order_id), T0, RETURNS)
    order.lines = [line for line in order.lines if line.id != shirt]
    ledger, _ = _look(order, ledger, T0 + timedelta(hours=1), RETURNS)
    order.add_return((cap, 1), payment_state="Refunded")
    order.add_line("SOCKS", 1, 5000)
    ledger, ops = _look(order, ledger, T0 + timedelta(hours=2), RETURNS)
    assert [op.key for op in ops][-1] == "order:CT-9-r1"
    receipts = _receipts(ledger)
    assert _holds(receipts["CT-9"]) == ({"SHIRT": 0, "CAP": 0}, 0)
    assert _holds(receipts["CT-9-r1"]) == ({"SOCKS": 1}, 5000)
    assert ledger.earned_amount() - ledger.refunded_amount() == 5000


def test_a_member_move_after_a_refund_holds_only_what_remains_on_the_new_receipt():
    """A move re-records the order under the new member (ADR 0010); on Voyado that is a new
    purchase of the lines, which must not hold the refunded money again."""
    from shared.domain.customers.member_identity import MemberView

    def look(order: OrderBuilder, ledger: OrderLedger, at: datetime, member: MemberView):
        view = order_view(order.build(), member=member)
        plan = plan_order(view, ledger, CONFIG, ACCOUNT, at, renderer=RENDERER)
        ledger = plan.apply(ledger)
        for op in plan.new_ops:
            assert op.status == OpStatus.PENDING, op.error
            ledger = ledger.mark_done(op.key, at)
        again = plan_order(view, ledger, CONFIG, ACCOUNT, at, renderer=RENDERER)
        assert again.empty
        return ledger, plan.new_ops

    ada = MemberView(
        member_id="customer-ada", customer_id="customer-ada", email="ada.lovelace@example.com"
    )
    bob = MemberView(member_id="customer-bob", customer_id="customer-bob", email="bob@example.com")
    order, _, _ = _order()
    order.pay()
    ledger, _ = look(order, OrderLedger(order_id=order.order_id), T0, ada)
    order.refund(10000, txn_id="t-1")
    ledger, _ = look(order, ledger, T0 + timedelta(hours=1), ada)
    order.customer_id, order.email = "customer-bob", "bob@example.com"  # reassigned
    ledger, (moved, again) = look(order, ledger, T0 + timedelta(hours=2), bob)
    assert moved.payload["uniqueReceiptId"] == "CT-9:moved"
    assert moved.payload["totalGrossPrice"] == "-550.00"
    assert again.payload["uniqueReceiptId"] == "CT-9-2"
    assert again.payload["totalGrossPrice"] == "550.00"
    assert again.payload["contact"]["matchKey"] == "bob@example.com"
    receipts = _receipts(ledger)
    assert _holds(receipts["CT-9"])[1] == 0 and _holds(receipts["CT-9-2"])[1] == 55000
