"""The ledger of one order: every provider operation the connector decided to send, and its fate.

Stored by the ledger store (`shared/orders/ledger_store.py`) as a commercetools custom object value
(`model_dump(mode="json")`). Models are immutable: every helper returns a new ledger, so a
compare-and-set write can be retried by applying the same change to a freshly read ledger.

Lifecycle of an operation: planned as PENDING (with `updated_at` = the moment the writer claimed
it) → DONE when Yotpo accepted it, or FAILED when Yotpo refused it for good. A PENDING operation
is owned by whoever wrote or last re-claimed it until its lease runs out; after that, anyone
may claim it again (its worker is presumed dead). Operation keys are stable and never reused,
so a key present in any status is never planned again.

Providers (ADR 0080): each operation names the provider it was rendered for (`provider`,
"yotpo" when absent: every ledger written before there was a choice), pins that provider's
exact request body (`payload`) and, for operations planned since, the provider-neutral
operation it was rendered from (`intent`). The planner and the reconciler read what an
operation said through `order_ref` / `member_id` / `member_email` / `coupon_codes`: from
Yotpo's body for a Yotpo operation (so an old ledger plans and sends exactly as before), from
the intent for any other provider.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field

from shared.domain.providers.port import (
    AnyNeutralOp,
    MemberUpsert,
    NeutralOp,
    OpKind,
    OrderRecorded,
    PayloadRenderer,
    PointsReturned,
    RedemptionCommitted,
    Reversal,
    ReversalRenderer,
    UnsupportedOperation,
)
from shared.domain.yotpo_fields import YotpoFields

# Ledgers written before operations named their provider were all Yotpo's.
LEGACY_PROVIDER = "yotpo"
# The error of an operation its provider's renderer could not make a body for (it is planned
# FAILED, with no body, so an operator sees it; a replay renders it again).
CANNOT_RENDER = "the provider cannot take this operation"

# `updated_at` of a PENDING operation nobody holds: any look may claim it at once.
UNCLAIMED = datetime(1970, 1, 1, tzinfo=UTC)
NOTHING_LEFT_TO_REFUND = "nothing left to refund when replayed"


class OpStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"


# "reward_return": points given back when an order that used a reward is cancelled;
# "redemption": a reward committed after payment (providers that redeem on use). Ledgers
# written before a kind existed still validate: the list (`OpKind`) only ever grows.
__all__ = ["OpKind"]


class LedgerOp(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    kind: OpKind
    payload: dict[str, Any]  # the exact request body, as the provider's renderer made it
    provider: str = LEGACY_PROVIDER
    # The neutral operation `payload` was rendered from (None in ledgers written before).
    intent: NeutralOp | None = None
    status: OpStatus = OpStatus.PENDING
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    # Points-relevant amount in minor units (orders: what earned, refunds: what was taken back).
    amount_cents: int | None = None

    # --- what the operation said ------------------------------------------------------------
    # A Yotpo operation is read from the body Yotpo was sent (old ledgers have nothing else,
    # and the body is what Yotpo holds); any other provider's from its neutral intent.

    @property
    def _yotpo_body(self) -> bool:
        return self.provider == LEGACY_PROVIDER or self.intent is None

    @property
    def order_ref(self) -> str | None:
        """The provider order an order operation made, a refund takes from, or a redemption
        belongs to (None for other kinds)."""
        if self._yotpo_body:
            value = self.payload.get(YotpoFields.ORDER_ID)
            return str(value) if value is not None else None
        intent = self.intent
        if isinstance(intent, OrderRecorded | Reversal | RedemptionCommitted):
            return intent.order_ref
        return None

    @property
    def member_id(self) -> str | None:
        """The member id an order was told under, or a reward return pays back (None: none)."""
        if self._yotpo_body:
            field = YotpoFields.ID if self.kind == "customer" else YotpoFields.CUSTOMER_ID
            value = self.payload.get(field)
            return str(value) if value else None
        intent = self.intent
        if isinstance(intent, OrderRecorded):
            return intent.member.member_id
        if isinstance(intent, PointsReturned | MemberUpsert):
            return intent.member_id
        return None

    @property
    def member_email(self) -> str | None:
        """The email an order was told under."""
        if self._yotpo_body:
            value = self.payload.get(YotpoFields.CUSTOMER_EMAIL)
            return value if isinstance(value, str) else None
        intent = self.intent
        return intent.member.email if isinstance(intent, OrderRecorded) else None

    @property
    def coupon_codes(self) -> tuple[str, ...]:
        """The codes an order operation carried."""
        if self._yotpo_body:
            listed = str(self.payload.get(YotpoFields.COUPON_CODE) or "")
            return tuple(code for code in listed.split(",") if code)
        intent = self.intent
        return intent.coupon_codes if isinstance(intent, OrderRecorded) else ()

    @classmethod
    def rendered(
        cls,
        key: str,
        intent: AnyNeutralOp,
        renderer: PayloadRenderer,
        *,
        before: Iterable[LedgerOp],
        now: datetime,
        amount_cents: int | None = None,
    ) -> LedgerOp:
        """A PENDING operation for `intent`, pinning the body `renderer` made (`before`: the
        operations ahead of it, for a reversal's context, see `render_body`). One the renderer
        cannot make is planned FAILED with CANNOT_RENDER and no body."""
        fields: dict[str, Any] = {"payload": {}, "status": OpStatus.PENDING}
        try:
            fields["payload"] = render_body(renderer, intent, before, now)
        except UnsupportedOperation as exc:
            fields.update(status=OpStatus.FAILED, error=f"{CANNOT_RENDER}: {exc}")
        return cls(
            key=key,
            kind=intent.kind,
            provider=renderer.capabilities.provider,
            intent=intent,
            created_at=now,
            updated_at=now,
            amount_cents=amount_cents,
            **fields,
        )


def render_body(
    renderer: PayloadRenderer, intent: AnyNeutralOp, before: Iterable[LedgerOp], at: datetime
) -> dict[str, Any]:
    """The body of `intent`. A reversal for a provider that needs refund lines is rendered with
    what it reverses (`ReversalRenderer`): the last order operation not refused that made its
    order reference, and the bodies of the refunds of that order ahead of it not refused."""
    if not (isinstance(intent, Reversal) and renderer.capabilities.refund_lines_required):
        return renderer.render(intent)
    ahead = [
        op for op in before if op.order_ref == intent.order_ref and op.status != OpStatus.FAILED
    ]
    purchase = next(
        (
            op.intent
            for op in reversed(ahead)
            if op.kind == "order" and isinstance(op.intent, OrderRecorded)
        ),
        None,
    )
    earlier = [op.payload for op in ahead if op.kind == "refund"]
    return cast(ReversalRenderer, renderer).render(
        intent, purchase=purchase, earlier=earlier, at=at
    )


class OrderLedger(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    order_id: str
    account: str | None = None
    # Pinned when the order operation is planned and never recomputed: a later orderNumber
    # change must not make a second provider order. Ledgers written before the provider port
    # call it `yotpo_order_id`; both names are read, the new one is written.
    provider_order_ref: str | None = Field(
        default=None, validation_alias=AliasChoices("provider_order_ref", "yotpo_order_id")
    )
    currency: str | None = None
    ops: dict[str, LedgerOp] = {}  # insertion order is execution order
    blocked_reason: str | None = None
    skipped_reason: str | None = None
    failure_count: int = 0
    updated_at: datetime | None = None

    # --- reading ---------------------------------------------------------------------------

    @property
    def yotpo_order_id(self) -> str | None:
        """The pinned provider order reference under its name from before the provider port
        (callers that still read it: job reports)."""
        return self.provider_order_ref

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

    def reset_failed(
        self, now: datetime, renderers: Mapping[str, PayloadRenderer] | None = None
    ) -> OrderLedger:
        """Operator replay: FAILED operations become PENDING and unclaimed, sent by the next look.

        A FAILED refund does not count as refunded, so while it sat there a later refund (or
        the cancellation refund) may have taken its share. Replayed refunds are therefore
        re-capped, in execution order, to what the order still has to give back: a refund with
        nothing left stays FAILED (with `NOTHING_LEFT_TO_REFUND`), a partly covered one is
        replayed with the smaller amount. Its payload was refused by the provider, so changing
        it cannot contradict anything the provider holds. The transient failure count starts
        again.

        Bodies: a re-capped refund, or an operation its renderer could not make a body for
        (CANNOT_RENDER), is rendered again from its intent by its provider's renderer
        (`renderers`, by provider name). A Yotpo refund planned before the port (no intent)
        gets its `total_amount_cents` changed, as before. One that still cannot be rendered
        stays FAILED, saying why.
        """
        renderers = renderers or {}
        ledger = self.model_copy(update={"failure_count": 0, "updated_at": now})
        for op in self.ops.values():
            if op.status != OpStatus.FAILED:
                continue
            replay: dict[str, Any] = {
                "status": OpStatus.PENDING,
                "updated_at": UNCLAIMED,
            }
            amount = op.amount_cents
            if op.kind == "refund":
                remaining = ledger.earned_amount() - ledger.refunded_amount()
                if remaining <= 0:
                    ledger = ledger._with_op(
                        op.model_copy(update={"error": NOTHING_LEFT_TO_REFUND, "updated_at": now}),
                        now,
                    )
                    continue
                if (amount or 0) > remaining:
                    amount = remaining
            unrendered = bool(op.error and op.error.startswith(CANNOT_RENDER))
            if amount != op.amount_cents or unrendered:
                body = ledger._body_again(op, amount, renderers)
                if isinstance(body, str):
                    ledger = ledger._with_op(
                        op.model_copy(update={"error": body, "updated_at": now}), now
                    )
                    continue
                replay.update(body)
            ledger = ledger._with_op(op.model_copy(update=replay), now)
        return ledger

    def _body_again(
        self, op: LedgerOp, amount: int | None, renderers: Mapping[str, PayloadRenderer]
    ) -> dict[str, Any] | str:
        """The fields of `op` rendered again for `amount`, or why it cannot be."""
        update: dict[str, Any] = {"amount_cents": amount}
        intent = op.intent
        if isinstance(intent, Reversal) and amount is not None:
            intent = intent.model_copy(update={"amount_minor": amount})
            update["intent"] = intent
        renderer = renderers.get(op.provider)
        if renderer is not None and intent is not None:
            ahead = list(self.ops.values())
            ahead = ahead[: ahead.index(op)] if op in ahead else ahead
            try:
                update["payload"] = render_body(renderer, intent, ahead, op.created_at)
            except UnsupportedOperation as exc:
                return f"{CANNOT_RENDER}: {exc}"
        elif op.provider == LEGACY_PROVIDER and op.payload:
            update["payload"] = {**op.payload, YotpoFields.TOTAL_AMOUNT_CENTS: amount}
        else:
            return f"{CANNOT_RECAP}: {op.provider}"
        return update


CANNOT_RECAP = "replay needs the operation rendered again and no renderer was given for"
