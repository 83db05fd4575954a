"""What a refund or a reward return waits for: the Yotpo order it belongs to.

Ledgers are written as the planner leaves them after a move (two order operations) or after
a reward was used, with the owning order in each state; the real reconciler then looks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.orders.ledger import UNCLAIMED, LedgerOp, OpStatus, OrderLedger
from shared.orders.ledger_store import LedgerStore
from shared.orders.reconciler import OrderInProgress, OrderReconciler
from shared.runtime import build_runtime
from tests.ledger.helpers import ledger_of, paid_order, settings_for


def _op(key: str, kind: str, payload: dict[str, Any], status: OpStatus, claimed: datetime):
    return LedgerOp(
        key=key,
        kind=kind,
        payload=payload,
        status=status,
        created_at=claimed,
        updated_at=claimed,
        amount_cents=payload.get("total_amount_cents"),
    )


def _order(
    yotpo_id: str, status: OpStatus, claimed: datetime, member: str, codes: str | None = None
):
    # Told under the order's own customer, so the planner plans no move on these looks.
    payload = {"order_id": yotpo_id, "customer_id": member, "total_amount_cents": 5000}
    if codes:
        payload["coupon_code"] = codes
    return _op(f"order:{yotpo_id}", "order", payload, status, claimed)


def _store(world, order_id: str, *ops: LedgerOp) -> None:
    store = LedgerStore(world.ct)
    _, version = store.read(order_id)
    ledger = OrderLedger(
        order_id=order_id,
        account="default",
        currency="EUR",
        yotpo_order_id="R-1",
        ops={op.key: op for op in ops},
    )
    store.write(ledger, version)


def _reconciler(world) -> OrderReconciler:
    settings = settings_for(world)
    return OrderReconciler(build_runtime(settings), settings.planner_config(), lease_seconds=60)


def _refund_of(yotpo_id: str) -> LedgerOp:
    payload = {"id": "tx-1", "order_id": yotpo_id, "total_amount_cents": 700, "currency": "EUR"}
    return _op("refund:tx-1", "refund", payload, OpStatus.PENDING, UNCLAIMED)


def _points_back(member: str) -> LedgerOp:
    payload = {"customer_id": member, "point_adjustment_amount": 500}
    return _op("reward_return:R-1", "reward_return", payload, OpStatus.PENDING, UNCLAIMED)


def test_a_refund_waits_for_the_order_it_names_not_the_first_one(world):
    customer, order = paid_order(world)
    member, now = customer["id"], datetime.now(UTC)
    first = _order("R-1", OpStatus.DONE, now, member)
    moved = _order("R-1-2", OpStatus.PENDING, now, member)  # another worker is sending it now
    _store(world, order["id"], first, moved, _refund_of("R-1-2"))

    with pytest.raises(OrderInProgress):
        _reconciler(world).reconcile(order["id"])
    assert world.yotpo_refunds() == []
    assert ledger_of(world, order["id"]).ops["refund:tx-1"].status == OpStatus.PENDING


def test_a_refund_of_an_order_yotpo_refused_fails_even_if_another_was_accepted(world):
    customer, order = paid_order(world)
    member, now = customer["id"], datetime.now(UTC)
    first = _order("R-1", OpStatus.DONE, now, member)
    moved = _order("R-1-2", OpStatus.FAILED, now, member)
    _store(world, order["id"], first, moved, _refund_of("R-1-2"))

    outcome = _reconciler(world).reconcile(order["id"])
    assert [key for key, _ in outcome.failed] == ["refund:tx-1"]
    assert world.yotpo_refunds() == []


def test_a_reward_return_waits_while_the_order_that_used_the_reward_is_pending(world):
    customer, order = paid_order(world)
    member, now = customer["id"], datetime.now(UTC)
    used = _order("R-1", OpStatus.PENDING, now, member, codes="LOY-1")
    _store(world, order["id"], used, _points_back(member))

    with pytest.raises(OrderInProgress):
        _reconciler(world).reconcile(order["id"])
    adjusts = [r for r in world.yotpo.requests_since(0) if r["path"].endswith("/points/adjust")]
    assert adjusts == []


def test_a_reward_return_of_an_order_yotpo_refused_is_never_sent(world):
    customer, order = paid_order(world)
    member, now = customer["id"], datetime.now(UTC)
    used = _order("R-1", OpStatus.FAILED, now, member, codes="LOY-1")
    _store(world, order["id"], used, _points_back(member))

    outcome = _reconciler(world).reconcile(order["id"])
    assert [key for key, _ in outcome.failed] == ["reward_return:R-1"]
    adjusts = [r for r in world.yotpo.requests_since(0) if r["path"].endswith("/points/adjust")]
    assert adjusts == []


def test_after_a_move_the_ledger_earns_both_order_operations():
    member, now = "c-1", datetime.now(UTC)
    first = _order("R-1", OpStatus.DONE, now, member)
    moved = _order("R-1-2", OpStatus.DONE, now, member)
    refused = _order("R-1-3", OpStatus.FAILED, now, member)
    ledger = OrderLedger(order_id="o", ops={op.key: op for op in (first, moved, refused)})
    assert ledger.earned_amount() == 10_000
