"""The commercetools HTTP API client: OAuth token, bounded retries, typed errors, paging.

Every method answers the parsed JSON of the response. Failures come out as the classes of
`shared.errors`: 404 `NotFoundError`, 409 `ConcurrentModificationError` (with the current
version), other 4xx `CommercetoolsPermanentError` (with the error codes), and connection
errors, timeouts and 5xx — after bounded retries — `CommercetoolsTransientError`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests

# The predicate-literal escaper lives in the pure core (drafts there build predicates too);
# callers building a `where` import it from here.
from shared.domain.predicates import after_id as after_id
from shared.domain.predicates import literal as literal
from shared.domain.predicates import literal_list as literal_list
from shared.errors import (
    CommercetoolsPermanentError,
    CommercetoolsTransientError,
    ConcurrentModificationError,
    NotFoundError,
)
from shared.http import (
    ApiClient,
    Failed,
    Jitter,
    Params,
    Request,
    correlation_headers,
    loggable_path,
)

logger = logging.getLogger(__name__)

Expand = str | Sequence[str] | None
Where = str | Sequence[str] | None

# 500 may come after the write happened; only reads are safe to repeat blindly. Writes carry a
# `version`, so repeating one after a gateway error or timeout at worst answers 409.
_RETRY_ANY = frozenset({429, 502, 503, 504})
_RETRY_READS = _RETRY_ANY | {500}
_READ_METHODS = frozenset({"GET", "HEAD"})
# Refresh when this share of the token's life (or five minutes, if less) is left.
_REFRESH_SHARE = 0.1
_REFRESH_MARGIN_SECONDS = 300.0


class CommercetoolsClient(ApiClient):
    _service = "commercetools"
    _logger = logger

    def __init__(
        self,
        *,
        project_key: str,
        client_id: str,
        client_secret: str,
        scope: str,
        api_url: str,
        auth_url: str,
        timeout: float = 10.0,
        max_retries: int = 3,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Jitter = random.random,
    ) -> None:
        super().__init__(timeout, max_retries, session, clock, sleep, jitter)
        self.project_key = project_key
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._base = f"{api_url.rstrip('/')}/{quote(project_key, safe='')}"
        self._token_url = f"{auth_url.rstrip('/')}/oauth/token"
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_refresh_at = 0.0

    def __repr__(self) -> str:
        return f"CommercetoolsClient(project_key={self.project_key!r})"

    # --- generic calls ---------------------------------------------------------------------
    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: Any, params: Params | None = None) -> dict[str, Any]:
        return self._request("POST", path, params=params, body=body)

    def delete(self, path: str, params: Params | None = None) -> dict[str, Any]:
        return self._request("DELETE", path, params=params)

    # --- resources -------------------------------------------------------------------------
    def get_by_id(self, resource: str, id: str, expand: Expand = None) -> dict[str, Any]:
        return self.get(_by_id(resource, id), params={"expand": _listed(expand)})

    def get_by_key(self, resource: str, key: str) -> dict[str, Any]:
        return self.get(_by_key(resource, key))

    def query(
        self,
        resource: str,
        *,
        where: Where = None,
        sort: str | Sequence[str] | None = None,
        limit: int = 20,
        offset: int | None = None,
        expand: Expand = None,
        with_total: bool = False,
    ) -> dict[str, Any]:
        """One page: `{results, count, offset, limit}` plus `total` when `with_total`."""
        params: dict[str, Any] = {
            "where": _listed(where),
            "sort": _listed(sort),
            "limit": limit,
            "offset": offset,
            "expand": _listed(expand),
            "withTotal": with_total,
        }
        return self.get(resource, params=params)

    def iterate(
        self,
        resource: str,
        *,
        where: str | None = None,
        page_size: int = 500,
        expand: Expand = None,
    ) -> Iterator[dict[str, Any]]:
        """Every matching resource, paged by an id cursor (offset paging stops at 10,000)."""
        if not 1 <= page_size <= 500:
            raise ValueError("page_size must be between 1 and 500")
        last_id: str | None = None
        while True:
            page = self.query(
                resource,
                where=after_id(where, last_id),
                sort="id asc",
                limit=page_size,
                expand=expand,
                with_total=False,
            )
            results = page.get("results") or []
            yield from results
            if len(results) < page_size:
                return
            last_id = results[-1]["id"]

    def create(self, resource: str, draft: Mapping[str, Any]) -> dict[str, Any]:
        return self.post(resource, dict(draft))

    def update(
        self, resource: str, id: str, version: int, actions: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        return self.post(_by_id(resource, id), {"version": version, "actions": list(actions)})

    def update_by_key(
        self, resource: str, key: str, version: int, actions: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        return self.post(_by_key(resource, key), {"version": version, "actions": list(actions)})

    def delete_by_id(self, resource: str, id: str, version: int) -> dict[str, Any]:
        return self.delete(_by_id(resource, id), params={"version": version})

    def delete_by_key(self, resource: str, key: str, version: int) -> dict[str, Any]:
        return self.delete(_by_key(resource, key), params={"version": version})

    # --- custom objects --------------------------------------------------------------------
    def get_custom_object(self, container: str, key: str) -> dict[str, Any] | None:
        try:
            return self.get(_custom_object_path(container, key))
        except NotFoundError:
            return None

    def put_custom_object(
        self, container: str, key: str, value: Any, version: int | None
    ) -> dict[str, Any]:
        """Create or replace; `version=0` only creates, `None` writes whatever is there.

        A stale version (or 0 when the object exists) raises ConcurrentModificationError.
        """
        body: dict[str, Any] = {"container": container, "key": key, "value": value}
        if version is not None:
            body["version"] = version
        return self.post("custom-objects", body)

    def delete_custom_object(
        self, container: str, key: str, version: int | None = None
    ) -> dict[str, Any] | None:
        """Delete; None when there was nothing to delete (the state the caller wanted)."""
        params = {"version": version} if version is not None else None
        try:
            return self.delete(_custom_object_path(container, key), params=params)
        except NotFoundError:
            return None

    # --- the HTTP exchange -----------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        relative = "/" + path.lstrip("/")
        shown = loggable_path(f"/{self.project_key}{relative}", params)
        token = self._access_token()
        response = self._send(
            method, self._base + relative, shown, params=params, json=body, token=token
        )
        if response.status_code == 401:
            # The token may have been revoked or expired early: one fresh token, one more try.
            token = self._access_token(replace=token)
            response = self._send(
                method, self._base + relative, shown, params=params, json=body, token=token
            )
        if response.ok:
            return _json_object(response, f"{method} {shown}")
        raise _error_from(response, f"{method} {shown}")

    def _send(
        self,
        method: str,
        url: str,
        shown_path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        token: str | None = None,
        auth: tuple[str, str] | None = None,
        service: str = "commercetools",
        what: str | None = None,
    ) -> requests.Response:
        """The first answer that is not worth retrying; network errors and retryable statuses
        are retried with backoff and, once retries are spent, raised (`what` names the call
        in the error, as the caller names it when it reads an answer)."""
        headers = correlation_headers()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = Request(method, url, shown_path, headers, params, json=json, data=data, auth=auth)
        policy = _CommercetoolsAttempts(method, shown_path, what or f"{method} {shown_path}")
        return self._exchange(request, policy, service=service)

    # --- OAuth -----------------------------------------------------------------------------
    def _access_token(self, replace: str | None = None) -> str:
        """A valid token; `replace` is one the API refused, fetched anew unless already done."""
        with self._token_lock:
            fresh = self._token is not None and self._token != replace
            if fresh and self._clock() < self._token_refresh_at:
                return self._token  # type: ignore[return-value]
            return self._fetch_token()

    def _fetch_token(self) -> str:
        requested_at = self._clock()
        response = self._send(
            "POST",
            self._token_url,
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": self._scope},
            auth=(self._client_id, self._client_secret),
            service="commercetools-auth",
            what="commercetools authentication",
        )
        if not response.ok:
            raise _error_from(response, "commercetools authentication")
        payload = _json_object(response, "commercetools authentication")
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise CommercetoolsTransientError("commercetools authentication: no access_token")
        lifetime = float(payload.get("expires_in") or 0)
        margin = min(_REFRESH_MARGIN_SECONDS, lifetime * _REFRESH_SHARE)
        self._token = token
        self._token_refresh_at = requested_at + lifetime - margin
        return token


class _CommercetoolsAttempts:
    """commercetools' reading of one call's attempts (`ExchangePolicy`): network errors and the
    retryable statuses are repeated; any other answer is handed back to be read."""

    def __init__(self, method: str, shown: str, what: str) -> None:
        self._what = f"{method} {shown}"
        self._answer_what = what
        self._retry_statuses = _RETRY_READS if method in _READ_METHODS else _RETRY_ANY
        self._attempts = 0

    def network_failure(self, exc: Exception) -> Failed:
        self._attempts += 1
        failure = CommercetoolsTransientError(
            f"{self._what}: {type(exc).__name__} after {self._attempts} attempts"
        )
        failure.__cause__ = exc
        return Failed(failure)

    def answer(self, response: requests.Response) -> Failed | None:
        self._attempts += 1
        if response.status_code not in self._retry_statuses:
            return None
        # Raised as the caller would read this answer, should it be the last.
        return Failed(_error_from(response, self._answer_what))

    # The client has no limiter and no deadline; were one given, this is what it would mean.
    def budget_exhausted(self, ready_in: float) -> Exception:
        return CommercetoolsTransientError(f"{self._what}: rate limit budget exhausted")

    def out_of_time(self) -> Exception:
        return CommercetoolsTransientError(f"{self._what}: time budget used up")

    def give_up(self, failed: Failed, status: int | None, delay: float) -> Exception:
        return failed.failure


# --- helpers -------------------------------------------------------------------------------
def _segment(value: str) -> str:
    return quote(str(value), safe="")


def _by_id(resource: str, id: str) -> str:
    return f"{resource}/{_segment(id)}"


def _by_key(resource: str, key: str) -> str:
    return f"{resource}/key={_segment(key)}"


def _custom_object_path(container: str, key: str) -> str:
    return f"custom-objects/{_segment(container)}/{_segment(key)}"


def _listed(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _json_object(response: requests.Response, what: str) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        payload = response.json()
    except ValueError:
        raise CommercetoolsTransientError(
            f"{what}: answer {response.status_code} is not JSON", status=response.status_code
        ) from None
    if not isinstance(payload, dict):
        raise CommercetoolsTransientError(
            f"{what}: answer is not a JSON object", status=response.status_code
        )
    return payload


def _error_from(
    response: requests.Response, what: str
) -> CommercetoolsTransientError | CommercetoolsPermanentError | ConcurrentModificationError:
    status = response.status_code
    try:
        envelope = response.json()
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        envelope = {}
    errors = [e for e in envelope.get("errors") or [] if isinstance(e, dict)]
    codes = [str(e["code"]) for e in errors if e.get("code")]
    detail = str(envelope.get("message") or envelope.get("error_description") or response.reason)
    message = f"{what}: {status} {detail}"[:1000]
    if status == 404:
        return NotFoundError(message, status=status, codes=codes, errors=errors)
    if status == 409 and "ConcurrentModification" in codes:
        conflict = next(e for e in errors if e.get("code") == "ConcurrentModification")
        current = conflict.get("currentVersion")
        return ConcurrentModificationError(
            message,
            current_version=current if isinstance(current, int) else None,
            codes=codes,
            errors=errors,
        )
    if status >= 500 or status == 429:
        return CommercetoolsTransientError(message, status=status, codes=codes, errors=errors)
    return CommercetoolsPermanentError(message, status=status, codes=codes, errors=errors)
