"""Fault injection of the Yotpo stand-in: what `/_sandbox/faults` takes (`FaultConfig`), its
countdown state per scope (`FaultState`), an account's rate-limit window (`RateWindow`) and the
verdict on one API request before the program sees it (`Admission`). The decisions themselves
are made by `sandbox.yotpo.admission`."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_HANG_SECONDS = 30.0


class FaultConfig(BaseModel):
    """Faults for one account (`account`) or all of them (`account` omitted).

    Counters (`*_next`) count down on each matching request; `path_prefix` limits matching to
    API paths starting with it (relative to /api/v2, e.g. "/orders").
    """

    model_config = ConfigDict(extra="forbid")

    account: str | None = None
    path_prefix: str | None = None
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int = 0
    error_next: int = Field(default=0, ge=0)
    error_status: Literal[500, 502, 503] = 503
    rate_limited_next: int = Field(default=0, ge=0)
    # Sent as `ratelimit-reset` (Yotpo documents no Retry-After); the name is kept for callers.
    retry_after_seconds: int = Field(default=1, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    hang_next: int = Field(default=0, ge=0)
    hang_seconds: float = Field(default=DEFAULT_HANG_SECONDS, gt=0)


@dataclass
class FaultState:
    config: FaultConfig
    rng: random.Random
    error_next: int
    rate_limited_next: int
    hang_next: int
    injected: int = 0

    @classmethod
    def of(cls, config: FaultConfig) -> FaultState:
        return cls(
            config=config,
            rng=random.Random(config.seed),
            error_next=config.error_next,
            rate_limited_next=config.rate_limited_next,
            hang_next=config.hang_next,
        )

    def matches(self, path: str) -> bool:
        prefix = self.config.path_prefix
        return prefix is None or path.startswith(prefix)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.config.model_dump(mode="json"),
            "remaining": {
                "error_next": self.error_next,
                "rate_limited_next": self.rate_limited_next,
                "hang_next": self.hang_next,
            },
            "injected": self.injected,
        }


@dataclass(frozen=True)
class Admission:
    """What to do with one authenticated API request before the program sees it."""

    reject_status: int | None = None
    reject_message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    latency_ms: int = 0
    hang_seconds: float = 0.0

    @property
    def rejected(self) -> bool:
        return self.reject_status is not None


@dataclass
class RateWindow:
    started: float = -math.inf
    count: int = 0
