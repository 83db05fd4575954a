"""The Voyado Engage API client: one instance per API key, sharing that key's rate limit.

Every Voyado path the connector uses is spelled once, in `VoyadoPaths`. Documentation pages
(the contract fixtures in `tests/contracts/voyado/` carry the same links):

- headers: https://developer.voyado.com/en/api/api-authentication.html (`apikey`, a
  `User-Agent` "used in all calls", and `Content-Type: application/json` "mandatory" in all
  requests: without it Engage answers 500 "An error has occurred");
- rate limit: https://developer.voyado.com/en/api/api-rate-limit.html (keep below 50 requests
  per second; 429 above 200; limits are per API key, not per tenant; no Retry-After header is
  documented, one is honoured if it comes);
- retry policy: https://developer.voyado.com/en/api/api-retry-policy.html ("POST requests
  change the state of the system every time they are called. So retrying a POST request
  without knowing if the first one went through can be very dangerous ... Check using a GET").

Retries follow that page. A GET is retried on timeouts, connection errors, 5xx and 429. A POST
is retried only where a repeat cannot do the work twice: receipts (a duplicate
`uniqueReceiptId` "will be seen as a duplicate and ignored"), point transactions sent with an
`Idempotency-Key` (kept 24 h) and voucher redeem/reactivate (a repeat answers 409). Every other
POST (contact creation) is retried only when the answer proves nothing was done (429); a
timeout or 5xx on it ends as `VoyadoTransientError(maybe_applied=True)` so the caller looks
before it sends again (the provider adapter finds the contact first).

Failures: timeouts, connection errors, 5xx and 429 end as `VoyadoTransientError` (429 as its
subclass `VoyadoRateLimited`); 401/403 as `VoyadoAuthError`; other 4xx as
`VoyadoPermanentError` carrying Voyado's `errorCode` (the documented codes, e.g.
ContactNotFound, MultipleMatches, RewardVoucherAlreadyRedeemed). Error bodies never reach a
log line or an exception message: only the status and the code do (a body may echo an email).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal
from urllib.parse import quote

import requests

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
from shared.logs import REDACTED
from shared.ratelimit import RateLimiter
from shared.voyado.answers import PointTransactionsResult, VoucherOutcome
from shared.voyado.errors import (
    AmbiguousContact,
    VoyadoAuthError,
    VoyadoError,
    VoyadoPermanentError,
    VoyadoRateLimited,
    VoyadoTransientError,
)
from shared.voyado.numbers import POINT_ROW_NUMBERS, encode_json, receipt_numbers, with_numbers

logger = logging.getLogger(__name__)

# "Keep below 50 requests per second" (api-rate-limit page): the advised rate, per API key.
DEFAULT_RATE_LIMIT_PER_SECOND = 50.0
DEFAULT_USER_AGENT = "commercetools-loyalty-connector/1.0"
# Point transactions' Idempotency-Key "lasts for 24 hours" (the SDK generated from Voyado's
# OpenAPI, liblaber/voyado-engage-2.0.0-typescript-1.0.0 documentation/services/
# PointAccountsService.md).
IDEMPOTENCY_TTL_SECONDS: Final = 24 * 3600
MAX_POINT_TRANSACTION_ROWS: Final = 1000


class VoyadoPaths:
    # https://developer.voyado.com/en/contacts/identify-contact/find-contact.html
    CONTACT_ID: Final = "/api/v3/contacts/id"
    # https://developer.voyado.com/en/contacts/create-contact.html
    CONTACTS: Final = "/api/v3/contacts"
    # https://voyado.mintlify.app/docs/api/the-engage-api ("GET /api/v3/contacts/{contactId}")
    CONTACT: Final = "/api/v3/contacts/{contact_id}"
    # v3, not the v2 of the older receipt pages: API v3 is "recommended for all new users"
    # (https://voyado.mintlify.app/docs/api/the-engage-api), the current "register a purchase"
    # page posts there (https://developer.voyado.com/en/transactions/register-a-purchase.html)
    # and so does a public integration (hantera-io/hantera.integration.voyado.engage,
    # components/voyado.engage.receipts.hreactor). One constant: a correction is one edit.
    RECEIPTS: Final = "/api/v3/receipts"
    # https://voyado.mintlify.app/docs/loyalty/points
    POINT_ACCOUNTS: Final = "/api/v3/point-accounts"
    POINT_TRANSACTIONS: Final = "/api/v3/point-transactions"
    # The SDK's PointAccountsService (see IDEMPOTENCY_TTL_SECONDS): up to 1000 rows.
    ADD_POINT_TRANSACTIONS: Final = "/api/v2/point-accounts/transactions"
    # https://voyado.mintlify.app/docs/loyalty/vouchers
    AVAILABLE_VOUCHERS: Final = "/api/v3/reward-vouchers/available"
    # https://developer.voyado.com/en/points-and-vouchers/redeem-a-voucher.html
    REDEEM_VOUCHER: Final = "/api/v3/reward-vouchers/{voucher_id}/redeem"
    # https://developer.voyado.com/en/points-and-vouchers/reactivate-a-voucher.html
    REACTIVATE_VOUCHER: Final = "/api/v3/reward-vouchers/{voucher_id}/reactivate"


class VoyadoCodes:
    """Voyado's documented error codes the connector acts on."""

    CONTACT_NOT_FOUND: Final = "ContactNotFound"
    MULTIPLE_MATCHES: Final = "MultipleMatches"
    ALREADY_REDEEMED: Final = "RewardVoucherAlreadyRedeemed"
    ALREADY_ACTIVATED: Final = "RewardVoucherAlreadyActivated"
    VOUCHER_EXPIRED: Final = "RewardVoucherExpired"
    REACTIVATION_LIMIT: Final = "ReactivationLimitExceeded"


