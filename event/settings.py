"""Settings of the event app: the shared ones plus how orders earn and refund."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.oidc import OidcSettings
from shared.ratelimit import YotpoRateShareSettings
from shared.settings import ConnectorSettings, PlannerSettings


class EventSettings(ConnectorSettings, PlannerSettings, OidcSettings, YotpoRateShareSettings):
    app_name: ClassVar[str] = "event"

    max_delivery_attempts: int = Field(
        default=10,
        ge=1,
        description=(
            "Transient failures of one message before it is dead-lettered (once it has also "
            "been failing for 2 x LEDGER_LEASE_SECONDS); waiting for another worker or for "
            "Yotpo's rate limit is not a failure"
        ),
    )
    ledger_lease_seconds: int = Field(
        default=60, ge=5, description="After this, a crashed worker's pending Yotpo call is redone"
    )
    event_deadline_seconds: float = Field(
        default=8.0, gt=0, le=9.5, description="Time budget of one delivery (Pub/Sub waits 10 s)"
    )
