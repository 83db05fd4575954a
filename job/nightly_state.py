"""What a nightly run (`job/nightly.py`) keeps: the checkpointed cursor of its passes, the
summary it reports, and the bounded set of customers it already looked at.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

RECENT_LIMIT = 10_000  # customers remembered as done in this run (bounded memory)

Phase = Literal["orders", "expired", "slice"]
Outcome = Literal[
    "complete", "budget_exhausted", "already_running", "lock_lost", "interrupted", "misconfigured"
]


class PassState(BaseModel):
    model_config = ConfigDict(frozen=False)

    started_at: datetime
    since: datetime
    phase: Phase = "orders"
    after: str | None = None  # id cursor inside the orders / expired phase
    slice_quota: int = 0
    slice_done: int = 0
    customers: int | None = None  # counted when the pass started


class NightlyCursor(BaseModel):
    model_config = ConfigDict(frozen=False)

    last_pass_started_at: datetime | None = None  # "since" of the next pass
    slice_after: str | None = None  # the rolling slice's id cursor, kept across passes
    passes_completed: int = 0
    current: PassState | None = None
    # Customers whose provider was out: the next run looks at them first.
    handed_back: list[str] = []


@dataclass
class NightlySummary:
    outcome: Outcome
    checked: int = 0
    changed: int = 0
    failed: int = 0
    not_members: int = 0
    yotpo_calls: int = 0
    ct_calls: int = 0
    duration_seconds: float = 0.0
    phase: str | None = None
    error: str | None = None
    stuck_found: int = 0  # orders with operations pending past their lease
    stuck_recovered: int = 0
    # Rewards consumed at order placement whose order never appeared: points given back.
    consumptions_released: int = 0
    # Customers of a provider account that was out: left for a later run, not failed.
    handed_back: int = 0
    handed_back_retried: int = 0  # customers handed back earlier, looked at again in this run
    # "<provider>:<account>" → the error that made the run leave the account alone.
    providers_unavailable: dict[str, str] | None = None
    # Calls to providers other than Yotpo, by provider name (each on its own rate share).
    provider_calls: dict[str, int] | None = None
    rate_share_per_second: float | None = None  # the Yotpo rate this run was given
    nights_for_full_coverage: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class RecentlyDone:
    """Customer ids written back in this run, the oldest forgotten past `limit`."""

    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self._ids

    def add(self, customer_id: str) -> None:
        self._ids[customer_id] = None
        self._ids.move_to_end(customer_id)
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)


def nights_for_full_coverage(
    customers: int, *, budget_seconds: float, rate_per_second: float, coverage_nights: int
) -> int:
    """Nightly runs until every customer was looked at.

    The slice is ⌈customers / NIGHTLY_COVERAGE_NIGHTS⌉ a night, unless a run cannot hold
    it (one Yotpo call per customer at the job's rate share, inside its budget): then each run
    does what it can and the pass continues the next night.
    """
    capacity = max(int(budget_seconds * rate_per_second), 1)
    return max(math.ceil(customers / capacity), min(coverage_nights, max(customers, 1)))