# --- the client ------------------------------------------------------------------------------

_RETRY_STATUSES = frozenset({408, 429})
_MAX_SERVER_WAIT_SECONDS = 60.0
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
# Query parameters that identify a person: never shown in a log line or an error message.
_PERSONAL_PARAMS = frozenset({"email", "mobilePhone", "socialSecurityNumber", "customKey", "any"})
_LOOKUP_KEYS = {"email": "email", "mobile_phone": "mobilePhone", "custom_key": "customKey"}


class VoyadoClient(RateLimitedClient):
    _service = "voyado"
    _logger = logger

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        rate_limit_per_second: float = DEFAULT_RATE_LIMIT_PER_SECOND,
        timeout: float = 15.0,
        max_retries: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Jitter = random.random,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required (https://<tenant>.voyado.com)")
        if not api_key:
            raise ValueError("api_key is required")
        if not user_agent or not user_agent.strip():
            raise ValueError("Voyado requires a User-Agent on every call")
        limiter = limiter or RateLimiter(rate_limit_per_second, clock=clock, sleep=sleep)
        super().__init__(timeout, max_retries, session, clock, sleep, jitter, limiter)
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._user_agent = user_agent.strip()

    def __repr__(self) -> str:
        return f"VoyadoClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    # --- contacts ----------------------------------------------------------------------------
    def find_contact_id(
        self,
        *,
        email: str | None = None,
        mobile_phone: str | None = None,
        custom_key: str | None = None,
        contact_type: str | None = None,
    ) -> str | None:
        """The contact id holding exactly one key (email, mobilePhone or customKey, which is
        memberNumber or externalId depending on the tenant); None on 404 ContactNotFound;
        `AmbiguousContact` on 409 MultipleMatches (find-contact page)."""
        given = {
            _LOOKUP_KEYS[name]: value
            for name, value in (
                ("email", email),
                ("mobile_phone", mobile_phone),
                ("custom_key", custom_key),
            )
            if value
        }
        if len(given) != 1:
            raise ValueError("give exactly one of email, mobile_phone, custom_key")
        params: dict[str, Any] = dict(given)
        if contact_type:
            params["contactType"] = contact_type
        try:
            answer = self._request("GET", VoyadoPaths.CONTACT_ID, params=params, missing_ok=True)
        except VoyadoPermanentError as exc:
            if exc.status == 409 and exc.error_code in (VoyadoCodes.MULTIPLE_MATCHES, None):
                raise AmbiguousContact(
                    str(exc), status=409, error_code=VoyadoCodes.MULTIPLE_MATCHES
                ) from None
            raise
        if answer is None:
            return None
        contact_id = _contact_id_of(answer)
        if contact_id is None:
            raise VoyadoPermanentError(
                f"Voyado GET {VoyadoPaths.CONTACT_ID}: expected a contact id", status=200
            )
        return contact_id

    def create_contact(
        self,
        body: Mapping[str, Any],
        *,
        source: str | None = None,
        store_external_id: str | None = None,
        create_as_unapproved: bool | None = None,
    ) -> dict[str, Any]:
        """Create a contact (`source`, `storeExternalId`, `createAsUnapproved` go in the v3
        query string, create-contact page). Not replay-safe: look it up first."""
        params = {
            "source": source,
            "storeExternalId": store_external_id,
            "createAsUnapproved": create_as_unapproved,
        }
        answer = self._request(
            "POST", VoyadoPaths.CONTACTS, params=params, body=dict(body), replay_safe=False
        )
        return _as_object(answer, VoyadoPaths.CONTACTS)

    def get_contact(self, contact_id: str) -> dict[str, Any] | None:
        path = VoyadoPaths.CONTACT.format(contact_id=_segment(contact_id))
        answer = self._request("GET", path, missing_ok=True)
        return None if answer is None else _as_object(answer, path)

    # --- receipts ----------------------------------------------------------------------------
    def post_receipt(self, receipt: Mapping[str, Any]) -> None:
        """Send one receipt (purchase or return). Engage answers with no body and applies it
        later, in batches (https://developer.voyado.com/en/receipts/introduction-to-receipts.html);
        a repeat of its `uniqueReceiptId` is ignored, so the call is retried like a GET.

        Amounts may be given as decimal strings or `Decimal`s; they go out as JSON numbers.
        """
        if not receipt.get("uniqueReceiptId"):
            raise ValueError("a receipt needs its uniqueReceiptId")
        self._request("POST", VoyadoPaths.RECEIPTS, body=receipt_numbers(receipt), replay_safe=True)

    # --- points ------------------------------------------------------------------------------
    def point_accounts(self, contact_id: str) -> list[dict[str, Any]]:
        """The contact's point accounts (one per point definition) with `balance`."""
        answer = self._request("GET", VoyadoPaths.POINT_ACCOUNTS, params={"contactId": contact_id})
        return _items(answer, VoyadoPaths.POINT_ACCOUNTS)

    def point_transactions(
        self,
        *,
        account_id: int | str | None = None,
        contact_id: str | None = None,
        definition_id: int | str | None = None,
        filter: Literal["All", "Active", "Pending"] | None = None,
        limit: int = 1000,
        page_size: int = 100,
    ) -> list[dict[str, Any]]:
        """A point account's history, newest first, at most `limit` rows (paged)."""
        if account_id is None and not (contact_id and definition_id is not None):
            raise ValueError("give account_id, or contact_id and definition_id")
        params: dict[str, Any] = (
            {"accountId": str(account_id)}
            if account_id is not None
            else {"contactId": contact_id, "definitionId": str(definition_id)}
        )
        if filter:
            params["filter"] = filter
        rows: list[dict[str, Any]] = []
        offset = 0
        while len(rows) < limit:
            count = min(page_size, limit - len(rows))
            answer = self._request(
                "GET",
                VoyadoPaths.POINT_TRANSACTIONS,
                params={**params, "offset": offset, "count": count},
            )
            page = _items(answer, VoyadoPaths.POINT_TRANSACTIONS)
            rows += page
            total = answer.get("totalCount") if isinstance(answer, Mapping) else None
            offset += len(page)
            if len(page) < count or (isinstance(total, int) and offset >= total):
                break
        return rows[:limit]

    def add_point_transactions(
        self, rows: Sequence[Mapping[str, Any]], *, idempotency_key: str
    ) -> PointTransactionsResult:
        """Add or remove points (up to 1000 rows of {contactId, amount, definitionId,
        timeStamp, source, description, ...}). `Idempotency-Key` makes a repeat within 24 h
        replay the first answer, so the call is retried; after 24 h the caller checks the
        account's transactions first."""
        if not idempotency_key:
            raise ValueError("point transactions are sent with an Idempotency-Key")
        if not rows or len(rows) > MAX_POINT_TRANSACTION_ROWS:
            raise ValueError(f"send between 1 and {MAX_POINT_TRANSACTION_ROWS} rows")
        answer = self._request(
            "POST",
            VoyadoPaths.ADD_POINT_TRANSACTIONS,
            body=[with_numbers(dict(row), POINT_ROW_NUMBERS) for row in rows],
            headers={"Idempotency-Key": idempotency_key},
            replay_safe=True,
        )
        return PointTransactionsResult.from_answer(answer)

    # --- reward vouchers ---------------------------------------------------------------------
    def available_vouchers(self, contact_id: str) -> list[dict[str, Any]]:
        """The contact's reward vouchers that can be used now (vouchers page)."""
        answer = self._request(
            "GET", VoyadoPaths.AVAILABLE_VOUCHERS, params={"contactId": contact_id}
        )
        return _items(answer, VoyadoPaths.AVAILABLE_VOUCHERS)

    def redeem_voucher(self, voucher_id: str) -> VoucherOutcome:
        """Mark a voucher used, after payment (Voyado: "redeem the promotion after the payment
        has been successfully processed", https://developer.voyado.com/en/promotions/
        introduction-to-promotions.html). 409 RewardVoucherAlreadyRedeemed → `already`;
        409 RewardVoucherExpired, 400 and 404 are permanent."""
        path = VoyadoPaths.REDEEM_VOUCHER.format(voucher_id=_segment(voucher_id))
        return self._voucher_call(path, already=VoyadoCodes.ALREADY_REDEEMED)

    def reactivate_voucher(self, voucher_id: str) -> VoucherOutcome:
        """Make a redeemed voucher usable again (the order was cancelled). 409
        RewardVoucherAlreadyActivated → `already`; ReactivationLimitExceeded (3 by default,
        https://help.engage.voyado.com/hc/en-gb/articles/19293868797084) and Expired are
        permanent."""
        path = VoyadoPaths.REACTIVATE_VOUCHER.format(voucher_id=_segment(voucher_id))
        return self._voucher_call(path, already=VoyadoCodes.ALREADY_ACTIVATED)

    def _voucher_call(self, path: str, *, already: str) -> VoucherOutcome:
        try:
            answer = self._request("POST", path, replay_safe=True)
        except VoyadoPermanentError as exc:
            if exc.status == 409 and exc.error_code == already:
                return VoucherOutcome("already")
            raise
        return VoucherOutcome("done", dict(answer) if isinstance(answer, Mapping) else {})

    # --- the HTTP exchange -------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        missing_ok: bool = False,
        replay_safe: bool | None = None,
    ) -> Any:
        """One call with its retries. `replay_safe`: whether sending the request again can
        never do its work twice (GETs always; POSTs say so)."""
        shown = loggable_path(path, _shown_params(params))
        sent_headers = {
            **correlation_headers(),
            "apikey": self._api_key,
            "User-Agent": self._user_agent,
            "Content-Type": "application/json",
            "Accept": "application/json",
            **(headers or {}),
        }
        data = encode_json(body) if body is not None else None
        request = Request(method, self._base_url + path, shown, sent_headers, params, data=data)
        safe = method == "GET" if replay_safe is None else replay_safe
        policy = _VoyadoAttempts(self, method, shown, safe=safe, missing_ok=missing_ok)
        response = self._exchange(request, policy)
        return _parsed(response) if response.ok else None

    @staticmethod
    def _wall_now() -> datetime:
        return datetime.now(UTC)


