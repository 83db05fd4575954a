"""What backfill and audit share: an order range, pages of orders with their ledgers, the plan.

Reading a page's ledgers with one query (`key in (...)`) instead of one read per order keeps
an audit of a year of orders to about two commercetools calls per page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as day_time
from typing import Any

from shared.cli.progress import ProgressBar
from shared.commercetools import CommercetoolsClient, literal, literal_list
from shared.domain.customers.writeback_diff import format_datetime
from shared.domain.orders.ledger import OrderLedger
from shared.domain.orders.order_view import OrderView, order_view
from shared.domain.orders.planner import OrderPlan, PlannerConfig
from shared.orders.ledger_store import LEDGER_CONTAINER
from shared.orders.reconciler import ORDER_EXPAND, plan_for_route
from shared.runtime import Runtime

PAGE = 100
_LEDGER_BATCH = 50


def parse_moment(text: str) -> datetime:
    """`2025-01-31` (midnight UTC) or a full ISO 8601 instant, as an aware UTC datetime."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), day_time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD) or ISO 8601 instant: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class OrderRange:
    """Orders created in [since, until), optionally of one store."""

    since: datetime
    until: datetime | None = None
    store: str | None = None

    def __post_init__(self) -> None:
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")

    def where(self) -> str:
        parts = [f"createdAt >= {literal(format_datetime(self.since))}"]
        if self.until is not None:
            parts.append(f"createdAt < {literal(format_datetime(self.until))}")
        if self.store:
            parts.append(f"store(key = {literal(self.store)})")
        return " and ".join(parts)

    def key(self) -> str:
        """The cursor's custom object key: one cursor per distinct range."""
        digest = hashlib.sha256(self.describe().encode()).hexdigest()[:20]
        return f"backfill-{digest}"

    def describe(self) -> str:
        until = format_datetime(self.until) if self.until else "now"
        return f"{format_datetime(self.since)}..{until} store={self.store or '*'}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": format_datetime(self.since),
            "until": format_datetime(self.until) if self.until else None,
            "store": self.store,
        }


def count_orders(ct: CommercetoolsClient, where: str) -> int:
    return int(ct.query("orders", where=where, limit=1, with_total=True).get("total") or 0)


def ledgers_of(ct: CommercetoolsClient, order_ids: Sequence[str]) -> dict[str, OrderLedger]:
    """The stored ledgers of these orders (orders without one are absent from the answer)."""
    found: dict[str, OrderLedger] = {}
    for start in range(0, len(order_ids), _LEDGER_BATCH):
        batch = order_ids[start : start + _LEDGER_BATCH]
        page = ct.query(
            "custom-objects",
            where=f"container = {literal(LEDGER_CONTAINER)} and key in {literal_list(batch)}",
            limit=len(batch),
        )
        for item in page.get("results") or []:
            found[str(item["key"])] = OrderLedger.model_validate(item["value"])
    return found


def orders_with_ledgers(
    ct: CommercetoolsClient, where: str
) -> Iterator[tuple[Mapping[str, Any], OrderLedger]]:
    """Every matching order (expanded as the reconciler reads it) with its ledger, streamed."""
    page: list[Mapping[str, Any]] = []
    for order in ct.iterate("orders", where=where, page_size=PAGE, expand=list(ORDER_EXPAND)):
        page.append(order)
        if len(page) == PAGE:
            yield from _with_ledgers(ct, page)
            page = []
    if page:
        yield from _with_ledgers(ct, page)


def _with_ledgers(
    ct: CommercetoolsClient, page: list[Mapping[str, Any]]
) -> Iterator[tuple[Mapping[str, Any], OrderLedger]]:
    ledgers = ledgers_of(ct, [str(o["id"]) for o in page])
    for order in page:
        order_id = str(order["id"])
        yield order, ledgers.get(order_id) or OrderLedger(order_id=order_id)


def plan_for(
    order: Mapping[str, Any],
    ledger: OrderLedger,
    runtime: Runtime,
    config: PlannerConfig,
    now: datetime,
    *,
    view_of: Callable[[Mapping[str, Any], OrderLedger], OrderView] | None = None,
) -> tuple[OrderView, OrderPlan]:
    """What the reconciler would add to this ledger now (the same planner, the same routing).

    `view_of` is the reconciler's own view builder (`OrderReconciler.view_of`: the customer's
    member, the products' collections, the sealed reward), so a dry run plans what a real look
    would; without it the view is built from the order alone."""
    view = view_of(order, ledger) if view_of is not None else order_view(order)
    return view, plan_for_route(
        runtime.provider_for_store(view.store_key), view, ledger, config, now
    )


# The backfill's bar (kept under its old name for callers of this module).
Progress = ProgressBar
