"""What every Flask app of the connector shares: health, JSON errors, correlation, request logs.

Apps stay thin: they register their one Connect endpoint on the app this returns.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException

from shared.correlation import (
    HEADER,
    bind_correlation_id,
    current_correlation_id,
    new_correlation_id,
    unbind_correlation_id,
)
from shared.logs import log_event

logger = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message, **extra}), status


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says why (never an HTML page, never a 500)."""
    data = request.get_json(silent=True, force=True)
    if data is None:
        raise BadRequest("request body must be a JSON object")
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object, not a JSON " + type(data).__name__)
    return data


def create_base_app(app_name: str) -> Flask:
    app = Flask(app_name)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(HEADER, "").strip()[:128]
        g.correlation_token = bind_correlation_id(incoming or new_correlation_id(app_name))
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        correlation = current_correlation_id()
        if correlation:
            response.headers[HEADER] = correlation
        if request.path != "/health":
            log_event(
                logger,
                "http.request",
                level=logging.WARNING if response.status_code >= 500 else logging.INFO,
                method=request.method,
                path=request.path,
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
