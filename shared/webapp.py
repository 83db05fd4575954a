"""What every Flask app of the connector shares: health, JSON errors, correlation, request logs.

Apps stay thin: they register their one Connect endpoint on the app this returns.

Every request body is input, not state (docs/adr/0060-hostile-input-baseline.md), so the
base app enforces, before any view runs:

- a body size limit (413): `MAX_CONTENT_LENGTH`, Flask's own guard
  (https://flask.palletsprojects.com/en/stable/config/#MAX_CONTENT_LENGTH);
- a JSON Content-Type (415) — `application/json` or `application/*+json`, UTF-8
  (RFC 8259 §8.1: "JSON text exchanged between systems ... MUST be encoded using UTF-8");
- strict JSON: no NaN/Infinity, no number that overflows a float, no nesting deeper than
  `MAX_JSON_DEPTH`, no BOM (RFC 8259 §8.1 "MUST NOT add a byte order mark"); all 400.

Every answer carries the security headers OWASP's REST cheat sheet lists for APIs
(https://cheatsheetseries.owasp.org/cheatsheets/REST_Security_Cheat_Sheet.html#security-headers),
and an unexpected error never shows its text: the log has it, the caller gets a generic 500.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, UnsupportedMediaType

from shared.correlation import (
    HEADER,
    bind_correlation_id,
    current_correlation_id,
    new_correlation_id,
    safe_correlation_id,
    unbind_correlation_id,
)
from shared.logs import log_event

logger = logging.getLogger(__name__)

# A commercetools cart of 500 line items with expanded variants stays well under this;
# nothing a Pub/Sub push (10 MB message limit, but our messages are small), a Yotpo webhook
# or a POS terminal sends comes close.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# commercetools resources nest about 10 deep; custom JSON fields add a few more.
MAX_JSON_DEPTH = 64

SECURITY_HEADERS: dict[str, str] = {
    # Cloud Run's *.run.app is HSTS-preloaded; custom domains are not.
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    ),
    "Referrer-Policy": "no-referrer",
    # Balances, names and reward codes must not sit in a shared cache or the browser's.
    "Cache-Control": "no-store",
}


class JsonInputError(ValueError):
    """A body that is not acceptable JSON; the message says why, never echoing the input."""


def error_response(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message, **extra}), status


def _refuse_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError("a number is too large")
    return value


def _depth_ok(value: Any, limit: int) -> bool:
    """Iterative, so a hostile structure cannot exhaust the stack while being measured."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def loads_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON: UTF-8 without BOM, finite numbers, bounded nesting; JsonInputError else.

    For any JSON that arrives from outside (request bodies, Pub/Sub `data`, webhook payloads).
    """
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            raise JsonInputError("the body must not start with a byte order mark")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonInputError("the body is not UTF-8") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        raise JsonInputError("the body must not start with a byte order mark")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise JsonInputError("the JSON is nested too deeply") from None
    except JsonInputError:
        raise
    except ValueError as exc:
        # json.JSONDecodeError, and int() refusing thousands of digits (PEP 651 limit).
        raise JsonInputError(f"not valid JSON ({type(exc).__name__})") from None
    if not _depth_ok(value, max_depth):
        raise JsonInputError(f"the JSON is nested deeper than {max_depth} levels")
    return value


def _json_content_type() -> bool:
    """No Content-Type, or a JSON one in UTF-8. Form and text types are refused: they are what
    a cross-site form or `fetch` can send without a CORS preflight."""
    if not request.content_type:
        return True
    mimetype = request.mimetype
    json_type = mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    return json_type and charset in ("utf-8", "utf8")


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx that says why (never an HTML page, never a 500)."""
    if not _json_content_type():
        raise UnsupportedMediaType("the request body must be application/json (UTF-8)")
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("request body must be a JSON object")
    try:
        data = loads_json(raw)
    except JsonInputError as exc:
        raise BadRequest(f"request body must be a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object, not a JSON " + type(data).__name__)
    return data


def _security_headers(response: Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def create_base_app(app_name: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Flask:
    app = Flask(app_name)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes

    @app.before_request
    def _start() -> None:
        incoming = safe_correlation_id(request.headers.get(HEADER))
        g.correlation_token = bind_correlation_id(incoming or new_correlation_id(app_name))
        g.started = time.perf_counter()
        # Refuse an oversized body before any view (or auth hook) reads it.
        length = request.content_length
        if length is not None and length > max_body_bytes:
            from werkzeug.exceptions import RequestEntityTooLarge

            raise RequestEntityTooLarge(f"the request body is larger than {max_body_bytes} bytes")

    @app.after_request
    def _finish(response: Response) -> Response:
        correlation = safe_correlation_id(current_correlation_id())
        if correlation:
            response.headers[HEADER] = correlation
        _security_headers(response)
        if request.path != "/health":
            log_event(
                logger,
                "http.request",
                level=_request_level(response.status_code, g.get("outcome")),
                method=request.method,
                path=request.path[:200],
                status=response.status_code,
                duration_ms=round((time.perf_counter() - g.get("started", 0.0)) * 1000, 1),
                outcome=g.get("outcome", "ok" if response.status_code < 400 else "rejected"),
            )
        return response

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("correlation_token", None)
        if token is not None:
            unbind_correlation_id(token)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "unexpected error; see the logs")

    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok", "app": app_name})

    return app


def _request_level(status: int, outcome: str | None) -> int:
    """A 5xx is worth a warning, except a deferral: waiting for another worker's claim, Yotpo's
    rate limit or the delivery's time budget is the system working as designed."""
    if status >= 500 and outcome != "deferred":
        return logging.WARNING
    return logging.INFO