class _VoyadoAttempts(ProviderAttempts):
    """Voyado's reading of one call's attempts, after its retry-policy page: a request that is
    not replay-safe is repeated only when nothing can have been done (a 429, a connection never
    opened); once an attempt may have landed, every later failure of the call says so
    (`maybe_applied`)."""

    def __init__(
        self, client: VoyadoClient, method: str, shown: str, *, safe: bool, missing_ok: bool
    ) -> None:
        super().__init__("Voyado", method, shown, missing_ok=missing_ok)
        self._client = client
        self._safe = safe
        # Whether an earlier attempt of this write may have been applied: it stays so.
        self._landed = False

    def network_failure(self, exc: Exception) -> Failed:
        # A connection never opened cannot have done anything.
        unsent = isinstance(exc, requests.exceptions.ConnectTimeout)
        failure = VoyadoTransientError(
            f"{self.what}: {type(exc).__name__}",
            maybe_applied=self.method != "GET" and not unsent,
        )
        return Failed(self._remember(failure), retry_allowed=self._safe or unsent)

    def failure(self, response: requests.Response) -> Exception:
        return _failure(response, self.method, self.shown, self._client._api_key)

    def is_permanent(self, failure: Exception) -> bool:
        return isinstance(failure, VoyadoPermanentError)

    def transient_answer(self, response: requests.Response, failure: Exception) -> Failed:
        status = response.status_code
        if isinstance(failure, VoyadoTransientError) and self.method != "GET":
            # A 429 is refused before any work; a 5xx on a write may follow the work.
            failure.maybe_applied = status != 429
        failed = super().transient_answer(response, failure)
        failed.failure = self._remember(failure)
        failed.retry_allowed = self._safe or status == 429
        return failed

    def server_wait(self, response: requests.Response) -> float | None:
        # Not documented by the rate-limit page; honoured if it comes (delta or HTTP date).
        now = self._client._wall_now()
        return wait_seconds(
            response.headers.get("Retry-After"), cap=_MAX_SERVER_WAIT_SECONDS, now=now
        )

    def transient(self, message: str) -> Exception:
        return VoyadoTransientError(message, maybe_applied=self._landed)

    def rate_limited(
        self, message: str, retry_after: float, answered: Exception | None
    ) -> Exception:
        status = 429 if answered is not None else None
        limited = VoyadoRateLimited(message, retry_after=retry_after, status=status)
        limited.maybe_applied = self._landed
        return limited

    def _remember(self, failure: Exception) -> Exception:
        if isinstance(failure, VoyadoTransientError):
            self._landed = self._landed or failure.maybe_applied
            failure.maybe_applied = self._landed
        return failure


