"""A Voyado voucher is redeemed after payment and reactivated on cancellation: the pure plan
(shared/domain/orders/redemption_ops.py) with plain data."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain.orders.ledger import LedgerOp, OpStatus, OrderLedger
from shared.domain.orders.order_view import OrderView, RewardUsed
from shared.domain.orders.redemption_ops import plan_redemption_ops
from shared.domain.providers.voyado import VoyadoRenderConfig, VoyadoRenderer
from shared.domain.providers.yotpo import YOTPO_RENDERER

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VID = "3f2b6c1e-9a4d-4e5f-8a7b-0c1d2e3f4a5b"
VOYADO = VoyadoRenderer(VoyadoRenderConfig(default_store_external_id="ecom-1"))


def order(state: str = "Open", *, reward: RewardUsed | None = None, customer="cust-1"):
    return OrderView(
        id="o-1",
        order_number="1001",
        version=3,
        customer_id=customer,
        customer_email="jane@example.com",
        currency="SEK",
        created_at=NOW,
        order_state=state,
        payment_state="Paid",
        total_gross_minor=10000,
        subtotal_net_minor=8000,
        discount_minor=5000,
        reward=reward,
    )


def sealed(**changes) -> RewardUsed:
    fields = {
        "code": "0000012345678",
        "points": 0,
        "customer_id": "cust-1",
        "redemption_id": VID,
        "verified": True,
        "delayed": False,
    }
    return RewardUsed(**{**fields, **changes})


def plan(view, ledger=None, *, trigger=True, renderer=VOYADO):
    return plan_redemption_ops(
        view,
        ledger or OrderLedger(order_id="o-1"),
        renderer,
        NOW,
        order_ref="1001",
        trigger_met=trigger,
    )


def with_ops(*ops: LedgerOp) -> OrderLedger:
    return OrderLedger(order_id="o-1", ops={op.key: op for op in ops})


def test_the_voucher_is_committed_once_the_order_meets_its_trigger():
    assert plan(order(reward=sealed()), trigger=False) == []
    (commit,) = plan(order(reward=sealed()))
    assert commit.key == f"redemption:{VID}" and commit.kind == "redemption"
    assert commit.provider == "voyado" and commit.status == OpStatus.PENDING
    assert commit.payload == {"action": "redeem", "voucherId": VID, "orderRef": "1001"}
    # Planned once: a later look finds it in the ledger.
    assert plan(order(reward=sealed()), with_ops(commit)) == []


def test_a_cancelled_order_after_the_commit_plans_one_reactivation():
    (commit,) = plan(order(reward=sealed()))
    (release,) = plan(order("Cancelled", reward=sealed()), with_ops(commit))
    assert release.key == f"redemption-release:{VID}"
    assert release.payload == VOYADO.render_reactivation(commit.intent)
    assert release.payload["action"] == "reactivate"
    assert plan(order("Cancelled", reward=sealed()), with_ops(commit, release)) == []


def test_a_commit_done_counts_a_refused_one_gives_nothing_back():
    (commit,) = plan(order(reward=sealed()))
    done = commit.model_copy(update={"status": OpStatus.DONE})
    assert len(plan(order("Cancelled", reward=sealed()), with_ops(done))) == 1
    failed = commit.model_copy(update={"status": OpStatus.FAILED})
    assert plan(order("Cancelled", reward=sealed()), with_ops(failed)) == []


def test_an_order_cancelled_before_payment_never_spends_the_voucher():
    assert plan(order("Cancelled", reward=sealed())) == []
    assert plan(order("Cancelled", reward=sealed()), trigger=False) == []


def test_only_a_sealed_voucher_of_the_orders_customer_is_committed():
    assert plan(order(reward=None)) == []
    assert plan(order(reward=sealed(verified=False))) == []
    assert plan(order(reward=sealed(customer_id="someone-else"))) == []
    assert plan(order(reward=sealed(redemption_id="12345"))) == []  # a Yotpo redemption
    assert plan(order(reward=sealed(), customer=None)) == []


def test_yotpo_commits_nothing_after_payment():
    assert plan(order(reward=sealed()), renderer=YOTPO_RENDERER) == []


def test_with_the_planner_a_paid_then_cancelled_order_commits_then_reactivates():
    """The call the planner makes (`new_ops += plan_redemption_ops(...)` after the order and
    refund operations), composed here with the real `plan_order` of a Voyado store."""
    from shared.domain.orders.planner import AccountView, plan_order
    from shared.domain.orders.planner_config import PlannerConfig

    config = PlannerConfig()
    ledger = OrderLedger(order_id="o-1")
    for view in (order(reward=sealed()), order("Cancelled", reward=sealed())):
        planned = plan_order(view, ledger, config, AccountView(key="default"), NOW, renderer=VOYADO)
        ref = ledger.provider_order_ref or planned.pin_yotpo_order_id
        extra = plan_redemption_ops(
            view,
            ledger,
            VOYADO,
            NOW,
            order_ref=str(ref),
            trigger_met=view.payment_state == "Paid",
            before=tuple(planned.new_ops),
        )
        ledger = planned.model_copy(update={"new_ops": [*planned.new_ops, *extra]}).apply(ledger)
    keys = list(ledger.ops)
    assert keys[:3] == ["member:1001", "order:1001", f"redemption:{VID}"]
    assert keys[-1] == f"redemption-release:{VID}"
    assert ledger.ops[keys[-1]].payload["action"] == "reactivate"
    assert not any(op.kind == "reward_return" for op in ledger.ops.values())
