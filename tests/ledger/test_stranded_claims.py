"""Issue 19: the ledger never strands an operation behind its own claim.

The real event processor against both stand-ins. The story as it happened under load: one
delivery claimed two refunds, the first failed transiently, the second stayed claimed, and every
later delivery of the order waited for the lease, counted a failure, and was dead-lettered.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from shared.domain.orders.ledger import UNCLAIMED, OpStatus
from shared.domain.orders.order_view import order_view
from shared.domain.orders.planner import AccountView, plan_order
from shared.orders.ledger_store import LedgerStore
from shared.orders.reconciler import ORDER_EXPAND
from tests.ledger.helpers import (
    Clock,
    dead_letters,
    delivery,
    failure_records,
    ledger_of,
    paid_order,
    processor_for,
    settings_for,
)


def _earned(world, processor, order):
    for message in world.messages(order["id"]):
        assert processor.handle(delivery(message)).acknowledged
    assert len(world.yotpo_orders()) == 1


def _two_refunds(world, order):
    world.storefront.refund(order, 1000)
    world.storefront.refund(order, 550)
    payment_id = order["paymentInfo"]["payments"][0]["id"]
    return world.messages(payment_id)


def _fail_first_refund_call(world, runtime, how):
    if how == "client limiter":  # exactly the story: the limiter's budget is spent
        runtime.yotpo_for_store(None).client.limiter.pause_until(time.monotonic() + 30)
    elif how == "429 beyond the budget":  # Yotpo says come back after the delivery's deadline
        world.yotpo.set_faults(
            {"path_prefix": "/refunds", "rate_limited_next": 1, "retry_after_seconds": 30}
        )
    else:
        world.yotpo.set_faults({"path_prefix": "/refunds", "error_next": 4, "error_status": 503})


@pytest.mark.parametrize("how", ["client limiter", "429 beyond the budget", "503"])
def test_a_transient_failure_on_the_first_of_two_claims_hands_both_back(world, how):
    env = {"MAX_DELIVERY_ATTEMPTS": "2", "EVENT_DEADLINE_SECONDS": "3"}
    first, runtime = processor_for(world, **env)
    _, order = paid_order(world)
    _earned(world, first, order)
    payment_messages = _two_refunds(world, order)
    last = payment_messages[-1]

    _fail_first_refund_call(world, runtime, how)
    decision = first.handle(delivery(last, attempt=1))
    assert decision.status == 503
    if how == "503":  # a failure of the call: counted
        assert decision.outcome == "retry" and len(failure_records(world)) == 1
    else:  # Yotpo's rate limit: the account is busy, the message is fine; not counted
        assert (decision.outcome, decision.code) == ("deferred", "rate_limited")
        assert decision.retry_after is not None and 20 <= decision.retry_after <= 30
        assert failure_records(world) == []
    refunds = [op for op in ledger_of(world, order["id"]).ops.values() if op.kind == "refund"]
    assert len(refunds) == 2
    # Both claims handed back: nobody has to wait out the lease.
    assert all(op.status == OpStatus.PENDING and op.updated_at == UNCLAIMED for op in refunds)
    assert world.yotpo_refunds() == []

    world.yotpo.set_faults({})
    redelivered, _ = processor_for(world, **env)  # Pub/Sub may pick any worker
    # Every message of the order goes through at once, however often it was delivered.
    assert redelivered.handle(delivery(last, attempt=2)).status == 200
    for attempt, message in enumerate([*payment_messages, last], start=3):
        assert redelivered.handle(delivery(message, attempt=attempt)).acknowledged
    assert sorted(r["total_amount_cents"] for r in world.yotpo_refunds()) == [550, 1000]
    assert world.duplicates() == {"orders": {}, "refunds": {}}
    assert dead_letters(world) == []
    final = ledger_of(world, order["id"])
    assert not final.has_pending and all(op.status == OpStatus.DONE for op in final.ops.values())


def _claim_as_another_worker(world, order_id, settings, now):
    """Another (live) worker planned and claimed the order's operations at `now`."""
    store = LedgerStore(world.ct)
    ledger, version = store.read(order_id)
    view = order_view(world.ct.get_by_id("orders", order_id, expand=list(ORDER_EXPAND)))
    plan = plan_order(view, ledger, settings.planner_config(), AccountView(key="default"), now)
    store.write(plan.apply(ledger), version)


