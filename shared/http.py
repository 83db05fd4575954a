"""What the HTTP clients share: sessions, backoff, the correlation header, one call log line,
and the attempt loop (`ApiClient._exchange`).

The loop is one; what differs between commercetools, Yotpo and Voyado is what an answer or a
network error means (which error class, whether a repeat may do the work twice, what the server
asked us to wait), and each client says that in its own `ExchangePolicy`.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal, Protocol, Self
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from shared.correlation import HEADER, correlation_id
from shared.logs import PHONE_MASK, REDACTED, log_event, mask_personal
from shared.ratelimit import RateBudgetExhausted, RateLimiter

Clock = Callable[[], float]
Sleep = Callable[[float], None]
Jitter = Callable[[], float]

# Failures where the request may never have reached the server (or its answer got lost):
# retrying is the only way to find out.
NETWORK_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

QueryValue = str | int | float | bool | Sequence[str] | None
Params = Mapping[str, QueryValue]

_SECRET_PARAM = re.compile(r"(api[_-]?key|secret|password|token|guid)", re.I)
_MAX_LOGGED_PATH = 300
# A quoted predicate literal made of digits and phone separators only (national spellings
# such as "0171 7654321" that carry no "+"): a phone number for the log's purposes.
_PHONE_LITERAL = re.compile(r'"\+?[\d\s\-.()/]{6,}"')


def _phone_literal_mask(match: re.Match[str]) -> str:
    literal = match.group(0)
    return f'"{PHONE_MASK}"' if sum(c.isdigit() for c in literal) >= 6 else literal


def _shown(value: str) -> str:
    # Only a quoted literal can match; most paths and values hold no quote at all.
    masked = _PHONE_LITERAL.sub(_phone_literal_mask, value) if '"' in value else value
    return mask_personal(masked)


class EnvironmentOnceSession(requests.Session):
    """A session that honours the proxy and CA-bundle environment variables as requests
    documents them (`HTTP(S)_PROXY`, `ALL_PROXY`, `NO_PROXY`, `REQUESTS_CA_BUNDLE`,
    `CURL_CA_BUNDLE`: https://requests.readthedocs.io/en/latest/user/advanced/#proxies and
    #ssl-cert-verification) but reads them once per host instead of on every call.

    With `trust_env` on, requests rescans the whole environment and looks for a `.netrc` file
    on each request (about a quarter of a millisecond per call on the bench machine, more on a
    busy worker), on the checkout's critical path. The environment does not change while a
    process runs, so the answer for a host is kept. A `.netrc` file is not consulted: every
    call of the connector carries its own credentials.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self._ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._host_proxies: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def _environ_proxies(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        key = (parts.scheme.lower(), parts.netloc.lower())
        with self._lock:
            found = self._host_proxies.get(key)
        if found is None:
            # NO_PROXY is matched against the host here, once.
            found = dict(requests.utils.get_environ_proxies(url))
            with self._lock:
                self._host_proxies[key] = found
        return found

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        # What requests does with trust_env on (sessions.py, merge_environment_settings):
        # explicit arguments first, then the environment, then the session's own settings.
        merged = dict(proxies or {})
        if merged.get("no_proxy") is not None:
            # A caller's own NO_PROXY decides for this call alone: nothing to keep.
            environ_proxies = requests.utils.get_environ_proxies(url, no_proxy=merged["no_proxy"])
        else:
            environ_proxies = self._environ_proxies(url)
        for scheme, proxy in environ_proxies.items():
            merged.setdefault(scheme, proxy)
        if (verify is True or verify is None) and self._ca_bundle:
            verify = self._ca_bundle
        return super().merge_environment_settings(url, merged, stream, verify, cert)


def new_session(pool_size: int = 16) -> requests.Session:
    """A session whose connection pool fits a threaded worker; retries are the clients' job."""
    session = EnvironmentOnceSession()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def backoff_delay(
    failures: int,
    *,
    base: float = 0.25,
    cap: float = 8.0,
    jitter: Jitter = random.random,
) -> float:
    """Seconds to wait after the `failures`-th failure: exponential, capped, "equal jitter".

    Half the step is fixed so a retry never fires immediately; the other half is random so
    many workers that failed together do not come back together.
    """
    if failures < 1:
        raise ValueError("failures counts from 1")
    step = min(cap, base * 2 ** (failures - 1))
    return step / 2 + jitter() * step / 2


def correlation_headers() -> dict[str, str]:
    return {HEADER: correlation_id()}


def encode_params(params: Params | None) -> dict[str, Any]:
    """Query parameters as requests sends them: booleans lower-case, None dropped."""
    encoded: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            encoded[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            encoded[name] = value
        else:
            encoded[name] = list(value)
    return encoded


def loggable_path(path: str, params: Params | None = None) -> str:
    """`path?query` safe for operator logs: emails and phone numbers masked (also inside
    query predicates), secret-looking parameters redacted."""
    encoded = encode_params(params)
    if not encoded:
        return _shown(path)[:_MAX_LOGGED_PATH]
    pairs: list[tuple[str, str]] = []
    for name, value in encoded.items():
        for item in value if isinstance(value, list) else [value]:
            shown = REDACTED if _SECRET_PARAM.search(name) else _shown(str(item))
            pairs.append((name, shown))
    # "+" stays readable ("+***" is a masked phone), the rest is encoded as it was sent.
    query = urlencode(pairs, safe="[]*@=\"' ()+")
    return f"{_shown(path)}?{query}"[:_MAX_LOGGED_PATH]


def log_call(
    logger: logging.Logger,
    *,
    service: str,
    method: str,
    path: str,
    status: int | None,
    duration_ms: float,
    attempt: int,
    retry: bool,
    error: str | None = None,
) -> None:
    """The one log line per outgoing HTTP call (`path` must already be `loggable_path`)."""
    broken = error is not None or status is None or status >= 500
    if retry:
        outcome = "retry"
    elif broken:
        outcome = "failed"
    else:
        outcome = "rejected" if status is not None and status >= 400 else "ok"
    fields: dict[str, Any] = {
        "service": service,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 1),
        "attempt": attempt,
        "retry": retry,
        "outcome": outcome,
    }
    if error is not None:
        fields["error"] = error
    # A 4xx is an answer (404 is often expected); only broken calls deserve a warning.
    level = logging.WARNING if broken else logging.INFO
    log_event(logger, "http.call", level=level, **fields)


# --- the attempt loop ------------------------------------------------------------------------
AUTH_STATUSES = frozenset({401, 403})
FailureKind = Literal["auth", "transient", "permanent"]


def failure_kind(status: int, retry_statuses: frozenset[int]) -> FailureKind:
    """What a non-2xx status is: refused credentials, worth another try (5xx and the
    client's `retry_statuses`), or a refusal of the request as it is."""
    if status in AUTH_STATUSES:
        return "auth"
    if status >= 500 or status in retry_statuses:
        return "transient"
    return "permanent"


def wait_seconds(raw: str | None, *, cap: float, now: datetime | None = None) -> float | None:
    """Seconds a rate-limit header asks for, at most `cap`: delta-seconds, or (given `now`) an
    HTTP date (`Retry-After`, RFC 9110 §10.2.3). None when absent, unreadable or not positive."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        if now is None:
            return None
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return min(seconds, cap)


def json_or_empty(
    response: requests.Response,
    *,
    parse_float: Callable[[str], Any] | None = None,
    unparsed: Callable[[], None] | None = None,
) -> Any:
    """A successful answer's JSON; {} for an empty or unreadable body (`unparsed` is told of
    the latter). Raising instead would make a caller repeat a write that succeeded."""
    if not response.content.strip():
        return {}
    try:
        return response.json(parse_float=parse_float)
    except ValueError:
        if unparsed is not None:
            unparsed()
        return {}


@dataclass(frozen=True, slots=True)
class Request:
    """One call as every attempt sends it; `shown` is its `loggable_path`."""

    method: str
    url: str
    shown: str
    headers: Mapping[str, str]
    params: Params | None = None
    json: Any = None
    data: Any = None
    auth: tuple[str, str] | None = None


@dataclass(slots=True)
class Failed:
    """What one failed attempt means: `failure` is raised when the call stops here;
    `retry_allowed` whether the request may be sent again at all (a write that may have done its
    work may not); `server_wait` seconds the server asked for (they pause the whole limiter)."""

    failure: Exception
    retry_allowed: bool = True
    server_wait: float | None = None


class ExchangePolicy(Protocol):
    """One call's reading of its attempts (an instance per call may keep state across them)."""

    def network_failure(self, exc: Exception) -> Failed: ...

    def answer(self, response: requests.Response) -> Failed | None:
        """None: this answer ends the call and is handed back."""
        ...

    def budget_exhausted(self, ready_in: float) -> Exception:
        """The limiter cannot grant a call inside the deadline."""
        ...

    def out_of_time(self) -> Exception:
        """The deadline has passed before an attempt."""
        ...

    def give_up(self, failed: Failed, status: int | None, delay: float) -> Exception:
        """What to raise when `failed` is not retried (`delay`: the wait a retry would have had)."""
        ...


class ProviderAttempts(ABC):
    """The `ExchangePolicy` of a rate-limited provider's call (Yotpo, Voyado): a 2xx (and a 404
    when `missing_ok`) ends the call; `failure` names any other answer; a permanent one is not
    retried; a 429 waits what the server asked (`server_wait`) and, on the last attempt, ends as
    `rate_limited` (nothing was done: the caller comes back after `retry_after`)."""

    def __init__(self, provider: str, method: str, shown: str, *, missing_ok: bool) -> None:
        self.what = f"{provider} {method} {shown}"
        self.method = method
        self.shown = shown
        self.missing_ok = missing_ok

    @abstractmethod
    def failure(self, response: requests.Response) -> Exception:
        """The provider's error for a non-2xx answer."""

    @abstractmethod
    def is_permanent(self, failure: Exception) -> bool: ...

    @abstractmethod
    def server_wait(self, response: requests.Response) -> float | None:
        """Seconds a 429 asks for (None: not said; the loop backs off)."""

    @abstractmethod
    def transient(self, message: str) -> Exception: ...

    @abstractmethod
    def rate_limited(
        self, message: str, retry_after: float, answered: Exception | None
    ) -> Exception:
        """The provider's rate-limit error; `answered`: the 429's own failure (None: the limiter
        refused the call before it went out)."""

    def network_failure(self, exc: Exception) -> Failed:
        return Failed(self.transient(f"{self.what}: {type(exc).__name__}"))

    def answer(self, response: requests.Response) -> Failed | None:
        status = response.status_code
        if response.ok or (status == 404 and self.missing_ok):
            return None
        failure = self.failure(response)
        if self.is_permanent(failure):
            return Failed(failure, retry_allowed=False)
        return self.transient_answer(response, failure)

    def transient_answer(self, response: requests.Response, failure: Exception) -> Failed:
        wait = self.server_wait(response) if response.status_code == 429 else None
        return Failed(failure, server_wait=wait)

    def budget_exhausted(self, ready_in: float) -> Exception:
        return self.rate_limited(f"{self.what}: rate limit budget exhausted", ready_in, None)

    def out_of_time(self) -> Exception:
        return self.transient(f"{self.what}: time budget used up")

    def give_up(self, failed: Failed, status: int | None, delay: float) -> Exception:
        if status == 429:
            return self.rate_limited(str(failed.failure), delay, failed.failure)
        return failed.failure


class ApiClient:
    """Session, clock, sleep, jitter, timeout and retry count of one API client, its call log
    line and the attempt loop. Without a `limiter` calls are not rate limited; `_deadline` is
    set only on the views `RateLimitedClient.bounded` makes."""

    _service: ClassVar[str]
    _logger: ClassVar[logging.Logger]

    def __init__(
        self,
        timeout: float,
        max_retries: int,
        session: requests.Session | None,
        clock: Clock,
        sleep: Sleep,
        jitter: Jitter,
        limiter: RateLimiter | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self._timeout = timeout
        self._max_retries = max_retries
        self._session = session or new_session()
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._limiter = limiter
        self._deadline: float | None = None

    def _exchange(
        self, request: Request, policy: ExchangePolicy, *, service: str | None = None
    ) -> requests.Response:
        """Attempts of one call until an answer ends it (returned) or the policy's failure is
        not retried (raised); the waits between are the server's or `backoff_delay`'s."""
        method, shown = request.method, request.shown
        attempt = 0
        while True:
            attempt += 1
            if self._limiter is not None:
                try:
                    self._limiter.acquire(deadline=self._deadline)
                except RateBudgetExhausted as exc:
                    raise policy.budget_exhausted(exc.ready_in) from None
            timeout = self._call_timeout(policy)
            started = self._clock()
            status: int | None = None
            error: str | None = None
            try:
                response = self._session.request(
                    method,
                    request.url,
                    params=encode_params(request.params),
                    json=request.json,
                    data=request.data,
                    auth=request.auth,
                    headers=request.headers,
                    timeout=timeout,
                )
            except NETWORK_ERRORS as exc:
                error = type(exc).__name__
                failed = policy.network_failure(exc)
            else:
                status = response.status_code
                judged = policy.answer(response)
                if judged is None:
                    self._log(method, shown, status, started, attempt, False, service=service)
                    return response
                failed = judged
                if failed.server_wait is not None and self._limiter is not None:
                    # Every thread spending this account or key holds off, not only this one.
                    self._limiter.pause_until(self._clock() + failed.server_wait)
            retry = False
            delay = 0.0
            if failed.retry_allowed:
                delay = failed.server_wait or backoff_delay(attempt, jitter=self._jitter)
                retry = attempt <= self._max_retries and self._fits(delay)
            self._log(method, shown, status, started, attempt, retry, error, service=service)
            if not retry:
                raise policy.give_up(failed, status, delay)
            self._sleep(delay)

    def _call_timeout(self, policy: ExchangePolicy) -> float:
        if self._deadline is None:
            return self._timeout
        left = self._deadline - self._clock()
        if left <= 0:
            raise policy.out_of_time()
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
        retry: bool,
        error: str | None = None,
        *,
        service: str | None = None,
    ) -> None:
        log_call(
            self._logger,
            service=service or self._service,
            method=method,
            path=shown,
            status=status,
            duration_ms=(self._clock() - started) * 1000,
            attempt=attempt,
            retry=retry,
            error=error,
        )


class RateLimitedClient(ApiClient):
    """An `ApiClient` built with a rate limiter (shared by every view of it), whose `bounded`
    views end their calls, waits and retries included, inside a budget."""

    @property
    def limiter(self) -> RateLimiter:
        """The limiter every view of this client draws from."""
        if self._limiter is None:
            raise TypeError(f"{type(self).__name__} was built without a rate limiter")
        return self._limiter

    @property
    def deadline(self) -> float | None:
        """The clock value this view's calls must finish by (None: unbounded)."""
        return self._deadline

    def bounded(self, budget_seconds: float, *, max_retries: int | None = None) -> Self:
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
