"""Settings of the service app: the checkout API Extension and Yotpo's webhooks."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from service.instore import InStoreSettings
from shared.settings import ConnectorSettings
from shared.writeback import WritebackSettings


class ServiceSettings(ConnectorSettings, WritebackSettings, InStoreSettings):
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
        if self.reward_strategy == "custom-line-item" and not self.reward_tax_category_key:
            problems.append(
                "REWARD_TAX_CATEGORY_KEY: required when REWARD_STRATEGY is custom-line-item"
            )
        return problems
