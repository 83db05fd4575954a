"""The Yotpo Loyalty API client: one instance per Yotpo account, sharing that account's limit.

Every Yotpo path, header and field name the connector uses is spelled in this module (see
`YotpoFields` / `YotpoPaths`): several names come from integrations rather than Yotpo's own
reference, so a correction must be a single edit.

Failures: timeouts, connection errors, 5xx, 408, 409 and 429 are retried with backoff and end
as `YotpoTransientError`; 401/403 raise `YotpoAuthError`; other 4xx `YotpoPermanentError`.
A `bounded(seconds)` view never lets a call — waits and retries included — outlive its budget.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

import requests

from shared.errors import (
    YotpoAuthError,
    YotpoError,
    YotpoPermanentError,
    YotpoTransientError,
)
from shared.http import (
    NETWORK_ERRORS,
    Jitter,
    Params,
    backoff_delay,
    correlation_headers,
    encode_params,
    log_call,
    loggable_path,
    new_session,
)
from shared.logs import REDACTED, log_event, mask_email
from shared.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://loyalty.yotpo.com/api/v2"


class YotpoPaths:
    CUSTOMERS: Final = "/customers"
    ORDERS: Final = "/orders"
    REFUNDS: Final = "/refunds"
    REDEMPTION_OPTIONS: Final = "/redemption_options"
    REDEMPTIONS: Final = "/redemptions"
    # Not confirmed by Yotpo's public reference ("approve redemption cancellation" exists, its
    # path was never seen): verify before relying on it; this constant is the one place to fix.
    CANCEL_REDEMPTION: Final = "/redemptions/{redemption_id}/cancel"
    VIP_TIERS: Final = "/vip_tiers"
    POINTS_ADJUST: Final = "/points/adjust"


class YotpoFields:
    """Yotpo's names for request headers, query parameters and payload fields."""

    # headers
    GUID_HEADER: Final = "X-GUID"
    API_KEY_HEADER: Final = "X-API-KEY"
    RATELIMIT_RESET_HEADER: Final = "ratelimit-reset"
    RETRY_AFTER_HEADER: Final = "Retry-After"

    # customer lookups (GET /customers, GET /redemption_options)
    CUSTOMER_ID: Final = "customer_id"
    CUSTOMER_EMAIL: Final = "customer_email"
    PHONE_NUMBER: Final = "phone_number"
    POS_ACCOUNT_ID: Final = "pos_account_id"
    WITH_REFERRAL_CODE: Final = "with_referral_code"
    WITH_HISTORY: Final = "with_history"

    # customers (POST /customers)
    ID: Final = "id"
    EMAIL: Final = "email"
    FIRST_NAME: Final = "first_name"
    LAST_NAME: Final = "last_name"
    COUNTRY_ISO_CODE: Final = "country_iso_code"
    HAS_ACCOUNT: Final = "has_account"
    PLATFORM_ACCOUNT_CREATED_AT: Final = "platform_account_created_at"
    OPTED_IN: Final = "opted_in"
    OPTED_IN_AT: Final = "opted_in_at"
    TAGS: Final = "tags"

    # customer answers
    POINTS_BALANCE: Final = "points_balance"
    POINTS_EARNED: Final = "points_earned"
    VIP_TIER_NAME: Final = "vip_tier_name"
    REFERRAL_CODE: Final = "referral_code"
    REFERRAL_LINK: Final = "referral_link"

    # orders (POST /orders) and refunds (POST /refunds)
    ORDER_ID: Final = "order_id"
    TOTAL_AMOUNT_CENTS: Final = "total_amount_cents"
    CURRENCY_CODE: Final = "currency_code"
    CURRENCY: Final = "currency"
    STATUS: Final = "status"
    CREATED_AT: Final = "created_at"
    COUPON_CODE: Final = "coupon_code"
    DISCOUNT_AMOUNT_CENTS: Final = "discount_amount_cents"
    IP_ADDRESS: Final = "ip_address"
    USER_AGENT: Final = "user_agent"
    ITEMS: Final = "items"
    CUSTOMER: Final = "customer"
    ITEM_NAME: Final = "name"
    ITEM_PRICE_CENTS: Final = "price_cents"
    ITEM_QUANTITY: Final = "quantity"

    # redemptions
    REDEMPTION_OPTION_ID: Final = "redemption_option_id"
    DELAY_POINTS_DEDUCTION: Final = "delay_points_deduction"
    POINTS_TO_REDEEM: Final = "points_to_redeem"  # inferred, not seen in Yotpo's reference
    REWARD_TEXT: Final = "reward_text"
    AMOUNT: Final = "amount"
    DISCOUNT_TYPE: Final = "discount_type"
    CART_GREATER_THAN: Final = "cart_greater_than"

    # points
    POINT_ADJUSTMENT_AMOUNT: Final = "point_adjustment_amount"
    APPLY_ADJUSTMENT_TO_POINTS_EARNED: Final = "apply_adjustment_to_points_earned"
    HISTORY_TITLE: Final = "history_title"
    VISIBLE_TO_CUSTOMER: Final = "visible_to_customer"


