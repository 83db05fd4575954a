"""Settings of the Create/Cancel Coupons URLs (rewards redeemed in Yotpo's own widgets).

`CouponSettings` is a mixin: the service app's settings class inherits it, so the keys are
validated and reported with every other setting. The job needs only the rewards
(`shared.checkout.coupon_codes.CouponRewardsSettings`, for batches of in-store codes).
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from shared.checkout.coupon_codes import CouponRewardsSettings

MIN_SECRET_LENGTH = 16


class CouponSettings(CouponRewardsSettings):
    """The service app's Create/Cancel Coupons URLs."""

    yotpo_coupon_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Secret of the Create/Cancel Coupons URLs configured on Yotpo's Generic Fixed "
            "Amount / Generic Variable rewards (sent as X-Api-Secret); unset disables them"
        ),
    )
    coupon_code_prefix: str = Field(
        default="YL",
        pattern=r"^[A-Z0-9]{1,8}$",
        description="Prefix of codes the connector makes up (when Yotpo sends none)",
    )

    @field_validator("yotpo_coupon_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value
