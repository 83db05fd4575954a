"""Program state of the Yotpo stand-in: members, order and refund records, redemptions, and
one merchant account (`Account`) holding them with its program. Plain records; the rules that
change them live in the engine modules (`customers`, `orders`, `points`, `redemptions`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sandbox.yotpo.errors import ApiError
from sandbox.yotpo.faults import RateWindow
from sandbox.yotpo.program import (
    AccountConfig,
    CurrencyConfig,
    ProgramConfig,
    RedemptionOptionConfig,
    TierConfig,
)

PROFILE_FIELDS = (
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


def iso(moment: datetime) -> str:
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
            "created_at": iso(self.created_at),
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
            "created_at": iso(self.created_at),
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
        created = iso(self.created_at)
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
            "created_at": iso(self.created_at),
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


class Account:
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
        self.rate_window = RateWindow()

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
