"""Audit: for every order in a range, does the ledger show what commercetools says it should?

The question is asked with the planner itself: a non-empty plan against the stored ledger means
something the order deserves was never told to Yotpo. Besides that, the ledger's own state:
operations in flight (pending under a live claim), stuck (pending past their lease, or handed
back and never taken again), or failed for good (with Yotpo's full reason). Skipped and blocked
orders (no account for the store, currency not enabled, no email, cancelled before earning) are
decisions, not mismatches; they are counted by reason.

Nothing is sent for the range itself. The one thing the audit does, unless told `recover=False`,
is what a redelivery would have done for stuck orders anywhere (`job.stuck`): re-send them
through the reconciler, so a claim that outlived its worker never waits for a message. It also
lists the Yotpo cancellation requests that could not be honoured because an order had already
used the code (`job.cancellations`), and totals what was sent to Yotpo per day, for the chart
of the HTML report.

Every order is planned and judged for the provider that serves its store now
(`Runtime.provider_for_store`, ADR 0080), so the ledger of a Voyado store's order is read like
a Yotpo one; each entry names its `provider` account.

Reward consumptions (`job.consumptions`): points redeemed at order placement for a cart whose
order never appeared. With `recover` the audit releases them as the nightly run does (the same
sweep, under the same versioned claim, so an audit and a nightly run never both cancel one);
with `recover=False` it only lists them (`orphaned`), like stuck orders.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from job.cancellations import refused_cancellations
from job.clients import JobClients, order_reconciler
from job.consumptions import ORDERED, ORPHANED, RETRY, release_orphans
from job.failures import JobDeadLetters
from job.orders import OrderRange, count_orders, orders_with_ledgers, plan_for
from job.settings import JobSettings
from job.stuck import recover_stuck
from shared.cli.progress import ProgressBar
from shared.cli.table import render_table as table
from shared.deadletters import DeadLetterStore
from shared.domain.customers.writeback_diff import format_datetime
from shared.domain.money import format_minor
from shared.domain.orders.ledger import OpStatus, OrderLedger
from shared.domain.orders.planner import OrderPlan
from shared.errors import PermanentError, TransientError, describe
from shared.orders.ledger_store import LedgerStore

NEVER_EARNED = "{trigger} but never earned"
NOT_REVERSED = "refunded but not reversed"
NOT_LINKED = "customer not linked in {provider}"
NOT_SENT = "{kind} never sent ({key})"
PENDING = "pending"
STUCK = "stuck"
FAILED = "failed"


@dataclass
class AuditEntry:
    order_id: str
    order_number: str | None
    created_at: str
    currency: str
    earned_cents: int
    refunded_cents: int
    issues: list[str] = field(default_factory=list)
    provider: str | None = None  # "<provider>:<account>" serving the order's store; None: none

    @property
    def name(self) -> str:
        return self.order_number or self.order_id


@dataclass
class AuditReport:
    range: dict[str, Any]
    orders: int = 0
    earned_cents: dict[str, int] = field(default_factory=dict)  # by currency
    refunded_cents: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # reason → orders
    blocked: dict[str, int] = field(default_factory=dict)
    mismatches: list[AuditEntry] = field(default_factory=list)
    # Stuck orders found anywhere (not only in the range), and what re-sending them did.
    stuck: list[dict[str, Any]] = field(default_factory=list)
    stuck_error: str | None = None
    # Yotpo cancellation requests refused because an order already used the code.
    refused_cancellations: list[dict[str, Any]] = field(default_factory=list)
    # Reward consumptions whose cart was never ordered (cartId, redemptionId, result):
    # `orphaned` when only listed, `released` / `failed` / `retry` when recovered.
    consumptions: list[dict[str, Any]] = field(default_factory=list)
    consumptions_error: str | None = None
    # currency → day (YYYY-MM-DD) → [earned, reversed] minor units sent to Yotpo that day.
    daily: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    generated_at: str = ""

    @property
    def clean(self) -> bool:
        unresolved = [s for s in self.stuck if s.get("result") != "recovered"]
        held = [c for c in self.consumptions if c.get("result") in _UNRESOLVED_CONSUMPTIONS]
        return (
            not self.mismatches and not unresolved and not self.refused_cancellations and not held
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}


# A consumption still holding a shopper's points (or whose release Yotpo refused).
_UNRESOLVED_CONSUMPTIONS = frozenset({ORPHANED, RETRY, "failed"})


def audit(
    settings: JobSettings,
    clients: JobClients,
    order_range: OrderRange,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    recover: bool = True,
    progress: Callable[[int | None], ProgressBar] | None = None,
) -> AuditReport:
    config = settings.planner_config()
    lease = timedelta(seconds=settings.ledger_lease_seconds)
    moment = now()
    report = AuditReport(range=order_range.as_dict(), generated_at=format_datetime(moment))
    report.stuck, report.stuck_error = _stuck(settings, clients, moment, lease, recover)
    report.consumptions, report.consumptions_error = _consumptions(clients, moment, recover)
    # Plans from the view a real look builds (member, collections, sealed reward).
    views = order_reconciler(settings, clients)
    earned: Counter[str] = Counter()
    refunded: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    blocked: Counter[str] = Counter()
    daily: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    where = order_range.where()
    bar = progress(count_orders(clients.commercetools, where)) if progress else None
    for order, ledger in orders_with_ledgers(clients.commercetools, where):
        report.orders += 1
        if bar is not None:
            bar.step()
        view, plan = plan_for(order, ledger, clients.runtime, config, moment, view_of=views.view_of)
        route = clients.runtime.provider_for_store(view.store_key)
        provider = route.provider.name if route is not None else None
        entry = AuditEntry(
            order_id=view.id,
            order_number=view.order_number,
            created_at=format_datetime(view.created_at),
            currency=view.currency,
            earned_cents=ledger.earned_amount(),
            refunded_cents=ledger.refunded_amount(),
            issues=issues(
                plan,
                ledger,
                config.earning_trigger,
                now=moment,
                lease=lease,
                provider=provider or "yotpo",
            ),
            provider=f"{provider}:{route.key}" if route is not None else None,
        )
        earned[view.currency] += entry.earned_cents
        refunded[view.currency] += entry.refunded_cents
        _add_daily(daily, ledger, view.currency)
        if ledger.blocked_reason or plan.blocked_reason:
            blocked[ledger.blocked_reason or plan.blocked_reason or ""] += 1
        elif plan.skipped_reason:
            skipped[plan.skipped_reason] += 1
        if entry.issues:
            report.mismatches.append(entry)
    if bar is not None:
        bar.finish()
    report.earned_cents = dict(earned)
    report.refunded_cents = dict(refunded)
    report.skipped = dict(skipped)
    report.blocked = dict(blocked)
    report.daily = {c: dict(sorted(days.items())) for c, days in sorted(daily.items())}
    report.refused_cancellations = [
        r.as_dict()
        for r in refused_cancellations(
            clients.commercetools, since=order_range.since, until=order_range.until
        )
    ]
    return report


def _stuck(
    settings: JobSettings,
    clients: JobClients,
    moment: datetime,
    lease: timedelta,
    recover: bool,
) -> tuple[list[dict[str, Any]], str | None]:
    reconciler = order_reconciler(settings, clients) if recover else None
    store = reconciler.ledger_store if reconciler else LedgerStore(clients.commercetools)
    dead_letters = JobDeadLetters(
        DeadLetterStore(clients.commercetools), settings.ctp_project_key, task="audit"
    )
    try:
        found = recover_stuck(store, reconciler, now=moment, lease=lease, dead_letters=dead_letters)
    except (TransientError, PermanentError) as exc:
        # The audit of the range still runs; the report says the stuck check did not.
        return [], describe(exc)
    return [o.as_dict() for o in found.orders], None


def _consumptions(
    clients: JobClients, moment: datetime, recover: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """Consumed rewards whose cart has no order: released when recovering, else only listed.
    A cart that was ordered is no finding and is left out."""
    swept = release_orphans(clients.commercetools, clients.runtime, now=moment, release=recover)
    found = [r for r in swept.results if r.get("result") != ORDERED]
    return found, swept.error


def _add_daily(daily: dict[str, dict[str, list[int]]], ledger: OrderLedger, currency: str) -> None:
    """What Yotpo was told for this order, on the day it was told (DONE operations only)."""
    for op in ledger.ops.values():
        if op.status != OpStatus.DONE or not op.amount_cents:
            continue
        day = op.updated_at.astimezone(UTC).date().isoformat()
        if op.kind == "order":
            daily[currency][day][0] += op.amount_cents
        elif op.kind == "refund":
            daily[currency][day][1] += op.amount_cents


def issues(
    plan: OrderPlan,
    ledger: OrderLedger,
    trigger: str,
    *,
    now: datetime | None = None,
    lease: timedelta | None = None,
    provider: str = "yotpo",
) -> list[str]:
    """What is wrong with one order: what it deserves but its provider was never told, then
    the ledger's unfinished and refused operations (with the full reason)."""
    found: list[str] = []
    for op in plan.new_ops:
        if op.kind == "order":
            found.append(NEVER_EARNED.format(trigger=trigger))
        elif op.kind == "refund":
            found.append(f"{NOT_REVERSED} ({op.key.removeprefix('refund:')})")
        elif op.kind == "customer":
            found.append(NOT_LINKED.format(provider=provider.capitalize()))
        else:
            found.append(NOT_SENT.format(kind=op.kind, key=op.key))
    stuck = (
        {op.key for op in ledger.stuck_ops(now, lease)}
        if now is not None and lease is not None
        else set()
    )
    for op in ledger.ops.values():
        if op.status == OpStatus.PENDING and op.key in stuck:
            found.append(f"{STUCK}: {op.key} (pending since {format_datetime(op.updated_at)})")
        elif op.status == OpStatus.PENDING:
            found.append(f"{PENDING}: {op.key}")
        elif op.status == OpStatus.FAILED:
            found.append(f"{FAILED}: {op.key}: {op.error or 'no reason recorded'}")
    return found


