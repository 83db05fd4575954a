"""What both HTTP clients share: sessions, backoff, the correlation header, one call log line.

The retry loops themselves live in each client: commercetools and Yotpo differ in what is worth
retrying and in how a caller's deadline bounds the work, and a hand loop says that plainly.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from shared.correlation import HEADER, correlation_id
from shared.logs import PHONE_MASK, REDACTED, log_event, mask_personal

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
