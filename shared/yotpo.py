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
    Failed,
    Jitter,
    Params,
    ProviderAttempts,
    RateLimitedClient,
    Request,
    correlation_headers,
    failure_kind,
    json_or_empty,
    loggable_path,
    wait_seconds,
)
from shared.logs import REDACTED, log_event, mask_email
from shared.ratelimit import RateLimiter

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
_MAX_BODY_CHARS = 500
# A reset header far in the future is more likely a timestamp than a delay; cap the wait.
_MAX_SERVER_WAIT_SECONDS = 60.0


class YotpoClient(RateLimitedClient):
    _service = "yotpo"
    _logger = logger

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
        limiter = limiter or RateLimiter(rate_limit_per_second, clock=clock, sleep=sleep)
        super().__init__(timeout, max_retries, session, clock, sleep, jitter, limiter)
        self.guid = guid
        self._api_key = api_key
        self._api_url = api_url.rstrip("/")

    def __repr__(self) -> str:
        return f"YotpoClient(guid={self.guid!r}, api_url={self._api_url!r})"

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
        request = Request(method, self._api_url + path, shown, headers, params=params, json=body)
        policy = _YotpoAttempts(self, method, shown, missing_ok=missing_ok)
        response = self._exchange(request, policy)
        return _parsed(response, method, shown) if response.ok else None

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
        self.limiter.observe(int(remaining), min(reset, _MAX_SERVER_WAIT_SECONDS))


class _YotpoAttempts(ProviderAttempts):
    """Yotpo's reading of one call's attempts: every failure but a 4xx is retried; every
    answer feeds the account's limiter; a 429 waits for Yotpo's reset."""

    def __init__(self, client: YotpoClient, method: str, shown: str, *, missing_ok: bool) -> None:
        super().__init__("Yotpo", method, shown, missing_ok=missing_ok)
        self._client = client

    def answer(self, response: requests.Response) -> Failed | None:
        self._client._observe_rate(response)
        return super().answer(response)

    def failure(self, response: requests.Response) -> Exception:
        return _failure(response, self.method, self.shown, self._client._api_key)

    def is_permanent(self, failure: Exception) -> bool:
        return isinstance(failure, YotpoPermanentError)

    def server_wait(self, response: requests.Response) -> float | None:
        """`ratelimit-reset`, else `Retry-After` (guidelines-and-conventions); a header that
        holds an HTTP date or garbage falls back to the other one, or to backoff."""
        for header in (YotpoFields.RATELIMIT_RESET_HEADER, YotpoFields.RETRY_AFTER_HEADER):
            seconds = wait_seconds(response.headers.get(header), cap=_MAX_SERVER_WAIT_SECONDS)
            if seconds is not None:
                return seconds
        return None

    def transient(self, message: str) -> Exception:
        return YotpoTransientError(message)

    def rate_limited(
        self, message: str, retry_after: float, answered: Exception | None
    ) -> Exception:
        # Yotpo's limit, not a fault: nothing was done, come back after its reset.
        if isinstance(answered, YotpoError):
            return YotpoRateLimited(
                message, retry_after=retry_after, status=429, body=answered.body
            )
        return YotpoRateLimited(message, retry_after=retry_after)


# --- helpers -------------------------------------------------------------------------------
def _one_identifier(candidates: dict[str, str | None], *, required: bool) -> dict[str, Any]:
    given = {name: value for name, value in candidates.items() if value}
    if len(given) > 1 or (required and not given):
        names = ", ".join(candidates)
        raise ValueError(f"give exactly one of {names}" if required else f"give one of {names}")
    return dict(given)


def _parsed(response: requests.Response, method: str, shown: str) -> Any:
    def unparsed() -> None:
        log_event(
            logger,
            "yotpo.unparsed_answer",
            level=logging.WARNING,
            method=method,
            path=shown,
            status=response.status_code,
        )

    return json_or_empty(response, unparsed=unparsed)


def _as_object(answer: Any, path: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise YotpoPermanentError(f"Yotpo {path}: expected a JSON object", status=200)
    return answer


def _failure(response: requests.Response, method: str, shown: str, api_key: str) -> YotpoError:
    status = response.status_code
    # Error bodies end up in exception messages and ledger entries: keep them short and clean.
    text = response.text.replace(api_key, REDACTED) if api_key else response.text
    body = mask_email(text[:_MAX_BODY_CHARS])
    kind = failure_kind(status, _RETRY_STATUSES)
    if kind == "auth":
        message = f"Yotpo {method} {shown}: {status} (check GUID and API key)"
        return YotpoAuthError(message, status=status, body=body)
    error = YotpoTransientError if kind == "transient" else YotpoPermanentError
    return error(f"Yotpo {method} {shown}: {status} {body}".strip(), status=status, body=body)


def _header_number(response: requests.Response, header: str) -> float | None:
    raw = response.headers.get(header)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


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
