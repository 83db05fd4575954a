"""Reconcile one order with its loyalty provider: the ledger protocol (docs/adr/0001).
(Kept whole at ~610 lines: one protocol whose steps share the ledger's compare-and-set rounds.)

1. read the ledger (with its version) and the current order;
2. plan = what Yotpo should know − what the ledger says it was told (pure planner);
3. write new operations as *pending* with a compare-and-set (lost race → start again);
4. send each operation this worker claimed, then mark it done (compare-and-set again);
5. a pending operation older than the lease (its worker died) is claimed and sent again.

Every caller — live events, the backfill, in-store sales — goes through here, so nothing can
be told to the provider twice by two different paths.

The provider is the one serving the order's store (`Runtime.provider_for_store`, ADR 0080):
its renderer makes the bodies the ledger pins, its adapter (`LoyaltyProvider.send`) sends
them. An outcome the worker cannot see the end of (a timeout) leaves the operation pending;
what the next attempt does depends on how the provider deduplicates that kind (`DedupMode`,
see `_applied_before`). Yotpo's kinds are `none` or `state-upsert`: resent as before (ADR 0001).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.checkout.coupon_codes import flag_foreign_codes
from shared.commercetools import CommercetoolsClient, literal_list
from shared.domain.customers.customer_sync import customer_member
from shared.domain.customers.member_identity import MemberView
from shared.domain.orders.ledger import LedgerOp, OpStatus, OrderLedger
from shared.domain.orders.order_view import OrderView, order_view, product_collections
from shared.domain.orders.planner import AccountView, OrderPlan, PlannerConfig, plan_order
from shared.domain.providers.port import DedupMode, PayloadRenderer
from shared.domain.providers.yotpo import YOTPO_RENDERER
from shared.errors import (
    CommercetoolsPermanentError,
    ConcurrentModificationError,
    NotFoundError,
    PermanentError,
    TransientError,
    YotpoTransientError,
    describe,
)
from shared.logs import log_event
from shared.orders.ledger_store import LedgerStore
from shared.providers.port import LoyaltyProvider, ProviderRateLimited, SendOutcome
from shared.runtime import ProviderRoute, Runtime, YotpoRoute
from shared.yotpo import YotpoRateLimited

logger = logging.getLogger(__name__)

# `lineItems[*].productType`: the item type Yotpo's product rules read (order_view).
ORDER_EXPAND = (
    "paymentInfo.payments[*]",
    "discountCodes[*].discountCode",
    "lineItems[*].productType",
)
# The customer's groups become the member's tags (customer_sync.customer_member).
CUSTOMER_EXPAND = ("customerGroup", "customerGroupAssignments[*].customerGroup")
# commercetools' largest page (https://docs.commercetools.com/api/general-concepts#limit).
_MAX_PAGE = 500
# The advisory foreign-code look-up may spend at most this much of a delivery's budget.
_CODE_CHECK_SECONDS = 1.0
_ROUNDS = 6
# Starting a Yotpo call we cannot see the end of turns a clean retry into an ambiguous one.
_MIN_CALL_SECONDS = 0.5


class OrderInProgress(TransientError):
    """Another worker holds this order's pending operations; look again after its lease.

    Not a failure of the message: waiting for a live claim never counts toward the dead-letter
    threshold. `retry_after` says (in seconds) when the claim that blocks us runs out.
    """

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = max(1.0, retry_after)


class DeliveryBudgetUsedUp(YotpoTransientError):
    """The delivery's time budget ran out before a Yotpo call could start (nothing was sent).

    Like `OrderInProgress`, no failure of the message: it is deferred, not counted.
    """

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = max(1.0, retry_after)


class YotpoThrottled(DeliveryBudgetUsedUp):
    """The provider (Yotpo, or another one) told this account to hold off (a 429's reset) past
    the delivery's deadline."""


# An idempotency key that may have expired, and a provider that cannot say whether the first
# attempt landed: resending could act twice, so the operation waits for an operator.
UNKNOWN_PAST_IDEMPOTENCY_TTL = (
    "cannot tell whether the provider applied it and its idempotency key may have expired; "
    "check the provider, then mark it or replay it"
)


@dataclass(frozen=True)
class ReconcileOutcome:
    order_id: str
    sent: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    skipped_reason: str | None = None
    blocked_reason: str | None = None
    ledger: OrderLedger | None = field(default=None, compare=False, repr=False)

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        if self.sent:
            return "sent"
        if self.skipped_reason:
            return "skipped"
        return "up_to_date"


class OrderReconciler:
    def __init__(
        self,
        runtime: Runtime,
        config: PlannerConfig,
        *,
        lease_seconds: float,
        seal_key: bytes | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`seal_key`: the checkout's reward-sealing key (`PlannerSettings.reward_seal_key()`);
        without it every reward an order carries is unverified and earns no points back."""
        self._runtime = runtime
        self._seal_key = seal_key
        self._ct: CommercetoolsClient = runtime.commercetools
        self._ledger = LedgerStore(runtime.commercetools)
        self._config = config
        self._lease = timedelta(seconds=lease_seconds)
        self._now = now
        self._monotonic = monotonic

    @property
    def ledger_store(self) -> LedgerStore:
        return self._ledger

    def reset_failures(self, order_id: str) -> int:
        """Operator replay: the order's failed operations become pending again; how many."""
        ledger, version = self._ledger.read(order_id)
        failed = sum(1 for op in ledger.ops.values() if op.status == OpStatus.FAILED)
        if failed:
            renderers = self._renderers()
            self._settle(ledger, version, lambda lg: lg.reset_failed(self._now(), renderers))
        return failed

    def _renderers(self) -> dict[str, PayloadRenderer]:
        """Every configured provider's renderer by name (a replayed refund is rendered again)."""
        renderers: dict[str, PayloadRenderer] = {
            YOTPO_RENDERER.capabilities.provider: YOTPO_RENDERER
        }
        for route in self._runtime.provider_routes():
            renderers.setdefault(route.provider.name, route.provider.renderer)
        return renderers

    def reconcile(self, order_id: str, *, deadline: float | None = None) -> ReconcileOutcome:
        """Bring Yotpo up to date with the order as it is now. Raises TransientError to retry."""
        for _ in range(_ROUNDS):
            ledger, version = self._ledger.read(order_id)
            order = self._ct.get_by_id("orders", order_id, expand=list(ORDER_EXPAND))
            view = self.view_of(order, ledger)
            route = self._runtime.provider_for_store(view.store_key)
            renderer = route.provider.renderer if route else YOTPO_RENDERER
            now = self._now()
            plan = plan_for_route(route, view, ledger, self._config, now)
            updated = plan.apply(ledger)
            claimed = [op.key for op in plan.new_ops if op.status == OpStatus.PENDING]
            # Planned FAILED: the provider's renderer cannot make a body for it (CANNOT_RENDER).
            unrendered = tuple(
                (op.key, op.error or "") for op in plan.new_ops if op.status == OpStatus.FAILED
            )
            updated, reclaimed = self._reclaim_stale(updated, exclude=claimed, now=now)
            claimed += reclaimed
            if updated != ledger:
                try:
                    version = self._ledger.write(updated, version)
                except ConcurrentModificationError:
                    continue
            # The order's first look that plans its earning (this writer won the race): the one
            # moment its codes are checked, never again on a redelivery. The codes are Yotpo's
            # reward codes: only a Yotpo store has them.
            yotpo = route.yotpo if route is not None else None
            if yotpo is not None and ledger.order_op is None and updated.order_op is not None:
                self._flag_foreign_codes(order, yotpo, deadline)
            for key, error in unrendered:
                log_event(
                    logger,
                    f"{renderer.capabilities.provider}.operation_failed",
                    level=logging.ERROR,
                    order_id=order_id,
                    operation=key,
                    error=error,
                    outcome="cannot_render",
                )
            if not claimed:
                busy = [op.key for op in updated.ops.values() if op.status == OpStatus.PENDING]
                if busy:
                    raise OrderInProgress(
                        f"order {order_id}: {', '.join(busy)} pending with another worker",
                        retry_after=self._retry_after(updated, now),
                    )
                return ReconcileOutcome(
                    order_id,
                    failed=unrendered,
                    skipped_reason=updated.skipped_reason,
                    blocked_reason=updated.blocked_reason,
                    ledger=updated,
                )
            ordered = [key for key in updated.ops if key in set(claimed)]
            if route is None:  # the planner never creates work for an unrouted order
                self._hand_back(updated, version, ordered)
                raise PermanentError(f"order {order_id}: no loyalty account for its store")
            done = self._execute(updated, version, ordered, route, deadline)
            if unrendered:
                return dataclasses.replace(done, failed=unrendered + done.failed)
            return done
        raise ConcurrentModificationError(
            f"order {order_id}: ledger kept changing under us", current_version=None
        )

    def view_of(self, order: dict, ledger: OrderLedger) -> OrderView:
        """The planner's view of `order` (read with ORDER_EXPAND) as this reconciler builds it:
        its customer's member, its products' collections (only while the ledger holds no order
        operation: later looks never send items again) and its sealed reward. A dry run that
        must plan what a real look would plans from this same view."""
        return order_view(
            order,
            member=self._member(order),
            collections=self._collections(order) if ledger.order_op is None else None,
            seal_key=self._seal_key,
        )

    def _member(self, order: dict) -> MemberView | None:
        """The Yotpo member of the order's customer (None: a guest order, or no such customer)."""
        customer_id = order.get("customerId")
        if not isinstance(customer_id, str) or not customer_id:
            return None
        try:
            customer = self._ct.get_by_id("customers", customer_id, expand=list(CUSTOMER_EXPAND))
        except NotFoundError:
            return None
        return customer_member(customer, self._config.members)

    def _collections(self, order: dict) -> dict[str, tuple[str, ...]] | None:
        """Product id → its categories, for the items of the order's first Yotpo order.

        Advisory: a project (or stand-in) that does not serve product projections, or refuses
        the query, sends the order without collections rather than hold its points back.
        """
        ids = sorted(
            {
                item["productId"]
                for item in order.get("lineItems") or []
                if isinstance(item, dict) and isinstance(item.get("productId"), str)
            }
        )[:_MAX_PAGE]
        if not ids:
            return None
        try:
            found = self._ct.query(
                "product-projections",
                where=f"id in {literal_list(ids)}",
                expand=["categories[*]"],
                limit=len(ids),
            )
        except CommercetoolsPermanentError as exc:
            _order_step_skipped(
                "order.collections_unread", order, exc, outcome="sent_without_collections"
            )
            return None
        return product_collections(found.get("results") or [])

    def _flag_foreign_codes(self, order: dict, route: YotpoRoute, deadline: float | None) -> None:
        """Log codes on the order issued to someone else; never holds up or fails the order."""
        budget = _CODE_CHECK_SECONDS
        if deadline is not None:
            budget = min(budget, deadline - self._monotonic() - 2 * _MIN_CALL_SECONDS)
        if budget <= 0:
            return
        try:
            # One attempt per code: an advisory look-up is not worth a second Yotpo call.
            flag_foreign_codes(self._ct, route.client.bounded(budget, max_retries=0), order)
        except Exception as exc:  # it catches its look-ups' failures; this is for odd data
            _order_step_skipped("coupon.ownership_unchecked", order, exc, outcome="skipped")

    def _reclaim_stale(
        self, ledger: OrderLedger, *, exclude: Sequence[str], now: datetime
    ) -> tuple[OrderLedger, list[str]]:
        stale = [
            op.key
            for op in ledger.ops.values()
            if op.status == OpStatus.PENDING
            and op.key not in exclude
            and op.updated_at <= now - self._lease
        ]
        if not stale:
            return ledger, []
        ops = dict(ledger.ops)
        for key in stale:
            ops[key] = ops[key].model_copy(update={"updated_at": now})
        return ledger.model_copy(update={"ops": ops}), stale

    def _execute(
        self,
        ledger: OrderLedger,
        version: int,
        keys: Sequence[str],
        route: ProviderRoute,
        deadline: float | None,
    ) -> ReconcileOutcome:
        """Send the operations this worker claimed, in order, settling each in the ledger.

        A delivery that stops early, for any reason, hands back every claimed operation it did
        not finish, so the next look takes them at once instead of waiting out the lease. The
        one exception is an operation Yotpo accepted whose `done` could not be written: it
        stays claimed (handing it back would resend it at once); see ADR 0001.
        """
        sent: list[str] = []
        failed: list[tuple[str, str]] = []
        unfinished = list(keys)
        try:
            for key in keys:
                op = ledger.ops[key]
                blocker = self._blocker(ledger, op, self._now()) or _other_provider(op, route)
                name = route.provider.name
                error = blocker
                outcome: SendOutcome | None = None
                if not blocker:
                    try:
                        provider = self._provider(route, deadline)
                        outcome = self._applied_before(provider, op, self._now()) or self._send(
                            provider, op
                        )
                    except TransientError as exc:
                        throttled = self._as_throttled(route, exc)
                        if throttled is None:
                            raise
                        raise throttled from exc
                    except PermanentError as exc:
                        error = describe(exc)
                if outcome is None:
                    # Blocked before sending, or refused for good by the provider.
                    reason = error or "failed"
                    ledger, version = self._settle(
                        ledger,
                        version,
                        lambda lg, k=key, e=reason: lg.mark_failed(k, e, self._now()),
                    )
                    unfinished.remove(key)
                    failed.append((key, reason))
                    if not blocker:
                        log_event(
                            logger,
                            f"{name}.operation_failed",
                            level=logging.ERROR,
                            order_id=ledger.order_id,
                            operation=key,
                            error=reason,
                            outcome="failed_permanently",
                        )
                    continue
                # The provider has it now: whatever happens next, this one is not handed back.
                unfinished.remove(key)
                ledger, version = self._settle(
                    ledger, version, lambda lg, k=key: lg.mark_done(k, self._now())
                )
                sent.append(key)
                log_event(
                    logger,
                    f"{name}.operation_sent",
                    order_id=ledger.order_id,
                    operation=key,
                    kind=op.kind,
                    amount_cents=op.amount_cents,
                    account=route.key,
                    outcome=outcome.value,
                )
        except Exception:
            self._hand_back(ledger, version, unfinished)
            raise
        return ReconcileOutcome(
            ledger.order_id,
            sent=tuple(sent),
            failed=tuple(failed),
            skipped_reason=ledger.skipped_reason,
            blocked_reason=ledger.blocked_reason,
            ledger=ledger,
        )

    def _hand_back(self, ledger: OrderLedger, version: int, keys: Sequence[str]) -> None:
        """Release claimed, unfinished operations. Best effort: if this write fails too, the
        lease frees them, and the nightly run finds them (`LedgerStore.orders_with_pending`)."""
        if not keys:
            return
        try:
            self._settle(ledger, version, lambda lg: lg.release(keys))
        except Exception as exc:  # the original failure is what the caller must see
            log_event(
                logger,
                "ledger.hand_back_failed",
                level=logging.WARNING,
                order_id=ledger.order_id,
                operations=list(keys),
                error=describe(exc),
                retry=True,
                outcome="lease_frees_them",
            )
            return
        log_event(
            logger,
            "ledger.handed_back",
            order_id=ledger.order_id,
            operations=list(keys),
            outcome="released",
        )

    def _as_throttled(self, route: ProviderRoute, exc: TransientError) -> YotpoThrottled | None:
        """The provider's rate limit as a deferral (with when to come back); None to raise
        `exc` as is.

        `YotpoRateLimited` / `ProviderRateLimited` (the client's limiter out of budget, or a 429
        whose reset lies past our deadline): nothing was done, the account is busy, the
        message is fine.
        """
        if isinstance(exc, DeliveryBudgetUsedUp):  # already says so (YotpoThrottled included)
            return None
        if not isinstance(exc, YotpoRateLimited | ProviderRateLimited):
            return None
        wait = exc.retry_after
        paused_until = route.provider.paused_until()
        if paused_until is not None:
            wait = max(wait, paused_until - self._monotonic())
        label = "Yotpo" if route.yotpo is not None else route.provider.name
        return YotpoThrottled(f"{label} rate limit: {exc}", retry_after=wait)

    def _retry_after(self, ledger: OrderLedger, now: datetime) -> float:
        expires = ledger.claim_expires_at(self._lease)
        if expires is None:
            return 1.0
        return max(1.0, (expires - now).total_seconds())

    def _blocker(self, ledger: OrderLedger, op: LedgerOp, now: datetime) -> str | None:
        """Why `op` must not be sent (it fails with that), None to send it; raises to wait.

        A refund follows the Yotpo order it names (after a move there are two): Yotpo must have
        recorded that one first. A reward return follows the order that consumed the reward:
        points are given back only for an order Yotpo accepted, else a refused order would
        still return points it never deducted.
        """
        if op.kind not in ("refund", "reward_return"):
            return None
        if op.kind == "reward_return" and ledger.order_op is None:
            # Points deducted at checkout (the reward was consumed when the order was placed)
            # for an order cancelled before Yotpo heard of it: no Yotpo order to wait for.
            return None
        owners = _owning_orders(ledger, op)
        if any(o.status == OpStatus.DONE for o in owners):
            return None
        pending = [o for o in owners if o.status == OpStatus.PENDING]
        if not pending:
            return "the order was not accepted by Yotpo; fix it and replay"
        raise OrderInProgress(
            f"order {ledger.order_id}: order not yet recorded in Yotpo",
            retry_after=self._retry_after(
                ledger.model_copy(update={"ops": {o.key: o for o in pending}}), now
            ),
        )

    def _provider(self, route: ProviderRoute, deadline: float | None) -> LoyaltyProvider:
        if deadline is None:
            return route.provider
        now = self._monotonic()
        remaining = deadline - now
        # A call that must wait out the provider's reset beyond our deadline would only fail
        # there; hand the work back now, saying when to come back.
        paused_until = route.provider.paused_until()
        if paused_until is not None and paused_until > deadline - _MIN_CALL_SECONDS:
            label = "Yotpo" if route.yotpo is not None else route.provider.name
            raise YotpoThrottled(
                f"{label} rate limit: holding off until its reset", retry_after=paused_until - now
            )
        if remaining < _MIN_CALL_SECONDS:
            raise DeliveryBudgetUsedUp("delivery time budget used up; continuing on redelivery")
        return route.provider.bounded(remaining)

    @staticmethod
    def _applied_before(
        provider: LoyaltyProvider, op: LedgerOp, now: datetime
    ) -> SendOutcome | None:
        """Whether `op` must not be sent because an earlier attempt may have done it: DUPLICATE
        (it did), None (send it), or PermanentError (cannot tell). By its kind's dedup mode
        (ADR 0080).

        An earlier attempt may have landed unseen (a timeout): the operation is then still
        pending, and this is a resend.
        - natural-key, conflict-on-repeat, state-upsert: a repeat does nothing more (or says
          409, which the adapter reports as a duplicate): send.
        - idempotency-key: the operation's key is the idempotency key, so within the
          provider's TTL of the operation's creation (no attempt is older) a repeat replays
          the first answer: send. Past it, the key may be forgotten: an operation never
          settled (`attempts` 0: any attempt so far may have landed) is looked up first
          (`was_applied`): found → a duplicate, not found → send, cannot tell → it fails for
          an operator (`UNKNOWN_PAST_IDEMPOTENCY_TTL`) rather than risk acting twice. One an
          operator replayed after a refusal (`attempts` > 0) is sent.
        - none (Yotpo's orders, refunds, points adjustments): send, as before the port (the
          ambiguous window of ADR 0001 is unchanged).
        """
        mode = provider.capabilities.dedup_mode(op.kind)
        if mode == DedupMode.IDEMPOTENCY_KEY and op.attempts == 0:
            ttl = provider.capabilities.idempotency_ttl_seconds
            if ttl is None or now - op.created_at >= timedelta(seconds=ttl):
                applied = provider.was_applied(op.kind, op.payload)
                if applied is None:
                    raise PermanentError(UNKNOWN_PAST_IDEMPOTENCY_TTL)
                if applied:
                    return SendOutcome.DUPLICATE
        return None

    @staticmethod
    def _send(provider: LoyaltyProvider, op: LedgerOp) -> SendOutcome:
        """Send `op`'s pinned body (its key is the idempotency key, for providers with one)."""
        return provider.send(op.kind, op.payload, idempotency_key=op.key)

    def _settle(
        self,
        ledger: OrderLedger,
        version: int,
        change: Callable[[OrderLedger], OrderLedger],
    ) -> tuple[OrderLedger, int]:
        """Write `change(ledger)`; on a lost race apply the same change to the fresh ledger."""
        candidate = change(ledger)
        for _ in range(_ROUNDS):
            try:
                return candidate, self._ledger.write(candidate, version)
            except ConcurrentModificationError:
                fresh, version = self._ledger.read(ledger.order_id)
                candidate = change(fresh)
        raise ConcurrentModificationError(
            f"order {ledger.order_id}: ledger kept changing under us", current_version=None
        )


def plan_for_route(
    route: ProviderRoute | None,
    view: OrderView,
    ledger: OrderLedger,
    config: PlannerConfig,
    now: datetime,
) -> OrderPlan:
    """The plan for an order whose store `route` serves (None: no account): its account and
    its provider's renderer. The reconciler and any dry run (the job's audit) plan alike with
    `plan_for_route(runtime.provider_for_store(view.store_key), ...)`."""
    if route is None:
        return plan_order(view, ledger, config, None, now)
    account = AccountView(key=route.key, currencies=route.currencies)
    return plan_order(view, ledger, config, account, now, renderer=route.provider.renderer)


def _owning_orders(ledger: OrderLedger, op: LedgerOp) -> list[LedgerOp]:
    """The order operations `op` depends on, in execution order.

    A refund: the order operation whose Yotpo order id it names. A reward return: the order
    operations that carried a coupon code under the member it pays back (the planner plans it
    from such an order; a moved order carries no codes).
    """
    orders = [o for o in ledger.ops.values() if o.kind == "order"]
    if op.kind == "refund":
        named = op.order_ref
        return [o for o in orders if o.order_ref == named]
    member = op.member_id
    return [o for o in orders if o.coupon_codes and o.member_id == member]


def _other_provider(op: LedgerOp, route: ProviderRoute) -> str | None:
    """An operation rendered for another provider than the one serving its store now (the
    store's provider was changed while it was pending): its body means nothing to this one."""
    if op.provider == route.provider.name:
        return None
    return (
        f"planned for {op.provider}, but the store is now served by {route.provider.name}; "
        "restore the store's provider to send it"
    )


def _order_step_skipped(event: str, order: dict, exc: Exception, *, outcome: str) -> None:
    """A step the order goes on without (collections, a code check): one warning line."""
    log_event(
        logger,
        event,
        level=logging.WARNING,
        order_id=order.get("id"),
        error=describe(exc),
        outcome=outcome,
    )
