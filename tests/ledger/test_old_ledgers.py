"""A ledger written before the provider port (no `provider`, no `intent`, `yotpo_order_id`)
validates, plans exactly what it planned before, replays, and is sent through the Yotpo
adapter with the body it pinned (ADR 0080)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.orders.ledger import OpStatus, OrderLedger
from shared.domain.orders.order_view import order_view
from shared.domain.orders.planner import AccountView, PlannerConfig, plan_order
from shared.domain.providers.yotpo import YOTPO_RENDERER
from shared.orders.ledger_store import LEDGER_CONTAINER
from shared.orders.reconciler import OrderReconciler
from shared.runtime import build_runtime
from tests.domain.builders import OrderBuilder
from tests.ledger.helpers import ledger_of, paid_order, settings_for

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EU = AccountView(key="default")
PAID = PlannerConfig()

# As the connector stored it before the port: Yotpo's bodies, its field names, nothing else.
OLD_LEDGER: dict[str, Any] = {
    "order_id": "o-7",
    "account": "default",
    "yotpo_order_id": "CT-7",
    "currency": "EUR",
    "ops": {
        "order:CT-7": {
            "key": "order:CT-7",
            "kind": "order",
            "payload": {
                "order_id": "CT-7",
                "customer_email": "ada@example.com",
                "total_amount_cents": 5000,
                "discount_amount_cents": 0,
                "coupon_code": "LOY-7",
                "currency_code": "EUR",
                "created_at": "2026-11-20T08:55:00+00:00",
                "status": "paid",
                "items": [{"id": "SHIRT", "name": "Shirt", "price_cents": 2500, "quantity": 2}],
                "customer": {"has_account": False},
                "channel_type": "online",
                "tags": "online",
                "ignore_ip_ua": True,
            },
            "status": "DONE",
            "attempts": 1,
            "created_at": "2026-11-20T09:00:00Z",
            "updated_at": "2026-11-20T09:00:01Z",
            "error": None,
            "amount_cents": 5000,
        },
        "refund:txn-1": {
            "key": "refund:txn-1",
            "kind": "refund",
            "payload": {
                "id": "txn-1",
                "order_id": "CT-7",
                "total_amount_cents": 4000,
                "currency": "EUR",
            },
            "status": "FAILED",
            "attempts": 1,
            "created_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:01Z",
            "error": "YotpoPermanentError: 422",
            "amount_cents": 4000,
        },
    },
    "blocked_reason": None,
    "skipped_reason": None,
    "failure_count": 0,
    "updated_at": "2026-11-20T10:00:01Z",
}


def _order() -> OrderBuilder:
    # A guest order, as the old ledger told it (no member id).
    order = OrderBuilder(
        order_id="o-7", order_number="CT-7", email="ada@example.com", customer_id=None
    )
    order.add_line("SHIRT", 2, 2500)
    return order.pay()


def test_an_old_ledger_validates_under_the_new_names() -> None:
    ledger = OrderLedger.model_validate(copy.deepcopy(OLD_LEDGER))
    assert ledger.provider_order_ref == "CT-7"
    assert ledger.yotpo_order_id == "CT-7"  # the old name still reads
    order = ledger.ops["order:CT-7"]
    assert (order.provider, order.intent) == ("yotpo", None)
    assert (order.order_ref, order.member_id, order.member_email) == (
        "CT-7",
        None,
        "ada@example.com",
    )
    assert order.coupon_codes == ("LOY-7",)
    assert ledger.ops["refund:txn-1"].order_ref == "CT-7"

    stored = ledger.model_dump(mode="json")
    assert stored["provider_order_ref"] == "CT-7" and "yotpo_order_id" not in stored
    assert OrderLedger.model_validate(stored) == ledger


def test_an_old_ledger_plans_what_it_planned_before() -> None:
    ledger = OrderLedger.model_validate(copy.deepcopy(OLD_LEDGER))
    order = _order()
    order.refund(1500, txn_id="txn-2")
    plan = plan_order(order_view(order.cancel().build()), ledger, PAID, EU, T0)
    # The FAILED refund does not count: 5000 earned, 1500 refunded now, 3500 on the cancel.
    assert [(op.key, op.payload) for op in plan.new_ops] == [
        (
            "refund:txn-2",
            {"id": "txn-2", "order_id": "CT-7", "total_amount_cents": 1500, "currency": "EUR"},
        ),
        (
            "refund:CT-7-cancel",
            {
                "id": "CT-7-cancel",
                "order_id": "CT-7",
                "total_amount_cents": 3500,
                "currency": "EUR",
            },
        ),
    ]
    assert plan.pin_yotpo_order_id is None  # already pinned under the old name
    assert all(op.provider == "yotpo" and op.intent is not None for op in plan.new_ops)
    applied = plan.apply(ledger)
    assert applied.provider_order_ref == "CT-7"
    assert plan_order(order_view(order.build()), applied, PAID, EU, T0).empty


def test_a_failed_old_refund_is_recapped_as_before_and_a_new_one_rendered_alike() -> None:
    old = OrderLedger.model_validate(copy.deepcopy(OLD_LEDGER))
    order = _order()
    order.refund(3000, txn_id="txn-2")
    # A later refund took 3000 of the 5000 while txn-1 sat FAILED: 2000 are left for it.
    later = plan_order(order_view(order.build()), old, PAID, EU, T0).apply(old)
    replayed = later.reset_failed(T0, {"yotpo": YOTPO_RENDERER})
    legacy = replayed.ops["refund:txn-1"]
    assert legacy.status == OpStatus.PENDING and legacy.amount_cents == 2000
    assert legacy.payload == {
        **OLD_LEDGER["ops"]["refund:txn-1"]["payload"],
        "total_amount_cents": 2000,
    }
    assert legacy.intent is None
    # Without renderers too (the old call): the Yotpo body is changed the old way.
    assert later.reset_failed(T0).ops["refund:txn-1"] == legacy

    # The same story in a ledger planned since the port: its body is rendered again.
    fresh = order_view(_order().build())
    new = plan_order(fresh, OrderLedger(order_id="o-7"), PAID, EU, T0).apply(
        OrderLedger(order_id="o-7")
    )
    new = new.mark_done("order:CT-7", T0)
    first = _order()
    first.refund(4000, txn_id="txn-1")
    new = plan_order(order_view(first.build()), new, PAID, EU, T0).apply(new)
    new = new.mark_failed("refund:txn-1", "YotpoPermanentError: 422", T0)
    first.refund(3000, txn_id="txn-2")
    new = plan_order(order_view(first.build()), new, PAID, EU, T0).apply(new)
    rendered = new.reset_failed(T0, {"yotpo": YOTPO_RENDERER}).ops["refund:txn-1"]
    assert rendered.payload == legacy.payload
    assert rendered.intent is not None and rendered.intent.amount_minor == 2000


def test_a_pending_operation_of_an_old_ledger_is_sent_with_its_pinned_body(world):
    _, order = paid_order(world)
    pinned = {
        "order_id": order["orderNumber"],
        "customer_id": order["customerId"],
        "customer_email": order["customerEmail"],
        "total_amount_cents": 1234,
        "currency_code": order["totalPrice"]["currencyCode"],
        "status": "paid",
        "items": [],
        "ignore_ip_ua": True,
    }
    old = {
        "order_id": order["id"],
        "account": "default",
        "yotpo_order_id": order["orderNumber"],
        "currency": order["totalPrice"]["currencyCode"],
        "ops": {
            f"order:{order['orderNumber']}": {
                "key": f"order:{order['orderNumber']}",
                "kind": "order",
                "payload": pinned,
                "status": "PENDING",
                "attempts": 0,
                "created_at": "2026-11-01T10:00:00Z",
                "updated_at": "1970-01-01T00:00:00Z",
                "amount_cents": 1234,
            }
        },
    }
    world.ct.put_custom_object(LEDGER_CONTAINER, order["id"], old, version=0)
    settings = settings_for(world)
    reconciler = OrderReconciler(
        build_runtime(settings),
        settings.planner_config(),
        lease_seconds=60,
        now=lambda: datetime.now(UTC) + timedelta(seconds=1),
    )
    outcome = reconciler.reconcile(order["id"])
    assert outcome.sent == (f"order:{order['orderNumber']}",)
    (told,) = world.yotpo_orders()
    assert told["order_id"] == order["orderNumber"] and told["total_amount_cents"] == 1234
    ledger = ledger_of(world, order["id"])
    assert ledger.provider_order_ref == order["orderNumber"]
    assert ledger.ops[f"order:{order['orderNumber']}"].status == OpStatus.DONE
