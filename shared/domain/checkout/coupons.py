"""Rewards redeemed in Yotpo's own widgets, as commercetools Cart Discounts and Discount Codes.

Pure: no I/O. On a custom platform Yotpo calls the merchant's "Create Coupons URL" when a
shopper redeems a Generic Fixed Amount / Generic Variable reward, and the "Cancel Coupons URL"
to retire unused codes; the secret comes in the `X-Api-Secret` header and in the body
(https://support.yotpo.com/docs/implementing-redemptions-via-api). This module turns such a
request, checked against the merchant's reward configuration, into:

- one Cart Discount per reward option (per amount for variable rewards), created once and
  reused by every code, so thousands of codes cost commercetools one discount to evaluate
  (https://docs.commercetools.com/api/projects/cartDiscounts);
- one single-use Discount Code per redemption, bound to that Cart Discount, limited to the
  customer it was issued to by a cart predicate and to its validity window
  (https://docs.commercetools.com/api/projects/discountCodes).

Only Yotpo's public support page above documents the exchange, and it shows the header and the
fields of its "create redemption" example (`coupon_code`, `discount_amount_cents`, `currency`,
`customer_email`); every field name read from a request is spelled once in `CouponWire`, so a
correction after a real delivery is a single edit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.domain import values
from shared.domain.checkout.redemption import RedemptionError
from shared.domain.money import format_minor, money_draft
from shared.domain.predicates import literal

# --- names -------------------------------------------------------------------------------------
CART_DISCOUNT_KEY_PREFIX: Final = "yotpo-reward-"
DISCOUNT_CODE_KEY_PREFIX: Final = "yotpo-coupon-"
# Custom objects only the connector writes: what was issued, to whom, and its state.
ISSUED_CONTAINER: Final = "yotpo-loyalty-coupons"
BATCH_CONTAINER: Final = "yotpo-loyalty-coupon-batches"
# commercetools keys: 2-256 of [A-Za-z0-9_-]; discount codes are free text, so keys hash them.
_KEY_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_CODE_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{4,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Sort orders of the connector's discounts start with this digit (below the merchant's
# usual 0.9x campaigns); an option can set its own.
DEFAULT_SORT_ORDER_BASE: Final = "0.3"


class CouponWire:
    """Names of the fields Yotpo sends to the Create/Cancel Coupons URLs (first one wins)."""

    SECRET_HEADER: Final = "X-Api-Secret"
    SECRET: Final = ("secret", "api_secret")
    CODE: Final = ("coupon_code", "code", "reward_text")
    CODES: Final = ("coupon_codes", "codes")
    OPTION: Final = ("redemption_option_id",)
    AMOUNT_CENTS: Final = ("discount_amount_cents", "amount_cents")
    CURRENCY: Final = ("currency", "currency_code")
    CUSTOMER_ID: Final = ("customer_id", "third_party_id", "customer_external_id")
    CUSTOMER_EMAIL: Final = ("customer_email", "email")
    REDEMPTION_ID: Final = ("redemption_id", "point_redemption_id", "id")
    # What the connector answers: the code Yotpo shows the shopper.
    ANSWER_CODE: Final = "coupon_code"


# --- the merchant's reward configuration ----------------------------------------------------
RewardKind = Literal["fixed", "variable", "percentage", "free_shipping"]


class RewardOption(BaseModel):
    """How one Yotpo redemption option becomes a commercetools discount."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    kind: RewardKind
    # fixed: the value per currency in minor units; variable: the largest value per currency.
    amount: dict[str, int] = Field(default_factory=dict)
    percent_bp: int | None = Field(default=None, alias="percentBp", gt=0, le=10000)
    minimum: dict[str, int] = Field(default_factory=dict)
    valid_days: int = Field(default=90, alias="validDays", ge=1, le=3650)
    store: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]{2,256}$")
    sort_order: str | None = Field(default=None, alias="sortOrder", pattern=r"^0\.\d*[1-9]$")
    stacking: Literal["stack", "stop"] = "stack"
    name: str | None = None

    @field_validator("amount", "minimum", mode="before")
    @classmethod
    def _money_map(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out: dict[str, int] = {}
        for currency, amount in value.items():
            code = str(currency).upper()
            if not _CURRENCY.match(code):
                raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise ValueError(f"{code}: amounts are integers in minor units, not {amount!r}")
            out[code] = amount
        return out

    @model_validator(mode="after")
    def _consistent(self) -> RewardOption:
        priced = self.kind in ("fixed", "variable")
        if priced and (not self.amount or any(v <= 0 for v in self.amount.values())):
            raise ValueError(f"a {self.kind} reward needs a positive amount per currency")
        if self.kind == "percentage" and self.percent_bp is None:
            raise ValueError("a percentage reward needs percentBp (1000 = 10 %)")
        return self

    def currencies(self) -> frozenset[str]:
        """Currencies this reward can be issued in (empty: any, for percentage/shipping)."""
        if self.kind in ("fixed", "variable"):
            return frozenset(self.amount)
        return frozenset(self.minimum)


def parse_reward_options(raw: str) -> dict[str, RewardOption]:
    """`{"<redemption option id>": {...}}` → options by id; ValueError names every problem."""
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError('must be a JSON object: {"<redemption option id>": {"kind": ...}}')
    options: dict[str, RewardOption] = {}
    problems: list[str] = []
    for option_id, value in data.items():
        key = str(option_id).strip()
        if not key.isdigit():
            problems.append(f"{option_id!r}: redemption option ids are integers")
            continue
        try:
            options[key] = RewardOption.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                where = ".".join(str(p) for p in err["loc"])
                message = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{key}{'.' + where if where else ''}: {message}")
    if problems:
        raise ValueError("; ".join(problems))
    return options


# --- requests --------------------------------------------------------------------------------
class CouponError(ValueError):
    """A request the connector refuses; `code` is the machine-readable reason."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class CouponRequest(BaseModel):
    """A Create Coupons request, parsed; nothing in it is trusted beyond its shape."""

    model_config = ConfigDict(frozen=True)

    option_id: str
    currency: str
    amount_cents: int | None
    code: str | None
    redemption_id: str | None
    customer_id: str | None
    customer_email: str | None


class IssuePlan(BaseModel):
    """What one accepted request issues: the value, the code, and who may use it."""

    model_config = ConfigDict(frozen=True)

    option_id: str
    option: RewardOption
    currency: str
    amount: int | None  # minor units (fixed/variable); None for percentage / free shipping
    code: str
    customer_id: str | None
    email_digest: str | None

    @property
    def fingerprint(self) -> str:
        """What must be equal for a repeated request to be the same request."""
        parts = [self.option_id, self.currency, str(self.amount), self.customer_id or ""]
        parts.append(self.email_digest or "")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _first(body: Mapping[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        value = body.get(name)
        if value is not None and value != "":
            return value
    return None


def _text(value: Any, field: str, max_length: int = 256) -> str | None:
    # `values.text` reads the field; a request is answered 400 naming it where that rule
    # would quietly drop a wrong type or cut an over-long value.
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise CouponError(400, "invalid_request", f"{field} must be a string")
    text = values.text(value, numbers=True)
    if text is not None and len(text) > max_length:
        raise CouponError(400, "invalid_request", f"{field} is longer than {max_length}")
    return text


def body_secret(body: Mapping[str, Any]) -> str | None:
    value = _first(body, CouponWire.SECRET)
    return value if isinstance(value, str) else None


def parse_create(body: Mapping[str, Any]) -> CouponRequest:
    """The request's fields, or CouponError(400) naming what is wrong."""
    option = _text(_first(body, CouponWire.OPTION), "redemption_option_id", 20)
    if option is None or not option.isdigit():
        raise CouponError(400, "invalid_request", "redemption_option_id (integer) is required")
    currency = _text(_first(body, CouponWire.CURRENCY), "currency", 3)
    if currency is None or not _CURRENCY.match(currency.upper()):
        raise CouponError(400, "invalid_request", "currency (ISO 4217) is required")
    raw_amount = _first(body, CouponWire.AMOUNT_CENTS)
    if raw_amount is not None and (isinstance(raw_amount, bool) or not isinstance(raw_amount, int)):
        # Money is integer minor units; a float or string here is refused, never rounded.
        raise CouponError(400, "invalid_request", "discount_amount_cents must be an integer")
    if raw_amount is not None and raw_amount <= 0:
        raise CouponError(400, "invalid_request", "discount_amount_cents must be positive")
    code = _text(_first(body, CouponWire.CODE), "coupon_code", 64)
    if code is not None and not _CODE_PATTERN.match(code):
        raise CouponError(400, "invalid_request", "coupon_code: 4-64 of A-Z a-z 0-9 _ -")
    email = _text(_first(body, CouponWire.CUSTOMER_EMAIL), "customer_email")
    if email is not None and "@" not in email:
        raise CouponError(400, "invalid_request", "customer_email is not an email address")
    return CouponRequest(
        option_id=option,
        currency=currency.upper(),
        amount_cents=raw_amount,
        code=code,
        redemption_id=_text(_first(body, CouponWire.REDEMPTION_ID), "redemption_id", 64),
        customer_id=_text(_first(body, CouponWire.CUSTOMER_ID), "customer_id"),
        customer_email=email,
    )


def parse_cancel(body: Mapping[str, Any]) -> list[str]:
    """The codes a Cancel Coupons request names (one or a list), or CouponError(400)."""
    listed = _first(body, CouponWire.CODES)
    single = _first(body, CouponWire.CODE)
    raw: list[Any] = []
    if isinstance(listed, list):
        raw.extend(listed)
    elif listed is not None:
        raise CouponError(400, "invalid_request", "coupon_codes must be a list")
    if single is not None:
        raw.append(single)
    codes = list(dict.fromkeys(_text(c, "coupon_code", 64) for c in raw))
    if not codes or any(c is None for c in codes):
        raise CouponError(400, "invalid_request", "name the code(s) to cancel in coupon_code(s)")
    if len(codes) > 500:
        raise CouponError(400, "invalid_request", "at most 500 codes per cancel request")
    return [c for c in codes if c]


def email_digest(email: str | None) -> str | None:
    """A comparable stand-in for an email (records never hold the address itself)."""
    if not email:
        return None
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def derived_code(secret: str, option_id: str, redemption_id: str, prefix: str = "YL") -> str:
    """The code of a redemption Yotpo sent without one: the same request, the same code,
    and unguessable without the secret."""
    mac = hmac.new(secret.encode(), f"{option_id}:{redemption_id}".encode(), hashlib.sha256)
    text = base64.b32encode(mac.digest()).decode().rstrip("=")
    return f"{prefix}-{text[:12]}"


def plan_issue(
    request: CouponRequest,
    options: Mapping[str, RewardOption],
    *,
    secret: str,
    code_prefix: str = "YL",
) -> IssuePlan:
    """Check the request against the merchant's configuration; CouponError says why not."""
    option = options.get(request.option_id)
    if option is None:
        raise CouponError(
            422,
            RedemptionError.UNKNOWN_OPTION.value,  # the checkout's code (ADR 0090)
            f"redemption option {request.option_id} is not configured",
        )
    currency = request.currency
    allowed = option.currencies()
    if allowed and currency not in allowed:
        raise CouponError(
            422,
            "currency_not_supported",
            f"reward {request.option_id} is not offered in {currency}",
        )
    amount: int | None = None
    if option.kind == "fixed":
        amount = option.amount[currency]
        if request.amount_cents is not None and request.amount_cents != amount:
            raise CouponError(
                422,
                "amount_mismatch",
                f"reward {request.option_id} is worth {format_minor(amount, currency)}, "
                f"the request says {format_minor(request.amount_cents, currency)}",
            )
    elif option.kind == "variable":
        if request.amount_cents is None:
            raise CouponError(400, "invalid_request", "a variable reward needs its amount")
        if request.amount_cents > option.amount[currency]:
            raise CouponError(
                422,
                "amount_too_high",
                f"reward {request.option_id} is worth at most "
                f"{format_minor(option.amount[currency], currency)}",
            )
        amount = request.amount_cents
    code = request.code
    if code is None:
        if request.redemption_id is None:
            # Without a code or an identity a retried request could not be recognised.
            raise CouponError(400, "invalid_request", "coupon_code or redemption_id is required")
        code = derived_code(secret, request.option_id, request.redemption_id, code_prefix)
    if request.customer_id is None and request.customer_email is None:
        raise CouponError(400, "invalid_request", "customer_id or customer_email is required")
    return IssuePlan(
        option_id=request.option_id,
        option=option,
        currency=currency,
        amount=amount,
        code=code,
        customer_id=request.customer_id,
        email_digest=email_digest(request.customer_email),
    )


# --- commercetools drafts --------------------------------------------------------------------
def code_key(code: str) -> str:
    """The Discount Code key (and record key) of a code: readable part + hash, key-safe."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    readable = _KEY_SAFE.sub("_", code)[:40]
    return f"{DISCOUNT_CODE_KEY_PREFIX}{readable}-{digest}"


def cart_discount_key(
    option_id: str, currency: str | None = None, amount: int | None = None
) -> str:
    if currency is None or amount is None:
        return f"{CART_DISCOUNT_KEY_PREFIX}{option_id}"
    return f"{CART_DISCOUNT_KEY_PREFIX}{option_id}-{currency}-{amount}"


def discount_key_for(plan: IssuePlan) -> str:
    # Fixed, percentage and shipping rewards: one discount per option (every currency in it).
    # Variable rewards: one per amount issued — few, since Yotpo's steps are fixed.
    if plan.option.kind == "variable":
        return cart_discount_key(plan.option_id, plan.currency, plan.amount)
    return cart_discount_key(plan.option_id)


def _length_prefixed(digits: str) -> str:
    # A prefix-free encoding: distinct (option, amount) pairs never give equal sort orders.
    return f"{len(digits)}{digits}"


def sort_order_for(option_id: str, option: RewardOption, amount: int | None = None) -> str:
    """commercetools needs a unique sortOrder per Cart Discount, a decimal in (0, 1)."""
    if option.sort_order and amount is None:
        return option.sort_order
    base = option.sort_order or DEFAULT_SORT_ORDER_BASE
    tail = _length_prefixed(option_id)
    if amount is not None:
        tail += _length_prefixed(str(amount))
    return f"{base}{tail}1"


def _minimum_predicate(minimum: Mapping[str, int], currencies: Sequence[str]) -> str:
    terms = []
    for currency in currencies:
        floor = minimum.get(currency)
        if floor:
            # Money literals of the predicate language carry the currency's own digits.
            at_least = literal(format_minor(floor, currency))
            terms.append(f"(currency = {literal(currency)} and totalPrice >= {at_least})")
        else:
            terms.append(f"currency = {literal(currency)}")
    return " or ".join(terms) if terms else "1 = 1"


def cart_discount_draft(plan: IssuePlan) -> dict[str, Any]:
    """The Cart Discount all codes of this option (and amount) share."""
    option = plan.option
    variable = option.kind == "variable"
    currencies = [plan.currency] if variable else sorted(option.currencies())
    value: dict[str, Any]
    target: dict[str, Any]
    if option.kind in ("fixed", "variable"):
        amounts = {plan.currency: plan.amount or 0} if variable else option.amount
        # Off the cart total: "spend X, get Y off the total" is what Yotpo's fixed rewards are
        # (https://docs.commercetools.com/api/projects/cartDiscounts#cartdiscounttotalpricetarget).
        # `CartDiscountValueAbsoluteDraft.money` is `Money[]`: a draft's money.
        money = [money_draft(c, a) for c, a in sorted(amounts.items())]
        value = {"type": "absolute", "money": money}
        target = {"type": "totalPrice"}
    elif option.kind == "percentage":
        value = {"type": "relative", "permyriad": option.percent_bp}
        target = {"type": "lineItems", "predicate": "1 = 1"}
    else:
        value = {"type": "relative", "permyriad": 10000}
        target = {"type": "shipping"}
    label = option.name or f"Yotpo reward {plan.option_id}"
    if variable and plan.amount is not None:
        label = f"{label} ({format_minor(plan.amount, plan.currency)})"
    draft: dict[str, Any] = {
        "key": discount_key_for(plan),
        "name": {"en": label},
        "value": value,
        "target": target,
        "cartPredicate": _minimum_predicate(option.minimum, currencies),
        "sortOrder": sort_order_for(plan.option_id, option, plan.amount if variable else None),
        "requiresDiscountCode": True,
        "isActive": True,
        "stackingMode": "Stacking" if option.stacking == "stack" else "StopAfterThisDiscount",
    }
    if option.store:
        draft["stores"] = [{"typeId": "store", "key": option.store}]
    return draft


def discount_code_draft(
    plan: IssuePlan,
    cart_discount_id: str,
    *,
    customer_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The single-use code; bound to its customer when commercetools knows who that is."""
    valid_until = now + timedelta(days=plan.option.valid_days)
    draft: dict[str, Any] = {
        "key": code_key(plan.code),
        "code": plan.code,
        "name": {"en": f"Yotpo reward {plan.option_id}"},
        "cartDiscounts": [{"typeId": "cart-discount", "id": cart_discount_id}],
        "isActive": True,
        "maxApplications": 1,
        "maxApplicationsPerCustomer": 1,
        "validFrom": _instant(now),
        "validUntil": _instant(valid_until),
        "groups": ["yotpo-loyalty"],
    }
    if customer_id:
        draft["cartPredicate"] = f"customerId = {literal(customer_id)}"
    return draft


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def issued_record(
    plan: IssuePlan,
    *,
    discount_code_id: str,
    cart_discount_key_used: str,
    customer_id: str | None,
    now: datetime,
    source: str = "widget",
) -> dict[str, Any]:
    """The connector-owned record of one issued code (custom object value)."""
    return {
        "code": plan.code,
        "optionId": plan.option_id,
        "currency": plan.currency,
        "amount": plan.amount,
        "customerId": customer_id,
        "requestedCustomerId": plan.customer_id,
        "emailDigest": plan.email_digest,
        "fingerprint": plan.fingerprint,
        "discountCodeId": discount_code_id,
        "cartDiscountKey": cart_discount_key_used,
        "issuedAt": _instant(now),
        "source": source,
        "status": "active",
    }


def create_answer(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the Create Coupons URL answers: the code Yotpo hands to the shopper."""
    answer: dict[str, Any] = {CouponWire.ANSWER_CODE: record["code"], "code": record["code"]}
    if record.get("amount") is not None:
        answer["discount_amount_cents"] = record["amount"]
    answer["currency"] = record.get("currency")
    return answer


# --- orders that use someone else's code -----------------------------------------------------
class CodeOwner(BaseModel):
    """Who a code was issued to, as the connector's record or Yotpo says."""

    model_config = ConfigDict(frozen=True)

    code: str
    customer_id: str | None = None
    email_digest: str | None = None


def foreign_codes(
    owners: Sequence[CodeOwner], *, customer_id: str | None, email: str | None
) -> list[str]:
    """Codes on an order that were issued to someone else than the order's customer.

    A code whose owner is unknown is not flagged (nothing to compare with); a code whose owner
    matches by customer id or by email belongs to the order's customer.
    """
    digest = email_digest(email)
    flagged = []
    for owner in owners:
        known = owner.customer_id is not None or owner.email_digest is not None
        if not known:
            continue
        same_id = owner.customer_id is not None and owner.customer_id == customer_id
        same_email = owner.email_digest is not None and owner.email_digest == digest
        if not (same_id or same_email):
            flagged.append(owner.code)
    return flagged


# --- batches of in-store codes ---------------------------------------------------------------
YOTPO_UPLOAD_LIMIT: Final = 10_000  # codes per POST /redemption_codes


def batch_code(secret_seed: bytes, batch_id: str, index: int, prefix: str) -> str:
    """Code `index` of a batch: reproducible from the batch's seed, unguessable without it."""
    mac = hmac.new(secret_seed, f"{batch_id}:{index}".encode(), hashlib.sha256)
    text = base64.b32encode(mac.digest()).decode().rstrip("=")
    return f"{prefix}-{text[:12]}"


def chunks(total: int, size: int) -> list[tuple[int, int]]:
    """[start, end) ranges covering 0..total in steps of `size`."""
    if size <= 0:
        raise ValueError("size must be positive")
    return [(start, min(start + size, total)) for start in range(0, total, size)]
