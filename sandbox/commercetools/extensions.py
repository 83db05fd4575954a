"""API Extension invocation: which extensions a cart write or an order creation triggers,
the call, the answer.

The call happens outside the store lock; the caller applies the returned actions and
re-checks the version before persisting. Failures come out as the errors commercetools
reports: ExtensionBadResponse (the extension's own 400 validation errors, or an answer that
is not `{actions}`), ExtensionNoResponse (timeout or unreachable, 504) and
ExtensionUpdateActionsFailed (returned actions that cannot be applied).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import requests

from sandbox.commercetools import predicates
from sandbox.commercetools.errors import ApiError
from shared.correlation import HEADER
from shared.logs import log_event

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 2000
MAX_RETURNED_ACTIONS = 100


def triggered(
    extensions: Iterable[dict[str, Any]],
    resource_type_id: str,
    action: str,
    resource: dict[str, Any],
) -> list[dict[str, Any]]:
    """The extensions whose triggers match this write, in creation order."""
    selected = []
    for extension in extensions:
        for trigger in extension.get("triggers") or []:
            if trigger["resourceTypeId"] != resource_type_id or action not in trigger["actions"]:
                continue
            condition = trigger.get("condition")
            if condition is None or _condition_holds(extension, condition, resource):
                selected.append(extension)
                break
    return selected


def _condition_holds(extension: dict[str, Any], condition: str, resource: dict[str, Any]) -> bool:
    try:
        return predicates.matches(condition, resource)
    except predicates.PredicateError as exc:
        raise ApiError.single(
            400,
            "ExtensionPredicateEvaluationFailed",
            f"The condition of extension '{extension['id']}' could not be evaluated: {exc}",
            errorByExtension=_error_by_extension(extension),
        ) from None


def layers(triggered: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The triggered extensions by chain depth: first those depending on no triggered
    extension, then those whose dependencies are all in earlier layers (creation order kept).
    A dependency that this write did not trigger is treated as satisfied."""
    ids = {e["id"] for e in triggered}
    placed: set[str] = set()
    result: list[list[dict[str, Any]]] = []
    remaining = list(triggered)
    while remaining:
        layer = [
            e
            for e in remaining
            if all(d["id"] in placed or d["id"] not in ids for d in e.get("dependencies") or [])
        ]
        if not layer:  # a cycle: commercetools refuses those at registration; run the rest
            layer = remaining
        placed |= {e["id"] for e in layer}
        remaining = [e for e in remaining if e["id"] not in placed]
        result.append(layer)
    return result


def ancestors(extension: dict[str, Any], triggered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every triggered extension `extension` depends on, directly or not, in creation order."""
    by_id = {e["id"]: e for e in triggered}
    seen: set[str] = set()
    todo = [d["id"] for d in extension.get("dependencies") or []]
    while todo:
        current = todo.pop()
        if current in seen or current not in by_id or current == extension["id"]:
            continue
        seen.add(current)
        todo += [d["id"] for d in by_id[current].get("dependencies") or []]
    return [e for e in triggered if e["id"] in seen]


def _error_by_extension(extension: dict[str, Any]) -> dict[str, Any]:
    """ErrorByExtension is `{id, key?}` (RAML types/errors/ErrorByExtension)."""
    identity = {"id": extension["id"]}
    if extension.get("key"):
        identity["key"] = extension["key"]
    return identity


def _identity(extension: dict[str, Any]) -> dict[str, Any]:
    identity = {"extensionId": extension["id"]}
    if extension.get("key"):
        identity["extensionKey"] = extension["key"]
    return identity


def _headers(extension: dict[str, Any], correlation_id: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", HEADER: correlation_id}
    auth = extension["destination"].get("authentication") or {}
    if auth.get("type") == "AuthorizationHeader":
        headers["Authorization"] = str(auth.get("headerValue", ""))
    elif auth.get("type") == "AzureFunctions":
        headers["x-functions-key"] = str(auth.get("key", ""))
    return headers


def call(
    extension: dict[str, Any],
    action: str,
    type_id: str,
    resource: dict[str, Any],
    *,
    correlation_id: str,
    session: requests.Session,
) -> list[dict[str, Any]]:
    """The update actions the extension answers with; ApiError when it refuses or fails."""
    body = {
        "action": action,
        "resource": {"typeId": type_id, "id": resource["id"], "obj": resource},
    }
    timeout = extension.get("timeoutInMs", DEFAULT_TIMEOUT_MS) / 1000
    started = time.monotonic()
    try:
        response = session.post(
            extension["destination"]["url"],
            data=json.dumps(body),
            headers=_headers(extension, correlation_id),
            timeout=timeout,
        )
    except requests.RequestException as exc:
        _log(extension, None, started, type(exc).__name__)
        raise no_response(extension) from None
    _log(extension, response.status_code, started)
    payload = _json(response)
    if response.status_code in (200, 201):
        actions = payload.get("actions", []) if isinstance(payload, dict) else None
        if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
            raise bad_response(
                extension, response, "The extension did not return the expected JSON."
            )
        if len(actions) > MAX_RETURNED_ACTIONS:
            raise bad_response(
                extension,
                response,
                f"The extension returned more than {MAX_RETURNED_ACTIONS} actions.",
            )
        return actions
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if response.status_code == 400 and isinstance(errors, list) and errors:
        raise refused(extension, errors)
    raise bad_response(
        extension, response, f"The extension responded with HTTP status {response.status_code}."
    )


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _log(
    extension: dict[str, Any], status: int | None, started: float, error: str | None = None
) -> None:
    log_event(
        logger,
        "extension.call",
        level=logging.INFO if status in (200, 201, 400) else logging.WARNING,
        extension_id=extension["id"],
        status=status,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        error=error,
    )


def _extension_error(extension: dict[str, Any], error: Any) -> dict[str, Any]:
    given = error if isinstance(error, dict) else {"message": str(error)}
    return {
        **given,
        "code": str(given.get("code", "InvalidInput")),
        "message": str(given.get("message", "")),
        **_identity(extension),
    }


def refused(extension: dict[str, Any], errors: list[Any]) -> ApiError:
    """The extension's own validation errors, each wrapped as commercetools wraps them."""
    wrapped = []
    for error in errors:
        detail = _extension_error(extension, error)
        entry: dict[str, Any] = {
            "code": "ExtensionBadResponse",
            "message": detail["message"],
            "extensionErrors": [detail],
            "extensionStatusCode": 400,
            **_identity(extension),
        }
        for optional in ("localizedMessage", "extensionExtraInfo"):
            if isinstance(error, dict) and optional in error:
                entry[optional] = error[optional]
        wrapped.append(entry)
    return ApiError(400, wrapped)


def bad_response(extension: dict[str, Any], response: requests.Response, message: str) -> ApiError:
    return ApiError.single(
        502,
        "ExtensionBadResponse",
        message,
        extensionErrors=[],
        extensionBody=response.text[:2000],
        extensionStatusCode=response.status_code,
        **_identity(extension),
    )


def no_response(extension: dict[str, Any]) -> ApiError:
    return ApiError.single(
        504,
        "ExtensionNoResponse",
        "The extension did not respond in time.",
        **_identity(extension),
    )


def actions_failed(extension: dict[str, Any], cause: ApiError) -> ApiError:
    return ApiError.single(
        400,
        "ExtensionUpdateActionsFailed",
        "The update actions returned by the extension could not be executed: "
        + cause.errors[0]["message"],
        extensionErrors=[_extension_error(extension, e) for e in cause.errors],
        **_identity(extension),
    )
