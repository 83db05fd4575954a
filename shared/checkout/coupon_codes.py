"""Reward codes in commercetools and in Yotpo: issue, cancel, upload, and who owns a code.

The I/O side of `shared.domain.checkout.coupons`. commercetools: one Cart Discount per reward option
(created once, found by key), one single-use Discount Code per redemption, and a custom object
per code (container `yotpo-loyalty-coupons`, written only by the connector) that makes a
repeated request answer the same code without creating anything new. Yotpo:
`POST /redemption_codes` (upload codes, at most 10,000 a call, comma-separated) and
`GET /redemption_codes?code=` (who redeemed a code) — both documented in Yotpo's Loyalty API
reference, the second "to validate at checkout if the shopper placing the order is different
than the shopper who redeemed" (https://loyaltyapi.yotpo.com/reference).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.commercetools import CommercetoolsClient, literal
from shared.customers.lookup import customer_by_email
from shared.domain.checkout.coupons import (
    DISCOUNT_CODE_KEY_PREFIX,
    ISSUED_CONTAINER,
    YOTPO_UPLOAD_LIMIT,
    CodeOwner,
    CouponError,
    IssuePlan,
    RewardOption,
    cart_discount_draft,
    code_key,
    create_answer,
    discount_code_draft,
    discount_key_for,
    email_digest,
    foreign_codes,
    issued_record,
    parse_reward_options,
)
from shared.errors import (
    CommercetoolsPermanentError,
    ConcurrentModificationError,
    NotFoundError,
)
from shared.logs import log_event, log_failure
from shared.yotpo import YotpoClient, YotpoPaths

logger = logging.getLogger(__name__)

REDEMPTION_CODES_PATH: Final = YotpoPaths.REDEMPTION_CODES


class CouponRewardsSettings(BaseSettings):
    """The rewards codes may be made for (service: widget codes; job: in-store batches)."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    coupon_rewards: str | None = Field(
        default=None,
        description=(
            'Rewards codes may be made for, JSON: {"<redemption option id>": {"kind": '
            '"fixed"|"variable"|"percentage"|"free_shipping", "amount": {"EUR": 500}, '
            '"percentBp", "minimum", "validDays", "store", "sortOrder", "stacking"}}'
        ),
    )

    @field_validator("coupon_rewards")
    @classmethod
    def _valid_rewards(cls, value: str | None) -> str | None:
        if value is not None:
            parse_reward_options(value)
        return value

    def reward_options(self) -> dict[str, RewardOption]:
        return parse_reward_options(self.coupon_rewards) if self.coupon_rewards else {}


def _now() -> datetime:
    return datetime.now(UTC)


def _duplicate(exc: CommercetoolsPermanentError) -> bool:
    return exc.status == 400 and "DuplicateField" in exc.codes