def test_waiting_for_a_live_claim_never_counts_toward_the_dead_letter_threshold(world, caplog):
    clock = Clock()
    processor, _ = processor_for(world, clock=clock, MAX_DELIVERY_ATTEMPTS="2")
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    _claim_as_another_worker(world, order["id"], settings_for(world), clock.now)

    caplog.set_level(logging.INFO)
    for attempt in range(1, 12):  # far past MAX_DELIVERY_ATTEMPTS
        clock.advance(5)
        decision = processor.handle(delivery(paid, attempt=attempt))
        assert decision.status == 503 and decision.outcome == "deferred"
        assert decision.code == "order_in_progress"
        # Retry-After: when the other worker's claim runs out (lease 60 s, 5 s per delivery).
        assert decision.retry_after == pytest.approx(60 - 5 * attempt, abs=1)
    assert failure_records(world) == [] and world.yotpo_orders() == []
    deferred = [r for r in caplog.records if r.getMessage() == "delivery.deferred"]
    assert deferred and all(r.levelno == logging.INFO for r in deferred)
    assert all(r.json_fields["order_id"] == order["id"] for r in deferred)

    clock.advance(10)  # the claim outlived its worker: the next look takes it over
    assert processor.handle(delivery(paid, attempt=12)).status == 200
    assert len(world.yotpo_orders()) == 1 and dead_letters(world) == []


def test_the_answer_to_a_deferred_delivery_says_when_to_come_back(world):
    from event.app import create_app

    settings = settings_for(world)
    client = create_app(settings).test_client()
    _, order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    from datetime import UTC, datetime

    _claim_as_another_worker(world, order["id"], settings, datetime.now(UTC))
    from tests.integration.world import push

    response = client.post("/event", json=push(paid))
    assert response.status_code == 503
    assert 55 <= int(response.headers["Retry-After"]) <= 60
    assert response.get_json() == {"outcome": "deferred", "code": "order_in_progress"}


def test_a_refund_behind_anothers_order_call_waits_without_counting(world):
    clock = Clock()
    processor, _ = processor_for(world, clock=clock, MAX_DELIVERY_ATTEMPTS="1")
    _, order = paid_order(world)
    _claim_as_another_worker(world, order["id"], settings_for(world), clock.now)
    payment_messages = _two_refunds(world, order)
    for attempt in range(1, 6):
        decision = processor.handle(delivery(payment_messages[-1], attempt=attempt))
        assert decision.outcome == "deferred"
        # Our refund claims are handed back each time; only the other worker's order call holds.
        ledger = ledger_of(world, order["id"])
        refunds = [op for op in ledger.ops.values() if op.kind == "refund"]
        assert refunds and all(op.updated_at == UNCLAIMED for op in refunds)
    assert failure_records(world) == []
    clock.advance(61)
    assert processor.handle(delivery(payment_messages[-1], attempt=6)).status == 200
    assert len(world.yotpo_orders()) == 1 and len(world.yotpo_refunds()) == 2


def test_a_claim_that_outlived_its_worker_is_found_without_another_message(world):
    """The nightly run and audit find stuck operations through `orders_with_pending`."""
    clock = Clock()
    settings = settings_for(world)
    processor, _ = processor_for(world, clock=clock)
    _, stuck = paid_order(world, "stuck@example.com")
    _, live = paid_order(world, "live@example.com")
    _, done = paid_order(world, "done@example.com")
    _claim_as_another_worker(world, stuck["id"], settings, clock.now - timedelta(seconds=300))
    _claim_as_another_worker(world, live["id"], settings, clock.now)
    for message in world.messages(done["id"]):
        processor.handle(delivery(message))

    store = processor.reconciler.ledger_store
    pending = {ledger.order_id: ledger for ledger in store.orders_with_pending()}
    assert set(pending) == {stuck["id"], live["id"]}
    lease = timedelta(seconds=settings.ledger_lease_seconds)
    assert [op.kind for op in pending[stuck["id"]].stuck_ops(clock.now, lease)] == ["order"]
    assert pending[live["id"]].stuck_ops(clock.now, lease) == []
    assert len(store.orders_with_pending(limit=1)) == 1

    # What the nightly run does with it: reconcile the order (the stale claim is taken over).
    outcome = processor.reconciler.reconcile(stuck["id"])
    sent_ids = [o["order_id"] for o in world.yotpo_orders()]
    assert outcome.sent and sorted(sent_ids) == sorted([stuck["orderNumber"], done["orderNumber"]])
    assert {ledger.order_id for ledger in store.orders_with_pending()} == {live["id"]}


def test_ledgers_written_before_has_pending_are_still_found(world):
    from shared.orders.ledger_store import LEDGER_CONTAINER

    legacy = {  # as an earlier version stored it: no has_pending, no reward_return kind
        "order_id": "legacy-1",
        "account": "default",
        "yotpo_order_id": "L-1",
        "currency": "EUR",
        "ops": {
            "order": {
                "key": "order",
                "kind": "order",
                "payload": {"order_id": "L-1"},
                "status": "PENDING",
                "attempts": 0,
                "created_at": "2026-11-01T10:00:00Z",
                "updated_at": "2026-11-01T10:00:00Z",
                "amount_cents": 1000,
            }
        },
    }
    world.ct.put_custom_object(LEDGER_CONTAINER, "legacy-1", legacy, version=0)
    finished = {**legacy, "order_id": "legacy-2", "ops": {}}
    world.ct.put_custom_object(LEDGER_CONTAINER, "legacy-2", finished, version=0)
    found = LedgerStore(world.ct).orders_with_pending()
    assert [ledger.order_id for ledger in found] == ["legacy-1"]
