"""Settings of the service app: the checkout API Extension and Yotpo's webhooks."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from service.coupons import CouponSettings
from service.instore import InStoreSettings
from service.webhooks import WebhookAuthSettings
from shared.customers.writeback import WritebackSettings
from shared.ratelimit import YotpoRateShareSettings
from shared.settings import ConnectorSettings, MemberSettings

_EXTENSION_KEY = re.compile(r"^[A-Za-z0-9_-]{2,256}$")


class ServiceSettings(
    ConnectorSettings,
    WritebackSettings,
    InStoreSettings,
    CouponSettings,
    WebhookAuthSettings,
    MemberSettings,
    YotpoRateShareSettings,
):
    app_name: ClassVar[str] = "service"

    extension_secret: SecretStr = Field(
        description="Secret commercetools sends in the API Extension's Authorization header"
    )
    extension_timeout_ms: int = Field(
        default=2000,
        ge=200,
        le=10000,
        description="API Extension timeout registered in commercetools",
    )
    loyalty_call_budget_ms: int = Field(
        default=1500,
        ge=100,
        description="Time budget of Yotpo calls inside one extension call (below the timeout)",
    )
    reward_strategy: Literal["direct-discount", "custom-line-item"] = Field(
        default="direct-discount",
        description="How a reward is applied: direct-discount or custom-line-item",
    )
    reward_stacking: Literal["stack", "exclusive"] = Field(
        default="stack",
        description="stack: rewards apply alongside cart discounts and codes; exclusive: not",
    )
    reward_best_deal: bool = Field(
        default=False,
        description="Let commercetools' best-deal selection drop a reward for a better discount",
    )
    reward_tax_category_key: str | None = Field(
        default=None, description="Tax category of the reward line item (custom-line-item only)"
    )
    delay_points_deduction: bool = Field(
        default=True, description="Deduct points only when an order uses the reward code"
    )
    cart_custom_type_key: str | None = Field(
        default=None,
        description="The merchant's cart/order custom type to add the loyalty fields to",
    )
    yotpo_webhook_secret: SecretStr | None = Field(
        default=None, description="Shared secret Yotpo sends with its webhooks"
    )
    extension_dependencies: str = Field(
        default="",
        description=(
            "Keys of the merchant's cart extensions (e.g. a promotions engine) that must run "
            "before the loyalty extension; comma-separated, at most 5"
        ),
    )
    reward_base_currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description=(
            "The Yotpo program's base currency (option amounts and minimums are in it); "
            "defaults to the account's one currency when YOTPO_CURRENCIES names exactly one"
        ),
    )
    redemption_options_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long the list of every redemption option of an account is reused",
    )

    def dependency_keys(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.extension_dependencies.split(",") if k.strip())

    def secret_values(self) -> list[str]:
        # Each POS key's secret on its own, not only the JSON that holds them all.
        return sorted({*super().secret_values(), *self.pos_secret_values()})

    def extra_problems(self) -> list[str]:
        problems = super().extra_problems()
        if self.loyalty_call_budget_ms >= self.extension_timeout_ms:
            problems.append(
                "LOYALTY_CALL_BUDGET_MS: must be below EXTENSION_TIMEOUT_MS so the extension "
                "answers before commercetools gives up"
            )
        keys = self.dependency_keys()
        # Extension keys are 2-256 of [A-Za-z0-9_-] (ExtensionDraft.key); an extension has at
        # most 5 direct dependencies (Extension Chaining, 2026-05-04 release notes).
        bad = [k for k in keys if not _EXTENSION_KEY.match(k)]
        if bad:
            problems.append(f"EXTENSION_DEPENDENCIES: not extension keys: {', '.join(bad)}")
        if len(keys) > 5:
            problems.append("EXTENSION_DEPENDENCIES: an extension can depend on at most 5 others")
        if self.reward_strategy == "custom-line-item" and not self.reward_tax_category_key:
            problems.append(
                "REWARD_TAX_CATEGORY_KEY: required when REWARD_STRATEGY is custom-line-item"
            )
        return problems
