"""Request bodies and query values of the Yotpo API as the stand-in reads them: one pydantic
model per write endpoint, `validate` (a 422 naming every problem) and the small parsers the
query-string endpoints share. Nothing here touches program state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.yotpo.errors import ApiError


class _Body(BaseModel):
    # The real API takes ids as strings or numbers and ignores fields it does not know.
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, str_strip_whitespace=True)


def checked_email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise ValueError("is not an email address")
    return value


def blank_to_none(value: Any) -> Any:
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

    _blank = field_validator("id", "phone_number", "pos_account_id", mode="before")(blank_to_none)
    _check_email = field_validator("email")(checked_email)


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
    )(blank_to_none)

    def coupon_codes(self) -> list[str]:
        """`coupon_code` is "a comma-separated list of coupon codes" (create-order page)."""
        return [c.strip() for c in (self.coupon_code or "").split(",") if c.strip()]

    _check_email = field_validator("customer_email")(checked_email)


class RefundCreate(_Body):
    order_id: str = Field(min_length=1)
    total_amount_cents: int = Field(gt=0)
    currency: str | None = None
    id: str | None = None
    items: list[dict[str, Any]] | None = None

    _blank = field_validator("id", "currency", mode="before")(blank_to_none)


class PointsAdjust(_Body):
    customer_id: str | None = None
    customer_email: str | None = None
    point_adjustment_amount: int
    apply_adjustment_to_points_earned: bool = False
    history_title: str | None = None
    visible_to_customer: bool = True

    _blank = field_validator("customer_id", "customer_email", mode="before")(blank_to_none)
    _check_email = field_validator("customer_email")(checked_email)


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
    )(blank_to_none)
    _check_email = field_validator("customer_email")(checked_email)


_M = TypeVar("_M", bound=BaseModel)


def validate(model: type[_M], body: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ApiError(422, problems) from None


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def email_or_422(value: str | None) -> str | None:
    try:
        return checked_email(value)
    except ValueError as exc:
        raise ApiError(422, f"customer_email {exc}") from None


def whole_number(value: Any, low: int, high: int) -> bool:
    """A whole number in [low, high] (a number or its digits, as JSON bodies carry them)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return isinstance(value, int) and low <= value <= high
