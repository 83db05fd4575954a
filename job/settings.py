"""Settings of the job app: nightly write-back and reconciliation, backfill and audit."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.checkout.coupon_codes import CouponRewardsSettings
from shared.customers.writeback import WritebackSettings
from shared.oidc import OidcSettings
from shared.settings import ConnectorSettings, PlannerSettings


class JobSettings(
    ConnectorSettings, PlannerSettings, WritebackSettings, OidcSettings, CouponRewardsSettings
):
    app_name: ClassVar[str] = "job"

    nightly_budget_seconds: float = Field(
        default=1500.0,
        gt=0,
        description="Time budget of one job run; the next run continues where it stopped",
    )
    job_rate_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of YOTPO_RATE_LIMIT_PER_SECOND the job may use (the rest is live)",
    )
    nightly_coverage_nights: int = Field(
        default=7,
        ge=1,
        le=366,
        description="Every customer is checked at least once over this many nightly runs",
    )
    job_concurrency: int = Field(
        default=4,
        ge=1,
        le=16,
        description=(
            "Orders or customers the job works on at once; the rate share still bounds its "
            "Yotpo calls (more than one keeps the share used when Yotpo answers slowly)"
        ),
    )
    ledger_lease_seconds: int = Field(
        default=60, ge=5, description="After this, a crashed worker's pending Yotpo call is redone"
    )

    @property
    def job_rate_per_second(self) -> float:
        return self.yotpo_rate_limit_per_second * self.job_rate_share
