"""Audit: for every order in a range, does the ledger show what commercetools says it should?

The question is asked with the planner itself: a non-empty plan against the stored ledger means
something the order deserves was never told to Yotpo. Besides that, the ledger's own state:
operations still pending, or failed for good (with Yotpo's reason). Skipped and blocked orders
(no account for the store, currency not enabled, no email, cancelled before earning) are
decisions, not mismatches; they are counted by reason.

Read-only: nothing is sent, nothing is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from job.clients import JobClients
from job.orders import OrderRange, orders_with_ledgers, plan_for
from job.settings import JobSettings
from shared.domain.ledger_state import OpStatus, OrderLedger
from shared.domain.money import format_minor
from shared.domain.planner import OrderPlan
from shared.domain.writeback import format_datetime

NEVER_EARNED = "{trigger} but never earned"
NOT_REVERSED = "refunded but not reversed"
NOT_LINKED = "customer not linked in Yotpo"
PENDING = "pending"
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

    @property
    def clean(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}


def audit(
    settings: JobSettings,
    clients: JobClients,
    order_range: OrderRange,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AuditReport:
    config = settings.planner_config()
    report = AuditReport(range=order_range.as_dict())
    earned: Counter[str] = Counter()
    refunded: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    blocked: Counter[str] = Counter()
    moment = now()
    for order, ledger in orders_with_ledgers(clients.commercetools, order_range.where()):
        report.orders += 1
        view, plan = plan_for(order, ledger, clients.runtime, config, moment)
        entry = AuditEntry(
            order_id=view.id,
            order_number=view.order_number,
            created_at=format_datetime(view.created_at),
            currency=view.currency,
            earned_cents=ledger.earned_amount(),
            refunded_cents=ledger.refunded_amount(),
            issues=issues(plan, ledger, config.earning_trigger),
        )
        earned[view.currency] += entry.earned_cents
        refunded[view.currency] += entry.refunded_cents
        if ledger.blocked_reason or plan.blocked_reason:
            blocked[ledger.blocked_reason or plan.blocked_reason or ""] += 1
        elif plan.skipped_reason:
            skipped[plan.skipped_reason] += 1
        if entry.issues:
            report.mismatches.append(entry)
    report.earned_cents = dict(earned)
    report.refunded_cents = dict(refunded)
    report.skipped = dict(skipped)
    report.blocked = dict(blocked)
    return report


def issues(plan: OrderPlan, ledger: OrderLedger, trigger: str) -> list[str]:
    """What is wrong with one order: what it deserves but Yotpo was never told, then the
    ledger's unfinished and refused operations."""
    found: list[str] = []
    for op in plan.new_ops:
        if op.kind == "order":
            found.append(NEVER_EARNED.format(trigger=trigger))
        elif op.kind == "refund":
            found.append(f"{NOT_REVERSED} ({op.key.removeprefix('refund:')})")
        else:
            found.append(NOT_LINKED)
    for op in ledger.ops.values():
        if op.status == OpStatus.PENDING:
            found.append(f"{PENDING}: {op.key}")
        elif op.status == OpStatus.FAILED:
            found.append(f"{FAILED}: {op.key}: {op.error or 'no reason recorded'}")
    return found


def render_table(report: AuditReport, width: int = 100) -> str:
    """The mismatches as a plain-text table, then the totals."""
    rows = [("order", "created", "earned", "refunded", "mismatch")]
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
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        fixed = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4]))
        room = max(20, width - len(fixed) - 2)
        issue = row[4] if len(row[4]) <= room else row[4][: room - 1] + "…"
        lines.append(f"{fixed}  {issue}".rstrip())
    if len(rows) > 1:
        lines.insert(1, "-" * min(width, max(len(line) for line in lines)))
    else:
        lines = ["no mismatches"]
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
