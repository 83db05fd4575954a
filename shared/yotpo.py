"""The Yotpo Loyalty API client: one instance per Yotpo account, sharing that account's limit.

Every Yotpo path, header and field name the connector uses is spelled in one place: paths in
`YotpoPaths` here, header and field names in `YotpoFields` (`shared/domain/yotpo_fields.py`, so
the pure core can use them without importing this client). Several names come from
integrations rather than Yotpo's own reference, so a correction must be a single edit.

Failures: timeouts, connection errors, 5xx, 408, 423 and 429 are retried with backoff and end
as `YotpoTransientError`; 401/403 raise `YotpoAuthError`; other 4xx (409 included: no Yotpo page
documents it as "try again") `YotpoPermanentError`. A `bounded(seconds)` view never lets a call —
waits and retries included — outlive its budget. Every answer's `ratelimit-remaining` /
`ratelimit-reset` feed the account's limiter, so the client slows down before Yotpo says 429.

Documentation pages (one per call; the contract fixtures in `tests/contracts/yotpo/` carry the
same links): https://loyaltyapi.yotpo.com/reference/ + createupdate-customer-records,
fetch-customer-details, create-order, create-refund, fetch-active-redemption-options,
create-redemption, approve-redemption-cancellation, adjust-a-customers-point-balance,
set-customer-birthday; "Fetch Redemption Codes" / "Upload Redemption Codes";
guidelines-and-conventions (rate limit and headers).

Yotpo's rate limit ends as `YotpoRateLimited` (a `YotpoTransientError`): the limiter could not
grant a call inside the caller's budget, or Yotpo answered 429 and its reset did not fit. Nothing
was done; callers defer the work (match the type, never the message).
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Final
from urllib.parse import quote

import requests

from shared.domain.yotpo_fields import YotpoFields
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
from shared.ratelimit import RateBudgetExhausted, RateLimiter

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://loyalty.yotpo.com/api/v2"
# "10 requests per second per merchant" (guidelines-and-conventions; older pages said 5).
DEFAULT_RATE_LIMIT_PER_SECOND = 10.0


class YotpoRateLimited(YotpoTransientError):
    """Yotpo's rate limit stopped this call before it was done: nothing happened.

    `retry_after`: seconds until the account's budget (or Yotpo's reset) allows a call again.
    """

    def __init__(
        self, message: str, *, retry_after: float = 1.0, status: int | None = None, body: str = ""
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = max(0.0, retry_after)


class YotpoPaths:
    CUSTOMERS: Final = "/customers"
    # "Set Customer Birthday", body {customer_email | customer_id, day, month, year}:
    # https://loyaltyapi.yotpo.com/reference/set-customer-birthday
    CUSTOMER_BIRTHDAYS: Final = "/customer_birthdays"
    ORDERS: Final = "/orders"
    REFUNDS: Final = "/refunds"
    REDEMPTION_OPTIONS: Final = "/redemption_options"
    REDEMPTIONS: Final = "/redemptions"
    # "Approve Redemption Cancellation", body {reward_text}:
    # https://loyaltyapi.yotpo.com/reference/approve-redemption-cancellation
    CANCEL_REDEMPTION: Final = "/redemptions/{redemption_id}/cancellation_completed"
    # Who redeemed a code (GET ?code=) and custom-coupon uploads (POST, at most 10,000 codes):
    # "Fetch Redemption Codes" / "Upload Redemption Codes" in the same reference.
    REDEMPTION_CODES: Final = "/redemption_codes"
    VIP_TIERS: Final = "/vip_tiers"
    POINTS_ADJUST: Final = "/points/adjust"


_RETRY_STATUSES = frozenset({408, 423, 429})
_MAX_UPLOAD_CODES = 10_000
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
        rate_limit_per_second: float = DEFAULT_RATE_LIMIT_PER_SECOND,
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

    def bounded(self, budget_seconds: float, *, max_retries: int | None = None) -> YotpoClient:
        """A view on the same session and limiter whose calls end within `budget_seconds`
        (and, with `max_retries`, are retried at most that often: 0 makes one attempt)."""
        view = copy.copy(self)
        deadline = self._clock() + max(0.0, budget_seconds)
        view._deadline = deadline if self._deadline is None else min(deadline, self._deadline)
        if max_retries is not None:
            if max_retries < 0:
                raise ValueError("max_retries must be >= 0")
            view._max_retries = min(max_retries, self._max_retries)
        return view

    # --- API -------------------------------------------------------------------------------
    def upsert_customer(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._object("POST", YotpoPaths.CUSTOMERS, body=payload)

    def set_customer_birthday(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Yotpo's birthday of a member, so its birthday campaigns fire (set-customer-birthday)."""
        return self._object("POST", YotpoPaths.CUSTOMER_BIRTHDAYS, body=payload)

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
        self,
        *,
        customer_id: str | None = None,
        email: str | None = None,
        is_offline: bool | None = None,
    ) -> list[RedemptionOption]:
        """Every option, or (with an identifier) those this customer qualifies for.

        `is_offline=True` sends Yotpo's `is_offline=true` filter (in-store options only);
        `is_offline=False` asks twice and leaves the in-store ones out, because the documented
        filter has no "online only" value; `None` returns all with `offline` unknown.
        """
        params = _one_identifier(
            {YotpoFields.CUSTOMER_ID: customer_id, YotpoFields.CUSTOMER_EMAIL: email},
            required=False,
        )
        if is_offline:
            offline = self._list(
                "GET",
                YotpoPaths.REDEMPTION_OPTIONS,
                params={**params, YotpoFields.IS_OFFLINE: True},
            )
            return [RedemptionOption(o, offline=True) for o in offline if isinstance(o, dict)]
        every = self._list("GET", YotpoPaths.REDEMPTION_OPTIONS, params=params)
        if is_offline is None:
            return [RedemptionOption(o) for o in every if isinstance(o, dict)]
        in_store = self.offline_option_ids()
        return [
            RedemptionOption(o, offline=False)
            for o in every
            if isinstance(o, dict) and str(o.get(YotpoFields.ID)) not in in_store
        ]

    def offline_option_ids(self) -> frozenset[str]:
        """Ids of the options Yotpo lists under `is_offline=true` (in-store only)."""
        offline = self._list(
            "GET", YotpoPaths.REDEMPTION_OPTIONS, params={YotpoFields.IS_OFFLINE: True}
        )
        return frozenset(str(o.get(YotpoFields.ID)) for o in offline if isinstance(o, dict))

    def create_redemption(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._object("POST", YotpoPaths.REDEMPTIONS, body=payload)

    def cancel_redemption(
        self, redemption_id: str | int, *, reward_text: str | None = None
    ) -> dict[str, Any]:
        """Approve the cancellation of a redemption: Yotpo gives its points back.

        `reward_text` (the code) is required by Yotpo's page; without it the request still goes
        out, so the refusal comes from Yotpo as a permanent error the caller already handles.
        """
        path = YotpoPaths.CANCEL_REDEMPTION.format(redemption_id=quote(str(redemption_id), safe=""))
        if not reward_text:
            log_event(
                logger,
                "yotpo.cancellation_without_reward_text",
                level=logging.WARNING,
                redemption_id=str(redemption_id),
            )
            return self._object("POST", path, body={})
        return self._object("POST", path, body={YotpoFields.REWARD_TEXT: reward_text})

    def redemption_codes(self, *, code: str) -> Any:
        """What Yotpo knows about one reward code (who redeemed it), None when unknown."""
        if not code:
            raise ValueError("code is required")
        return self._request(
            "GET", YotpoPaths.REDEMPTION_CODES, params={YotpoFields.CODE: code}, missing_ok=True
        )

    def upload_redemption_codes(
        self, redemption_option_id: int | str, codes: Sequence[str]
    ) -> dict[str, Any]:
        """Custom-coupon codes for an option (in-store rewards), at most 10,000 per call.

        `codes` goes as one comma-separated string, as the "Upload Redemption Codes" page
        describes the field (the contract fixture `upload_redemption_codes` carries it)."""
        if not codes or len(codes) > _MAX_UPLOAD_CODES:
            raise ValueError(f"send between 1 and {_MAX_UPLOAD_CODES} codes")
        if any(not code or "," in code for code in codes):
            raise ValueError("a code must be non-empty and hold no comma")
        body = {
            YotpoFields.REDEMPTION_OPTION_ID: redemption_option_id,
            YotpoFields.CODES: ",".join(codes),
        }
        return self._object("POST", YotpoPaths.REDEMPTION_CODES, body=body)

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
            try:
                self._limiter.acquire(deadline=self._deadline)
            except RateBudgetExhausted as exc:
                raise YotpoRateLimited(
                    f"Yotpo {method} {shown}: rate limit budget exhausted",
                    retry_after=exc.ready_in,
                ) from None
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
                self._observe_rate(response)
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
                if status == 429:
                    # Yotpo's limit, not a fault: nothing was done, come back after its reset.
                    raise YotpoRateLimited(
                        str(failure), retry_after=delay, status=429, body=failure.body
                    ) from None
                raise failure
            self._sleep(delay)

    def _observe_rate(self, response: requests.Response) -> None:
        remaining = _header_number(response, YotpoFields.RATELIMIT_REMAINING_HEADER)
        reset = _header_number(response, YotpoFields.RATELIMIT_RESET_HEADER)
        if remaining is None or reset is None:
            return
        raw = response.headers.get(YotpoFields.RATELIMIT_RESET_HEADER, "").strip()
        if raw.isdigit():
            # Whole seconds are rounded up: the window may end up to a second sooner. Waiting
            # for the earliest moment costs at most one 429 (which then pauses properly);
            # waiting for the latest would halve the throughput of evenly spaced calls.
            reset = max(0.0, reset - 1.0)
        self._limiter.observe(int(remaining), min(reset, _MAX_SERVER_WAIT_SECONDS))

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


def _header_number(response: requests.Response, header: str) -> float | None:
    raw = response.headers.get(header)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


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


# --- redemption options --------------------------------------------------------------------
class RedemptionOption(dict[str, Any]):
    """One option exactly as Yotpo sent it (a dict), plus what the connector derives from it.

    Yotpo documents `id, name, description, icon, cost_text, amount, applies_to_product_type,
    duration` (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options); real
    answers add `type, discount_type, discount_amount_cents, discount_rate_cents,
    discount_percentage, ...`. `offline` comes from the `is_offline` query the option was
    fetched with (None: not asked).
    """

    def __init__(self, data: Mapping[str, Any], *, offline: bool | None = None) -> None:
        super().__init__(data)
        self.offline = offline

    @property
    def option_id(self) -> str:
        return str(self.get(YotpoFields.ID))

    @property
    def points_cost(self) -> int | None:
        """`amount`, which the reference types as a string ("500" and 500 both occur)."""
        return _whole_number(self.get(YotpoFields.AMOUNT))

    @property
    def is_variable(self) -> bool:
        return self.get(YotpoFields.DISCOUNT_TYPE) == YotpoFields.GENERIC_VARIABLE

    @property
    def cents_per_point(self) -> Fraction | None:
        """Discount (account base currency minor units) one point buys, when Yotpo says."""
        return _positive_rational(self.get(YotpoFields.DISCOUNT_RATE_CENTS))

    def variable_value_cents(self, points: int) -> int | None:
        """What `points` buy on a pay-with-points option, rounded down; None when the option
        carries no rate (the caller refuses the reward rather than give a zero discount)."""
        rate = self.cents_per_point
        if not self.is_variable or rate is None or points <= 0:
            return None
        return math.floor(points * rate)


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _positive_rational(value: Any) -> Fraction | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        # Through the decimal text: 0.5 and "0.5" both mean one half, never a binary float.
        number = Fraction(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError):
        return None
    return number if number > 0 else None
