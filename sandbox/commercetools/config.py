"""What the commercetools stand-in is started with (`StandInConfig`), the failures it can be
told to inject (`Faults`, `POST /_sandbox/faults`) and what it records for the SDK type oracle
(`Observation`). Plain dataclasses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.commercetools.delivery import DeliveryConfig


@dataclass(frozen=True)
class Observation:
    """One payload as commercetools types it: `type_name` is the platform SDK's type."""

    type_name: str
    payload: Any
    where: str


@dataclass
class StandInConfig:
    project_key: str = "sandbox"
    client_id: str | None = None  # None: any non-empty client id/secret pair is accepted
    client_secret: str | None = None
    token_ttl: int = 172_800
    clock: Callable[[], float] = time.time
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    max_recorded_requests: int = 10_000
    # Keep every payload the stand-in takes or serves, named by its commercetools type, for
    # the SDK type oracle (tests/oracle/): off by default, it grows without bound.
    observe: bool = False
    # The default of Cart.directDiscountsIgnoreCartDiscounts, which the public docs do not
    # state (the 2026-09-17 release keeps earlier behaviour when true): both can be played.
    ignore_cart_discounts_default: bool = True
    # Messages whose notification leaves the payload out: bigger than this many bytes of JSON
    # (Pub/Sub takes at most 10 MB per message), or of one of these types (for tests).
    max_payload_bytes: int = 10_000_000
    payload_not_included_types: frozenset[str] = frozenset()


@dataclass
class Faults:
    """Injected failures: the next N matching API calls answer `error_status`; added latency."""

    error_next: int = 0
    error_status: int = 503
    path_prefix: str | None = None
    method: str | None = None
    latency_ms: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "error_next": self.error_next,
            "error_status": self.error_status,
            "path_prefix": self.path_prefix,
            "method": self.method,
            "latency_ms": self.latency_ms,
        }
