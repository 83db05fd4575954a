"""The pure ledger helpers issue 19 relies on, on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain.orders.ledger import UNCLAIMED, LedgerOp, OpStatus, OrderLedger

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def op(key: str, status: OpStatus, claimed: datetime, kind: str = "refund") -> LedgerOp:
    return LedgerOp(
        key=key, kind=kind, payload={}, status=status, created_at=NOW, updated_at=claimed
    )


def ledger(*ops: LedgerOp) -> OrderLedger:
    return OrderLedger(order_id="o-1", ops={o.key: o for o in ops})


def test_stuck_ops_are_unclaimed_or_past_their_lease():
    lg = ledger(
        op("order", OpStatus.DONE, NOW - timedelta(hours=1), kind="order"),
        op("live", OpStatus.PENDING, NOW - timedelta(seconds=59)),
        op("stale", OpStatus.PENDING, NOW - timedelta(seconds=60)),
        op("handed-back", OpStatus.PENDING, UNCLAIMED),
        op("failed", OpStatus.FAILED, NOW - timedelta(hours=1)),
    )
    assert [o.key for o in lg.stuck_ops(NOW, LEASE)] == ["stale", "handed-back"]
    assert lg.claim_expires_at(LEASE) == NOW - timedelta(seconds=60) + LEASE


def test_release_hands_back_only_pending_operations():
    lg = ledger(
        op("order", OpStatus.DONE, NOW, kind="order"),
        op("a", OpStatus.PENDING, NOW),
        op("b", OpStatus.PENDING, NOW),
    )
    released = lg.release(["order", "a", "missing"])
    assert released.ops["a"].updated_at == UNCLAIMED
    assert released.ops["b"].updated_at == NOW  # not ours to give back
    assert released.ops["order"] == lg.ops["order"]
    assert released.claim_expires_at(LEASE) == NOW + LEASE


def test_has_pending_is_stored_derived_and_ignored_when_read():
    pending = ledger(op("a", OpStatus.PENDING, NOW))
    stored = pending.model_dump(mode="json")
    assert stored["has_pending"] is True
    # A stored flag that disagrees (hand-edited, or from an older writer) cannot mislead.
    back = OrderLedger.model_validate({**stored, "has_pending": False})
    assert back == pending and back.has_pending
    assert ledger(op("a", OpStatus.DONE, NOW)).model_dump(mode="json")["has_pending"] is False


def test_ledgers_written_before_these_changes_still_validate():
    old = {
        "order_id": "o-9",
        "account": "default",
        "yotpo_order_id": "ORD-9",
        "currency": "EUR",
        "ops": {
            "order": {
                "key": "order",
                "kind": "order",
                "payload": {"order_id": "ORD-9"},
                "status": "DONE",
                "attempts": 1,
                "created_at": "2026-11-01T10:00:00Z",
                "updated_at": "2026-11-01T10:00:01Z",
                "error": None,
                "amount_cents": 1000,
            },
            "refund:r-1": {
                "key": "refund:r-1",
                "kind": "refund",
                "payload": {"total_amount_cents": 300},
                "status": "PENDING",
                "created_at": "2026-11-01T10:00:00Z",
                "updated_at": "1970-01-01T00:00:00Z",
            },
        },
        "blocked_reason": None,
        "skipped_reason": None,
        "failure_count": 0,
        "updated_at": "2026-11-01T10:00:01Z",
    }
    lg = OrderLedger.model_validate(old)
    assert lg.has_pending and [o.key for o in lg.stuck_ops(NOW, LEASE)] == ["refund:r-1"]
    # commercetools drops null fields of a custom-object value: a ledger without them reads too.
    bare = {"order_id": "o-10", "ops": {}}
    assert not OrderLedger.model_validate(bare).has_pending


def test_reward_return_is_a_known_operation_kind():
    points_back = op("reward_return:o-1", OpStatus.PENDING, UNCLAIMED, kind="reward_return")
    assert ledger(points_back).ops["reward_return:o-1"].kind == "reward_return"
