"""An order edited after its purchase receipt was sent, planned for Voyado and rendered by
Voyado's renderer: the change is a RETURN receipt with its own `uniqueReceiptId`, never the
purchase sent again ("Data sent to this endpoint cannot be reversed or updated",
https://developer.voyado.com/en/receipts/register-a-purchase.html; a return is its own receipt,
https://developer.voyado.com/en/receipts/register-a-return.html). ADR 0096."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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


class CorrectingVoyado(VoyadoRenderer):
    """Voyado's renderer with `corrects_changed_orders` on, whether or not
    `VOYADO_CAPABILITIES` carries it yet (the flag is one line there, ADR 0096)."""

    @property
    def capabilities(self) -> Capabilities:
        return VOYADO_CAPABILITIES.model_copy(update={"corrects_changed_orders": True})

    def render(self, op: AnyNeutralOp, **context: Any) -> dict[str, Any]:
        return super().render(op, **context)


RENDERER = CorrectingVoyado(VoyadoRenderConfig(default_store_external_id="ecom-1"))


def _look(order: OrderBuilder, ledger: OrderLedger, at: datetime) -> tuple[OrderLedger, list]:
    plan = plan_order(order_view(order.build()), ledger, CONFIG, ACCOUNT, at, renderer=RENDERER)
    ledger = plan.apply(ledger)
    for op in plan.new_ops:
        assert op.status == OpStatus.PENDING, op.error
        ledger = ledger.mark_done(op.key, at)
    again = plan_order(order_view(order.build()), ledger, CONFIG, ACCOUNT, at, renderer=RENDERER)
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