# --- helpers ---------------------------------------------------------------------------------


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an id is required")
    return quote(str(value), safe="")


def _shown_params(params: Params | None) -> Params | None:
    if not params:
        return params
    return {k: (REDACTED if k in _PERSONAL_PARAMS and v else v) for k, v in params.items()}


def _contact_id_of(answer: Any) -> str | None:
    # The page answers the id itself (a JSON string); accept an object carrying it too.
    if isinstance(answer, str) and answer.strip():
        return answer.strip()
    if isinstance(answer, Mapping):
        for name in ("contactId", "id", "ContactId", "Id"):
            value = answer.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _parsed(response: requests.Response) -> Any:
    return json_or_empty(response, parse_float=Decimal)


def _as_object(answer: Any, path: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise VoyadoPermanentError(f"Voyado {path}: expected a JSON object", status=200)
    return answer


def _items(answer: Any, path: str) -> list[dict[str, Any]]:
    """The rows of a page object `{count, offset, totalCount, items}` or of a bare array
    (the vouchers page shows the page object; a bare array is accepted as well)."""
    rows = answer.get("items") if isinstance(answer, Mapping) else answer
    if not isinstance(rows, list):
        raise VoyadoPermanentError(f"Voyado {path}: expected a list of items", status=200)
    return [r for r in rows if isinstance(r, dict)]


def _error_code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, Mapping):
        return None
    for name in ("errorCode", "ErrorCode", "code"):
        code = body.get(name)
        if isinstance(code, str) and _ERROR_CODE.match(code):
            return code
    return None


def _failure(response: requests.Response, method: str, shown: str, api_key: str) -> VoyadoError:
    status = response.status_code
    code = _error_code(response)
    message = f"Voyado {method} {shown}: {status}" + (f" {code}" if code else "")
    if api_key:
        message = message.replace(api_key, REDACTED)
    kind = failure_kind(status, _RETRY_STATUSES)
    if kind == "auth":
        message += " (check the API key and its IP allowlist)"
        return VoyadoAuthError(message, status=status, error_code=code)
    error = VoyadoTransientError if kind == "transient" else VoyadoPermanentError
    return error(message, status=status, error_code=code)
