"""Program configuration of the Yotpo stand-in: accounts, currencies, VIP tiers, rewards, the
answers it plays where Yotpo's reference is silent (`SilentCases`, `SILENT_PROFILES`) and the
default sandbox (`default_config`). Pydantic models only: what `/_sandbox/accounts` and
`--config file.json` take."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_GUID = "sandbox-guid"
DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_EARN_STATUS_REGEX = r"^(paid|complete|completed)$"
TIER_DURATION = timedelta(days=365)
DEFAULT_WEBHOOK_SECRET_HEADER = "X-Yotpo-Webhook-Secret"


class CurrencyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fraction_digits: int = Field(ge=0, le=4)
    # Major units of the base currency one major unit of this currency is worth.
    rate_to_base: Decimal = Field(default=Decimal(1), gt=0)


class TierConfig(BaseModel):
    """A VIP tier, shaped like the reference's `/vip_tiers` entries. Thresholds are ANDed."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str = Field(min_length=1)
    description: str = ""
    amount_spent_cents: int = Field(default=0, ge=0)  # minor units of the base currency
    points_earned: int = Field(default=0, ge=0)
    purchases_made: int = Field(default=0, ge=0)
    points_multiplier: Decimal = Field(default=Decimal(1), ge=0)
    rank: int | None = None


class RedemptionOptionConfig(BaseModel):
    """A reward. `amount` is its points cost; for `generic_variable`, the smallest number of
    points a redemption takes (a multiple of it), each point worth `discount_rate_cents`.

    A generic-variable option configured the older way (`discount_amount_cents` per `amount`
    points) gets its rate derived; one with neither plays Yotpo leaving the rate out.
    """

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str = Field(min_length=1)
    description: str = ""
    cost_text: str | None = None
    amount: int = Field(gt=0)
    discount_type: Literal["fixed_amount", "percentage", "generic_variable"]
    discount_amount_cents: int | None = Field(default=None, ge=0)  # base currency minor units
    discount_rate_cents: Decimal | None = Field(default=None, gt=0)  # per point, variable only
    discount_percentage: int | None = Field(default=None, gt=0, le=100)
    cart_greater_than: int | None = Field(default=None, ge=0)
    applies_to_product_type: str = "ALL"
    type: str = "Coupon"
    # Program setting (the in-store coupon's "where used"): the API shows it only through
    # the `is_offline=true` query, never as a field of the option.
    is_offline: bool = False

    @model_validator(mode="after")
    def _discount_matches_type(self) -> RedemptionOptionConfig:
        if self.discount_type == "percentage" and self.discount_percentage is None:
            raise ValueError("a percentage option needs discount_percentage")
        if self.discount_type == "fixed_amount" and self.discount_amount_cents is None:
            raise ValueError("a fixed_amount option needs discount_amount_cents")
        if self.discount_type == "generic_variable":
            if self.discount_rate_cents is None and self.discount_amount_cents is not None:
                self.discount_rate_cents = Decimal(self.discount_amount_cents) / self.amount
            self.discount_amount_cents = None
        return self


def _default_currencies() -> dict[str, CurrencyConfig]:
    return {
        "EUR": CurrencyConfig(fraction_digits=2, rate_to_base=Decimal(1)),
        "USD": CurrencyConfig(fraction_digits=2, rate_to_base=Decimal("0.92")),
        "JPY": CurrencyConfig(fraction_digits=0, rate_to_base=Decimal("0.0062")),
        "KWD": CurrencyConfig(fraction_digits=3, rate_to_base=Decimal("2.98")),
    }


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(id=1, name="Bronze", description="Welcome tier", amount_spent_cents=0),
        TierConfig(id=2, name="Silver", description="Spend 200.00", amount_spent_cents=20000),
        TierConfig(id=3, name="Gold", description="Spend 500.00", amount_spent_cents=50000),
    ]


def _default_redemption_options() -> list[RedemptionOptionConfig]:
    return [
        RedemptionOptionConfig(
            id=1,
            name="€5 off",
            description="€5 off your order",
            amount=500,
            discount_type="fixed_amount",
            discount_amount_cents=500,
        ),
        RedemptionOptionConfig(
            id=2,
            name="10% off",
            description="10% off orders over €50",
            amount=1000,
            discount_type="percentage",
            discount_percentage=10,
            cart_greater_than=5000,
        ),
        RedemptionOptionConfig(
            id=3,
            name="Pay with points",
            description="1 point = €0.01",
            amount=1,
            discount_type="generic_variable",
            discount_rate_cents=Decimal(1),
        ),
        RedemptionOptionConfig(
            id=4,
            name="€10 in-store reward",
            description="€10 off in our stores",
            amount=1000,
            discount_type="fixed_amount",
            discount_amount_cents=1000,
            is_offline=True,
        ),
    ]


