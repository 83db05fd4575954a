"""The loyalty program behind the Yotpo stand-in: accounts, members, orders, refunds, rewards.

Pure Python and thread-safe (one lock around all state); the Flask app only translates HTTP.
Besides the program itself it decides, per API request, whether an injected fault or the
account's rate limit answers instead (`admit`), and keeps the log of API requests that tests
and benchmarks read back.

Money is integer minor units; points and currency conversions use exact rationals
(`fractions.Fraction` built from decimal strings), never floats.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sandbox.yotpo.webhooks import (
    TOPIC_TIER_EARNED,
    TOPIC_TIER_LOST,
    Webhook,
    WebhookDispatcher,
    cancellation_request_payload,
    points_changed_payload,
    tier_changed_payload,
)

DEFAULT_GUID = "sandbox-guid"
DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_EARN_STATUS_REGEX = r"^(paid|complete|completed)$"
TIER_DURATION = timedelta(days=365)
DEFAULT_HANG_SECONDS = 30.0
DEFAULT_WEBHOOK_SECRET_HEADER = "X-Yotpo-Webhook-Secret"


class ApiError(Exception):
    """An answer other than 200 with the `{"error": ...}` body the real API uses."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- program configuration ------------------------------------------------------------------


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


# --- fault injection ------------------------------------------------------------------------


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
class _FaultState:
    config: FaultConfig
    rng: random.Random
    error_next: int
    rate_limited_next: int
    hang_next: int
    injected: int = 0

    @classmethod
    def of(cls, config: FaultConfig) -> _FaultState:
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
class _RateWindow:
    started: float = -math.inf
    count: int = 0


# --- request bodies -------------------------------------------------------------------------


class _Body(BaseModel):
    # The real API takes ids as strings or numbers and ignores fields it does not know.
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, str_strip_whitespace=True)


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise ValueError("is not an email address")
    return value


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class CustomerUpsert(_Body):
    id: str | None = None
    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None
    country_iso_code: str | None = None
    has_account: bool | None = None
    platform_account_created_at: str | None = None
    opted_in: bool | None = None
    opted_in_at: str | None = None
    pos_account_id: str | None = None
    tags: str | None = None

    _blank = field_validator("id", "phone_number", "pos_account_id", mode="before")(_blank_to_none)
    _check_email = field_validator("email")(_email)


class OrderCreate(_Body):
    order_id: str = Field(min_length=1)
    customer_email: str
    total_amount_cents: int = Field(ge=0)
    currency_code: str = Field(min_length=3, max_length=3)
    customer_id: str | None = None
    phone_number: str | None = None
    status: str | None = None
    created_at: str | None = None
    coupon_code: str | None = None
    discount_amount_cents: int | None = Field(default=None, ge=0)
    ip_address: str | None = None
    user_agent: str | None = None
    ignore_ip_ua: bool = False
    items: list[dict[str, Any]] | None = None

    _blank = field_validator(
        "customer_id", "coupon_code", "ip_address", "user_agent", mode="before"
    )(_blank_to_none)

    def coupon_codes(self) -> list[str]:
        """`coupon_code` is "a comma-separated list of coupon codes" (create-order page)."""
        return [c.strip() for c in (self.coupon_code or "").split(",") if c.strip()]

    _check_email = field_validator("customer_email")(_email)


class RefundCreate(_Body):
    order_id: str = Field(min_length=1)
    total_amount_cents: int = Field(gt=0)
    currency: str | None = None
    id: str | None = None
    items: list[dict[str, Any]] | None = None

    _blank = field_validator("id", "currency", mode="before")(_blank_to_none)


class PointsAdjust(_Body):
    customer_id: str | None = None
    customer_email: str | None = None
    point_adjustment_amount: int
    apply_adjustment_to_points_earned: bool = False
    history_title: str | None = None
    visible_to_customer: bool = True

    _blank = field_validator("customer_id", "customer_email", mode="before")(_blank_to_none)
    _check_email = field_validator("customer_email")(_email)


class RedemptionCreate(_Body):
    redemption_option_id: int
    customer_id: str | None = None
    customer_email: str | None = None
    phone_number: str | None = None
    pos_account_id: str | None = None
    delay_points_deduction: bool = False
    currency: str | None = None
    points_to_redeem: int | None = Field(default=None, gt=0)

    _blank = field_validator(
        "customer_id", "customer_email", "phone_number", "pos_account_id", "currency", mode="before"
    )(_blank_to_none)
    _check_email = field_validator("customer_email")(_email)


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], body: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ApiError(422, problems) from None


# --- program state --------------------------------------------------------------------------

_PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "phone_number",
    "country_iso_code",
    "has_account",
    "platform_account_created_at",
    "opted_in",
    "opted_in_at",
    "pos_account_id",
    "tags",
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Member:
    member_no: int
    email: str
    created_at: datetime
    customer_id: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    points_balance: int = 0
    points_earned: int = 0
    total_spend_cents: int = 0
    total_purchases: int = 0
    tier_id: int | None = None
    tier_earned_at: datetime | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # Set Customer Birthday (https://loyaltyapi.yotpo.com/reference/set-customer-birthday):
    # {day, month, year}; not part of the customer answer, shown in the sandbox state only.
    birthday: dict[str, int] | None = None

    @property
    def referral_code(self) -> str:
        return f"REF{self.member_no:06d}"