class CouponIssuer:
    """Creates and cancels the codes of rewards redeemed in Yotpo's widgets."""

    def __init__(self, ct: CommercetoolsClient, *, clock: Callable[[], datetime] = _now) -> None:
        self._ct = ct
        self._clock = clock

    # --- create ------------------------------------------------------------------------------
    def issue(
        self, plan: IssuePlan, *, email: str | None = None, source: str = "widget"
    ) -> tuple[dict[str, Any], bool]:
        """The answer for Yotpo and whether anything was created (False: a repeat).

        `email` is the address the request named (the plan holds only its digest)."""
        key = code_key(plan.code)
        existing = self._ct.get_custom_object(ISSUED_CONTAINER, key)
        if existing is not None:
            return self._repeat(plan, existing["value"]), False
        now = self._clock()
        customer_id = self._customer_id(plan, email)
        cart_discount = self.ensure_cart_discount(plan)
        code = self._discount_code(plan, cart_discount, customer_id, now)
        record = issued_record(
            plan,
            discount_code_id=code["id"],
            cart_discount_key_used=cart_discount["key"],
            customer_id=customer_id,
            now=now,
            source=source,
        )
        try:
            self._ct.put_custom_object(ISSUED_CONTAINER, key, record, version=0)
        except ConcurrentModificationError:
            # The same request, handled at the same time by another instance: one record wins.
            won = self._ct.get_custom_object(ISSUED_CONTAINER, key)
            if won is None:
                raise
            return self._repeat(plan, won["value"]), False
        log_event(
            logger,
            "coupon.issued",
            option_id=plan.option_id,
            discount_code_id=code["id"],
            customer_bound=customer_id is not None,
            source=source,
            outcome="created",
        )
        return create_answer(record), True

    def _repeat(self, plan: IssuePlan, record: Mapping[str, Any]) -> dict[str, Any]:
        if record.get("fingerprint") != plan.fingerprint:
            # Same code, different meaning: a forged or corrupted replay, never a retry.
            raise CouponError(
                409, "coupon_conflict", "this code was already issued for another redemption"
            )
        if record.get("status") != "active":
            raise CouponError(409, "coupon_cancelled", "this code was cancelled")
        log_event(logger, "coupon.repeated", option_id=plan.option_id, outcome="unchanged")
        return create_answer(record)

    def _customer_id(self, plan: IssuePlan, email: str | None) -> str | None:
        """The commercetools customer the code is bound to, when one can be found."""
        if plan.customer_id:
            try:
                found: Mapping[str, Any] | None = self._ct.get_by_id("customers", plan.customer_id)
            except CommercetoolsPermanentError:
                found = None  # unknown here, or not an id commercetools accepts: try the email
            if found is not None:
                return str(found["id"])
        # Several customers with one email (stores): bind to none rather than the wrong one.
        by_email = customer_by_email(self._ct, email) if email else None
        return str(by_email["id"]) if by_email is not None else None

    def ensure_cart_discount(self, plan: IssuePlan) -> dict[str, Any]:
        """The option's Cart Discount, created on first use (a lost race reads the winner)."""
        key = discount_key_for(plan)
        try:
            return self._ct.get_by_key("cart-discounts", key)
        except NotFoundError:
            pass
        try:
            created = self._ct.create("cart-discounts", cart_discount_draft(plan))
        except CommercetoolsPermanentError as exc:
            if not _duplicate(exc):
                raise
            return self._ct.get_by_key("cart-discounts", key)
        log_event(logger, "coupon.cart_discount_created", key=key, outcome="created")
        return created

    def _discount_code(
        self,
        plan: IssuePlan,
        cart_discount: Mapping[str, Any],
        customer_id: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        draft = discount_code_draft(plan, cart_discount["id"], customer_id=customer_id, now=now)
        try:
            return self._ct.create("discount-codes", draft)
        except CommercetoolsPermanentError as exc:
            if not _duplicate(exc):
                raise
        # Made by an earlier attempt that stopped before its record — or someone else's code.
        try:
            mine = self._ct.get_by_key("discount-codes", draft["key"])
        except NotFoundError:
            raise CouponError(
                409, "code_taken", "commercetools already has this code for another discount"
            ) from None
        return mine

    # --- cancel ------------------------------------------------------------------------------
    def cancel(self, codes: Iterable[str]) -> list[dict[str, Any]]:
        """Each code's outcome: cancelled, already_cancelled, used or not_found."""
        return [{"coupon_code": code, "status": self._cancel_one(code)} for code in codes]

    def _cancel_one(self, code: str) -> str:
        key = code_key(code)
        stored = self._ct.get_custom_object(ISSUED_CONTAINER, key)
        if stored is None:
            return "not_found"  # never issued by the connector: not ours to retire
        record = dict(stored["value"])
        if record.get("status") == "cancelled":
            return "already_cancelled"
        discount_code_id = str(record.get("discountCodeId") or "")
        if self.used(discount_code_id):
            log_event(logger, "coupon.cancel_refused", reason="used", outcome="used")
            return "used"
        try:
            current = self._ct.get_by_id("discount-codes", discount_code_id)
        except NotFoundError:
            current = None
        if current is not None and current.get("isActive", True):
            self._ct.update(
                "discount-codes",
                discount_code_id,
                current["version"],
                [{"action": "changeIsActive", "isActive": False}],
            )
        record["status"] = "cancelled"
        record["cancelledAt"] = self._clock().isoformat(timespec="milliseconds")
        # A lost race here means another cancel of the same code: its write is the same one.
        with contextlib.suppress(ConcurrentModificationError):
            self._ct.put_custom_object(ISSUED_CONTAINER, key, record, version=stored["version"])
        log_event(
            logger, "coupon.cancelled", discount_code_id=discount_code_id, outcome="cancelled"
        )
        return "cancelled"

    def used(self, discount_code_id: str) -> bool:
        """Whether an order already carries this code (a used code is reported, not retired)."""
        if not discount_code_id:
            return False
        found = self._ct.query(
            "orders",
            where=f"discountCodes(discountCode(id = {literal(discount_code_id)}))",
            limit=1,
        )
        return bool(found.get("results"))


# --- Yotpo's redemption codes --------------------------------------------------------------
def upload_codes(yotpo: YotpoClient, option_id: str | int, codes: Sequence[str]) -> dict[str, Any]:
    """Hand pre-made codes of a custom-coupon reward to Yotpo (one call, ≤ 10,000 codes)."""
    if not codes:
        raise ValueError("no codes to upload")
    if len(codes) > YOTPO_UPLOAD_LIMIT:
        raise ValueError(f"Yotpo takes at most {YOTPO_UPLOAD_LIMIT} codes per call")
    return yotpo.upload_redemption_codes(int(option_id), codes)


def yotpo_code_owner(yotpo: YotpoClient, code: str) -> CodeOwner | None:
    """Who Yotpo says redeemed `code` (None when Yotpo does not know the code)."""
    answer = yotpo.redemption_codes(code=code)
    if isinstance(answer, list):
        answer = answer[0] if answer else None
    if not isinstance(answer, Mapping):
        return None
    customer = answer.get("customer") if isinstance(answer.get("customer"), Mapping) else {}
    email = answer.get("customer_email") or answer.get("email") or customer.get("email")
    customer_id = (
        answer.get("customer_id")
        or answer.get("third_party_id")
        or customer.get("third_party_id")
        or customer.get("id")
    )
    if not email and not customer_id:
        return None
    return CodeOwner(
        code=code,
        customer_id=str(customer_id) if customer_id else None,
        email_digest=email_digest(str(email)) if email else None,
    )


def order_codes(order: Mapping[str, Any]) -> list[str]:
    """The codes on an order that the connector issued (their keys say so), read from
    `discountCodes[*].discountCode.obj` (the order must be read with that expansion)."""
    codes = []
    for info in order.get("discountCodes") or []:
        obj = ((info or {}).get("discountCode") or {}).get("obj") or {}
        key, code = obj.get("key"), obj.get("code")
        if isinstance(key, str) and key.startswith(DISCOUNT_CODE_KEY_PREFIX) and code:
            codes.append(str(code))
    return codes


def flag_foreign_codes(
    ct: CommercetoolsClient, yotpo: YotpoClient | None, order: Mapping[str, Any]
) -> list[str]:
    """Codes on `order` issued to another customer than the order's; each is logged as
    `coupon.foreign_code` (WARNING) for the merchant to look at. Never raises for a code."""
    codes = order_codes(order)
    if not codes:
        return []
    try:
        owners = code_owners(ct, yotpo, codes)
    except Exception as exc:  # any failure at all: it is advisory
        # An unanswered (or unreadable) look-up must never hold up the order's points.
        log_failure(logger, "coupon.ownership_unchecked", exc, outcome="skipped")
        return []
    flagged = foreign_codes(
        owners, customer_id=order.get("customerId"), email=order.get("customerEmail")
    )
    for code in flagged:
        log_event(
            logger,
            "coupon.foreign_code",
            level=logging.WARNING,
            order_id=order.get("id"),
            # A code is a bearer voucher: logs show only its start.
            discount_code=code[:3] + "***",
            outcome="flagged",
        )
    return flagged


def code_owners(
    ct: CommercetoolsClient, yotpo: YotpoClient | None, codes: Iterable[str]
) -> list[CodeOwner]:
    """Owners of an order's codes: the connector's record first, else Yotpo's answer."""
    owners = []
    for code in codes:
        stored = ct.get_custom_object(ISSUED_CONTAINER, code_key(code))
        if stored is not None:
            value = stored["value"]
            owners.append(
                CodeOwner(
                    code=code,
                    customer_id=value.get("customerId") or value.get("requestedCustomerId"),
                    email_digest=value.get("emailDigest"),
                )
            )
            continue
        if yotpo is not None:
            owner = yotpo_code_owner(yotpo, code)
            if owner is not None:
                owners.append(owner)
    return owners