# 409 is listed by Yotpo's integrations as "try again"; 408/429 are the server asking for it.
_RETRY_STATUSES = frozenset({408, 409, 429})
_AUTH_STATUSES = frozenset({401, 403})
_MAX_BODY_CHARS = 500
# A reset header far in the future is more likely a timestamp than a delay; cap the wait.
_MAX_SERVER_WAIT_SECONDS = 60.0


class YotpoClient:
    def __init__(
        self,
        *,
        guid: str,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        rate_limit_per_second: float = 5.0,
        timeout: float = 10.0,
        max_retries: int = 3,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
        jitter: Jitter = random.random,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.guid = guid
        self._api_key = api_key
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout
        self._max_retries = max_retries
        self._session = session or new_session()
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._limiter = limiter or RateLimiter(rate_limit_per_second, clock=clock, sleep=sleep)
        self._deadline: float | None = None

    def __repr__(self) -> str:
        return f"YotpoClient(guid={self.guid!r}, api_url={self._api_url!r})"

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    @property
    def deadline(self) -> float | None:
        """The clock value this view's calls must finish by (None: unbounded)."""
        return self._deadline

    def bounded(self, budget_seconds: float) -> YotpoClient:
        """A view on the same session and limiter whose calls end within `budget_seconds`."""
        view = copy.copy(self)
        deadline = self._clock() + max(0.0, budget_seconds)
        view._deadline = deadline if self._deadline is None else min(deadline, self._deadline)
        return view

    # --- API -------------------------------------------------------------------------------
    def upsert_customer(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._object("POST", YotpoPaths.CUSTOMERS, body=payload)

    def get_customer(
        self,
        *,
        customer_id: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
        with_referral_code: bool = True,
        with_history: bool = False,
    ) -> dict[str, Any] | None:
        """The customer found by exactly one identifier, or None when Yotpo does not know it."""
        params = _one_identifier(
            {
                YotpoFields.CUSTOMER_ID: customer_id,
                YotpoFields.CUSTOMER_EMAIL: email,
                YotpoFields.PHONE_NUMBER: phone_number,
            },
            required=True,
        )
        params[YotpoFields.WITH_REFERRAL_CODE] = with_referral_code
        params[YotpoFields.WITH_HISTORY] = with_history
        found = self._request("GET", YotpoPaths.CUSTOMERS, params=params, missing_ok=True)
        if found is None:
            return None
        return _as_object(found, YotpoPaths.CUSTOMERS)

    def create_order(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._object("POST", YotpoPaths.ORDERS, body=payload)

    def create_refund(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._object("POST", YotpoPaths.REFUNDS, body=payload)

    def redemption_options(
        self, *, customer_id: str | None = None, email: str | None = None
    ) -> list[dict[str, Any]]:
        """Every option, or (with an identifier) those this customer qualifies for."""
        params = _one_identifier(
            {YotpoFields.CUSTOMER_ID: customer_id, YotpoFields.CUSTOMER_EMAIL: email},
            required=False,
        )
        return self._list("GET", YotpoPaths.REDEMPTION_OPTIONS, params=params)

    def create_redemption(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._object("POST", YotpoPaths.REDEMPTIONS, body=payload)

    def cancel_redemption(self, redemption_id: str | int) -> dict[str, Any]:
        path = YotpoPaths.CANCEL_REDEMPTION.format(redemption_id=quote(str(redemption_id), safe=""))
        return self._object("POST", path, body={})

    def vip_tiers(self) -> list[dict[str, Any]]:
        return self._list("GET", YotpoPaths.VIP_TIERS)

    def adjust_points(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._object("POST", YotpoPaths.POINTS_ADJUST, body=payload)

    # --- the HTTP exchange -----------------------------------------------------------------
    def _object(
        self, method: str, path: str, *, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        answer = self._request(method, path, body=dict(body) if body is not None else None)
        return _as_object(answer, path)

    def _list(self, method: str, path: str, *, params: Params | None = None) -> list[dict]:
        answer = self._request(method, path, params=params)
        if not isinstance(answer, list):
            raise YotpoPermanentError(f"Yotpo {path}: expected a JSON array", status=200)
        return answer

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        shown = loggable_path(path, params)
        headers = {
            **correlation_headers(),
            YotpoFields.GUID_HEADER: self.guid,
            YotpoFields.API_KEY_HEADER: self._api_key,
            "Accept": "application/json",
        }
        attempt = 0
        while True:
            attempt += 1
            self._limiter.acquire(deadline=self._deadline)
            timeout = self._call_timeout(method, shown)
            started = self._clock()
            server_wait: float | None = None
            try:
                response = self._session.request(
                    method,
                    self._api_url + path,
                    params=encode_params(params),
                    json=body,
                    headers=headers,
                    timeout=timeout,
                )
            except NETWORK_ERRORS as exc:
                status: int | None = None
                failure: YotpoError = YotpoTransientError(
                    f"Yotpo {method} {shown}: {type(exc).__name__}"
                )
                error: str | None = type(exc).__name__
            else:
                status = response.status_code
                error = None
                if response.ok or (status == 404 and missing_ok):
                    self._log(method, shown, status, started, attempt, retry=False)
                    return _parsed(response, method, shown) if response.ok else None
                failure = _failure(response, method, shown, self._api_key)
                if isinstance(failure, YotpoPermanentError):
                    self._log(method, shown, status, started, attempt, retry=False)
                    raise failure
                if status == 429:
                    server_wait = _server_wait(response)
                    if server_wait is not None:
                        # Every thread of this account holds off, not only this one.
                        self._limiter.pause_until(self._clock() + server_wait)
            delay = server_wait if server_wait else backoff_delay(attempt, jitter=self._jitter)
            retry = attempt <= self._max_retries and self._fits(delay)
            self._log(method, shown, status, started, attempt, retry=retry, error=error)
            if not retry:
                raise failure
            self._sleep(delay)

    def _call_timeout(self, method: str, shown: str) -> float:
        if self._deadline is None:
            return self._timeout
        left = self._deadline - self._clock()
        if left <= 0:
            raise YotpoTransientError(f"Yotpo {method} {shown}: time budget used up")
        return min(self._timeout, left)

    def _fits(self, delay: float) -> bool:
        """Whether waiting `delay` still leaves time for another attempt inside the budget."""
        return self._deadline is None or self._clock() + delay < self._deadline

    def _log(
        self,
        method: str,
        shown: str,
        status: int | None,
        started: float,
        attempt: int,
        *,
        retry: bool,
        error: str | None = None,
    ) -> None:
        log_call(
            logger,
            service="yotpo",
            method=method,
            path=shown,
            status=status,
            duration_ms=(self._clock() - started) * 1000,
            attempt=attempt,
            retry=retry,
            error=error,
        )


# --- helpers -------------------------------------------------------------------------------
def _one_identifier(candidates: dict[str, str | None], *, required: bool) -> dict[str, Any]:
    given = {name: value for name, value in candidates.items() if value}
    if len(given) > 1 or (required and not given):
        names = ", ".join(candidates)
        raise ValueError(f"give exactly one of {names}" if required else f"give one of {names}")
    return dict(given)


def _parsed(response: requests.Response, method: str, shown: str) -> Any:
    if not response.content.strip():
        return {}
    try:
        return response.json()
    except ValueError:
        # The call succeeded; raising would make callers retry a non-idempotent write.
        log_event(
            logger,
            "yotpo.unparsed_answer",
            level=logging.WARNING,
            method=method,
            path=shown,
            status=response.status_code,
        )
        return {}


def _as_object(answer: Any, path: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise YotpoPermanentError(f"Yotpo {path}: expected a JSON object", status=200)
    return answer


def _failure(response: requests.Response, method: str, shown: str, api_key: str) -> YotpoError:
    status = response.status_code
    # Error bodies end up in exception messages and ledger entries: keep them short and clean.
    text = response.text.replace(api_key, REDACTED) if api_key else response.text
    body = mask_email(text[:_MAX_BODY_CHARS])
    message = f"Yotpo {method} {shown}: {status} {body}".strip()
    if status in _AUTH_STATUSES:
        return YotpoAuthError(
            f"Yotpo {method} {shown}: {status} (check GUID and API key)", status=status, body=body
        )
    if status >= 500 or status in _RETRY_STATUSES:
        return YotpoTransientError(message, status=status, body=body)
    return YotpoPermanentError(message, status=status, body=body)


def _server_wait(response: requests.Response) -> float | None:
    """Seconds the server asks us to wait (`ratelimit-reset`, else `Retry-After`)."""
    for header in (YotpoFields.RATELIMIT_RESET_HEADER, YotpoFields.RETRY_AFTER_HEADER):
        raw = response.headers.get(header)
        if raw is None:
            continue
        try:
            seconds = float(raw.strip())
        except ValueError:
            continue  # an HTTP date or garbage: fall back to the other header or backoff
        if math.isfinite(seconds) and seconds > 0:
            return min(seconds, _MAX_SERVER_WAIT_SECONDS)
    return None