@dataclass
class OrderRecord:
    seq: int
    order_id: str
    member_no: int
    currency: str
    total_amount_cents: int
    status: str | None
    processed: bool
    points_earned: int
    spend_base_cents: int
    coupon_code: str | None
    created_at: datetime
    refunded_cents: int = 0
    points_reversed: int = 0
    spend_reversed_cents: int = 0
    redemption_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "order_id": self.order_id,
            "member_no": self.member_no,
            "currency_code": self.currency,
            "total_amount_cents": self.total_amount_cents,
            "status": self.status,
            "processed": self.processed,
            "points_earned": self.points_earned,
            "spend_base_cents": self.spend_base_cents,
            "coupon_code": self.coupon_code,
            "redemption_id": self.redemption_id,
            "refunded_cents": self.refunded_cents,
            "points_reversed": self.points_reversed,
            "spend_reversed_cents": self.spend_reversed_cents,
            "created_at": _iso(self.created_at),
        }


@dataclass
class RefundRecord:
    id: str
    order_id: str
    order_seq: int
    total_amount_cents: int
    currency: str
    points_reversed: int
    spend_reversed_cents: int
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "order_id": self.order_id,
            "order_seq": self.order_seq,
            "total_amount_cents": self.total_amount_cents,
            "currency": self.currency,
            "points_reversed": self.points_reversed,
            "spend_reversed_cents": self.spend_reversed_cents,
            "created_at": _iso(self.created_at),
            "status": "received",
        }


@dataclass
class Redemption:
    id: int
    reward_text: str
    member_no: int
    option: RedemptionOptionConfig
    points: int
    delayed: bool
    currency: str
    created_at: datetime
    state: Literal["active", "used", "cancelled"] = "active"
    points_deducted: bool = False
    used_by_order: str | None = None
    cancel_reason: str | None = None
    cancellation_requested: bool = False

    @property
    def pending_delayed(self) -> bool:
        return self.delayed and self.state == "active" and not self.points_deducted

    def answer(self) -> dict[str, Any]:
        """The documented answer of Create Redemption: `id, reward_text, approved, approved_at,
        created_at, updated_at` (https://loyaltyapi.yotpo.com/reference/create-redemption)."""
        created = _iso(self.created_at)
        return {
            "id": self.id,
            "reward_text": self.reward_text,
            "approved": True,
            "approved_at": created,
            "created_at": created,
            "updated_at": created,
        }

    def as_dict(self, member: Member) -> dict[str, Any]:
        """The stand-in's own record (`/_sandbox/state`), not a Yotpo answer."""
        body: dict[str, Any] = {
            "id": self.id,
            "reward_text": self.reward_text,
            "approved": True,
            "created_at": _iso(self.created_at),
            "amount": self.points,
            "redemption_option_id": self.option.id,
            "name": self.option.name,
            "discount_type": self.option.discount_type,
            "currency": self.currency,
            "cart_greater_than": self.option.cart_greater_than,
            "is_offline": self.option.is_offline,
            "delay_points_deduction": self.delayed,
            "points_deducted": self.points_deducted,
            "status": self.state,
            "used_by_order_id": self.used_by_order,
            "cancel_reason": self.cancel_reason,
            "cancellation_requested": self.cancellation_requested,
            "customer_id": member.customer_id,
            "customer_email": member.email,
        }
        if self.option.discount_amount_cents is not None:
            body["discount_amount_cents"] = self.option.discount_amount_cents
        if self.option.discount_percentage is not None:
            body["discount_percentage"] = self.option.discount_percentage
        return body


class _Account:
    """One merchant account: its program and everything its API calls have created."""

    def __init__(self, config: AccountConfig) -> None:
        self.config = config
        self.members: dict[int, Member] = {}
        self.by_customer_id: dict[str, Member] = {}
        self.by_email: dict[str, Member] = {}
        self.by_phone: dict[str, Member] = {}
        self.by_pos: dict[str, Member] = {}
        self.orders: list[OrderRecord] = []
        self.latest_order: dict[str, OrderRecord] = {}
        self.refunds: dict[str, RefundRecord] = {}
        self.redemptions: dict[int, Redemption] = {}
        self.duplicate_orders: Counter[str] = Counter()
        self.duplicate_refunds: Counter[str] = Counter()
        self.failed_refunds: list[dict[str, Any]] = []
        self.rate_window = _RateWindow()

    @property
    def program(self) -> ProgramConfig:
        return self.config.program

    def tiers_by_rank(self) -> list[TierConfig]:
        return sorted(self.program.tiers, key=lambda t: t.rank or 0)

    def tier(self, tier_id: int | None) -> TierConfig | None:
        return next((t for t in self.program.tiers if t.id == tier_id), None)

    def currency(self, code: str | None) -> tuple[str, CurrencyConfig]:
        key = (code or self.program.base_currency).upper()
        currency = self.program.currencies.get(key)
        if currency is None:
            raise ApiError(422, f"currency {key} is not enabled for this account")
        return key, currency

    def option(self, option_id: int) -> RedemptionOptionConfig:
        for option in self.program.redemption_options:
            if option.id == option_id:
                return option
        raise ApiError(422, f"unknown redemption option {option_id}")


# --- arithmetic -----------------------------------------------------------------------------


def earned_points(
    amount_minor: int,
    fraction_digits: int,
    points_per_unit: Decimal | Fraction | int,
    multiplier: Decimal | Fraction | int = 1,
) -> int:
    """floor(amount_minor * points_per_unit * multiplier / 10**fraction_digits), exactly."""
    value = Fraction(amount_minor) * Fraction(points_per_unit) * Fraction(multiplier)
    return math.floor(value / 10**fraction_digits)


def to_base_minor(amount_minor: int, currency: CurrencyConfig, base: CurrencyConfig) -> int:
    major = Fraction(amount_minor, 10**currency.fraction_digits) * Fraction(currency.rate_to_base)
    return math.floor(major * 10**base.fraction_digits)


