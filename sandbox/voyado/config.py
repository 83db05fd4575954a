"""Configuration of the Voyado Engage stand-in: tenants, their stores, rewards model, and the
answers it plays where Voyado's documentation is silent.

Amounts are `Decimal` major units, as Voyado's API carries them ("A decimal point (.) is always
used as decimal separator", https://developer.voyado.com/en/receipts/receipts---field-definitions.html).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_TENANT = "sandbox"
DEFAULT_API_KEY = "voyado-sandbox-key"
DEFAULT_STORE = "ecom-1"
DEFAULT_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"voyado-sandbox-webhook-key!").decode()
# Svix's documented retry schedule (https://docs.svix.com/retries): after the first attempt,
# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. Tests shorten it.
SVIX_RETRY_DELAYS: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# "If you exceed the rate limit of 200 requests per second, the API will return a HTTP-status
# code 429" (https://developer.voyado.com/en/api/api-rate-limit.html).
DOCUMENTED_RATE_LIMIT = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RewardsModel(_Strict):
    """The tenant's Rewards module, reduced to what the connector can observe.

    Points: `points_per_currency_unit` per major unit of the group currency paid for items with
    `awardsBonus` (https://voyado.mintlify.app/docs/loyalty/points: "A points model must be
    configured ... in the Rewards module"). Vouchers: a step model, every `voucher_step_points`
    points become a voucher of `voucher_value` in the tenant currency
    (https://voyado.mintlify.app/docs/loyalty/vouchers: "Use a step model to send out vouchers
    with fixed amounts").
    """

    points_per_currency_unit: Decimal = Field(default=Decimal(1), ge=0)
    voucher_step_points: int = Field(default=500, gt=0)
    voucher_value: Decimal = Field(default=Decimal(50), gt=0)
    voucher_name: str = "Bonus voucher"
    voucher_valid_days: int = Field(default=90, gt=0)
    definition_id: int = 1
    # "By default, a reward voucher can be reactivated up to 3 times. This limit can be
    # adjusted" (https://help.engage.voyado.com/hc/en-gb/articles/19293868797084).
    reactivation_limit: int = Field(default=3, ge=0)
    # Points awarded with a future validFrom are pending until then
    # (https://voyado.mintlify.app/docs/loyalty/points, "Pending points").
    points_pending_days: int = Field(default=0, ge=0)


class SilentAnswers(_Strict):
    """Where the documentation is silent, which answer the stand-in plays (both are real
    possibilities; connector tests run under each).

    - `receipt_answer`: what POST /receipts answers on acceptance; the receipt pages show the
      request only (https://developer.voyado.com/en/transactions/register-a-purchase.html).
    - `receipt_references`: whether an unknown or ambiguous contact matchKey and an unknown
      storeExternalId fail the POST synchronously (`sync`: 404/409/400, nothing stored) or
      are accepted and dropped in the batch (`batch`: 202/200, listed under failed receipts in
      /_sandbox/state). Receipts are applied "at a preset interval"
      (https://developer.voyado.com/en/receipts/introduction-to-receipts.html); when the
      reference checks run is not said.
    - `duplicate_contact`: POST /contacts with a key that exists: refused (409
      ContactAlreadyExists) or a second contact created (then lookups answer 409
      MultipleMatches). The page only says "always check if the contact already exists"
      (https://developer.voyado.com/en/contacts/create-contact.html).
    - `unmatched_return`: a RETURN item with no purchase to match: its points are deducted at
      the model's rate, or nothing changes. Return matching is described for matched items only
      (https://developer.voyado.com/en/receipts/register-a-return.html).
    - `voucher_list`: /reward-vouchers lists as the documented page object `{count, offset,
      items}` (https://voyado.mintlify.app/docs/loyalty/vouchers) or a plain JSON array.
    - `point_transactions_status`: 200 or 202 for POST /point-accounts/transactions; the SDK
      generated from Voyado's OpenAPI says only "an accepted response code".
    - `content_type`: the 500 for a missing Content-Type on requests with a body only
      (`bodies`) or on every request (`all`); the page says "In all request made to the Engage
      API, it's mandatory" (https://developer.voyado.com/en/api/api-authentication.html).
    - `user_agent`: a missing User-Agent is refused with 400 (`reject`) or served (`accept`);
      the same page says it "must be used in all calls" and documents no error.
    - `awards_bonus_default`: whether an item without `awardsBonus` earns points.
    """

    receipt_answer: Literal["202-empty", "200-empty"] = "202-empty"
    receipt_references: Literal["sync", "batch"] = "sync"
    duplicate_contact: Literal["reject", "create"] = "reject"
    unmatched_return: Literal["deduct", "ignore"] = "deduct"
    voucher_list: Literal["paged", "plain"] = "paged"
    point_transactions_status: Literal[200, 202] = 200
    content_type: Literal["bodies", "all"] = "bodies"
    user_agent: Literal["reject", "accept"] = "reject"
    awards_bonus_default: bool = True


class TenantConfig(_Strict):
    """One Engage tenant. Several API keys may reach it: "rate limits are measured per API key
    and not per tenant" (https://developer.voyado.com/en/api/api-rate-limit.html)."""

    name: str = Field(min_length=1)
    api_keys: list[str] = Field(min_length=1)
    # Partner prerequisite: "at least one store (storeExternalId)"
    # (https://partner-integrations.voyado.com/docs/ecom/integrating-your-ecom).
    stores: list[str] = Field(default_factory=lambda: [DEFAULT_STORE], min_length=1)
    currency: str = "SEK"  # the group currency
    # Major units of the group currency one major unit of each other currency is worth; used
    # when a receipt carries no exchangeRateToGroupCurrency.
    exchange_rates: dict[str, Decimal] = Field(default_factory=dict)
    # customKey is "either a contact's memberNumber or externalId, depending on how your tenant
    # is set up" (https://developer.voyado.com/en/contacts/identify-contact/find-contact.html).
    custom_key: Literal["memberNumber", "externalId"] = "externalId"
    contact_types: list[str] = Field(default_factory=lambda: ["Member", "Contact"])
    rewards: RewardsModel = Field(default_factory=RewardsModel)
    silent: SilentAnswers = Field(default_factory=SilentAnswers)
    rate_limit_per_second: int = Field(default=DOCUMENTED_RATE_LIMIT, gt=0)
    # Receipts are applied in batches "by default every 15 minutes ... all the way down to 0
    # minutes" (introduction-to-receipts). None: only POST /_sandbox/process applies them.
    batch_interval_seconds: float | None = Field(default=0.0, ge=0)
    webhook_url: str | None = None
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError("currency must be an ISO 4217 code")
        return value.upper()

    @field_validator("exchange_rates")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if any(rate <= 0 for rate in value.values()):
            raise ValueError("exchange rates must be positive")
        return {code.upper(): rate for code, rate in value.items()}

    @field_validator("webhook_secret")
    @classmethod
    def _svix_secret(cls, value: str) -> str:
        # Svix secrets are "whsec_" + base64 of the key
        # (https://docs.svix.com/receiving/verifying-payloads/how-manual).
        if not value.startswith("whsec_"):
            raise ValueError("webhook_secret must start with whsec_")
        base64.b64decode(value.removeprefix("whsec_"), validate=True)
        return value


class SandboxConfig(_Strict):
    tenants: list[TenantConfig] = Field(min_length=1)
    webhook_retry_delays: list[float] = Field(default_factory=lambda: list(SVIX_RETRY_DELAYS))
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)  # Svix waits 15 s

    @model_validator(mode="after")
    def _unique(self) -> SandboxConfig:
        names = [t.name for t in self.tenants]
        keys = [k for t in self.tenants for k in t.api_keys]
        if len(set(names)) != len(names):
            raise ValueError("tenant names must be unique")
        if len(set(keys)) != len(keys):
            raise ValueError("an API key belongs to one tenant")
        return self


def default_config() -> SandboxConfig:
    return SandboxConfig(
        tenants=[
            TenantConfig(
                name=DEFAULT_TENANT,
                api_keys=[DEFAULT_API_KEY],
                exchange_rates={"EUR": Decimal("11.5"), "NOK": Decimal("1")},
            )
        ]
    )


class FaultConfig(_Strict):
    """Injected faults for one API key (`api_key`) or all (`api_key` omitted), on paths that
    start with `path_prefix` (e.g. "/api/v2/receipts"). Each counter counts down per match.

    `commit_next`: the ambiguous send — the request is processed and stored, then the client
    sees `commit_status` (after `hang_seconds` when `commit_hang`), as a timeout would look.
    """

    api_key: str | None = None
    path_prefix: str | None = None
    error_next: int = Field(default=0, ge=0)
    error_status: Literal[500, 502, 503, 504] = 503
    rate_limited_next: int = Field(default=0, ge=0)
    hang_next: int = Field(default=0, ge=0)
    hang_seconds: float = Field(default=30.0, gt=0)
    commit_next: int = Field(default=0, ge=0)
    commit_status: Literal[500, 502, 503, 504] = 503
    commit_hang: bool = False


class LatencyConfig(_Strict):
    """Latency served on every authenticated API request before it is answered (a bench's
    knob, not Voyado behaviour): `POST /_sandbox/latency {"latency_ms": N}` replaces the
    setting, 0 turns it off. Unlike `FaultConfig` it does not count down."""

    latency_ms: int = Field(default=0, ge=0, le=60_000)