def render_table(report: AuditReport, width: int | None = None) -> str:
    """The mismatches as a plain-text table (reasons in full, wrapped), then the totals."""
    rows: list[tuple[str, str, str, str, str]] = []
    for entry in report.mismatches:
        for position, issue in enumerate(entry.issues):
            first = position == 0
            rows.append(
                (
                    entry.name if first else "",
                    entry.created_at[:10] if first else "",
                    format_minor(entry.earned_cents, entry.currency) if first else "",
                    format_minor(entry.refunded_cents, entry.currency) if first else "",
                    issue,
                )
            )
    lines: list[str] = []
    if rows:
        headers = ("order", "created", "earned", "refunded", "mismatch")
        lines.append(table(headers, rows, width=width))
    else:
        lines.append("no mismatches")
    if report.stuck:
        lines += ["", "stuck orders (operations pending past their lease):"]
        stuck_rows = [
            (s["order"], s["since"][:19], s["result"], ", ".join(s["operations"]), s["detail"])
            for s in report.stuck
        ]
        lines.append(
            table(("order", "since", "result", "operations", "detail"), stuck_rows, width=width)
        )
    if report.stuck_error:
        lines += ["", f"stuck orders could not be checked: {report.stuck_error}"]
    if report.refused_cancellations:
        lines += ["", "Yotpo cancellations not honoured (the code was already used by an order):"]
        refused_rows = [
            (r["code"], r["order"], (r["requested_at"] or "")[:19], r["reason"])
            for r in report.refused_cancellations
        ]
        lines.append(table(("code", "order", "requested", "reason"), refused_rows, width=width))
    if report.consumptions:
        lines += ["", "rewards consumed for a cart that was never ordered (points held):"]
        held_rows = [(c["cartId"], c["redemptionId"], c["result"]) for c in report.consumptions]
        lines.append(table(("cart", "redemption", "result"), held_rows, width=width))
    if report.consumptions_error:
        lines += ["", f"reward consumptions could not be checked: {report.consumptions_error}"]
    lines.append("")
    lines.append(f"{report.orders} order(s) audited, {len(report.mismatches)} with mismatches")
    lines.extend(_totals("earned", report.earned_cents))
    lines.extend(_totals("refunded", report.refunded_cents))
    for label, counts in (("skipped", report.skipped), ("blocked", report.blocked)):
        for reason, count in sorted(counts.items()):
            lines.append(f"{label}: {reason}: {count}")
    return "\n".join(lines)


def _totals(label: str, by_currency: Mapping[str, int]) -> list[str]:
    return [
        f"{label}: {format_minor(amount, currency)}"
        for currency, amount in sorted(by_currency.items())
        if amount
    ]