def from_base_minor(base_minor: int, currency: CurrencyConfig, base: CurrencyConfig) -> int:
    major = Fraction(base_minor, 10**base.fraction_digits) / Fraction(currency.rate_to_base)
    return math.floor(major * 10**currency.fraction_digits)


def _share(whole: int, part: int, total: int) -> int:
    """floor(whole * part / total): the cumulative proportional share, 0 for an empty total."""
    return whole * part // total if total > 0 else 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- the engine -----------------------------------------------------------------------------


class YotpoEngine:
    """All accounts of the stand-in, their programs and data, faults and the request log.

    `clock` (monotonic seconds) drives the rate limit, `now` stamps records, `sleep` serves
    injected latency, `webhook_sink` receives every outgoing webhook (default: a background
    `WebhookDispatcher`). Tests inject all four.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        webhook_sink: Callable[[Webhook], None] | None = None,
    ) -> None:
        self._initial = (config or default_config()).model_copy(deep=True)
        self._clock = clock
        self._now = now
        self._sleep = sleep
        self._dispatcher: WebhookDispatcher | None = None
        if webhook_sink is None:
            self._dispatcher = WebhookDispatcher()
            webhook_sink = self._dispatcher.send
        self._sink = webhook_sink
        self._lock = threading.RLock()
        self._hang_release = threading.Condition()
        self._hang_generation = 0
        self._load(self._initial)

    def _load(self, config: SandboxConfig) -> None:
        self._accounts: dict[str, _Account] = {
            a.guid: _Account(a.model_copy(deep=True)) for a in config.accounts
        }
        self._faults: dict[str | None, _FaultState] = {}
        self._requests: list[dict[str, Any]] = []
        self._next_member = 1
        self._next_order = 1
        self._next_redemption = 1

    # --- lifecycle / admin ------------------------------------------------------------------

    @property
    def dispatcher(self) -> WebhookDispatcher | None:
        return self._dispatcher

    def reset(self) -> None:
        """Back to the configuration the engine started with; no data, no faults, no log."""
        with self._lock:
            self._load(self._initial)
        if self._dispatcher is not None:
            self._dispatcher.clear()
        self.release_hangs()

    def put_account(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Add an account, or replace the program of an existing one (its data is kept)."""
        config = _validate(AccountConfig, body)
        out: list[Webhook] = []
        with self._lock:
            existing = self._accounts.get(config.guid)
            if existing is None:
                self._accounts[config.guid] = _Account(config)
            else:
                existing.config = config
                for member in existing.members.values():
                    self._refresh_tier(existing, member, out)
            result = self._program_view(self._accounts[config.guid])
        self._emit(out)
        return result

    def set_faults(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the faults of one scope (an account, or global when `account` is absent)."""
        config = _validate(FaultConfig, body)
        with self._lock:
            if config.account is not None and config.account not in self._accounts:
                raise ApiError(422, f"unknown account {config.account}")
            self._faults[config.account] = _FaultState.of(config)
            return self._faults_view()

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return self._faults_view()

    def _faults_view(self) -> dict[str, Any]:
        return {
            "global": self._faults[None].as_dict() if None in self._faults else None,
            "accounts": {k: v.as_dict() for k, v in self._faults.items() if k is not None},
        }

    def default_guid(self) -> str:
        with self._lock:
            return next(iter(self._accounts))

    def state(self) -> dict[str, Any]:
        with self._lock:
            accounts = {guid: self._account_state(a) for guid, a in self._accounts.items()}
            duplicates: dict[str, Counter[str]] = {"orders": Counter(), "refunds": Counter()}
            for account in self._accounts.values():
                duplicates["orders"].update(account.duplicate_orders)
                duplicates["refunds"].update(account.duplicate_refunds)
        return {
            "accounts": accounts,
            # Summed over accounts: the one place a test or benchmark looks for connector bugs.
            "duplicates": {k: dict(v) for k, v in duplicates.items()},
        }

    def _account_state(self, account: _Account) -> dict[str, Any]:
        members = account.members
        return {
            "program": self._program_view(account),
            "customers": [
                {
                    # Sandbox bookkeeping next to the Yotpo view (not part of any answer).
                    "member_no": m.member_no,
                    "id": m.customer_id,
                    "birthday": dict(m.birthday) if m.birthday else None,
                    **self._customer_view(account, m, referral=True, history=True),
                    "history": [dict(h) for h in m.history],
                }
                for m in members.values()
            ],
            "orders": [o.as_dict() for o in account.orders],
            "refunds": [r.as_dict() for r in account.refunds.values()],
            "refunds_failed": [dict(r) for r in account.failed_refunds],
            "redemptions": [r.as_dict(members[r.member_no]) for r in account.redemptions.values()],
            "duplicates": {
                "orders": dict(account.duplicate_orders),
                "refunds": dict(account.duplicate_refunds),
            },
        }

    @staticmethod
    def _program_view(account: _Account) -> dict[str, Any]:
        view = account.config.model_dump(mode="json", exclude={"api_key"})
        if view["program"].get("webhook_secret"):
            view["program"]["webhook_secret"] = "[set]"
        url = view["program"].get("webhook_url")
        if url and "?" in url:
            # A webhook URL may carry the receiver's token: show the path only.
            view["program"]["webhook_url"] = url.split("?", 1)[0] + "?[redacted]"
        return view

    # --- request log ------------------------------------------------------------------------

    def record_request(self, entry: Mapping[str, Any]) -> int:
        """Append one finished API request to the log; returns its sequence number."""
        with self._lock:
            seq = len(self._requests) + 1
            self._requests.append({"seq": seq, "at": _iso(self._now()), **entry})
            return seq

    def requests_since(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._requests[max(since, 0) :]]

    # --- admission: auth, faults, rate limit ------------------------------------------------

    def authenticate(self, guid: str | None, api_key: str | None) -> bool:
        with self._lock:
            account = self._accounts.get(guid or "")
            return account is not None and bool(api_key) and account.config.api_key == api_key

    def admit(self, guid: str, path: str) -> Admission:
        """Decide whether an injected fault or the rate limit answers this request instead."""
        with self._lock:
            account = self._accounts.get(guid)
            if account is None:  # removed by a reset since authentication
                return Admission(reject_status=401, reject_message="unknown account")
            scopes = [s for s in (self._faults.get(guid), self._faults.get(None)) if s]
            matching = [s for s in scopes if s.matches(path)]
            latency = sum(s.config.latency_ms for s in matching)
            for state in matching:
                if state.hang_next > 0:
                    state.hang_next -= 1
                    state.injected += 1
                    return Admission(latency_ms=latency, hang_seconds=state.config.hang_seconds)
            for state in matching:
                if state.rate_limited_next > 0:
                    state.rate_limited_next -= 1
                    state.injected += 1
                    reset = str(state.config.retry_after_seconds)
                    return Admission(
                        reject_status=429,
                        reject_message="rate limit exceeded (injected)",
                        headers={
                            "ratelimit-limit": str(account.program.rate_limit_per_second),
                            "ratelimit-remaining": "0",
                            "ratelimit-reset": reset,
                        },
                        latency_ms=latency,
                    )
            for state in matching:
                inject = False
                if state.error_next > 0:
                    state.error_next -= 1
                    inject = True
                elif state.config.error_rate > 0:
                    inject = state.rng.random() < state.config.error_rate
                if inject:
                    state.injected += 1
                    return Admission(
                        reject_status=state.config.error_status,
                        reject_message="injected fault",
                        latency_ms=latency,
                    )
            return self._rate_limit(account, latency)

    def _rate_limit(self, account: _Account, latency: int) -> Admission:
        limit = account.program.rate_limit_per_second
        if limit == 0:
            return Admission(latency_ms=latency)
        now = self._clock()
        window = account.rate_window
        if now >= window.started + 1.0:
            window.started, window.count = now, 0
        reset = str(max(1, math.ceil(window.started + 1.0 - now)))
        if window.count >= limit:
            return Admission(
                reject_status=429,
                reject_message="rate limit exceeded",
                headers={
                    "ratelimit-limit": str(limit),
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": reset,
                },
                latency_ms=latency,
            )
        window.count += 1
        return Admission(
            headers={
                "ratelimit-limit": str(limit),
                "ratelimit-remaining": str(limit - window.count),
                "ratelimit-reset": reset,
            },
            latency_ms=latency,
        )

    def pause(self, seconds: float) -> None:
        """Serve injected latency (through the injected `sleep`)."""
        if seconds > 0:
            self._sleep(seconds)

    def hang(self, seconds: float) -> bool:
        """Hold a request for `seconds`; True if `release_hangs` (server stop) cut it short."""
        with self._hang_release:
            generation = self._hang_generation
            released = self._hang_release.wait_for(
                lambda: self._hang_generation != generation, timeout=seconds
            )
        return bool(released)

    def release_hangs(self) -> None:
        with self._hang_release:
            self._hang_generation += 1
            self._hang_release.notify_all()

    def close(self) -> None:
        self.release_hangs()
        if self._dispatcher is not None:
            self._dispatcher.close()

    # --- customers --------------------------------------------------------------------------

    def upsert_customer(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = _validate(CustomerUpsert, body)
        with self._lock:
            account = self._account(guid)
            member = account.by_customer_id.get(request.id) if request.id else None
            owner = account.by_email.get(request.email)
            if member is None:
                if owner is not None and owner.customer_id not in (None, request.id):
                    raise ApiError(422, "email belongs to another customer id")
                member = owner or self._new_member(account, request.email)
            elif owner is not None and owner is not member:
                raise ApiError(422, "email belongs to another customer")
            if request.id and member.customer_id is None:
                member.customer_id = request.id
                account.by_customer_id[request.id] = member
            self._set_email(account, member, request.email)
            sent = request.model_dump(include=set(_PROFILE_FIELDS), exclude_unset=True)
            member.profile.update(sent)
            self._index_profile(account, member)
            return self._customer_view(account, member, referral=True, history=False)

    def set_customer_birthday(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /customer_birthdays` ("Set Customer Birthday",
        https://loyaltyapi.yotpo.com/reference/set-customer-birthday): the member named by
        `customer_email` ("Provide this or Customer ID") or `customer_id`, its `day`, `month`
        and optional `year`. The page documents no answer body: the stand-in answers `{}`."""
        email = body.get("customer_email")
        customer_id = body.get("customer_id")
        if not (isinstance(email, str) and email.strip()) and not (
            isinstance(customer_id, str | int) and str(customer_id).strip()
        ):
            raise ApiError(422, "customer_email or customer_id is required")
        day, month, year = body.get("day"), body.get("month"), body.get("year")
        if not _whole(day, 1, 31) or not _whole(month, 1, 12):
            raise ApiError(422, "day (1-31) and month (1-12) are required")
        if year is not None and not _whole(year, 1900, 9999):
            raise ApiError(422, "year must be a four-digit year")
        with self._lock:
            account = self._account(guid)
            member = (
                self._lookup(account, "customer_email", email)
                if isinstance(email, str) and email.strip()
                else self._lookup(account, "customer_id", str(customer_id))
            )
            if member is None:
                raise ApiError(404, "customer not found")
            member.birthday = {"day": int(day), "month": int(month)}
            if year is not None:
                member.birthday["year"] = int(year)
        return {}

    def get_customer(self, guid: str, query: Mapping[str, str]) -> dict[str, Any]:
        keys = ("customer_id", "customer_email", "phone_number", "pos_account_id")
        given = {k: query[k].strip() for k in keys if query.get(k, "").strip()}
        if len(given) != 1:
            raise ApiError(400, f"send exactly one of {', '.join(keys)}")
        ((key, value),) = given.items()
        with self._lock:
            account = self._account(guid)
            member = self._lookup(account, key, value)
            if member is None:
                raise ApiError(404, "customer not found")
            return self._customer_view(
                account,
                member,
                referral=_truthy(query.get("with_referral_code")),
                history=_truthy(query.get("with_history")),
            )

    # --- orders and refunds -----------------------------------------------------------------

    def create_order(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = _validate(OrderCreate, body)
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            code, currency = account.currency(request.currency_code)
            _, base = account.currency(None)
            silent = account.program.silent
            if silent.missing_ip_ua == "reject" and not request.ignore_ip_ua:
                missing = [
                    name for name in ("ip_address", "user_agent") if getattr(request, name) is None
                ]
                if missing:
                    raise ApiError(
                        422, f"{' and '.join(missing)} required unless ignore_ip_ua is true"
                    )
            previous = account.latest_order.get(request.order_id)
            if previous is not None:
                account.duplicate_orders[request.order_id] += 1
                if silent.duplicate_order_id == "reject":
                    raise ApiError(422, f"order {request.order_id} already exists")
                if silent.duplicate_order_id == "ignore":
                    return {}
            member = self._member_for_order(account, request.customer_id, request.customer_email)
            processed = request.status is None or bool(
                re.search(account.program.earn_status_regex, request.status)
            )
            tier = account.tier(member.tier_id)
            points = (
                earned_points(
                    request.total_amount_cents,
                    currency.fraction_digits,
                    account.program.points_per_unit,
                    tier.points_multiplier if tier else 1,
                )
                if processed
                else 0
            )
            record = OrderRecord(
                seq=self._next_order,
                order_id=request.order_id,
                member_no=member.member_no,
                currency=code,
                total_amount_cents=request.total_amount_cents,
                status=request.status,
                processed=processed,
                points_earned=points,
                spend_base_cents=(
                    to_base_minor(request.total_amount_cents, currency, base) if processed else 0
                ),
                coupon_code=request.coupon_code,
                created_at=self._now(),
            )
            self._next_order += 1
            account.orders.append(record)
            account.latest_order[request.order_id] = record
            if processed:
                member.total_spend_cents += record.spend_base_cents
                member.total_purchases += 1
                self._change_points(
                    account,
                    member,
                    points,
                    out,
                    reason="order",
                    earned=points,
                    action="Made a purchase",
                    order_id=request.order_id,
                )
                for coupon in request.coupon_codes():
                    self._use_code(account, member, record, coupon, out)
                self._refresh_tier(account, member, out)
        self._emit(out)
        # The reference documents no answer body for Create Order.
        return {}

    def create_refund(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """ "Requests are processed asynchronously. A HTTP 200 success response acknowledges the
        receipt of the request" (https://loyaltyapi.yotpo.com/reference/create-refund): a refund
        that cannot be applied is answered 200 and kept under `refunds_failed` in the state."""
        request = _validate(RefundCreate, body)
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            if request.id is not None and request.id in account.refunds:
                account.duplicate_refunds[request.id] += 1
                if account.program.silent.duplicate_refund_id == "ignore":
                    return {}
                request = request.model_copy(update={"id": f"{request.id}#{len(account.refunds)}"})
            problem = self._refund_problem(account, request)
            if problem is not None:
                account.failed_refunds.append(
                    {**request.model_dump(mode="json"), "reason": problem, "at": _iso(self._now())}
                )
                return {}
            order = account.latest_order[request.order_id]
            refunded = order.refunded_cents + request.total_amount_cents
            member = account.members[order.member_no]
            # Cumulative shares: the sum over all refunds of an order reverses exactly what the
            # order earned once it is fully refunded, whatever the rounding of each step.
            total = order.total_amount_cents
            points = _share(order.points_earned, refunded, total) - order.points_reversed
            spend = _share(order.spend_base_cents, refunded, total) - order.spend_reversed_cents
            fully_refunded_now = order.processed and refunded == total and total > 0
            order.refunded_cents = refunded
            order.points_reversed += points
            order.spend_reversed_cents += spend
            refund = RefundRecord(
                id=request.id or f"sandbox-refund-{len(account.refunds) + 1}",
                order_id=order.order_id,
                order_seq=order.seq,
                total_amount_cents=request.total_amount_cents,
                currency=order.currency,
                points_reversed=points,
                spend_reversed_cents=spend,
                created_at=self._now(),
            )
            account.refunds[refund.id] = refund
            member.total_spend_cents = max(0, member.total_spend_cents - spend)
            if fully_refunded_now:
                member.total_purchases = max(0, member.total_purchases - 1)
            # Reversing earned points may take the balance below zero when they were spent.
            self._change_points(
                account,
                member,
                -points,
                out,
                reason="refund",
                earned=-points,
                action="Refund",
                order_id=order.order_id,
            )
            self._refresh_tier(account, member, out)
        self._emit(out)
        return {}

    @staticmethod
    def _refund_problem(account: _Account, request: RefundCreate) -> str | None:
        order = account.latest_order.get(request.order_id)
        if order is None:
            return f"order {request.order_id} not found"
        if request.currency is not None and request.currency.upper() != order.currency:
            return f"refund currency {request.currency} differs from order {order.currency}"
        refunded = order.refunded_cents + request.total_amount_cents
        if refunded > order.total_amount_cents:
            return f"refunds ({refunded}) would exceed the order total ({order.total_amount_cents})"
        return None

    # --- points -----------------------------------------------------------------------------

    def adjust_points(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = _validate(PointsAdjust, body)
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            member = self._require_member(account, request.customer_id, request.customer_email)
            delta = request.point_adjustment_amount
            if member.points_balance + delta < 0:
                raise ApiError(422, "adjustment would make the points balance negative")
            self._change_points(
                account,
                member,
                delta,
                out,
                reason="adjustment",
                earned=delta if request.apply_adjustment_to_points_earned else 0,
                action=request.history_title or "Points adjustment",
            )
            self._refresh_tier(account, member, out)
            result = self._customer_view(account, member, referral=False, history=False)
        self._emit(out)
        return result

    def vip_tiers(self, guid: str) -> list[dict[str, Any]]:
        with self._lock:
            account = self._account(guid)
            return [_tier_view(t) for t in account.tiers_by_rank()]

    # --- redemptions ------------------------------------------------------------------------

    def redemption_options(self, guid: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """`is_offline=true`: "only offline redemption options will be returned"; otherwise
        all (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options)."""
        with self._lock:
            account = self._account(guid)
            options = account.program.redemption_options
            if _truthy(query.get("is_offline")):
                options = [o for o in options if o.is_offline]
            customer_id = query.get("customer_id", "").strip() or None
            email = query.get("customer_email", "").strip() or None
            phone = query.get("phone_number", "").strip() or None
            if customer_id or email or phone:
                member = self._require_member(account, customer_id, _email_or_422(email), phone)
                options = [o for o in options if o.amount <= member.points_balance]
            discount_type = query.get("discount_type", "").strip()
            if discount_type:
                options = [o for o in options if o.discount_type == discount_type]
            as_string = account.program.silent.amount_as_string
            return [_option_view(o, amount_as_string=as_string) for o in options]

    def create_redemption(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = _validate(RedemptionCreate, body)
        with self._lock:
            account = self._account(guid)
            member = self._require_member(
                account,
                request.customer_id,
                request.customer_email,
                request.phone_number,
                request.pos_account_id,
            )
            option = account.option(request.redemption_option_id)
            code, _ = account.currency(request.currency)
            if option.discount_type == "generic_variable":
                points = request.points_to_redeem
                if points is None:
                    raise ApiError(422, "points_to_redeem is required for a variable option")
                if points % option.amount:
                    raise ApiError(422, f"points_to_redeem must be a multiple of {option.amount}")
            else:
                points = option.amount
            # Yotpo's POS guide: with delayed deduction, a customer's unconsumed reward is
            # cancelled when the same customer redeems again (its points were never taken),
            # https://support.yotpo.com/docs/omnichannel-store-associate-managed-loyalty-pos-loyalty-interface
            for earlier in account.redemptions.values():
                if earlier.member_no == member.member_no and earlier.pending_delayed:
                    earlier.state = "cancelled"
                    earlier.cancel_reason = "replaced by a newer redemption of the same customer"
            if points > member.points_balance:
                raise ApiError(
                    422, f"not enough points: {points} needed, {member.points_balance} available"
                )
            now = self._now()
            redemption = Redemption(
                id=self._next_redemption,
                reward_text=f"LOY-{self._next_redemption:06d}",
                member_no=member.member_no,
                option=option,
                points=points,
                delayed=request.delay_points_deduction,
                currency=code,
                created_at=now,
            )
            self._next_redemption += 1
            account.redemptions[redemption.id] = redemption
            out: list[Webhook] = []
            if not redemption.delayed:
                redemption.points_deducted = True
                self._change_points(
                    account,
                    member,
                    -points,
                    out,
                    reason="redemption",
                    action=f"Redeemed {option.name}",
                    redemption_id=redemption.id,
                )
            result = redemption.answer()
        self._emit(out)
        return result

    def complete_cancellation(
        self, guid: str, redemption_id: int, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Approve Redemption Cancellation: the points come back (if they were taken) and the
        code stops working. `reward_text` is required
        (https://loyaltyapi.yotpo.com/reference/approve-redemption-cancellation)."""
        reward_text = str(body.get("reward_text") or "").strip()
        if not reward_text:
            raise ApiError(422, "reward_text is required")
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            redemption = account.redemptions.get(redemption_id)
            if redemption is None:
                raise ApiError(404, f"redemption {redemption_id} not found")
            if redemption.reward_text != reward_text:
                raise ApiError(422, "reward_text does not belong to this redemption")
            member = account.members[redemption.member_no]
            if redemption.state == "used":
                raise ApiError(422, "redemption was already used on an order")
            if (
                redemption.state == "active"
                and not redemption.cancellation_requested
                and account.program.silent.approval_without_request == "reject"
            ):
                raise ApiError(422, "no cancellation request for this redemption")
            if redemption.state == "active":
                redemption.state = "cancelled"
                redemption.cancel_reason = "cancellation approved"
                if redemption.points_deducted:
                    self._change_points(
                        account,
                        member,
                        redemption.points,
                        out,
                        reason="redemption_cancelled",
                        action="Redemption cancelled",
                        redemption_id=redemption.id,
                    )
            redemption.cancellation_requested = False
        self._emit(out)
        # The page documents no answer body.
        return {}

    def request_cancellation(self, guid: str, redemption_id: int) -> dict[str, Any]:
        """The customer asks to reverse a redemption (in Yotpo's own widgets): Yotpo sends
        `swell/point_redemption/cancellation_request` and waits for the merchant's approval
        (https://loyaltyapi.yotpo.com/reference/redemption-cancellation-request)."""
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            redemption = account.redemptions.get(redemption_id)
            if redemption is None:
                raise ApiError(404, f"redemption {redemption_id} not found")
            if redemption.state != "active":
                raise ApiError(422, f"redemption is {redemption.state}")
            redemption.cancellation_requested = True
            member = account.members[redemption.member_no]
            self._webhook(
                account,
                out,
                cancellation_request_payload(
                    self._customer_view(account, member), redemption.id, redemption.reward_text
                ),
            )
            result = redemption.as_dict(member)
        self._emit(out)
        return result

    # --- internals (callers hold the lock) --------------------------------------------------

    def _account(self, guid: str) -> _Account:
        account = self._accounts.get(guid)
        if account is None:
            raise ApiError(401, "unknown account")
        return account

    def _new_member(self, account: _Account, email: str) -> Member:
        member = Member(member_no=self._next_member, email=email, created_at=self._now())
        self._next_member += 1
        account.members[member.member_no] = member
        account.by_email[email] = member
        # Joining puts a member in the entry tier silently; only later changes notify.
        self._refresh_tier(account, member, [])
        return member

    @staticmethod
    def _set_email(account: _Account, member: Member, email: str) -> None:
        if member.email != email:
            if account.by_email.get(member.email) is member:
                del account.by_email[member.email]
            member.email = email
        account.by_email[email] = member

    @staticmethod
    def _index_profile(account: _Account, member: Member) -> None:
        for key, index in (("phone_number", account.by_phone), ("pos_account_id", account.by_pos)):
            for value, owner in list(index.items()):
                if owner is member and value != member.profile.get(key):
                    del index[value]
            if member.profile.get(key):
                index[str(member.profile[key])] = member

    @staticmethod
    def _lookup(account: _Account, key: str, value: str) -> Member | None:
        if key == "customer_id":
            return account.by_customer_id.get(value)
        if key == "customer_email":
            return account.by_email.get(value.lower())
        if key == "phone_number":
            return account.by_phone.get(value)
        return account.by_pos.get(value)

    def _require_member(
        self,
        account: _Account,
        customer_id: str | None,
        email: str | None,
        phone: str | None = None,
        pos_account_id: str | None = None,
    ) -> Member:
        for key, value in (
            ("customer_id", customer_id),
            ("customer_email", email),
            ("phone_number", phone),
            ("pos_account_id", pos_account_id),
        ):
            if value:
                member = self._lookup(account, key, value)
                if member is None:
                    raise ApiError(404, "customer not found")
                return member
        raise ApiError(422, "a customer_id or customer_email is required")

    def _member_for_order(self, account: _Account, customer_id: str | None, email: str) -> Member:
        if customer_id:
            member = account.by_customer_id.get(customer_id)
            if member is not None:
                return member
        member = account.by_email.get(email)
        if member is None:
            member = self._new_member(account, email)
        elif customer_id and member.customer_id not in (None, customer_id):
            raise ApiError(422, "customer_email belongs to another customer id")
        if customer_id and member.customer_id is None:
            member.customer_id = customer_id
            account.by_customer_id[customer_id] = member
        return member

    def _change_points(
        self,
        account: _Account,
        member: Member,
        delta: int,
        out: list[Webhook],
        *,
        reason: str,
        action: str,
        earned: int = 0,
        **details: Any,
    ) -> None:
        previous = member.points_balance
        member.points_balance += delta
        member.points_earned = max(0, member.points_earned + earned)
        member.history.append(
            {
                "action": action,
                "points": delta,
                "balance": member.points_balance,
                "created_at": _iso(self._now()),
                **details,
            }
        )
        if delta != 0:
            customer = self._customer_view(account, member)
            spelling = account.program.points_changed_id_spelling
            if spelling != "third_party_id":
                customer[spelling] = customer.pop("third_party_id")
            self._webhook(
                account,
                out,
                points_changed_payload(customer, previous, member.points_balance, action),
            )

    def _use_code(
        self,
        account: _Account,
        member: Member,
        order: OrderRecord,
        code: str,
        out: list[Webhook],
    ) -> None:
        redemption = next(
            (
                r
                for r in account.redemptions.values()
                if r.reward_text == code and r.member_no == member.member_no
            ),
            None,
        )
        if redemption is None or redemption.state != "active":
            return  # an unknown, used or cancelled code takes nothing
        redemption.state = "used"
        redemption.used_by_order = order.order_id
        order.redemption_id = redemption.id
        if not redemption.points_deducted:
            redemption.points_deducted = True
            self._change_points(
                account,
                member,
                -redemption.points,
                out,
                reason="redemption",
                action=f"Redeemed {redemption.option.name}",
                redemption_id=redemption.id,
                order_id=order.order_id,
            )

    def _refresh_tier(self, account: _Account, member: Member, out: list[Webhook]) -> None:
        reached = None
        for tier in reversed(account.tiers_by_rank()):
            if (
                member.total_spend_cents >= tier.amount_spent_cents
                and member.points_earned >= tier.points_earned
                and member.total_purchases >= tier.purchases_made
            ):
                reached = tier
                break
        old = account.tier(member.tier_id)
        if (reached and reached.id) == (old and old.id):
            return
        member.tier_id = reached.id if reached else None
        member.tier_earned_at = self._now() if reached else None
        upgrade = (reached.rank or 0 if reached else -1) > (old.rank or 0 if old else -1)
        self._webhook(
            account,
            out,
            tier_changed_payload(
                TOPIC_TIER_EARNED if upgrade else TOPIC_TIER_LOST,
                self._customer_view(account, member),
                _tier_view(reached) if reached else None,
                _tier_view(old) if old else None,
            ),
        )

    @staticmethod
    def _webhook(account: _Account, out: list[Webhook], payload: dict[str, Any]) -> None:
        url = account.program.webhook_url
        if url:
            out.append(
                Webhook(
                    url=url,
                    secret=account.program.webhook_secret,
                    payload=payload,
                    secret_header=account.program.webhook_secret_header,
                )
            )

    def _emit(self, out: Iterable[Webhook]) -> None:
        # Called after the lock is released: a slow sink never holds up other requests.
        for webhook in out:
            self._sink(webhook)

    def _customer_view(
        self,
        account: _Account,
        member: Member,
        *,
        referral: bool = False,
        history: bool = False,
    ) -> dict[str, Any]:
        """A member as Fetch Customer Details answers: the fields real answers carry (the
        connector's own id as `third_party_id`, no `id`; `history_items`; upgrade requirements
        without a tier name), https://loyaltyapi.yotpo.com/reference/fetch-customer-details."""
        tier = account.tier(member.tier_id)
        ranked = account.tiers_by_rank()
        above = [t for t in ranked if tier is None or (t.rank or 0) > (tier.rank or 0)]
        upcoming = above[0] if above else None
        profile = member.profile
        last = member.history[-1]["created_at"] if member.history else None
        view: dict[str, Any] = {
            "email": member.email,
            "first_name": profile.get("first_name"),
            "last_name": profile.get("last_name"),
            "phone_number": profile.get("phone_number"),
            "third_party_id": member.customer_id,
            "pos_account_id": profile.get("pos_account_id"),
            "points_balance": member.points_balance,
            "points_earned": member.points_earned,
            "total_spend_cents": member.total_spend_cents,
            "total_purchases": member.total_purchases,
            "perks_redeemed": sum(
                1
                for r in account.redemptions.values()
                if r.member_no == member.member_no and r.state == "used"
            ),
            "last_purchase_at": last,
            "last_seen_at": last,
            "has_store_account": bool(profile.get("has_account")),
            "credit_balance": "0",
            "credit_balance_in_customer_currency": "0",
            "opt_in": profile.get("opted_in"),
            "opted_in_at": profile.get("opted_in_at"),
            "points_expire_at": None,
            "vip_tier_name": tier.name if tier else None,
            "vip_tier_ends_at": (
                _iso(member.tier_earned_at + TIER_DURATION)
                if tier and member.tier_earned_at
                else None
            ),
            "vip_tier_actions_completed": {
                "points_earned": member.points_earned,
                "amount_spent_cents": member.total_spend_cents,
                "purchases_made": member.total_purchases,
                "referrals_completed": 0,
            },
            "vip_tier_upgrade_requirements": (
                {
                    "points_needed": max(0, upcoming.points_earned - member.points_earned),
                    "amount_cents_needed": (
                        needed := max(0, upcoming.amount_spent_cents - member.total_spend_cents)
                    ),
                    "amount_cents_needed_in_customer_currency": needed,
                    "purchases_needed": max(0, upcoming.purchases_made - member.total_purchases),
                    "referrals_needed": 0,
                    "campaigns_needed": 0,
                }
                if upcoming
                else None
            ),
        }
        if referral:
            view["referral_code"] = {"code": member.referral_code}
            view["referral_link"] = f"https://sandbox.invalid/r/{member.referral_code}"
        if history:
            view["history_items"] = [dict(h) for h in member.history]
        return view


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _email_or_422(value: str | None) -> str | None:
    try:
        return _email(value)
    except ValueError as exc:
        raise ApiError(422, f"customer_email {exc}") from None


def _tier_view(tier: TierConfig) -> dict[str, Any]:
    return {
        "id": tier.id,
        "name": tier.name,
        "description": tier.description,
        "points_earned": tier.points_earned,
        "amount_spent_cents": tier.amount_spent_cents,
        "purchases_made": tier.purchases_made,
        # A display value (e.g. 1.5), never used in arithmetic from this representation.
        "points_multiplier": float(tier.points_multiplier),
        "rank": tier.rank,
    }


def _number(value: Decimal) -> int | float:
    # JSON has no decimals: whole numbers stay exact, others are display values.
    return int(value) if value == value.to_integral_value() else float(value)


def _option_view(option: RedemptionOptionConfig, *, amount_as_string: bool) -> dict[str, Any]:
    """An option with the documented fields (`id, name, description, icon, cost_text, amount,
    applies_to_product_type, duration`) plus the `type`/`discount_*` fields real answers carry;
    never `is_offline` or a currency (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options)."""
    variable = option.discount_type == "generic_variable"
    cost_text = option.cost_text or (
        f"{option.amount} Point" + ("" if option.amount == 1 else "s")
        if not variable
        else f"{option.amount} Points per step"
    )
    rate = option.discount_rate_cents
    return {
        "id": option.id,
        "name": option.name,
        "description": option.description,
        "icon": "fa-dollar",
        "cost_text": cost_text,
        "amount": str(option.amount) if amount_as_string else option.amount,
        "applies_to_product_type": option.applies_to_product_type,
        "duration": "single_use",
        "type": option.type,
        "discount_type": option.discount_type,
        "discount_amount_cents": option.discount_amount_cents,
        "discount_rate_cents": _number(rate) if rate is not None else None,
        "discount_value_cents": None,
        "discount_percentage": option.discount_percentage,
        "cart_greater_than": option.cart_greater_than,
        "unrendered_name": option.name,
        "unrendered_description": option.description,
    }


def _whole(value: Any, low: int, high: int) -> bool:
    """A whole number in [low, high] (a number or its digits, as JSON bodies carry them)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return isinstance(value, int) and low <= value <= high