class SilentCases(BaseModel):
    """Where Yotpo's reference is silent, which answer the stand-in plays.

    - `duplicate_order_id`: a second POST /orders with a known order_id is processed again
      (`process`), acknowledged and ignored (`ignore`), or refused with 422 (`reject`).
    - `duplicate_refund_id`: a refund id seen before is ignored (`ignore`) or processed again.
    - `missing_ip_ua`: an order without `ip_address`/`user_agent` and without
      `ignore_ip_ua: true` is accepted or refused with 422 (the reference lists both fields as
      required and documents `ignore_ip_ua`, https://loyaltyapi.yotpo.com/reference/create-order).
    - `amount_as_string`: option `amount` as the reference types it ("500") or as integrations
      see it (500).
    - `approval_without_request`: whether Approve Redemption Cancellation is accepted for a
      redemption the customer never asked to cancel (a merchant-initiated reversal); the page
      frames it as approving a request, and is silent on the rest.
    Every duplicate is counted in `/_sandbox/state` whatever the answer.
    """

    model_config = ConfigDict(extra="forbid")

    duplicate_order_id: Literal["process", "ignore", "reject"] = "process"
    duplicate_refund_id: Literal["ignore", "process"] = "ignore"
    missing_ip_ua: Literal["accept", "reject"] = "accept"
    amount_as_string: bool = False
    approval_without_request: Literal["accept", "reject"] = "accept"


SILENT_PROFILES: dict[str, dict[str, Any]] = {
    # Counts everything it is sent: a connector that sends twice earns twice.
    "lenient": {
        "duplicate_order_id": "process",
        "duplicate_refund_id": "process",
        "missing_ip_ua": "accept",
        "amount_as_string": False,
        "approval_without_request": "accept",
    },
    # Ignores repeats silently: a connector that relied on an error would never see one.
    "forgiving": {
        "duplicate_order_id": "ignore",
        "duplicate_refund_id": "ignore",
        "missing_ip_ua": "accept",
        "amount_as_string": True,
        "approval_without_request": "accept",
    },
    # Refuses what the reference marks required or does not promise to accept.
    "strict": {
        "duplicate_order_id": "reject",
        "duplicate_refund_id": "ignore",
        "missing_ip_ua": "reject",
        "amount_as_string": True,
        "approval_without_request": "reject",
    },
}


class ProgramConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_currency: str = "EUR"
    points_per_unit: Decimal = Field(default=Decimal(1), ge=0)
    earn_status_regex: str = DEFAULT_EARN_STATUS_REGEX
    currencies: dict[str, CurrencyConfig] = Field(default_factory=_default_currencies)
    tiers: list[TierConfig] = Field(default_factory=_default_tiers)
    redemption_options: list[RedemptionOptionConfig] = Field(
        default_factory=_default_redemption_options
    )
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # No public page says how Yotpo sends the "Webhook Authentication" value: a header (name
    # below) or nothing (the merchant put a token into the webhook URL). Both can be played.
    webhook_secret_header: str | None = DEFAULT_WEBHOOK_SECRET_HEADER
    # The points-changed example spells the customer's id `thirty_party_id`; the others
    # `third_party_id` (https://loyaltyapi.yotpo.com/reference/points-changed).
    points_changed_id_spelling: Literal["third_party_id", "thirty_party_id"] = "third_party_id"
    # 10 requests/s per account (https://loyaltyapi.yotpo.com/reference/guidelines-and-conventions)
    rate_limit_per_second: int = Field(default=10, ge=0)  # 0 disables the limit
    silent: SilentCases = Field(default_factory=lambda: SilentCases())

    @field_validator("currencies")
    @classmethod
    def _upper_codes(cls, value: dict[str, CurrencyConfig]) -> dict[str, CurrencyConfig]:
        return {code.upper(): currency for code, currency in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> ProgramConfig:
        self.base_currency = self.base_currency.upper()
        if self.base_currency not in self.currencies:
            raise ValueError(f"base currency {self.base_currency} is not among the currencies")
        try:
            re.compile(self.earn_status_regex)
        except re.error as exc:
            raise ValueError(f"earn_status_regex does not compile: {exc}") from exc
        for what, ids in (
            ("tier id", [t.id for t in self.tiers]),
            ("tier name", [t.name for t in self.tiers]),
            ("redemption option id", [o.id for o in self.redemption_options]),
        ):
            repeated = [k for k, n in Counter(ids).items() if n > 1]
            if repeated:
                raise ValueError(f"duplicate {what}: {repeated}")
        # Unranked tiers are ranked by their spend threshold, lowest first.
        if any(t.rank is None for t in self.tiers):
            ordered = sorted(
                self.tiers, key=lambda t: (t.amount_spent_cents, t.points_earned, t.purchases_made)
            )
            for position, tier in enumerate(ordered, start=1):
                tier.rank = position
        return self


class AccountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guid: str = Field(min_length=1)
    api_key: str = Field(min_length=1)
    name: str = ""
    program: ProgramConfig = Field(default_factory=ProgramConfig)


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_guids(self) -> SandboxConfig:
        repeated = [g for g, n in Counter(a.guid for a in self.accounts).items() if n > 1]
        if repeated:
            raise ValueError(f"duplicate account guid: {repeated}")
        return self


def default_program() -> ProgramConfig:
    """EUR base, EUR/USD/JPY/KWD enabled, Bronze/Silver/Gold, four rewards, 10 requests/s."""
    return ProgramConfig()


def default_config() -> SandboxConfig:
    """One account (`sandbox-guid` / `sandbox-api-key`) running `default_program()`."""
    return SandboxConfig(
        accounts=[AccountConfig(guid=DEFAULT_GUID, api_key=DEFAULT_API_KEY, name="Sandbox store")]
    )
