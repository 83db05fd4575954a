"""The ledger of one order: every Yotpo operation the connector decided to send, and its fate.

Stored by the ledger store (`shared/orders/ledger_store.py`) as a commercetools custom object value
(`model_dump(mode="json")`). Models are immutable: every helper returns a new ledger, so a
compare-and-set write can be retried by applying the same change to a freshly read ledger.

Lifecycle of an operation: planned as PENDING (with `updated_at` = the moment the writer claimed
it) → DONE when Yotpo accepted it, or FAILED when Yotpo refused it for good. A PENDING operation
is owned by whoever wrote or last re-claimed it until its lease runs out; after that, anyone
may claim it again (its worker is presumed dead). Operation keys are stable and never reused,
so a key present in any status is never planned again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from shared.domain.yotpo_fields import YotpoFields

# `updated_at` of a PENDING operation nobody holds: any look may claim it at once.
UNCLAIMED = datetime(1970, 1, 1, tzinfo=UTC)
NOTHING_LEFT_TO_REFUND = "nothing left to refund when replayed"


class OpStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"


# "reward_return": points given back when an order that used a reward is cancelled (its payload
# is the body of Yotpo's points-adjust call). Ledgers written before a kind existed still
# validate: the list only ever grows.
OpKind = Literal["order", "refund", "customer", "reward_return"]


class LedgerOp(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    kind: OpKind
    payload: dict[str, Any]  # the exact Yotpo request body
    status: OpStatus = OpStatus.PENDING
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    # Points-relevant amount in minor units (orders: what earned, refunds: what was taken back).
    amount_cents: int | None = None


class OrderLedger(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    account: str | None = None
    # Pinned when the order operation is planned and never recomputed: a later orderNumber
    # change must not make a second Yotpo order.
    yotpo_order_id: str | None = None
    currency: str | None = None
    ops: dict[str, LedgerOp] = {}  # insertion order is execution order
    blocked_reason: str | None = None
    skipped_reason: str | None = None
    failure_count: int = 0
    updated_at: datetime | None = None

    # --- reading ---------------------------------------------------------------------------

    @property
    def order_op(self) -> LedgerOp | None:
        return next((op for op in self.ops.values() if op.kind == "order"), None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_pending(self) -> bool:
        """Stored with the ledger so `value(has_pending = true)` finds unfinished orders.

        Derived, never read back: validation ignores it (extra keys are ignored), so a ledger
        written before it existed still validates, and it cannot disagree with `ops`.
        """
        return any(op.status == OpStatus.PENDING for op in self.ops.values())

    def stuck_ops(self, now: datetime, lease: timedelta) -> list[LedgerOp]:
        """PENDING operations nobody is working on: unclaimed, or claimed longer than `lease` ago.

        Their worker died or gave up without handing them back; whoever reconciles the order
        next (a message, the nightly run, audit) claims and sends them.
        """
        cutoff = now - lease
        return [
            op
            for op in self.ops.values()
            if op.status == OpStatus.PENDING and op.updated_at <= cutoff
        ]

    def claim_expires_at(self, lease: timedelta) -> datetime | None:
        """When the first live claim on a PENDING operation runs out (None: there is none)."""
        claims = [
            op.updated_at + lease
            for op in self.ops.values()
            if op.status == OpStatus.PENDING and op.updated_at != UNCLAIMED
        ]
        return min(claims) if claims else None

    def release(self, keys: Collection[str]) -> OrderLedger:
        """Hand claimed PENDING operations back (`UNCLAIMED`): the next look takes them at once."""
        ops = dict(self.ops)
        for key in keys:
            op = ops.get(key)
            if op is not None and op.status == OpStatus.PENDING:
                ops[key] = op.model_copy(update={"updated_at": UNCLAIMED})
        return self.model_copy(update={"ops": ops})

    def earned_amount(self) -> int:
        """What the order operations earn, those Yotpo refused left out.

        After a move to another member there are two: the first, whose remainder a `-moved`
        refund takes back, and the new one carrying that remainder (`refunded_amount` counts
        the refund, so earned minus refunded is still what the order holds in Yotpo).
        """
        return sum(
            op.amount_cents or 0
            for op in self.ops.values()
            if op.kind == "order" and op.status != OpStatus.FAILED
        )

    def refunded_amount(self) -> int:
        """The sum of refund operations that are done or on their way (not FAILED)."""
        return sum(
            op.amount_cents or 0
            for op in self.ops.values()
            if op.kind == "refund" and op.status != OpStatus.FAILED
        )

    def due_ops(
        self, now: datetime, lease: timedelta, *, claimed: Collection[str] = ()
    ) -> list[LedgerOp]:
        """PENDING operations the caller may send now, in execution order.

        Due are the operations in `claimed` — the keys the caller itself just wrote as pending
        (the creator of an operation owns it without waiting) — and every PENDING operation
        whose `updated_at` is at least `lease` old (its claimer is presumed dead; operations
        released with `UNCLAIMED` are always due). The caller must re-claim the stale ones
        (`claim`, written with a compare-and-set) before sending them.

        Refunds and customer operations follow the order they belong to: they are due only
        when the order operation is DONE or is itself due earlier in the same list, so Yotpo
        never receives a refund for an order it has not recorded.
        """
        cutoff = now - lease
        order_op = self.order_op
        order_ready = order_op is not None and order_op.status == OpStatus.DONE
        due = []
        for op in self.ops.values():
            if op.status != OpStatus.PENDING:
                continue
            if not (op.key in claimed or op.updated_at <= cutoff):
                continue
            if op.kind == "order":
                order_ready = True
            elif not order_ready and not (op.kind == "reward_return" and order_op is None):
                # A reward return with no order at all gives back points deducted at checkout
                # for an order cancelled before Yotpo heard of it: it depends on nothing.
                continue
            due.append(op)
        return due

    # --- changing (each returns a new ledger) ----------------------------------------------

    def _with_op(self, op: LedgerOp, now: datetime) -> OrderLedger:
        ops = dict(self.ops)
        ops[op.key] = op
        return self.model_copy(update={"ops": ops, "updated_at": now})

    def _op(self, key: str) -> LedgerOp:
        try:
            return self.ops[key]
        except KeyError:
            raise KeyError(f"ledger of order {self.order_id} has no operation {key!r}") from None

    def claim(self, keys: Collection[str], now: datetime) -> OrderLedger:
        """Take the lease of PENDING operations: their `updated_at` becomes `now`."""
        ledger = self
        for key in keys:
            op = ledger._op(key)
            if op.status == OpStatus.PENDING:
                ledger = ledger._with_op(op.model_copy(update={"updated_at": now}), now)
        return ledger

    def mark_done(self, key: str, now: datetime) -> OrderLedger:
        op = self._op(key)
        done = op.model_copy(
            update={
                "status": OpStatus.DONE,
                "attempts": op.attempts + 1,
                "updated_at": now,
                "error": None,
            }
        )
        return self._with_op(done, now)

    def mark_failed(self, key: str, error: str, now: datetime) -> OrderLedger:
        op = self._op(key)
        failed = op.model_copy(
            update={
                "status": OpStatus.FAILED,
                "attempts": op.attempts + 1,
                "updated_at": now,
                "error": error,
            }
        )
        return self._with_op(failed, now)

    def reset_failed(self, now: datetime) -> OrderLedger:
        """Operator replay: FAILED operations become PENDING and unclaimed, sent by the next look.

        A FAILED refund does not count as refunded, so while it sat there a later refund (or
        the cancellation refund) may have taken its share. Replayed refunds are therefore
        re-capped, in execution order, to what the order still has to give back: a refund with
        nothing left stays FAILED (with `NOTHING_LEFT_TO_REFUND`), a partly covered one is
        replayed with the smaller amount. Its payload was refused by Yotpo, so changing it
        cannot contradict anything Yotpo holds. The transient failure count starts again.
        """
        ledger = self.model_copy(update={"failure_count": 0, "updated_at": now})
        for op in self.ops.values():
            if op.status != OpStatus.FAILED:
                continue
            replay: dict[str, Any] = {
                "status": OpStatus.PENDING,
                "updated_at": UNCLAIMED,
            }
            if op.kind == "refund":
                remaining = ledger.earned_amount() - ledger.refunded_amount()
                amount = op.amount_cents or 0
                if remaining <= 0:
                    ledger = ledger._with_op(
                        op.model_copy(update={"error": NOTHING_LEFT_TO_REFUND, "updated_at": now}),
                        now,
                    )
                    continue
                if amount > remaining:
                    replay["amount_cents"] = remaining
                    replay["payload"] = {**op.payload, YotpoFields.TOTAL_AMOUNT_CENTS: remaining}
            ledger = ledger._with_op(op.model_copy(update=replay), now)
        return ledger
