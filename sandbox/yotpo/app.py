"""HTTP face of the Yotpo stand-in: the `/api/v2` subset the connector uses, plus `/_sandbox`.

Every API request passes, in order: authentication (401), injected faults and the account's
rate limit (`YotpoEngine.admit`), then the program. Each one is recorded, with its final
status, for `GET /_sandbox/requests`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.yotpo.engine import ApiError, YotpoEngine
from shared.correlation import HEADER as CORRELATION_HEADER
from shared.logs import log_event

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v2"
ADMIN_PREFIX = "/_sandbox"
# "Approve Redemption Cancellation", body {reward_text}:
# https://loyaltyapi.yotpo.com/reference/approve-redemption-cancellation
REDEMPTION_CANCEL_PATH = "/redemptions/<int:redemption_id>/cancellation_completed"
LATENCY_HEADER = "X-Sandbox-Latency-Ms"
FAULT_HEADER = "X-Sandbox-Fault"
_SECRET_QUERY_PARAMS = frozenset({"api_key"})
ENGINE_EXTENSION = "yotpo_engine"

Extension = Callable[[Flask, YotpoEngine], None]
"""Adds routes to the stand-in (e.g. `sandbox/yotpo/widget.py` playing Yotpo's own rewards
page); called once by `create_app` after the API routes are registered."""
_EXTENSIONS: list[Extension] = []


def register_extension(extension: Extension) -> Extension:
    """Register a stand-in extension for every app `create_app` builds from now on (usable as
    a decorator). Registering the same function twice has no effect."""
    if extension not in _EXTENSIONS:
        _EXTENSIONS.append(extension)
    return extension


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _json_object() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def _recorded_body() -> Any:
    if not request.get_data():
        return None
    data = request.get_json(silent=True, force=True)
    if data is None:
        return {"unparsed": request.get_data(as_text=True)[:2000]}
    return data


def create_app(engine: YotpoEngine, extensions: tuple[Extension, ...] = ()) -> Flask:
    app = Flask("sandbox.yotpo")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[ENGINE_EXTENSION] = engine

    def is_api() -> bool:
        return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")

    @app.before_request
    def _admit() -> tuple[Response, int] | None:
        if not is_api():
            return None
        guid = request.headers.get("X-GUID") or request.args.get("guid")
        api_key = request.headers.get("X-API-KEY") or request.args.get("api_key")
        g.sent_guid = guid
        if guid is None or not engine.authenticate(guid, api_key):
            return _error(401, "invalid guid or api key")
        g.guid = guid
        admission = engine.admit(guid, request.path[len(API_PREFIX) :] or "/")
        g.extra_headers = dict(admission.headers)
        if admission.latency_ms:
            engine.pause(admission.latency_ms / 1000)
            g.extra_headers[LATENCY_HEADER] = str(admission.latency_ms)
        if admission.hang_seconds and engine.hang(admission.hang_seconds):
            g.extra_headers[FAULT_HEADER] = "hang-interrupted"
            return _error(503, "sandbox stopping; hanging request released")
        if admission.rejected:
            g.extra_headers[FAULT_HEADER] = admission.reject_message
            return _error(admission.reject_status or 500, admission.reject_message)
        return None

    @app.after_request
    def _record(response: Response) -> Response:
        if not is_api():
            return response
        for name, value in g.get("extra_headers", {}).items():
            response.headers[name] = value
        engine.record_request(
            {
                "method": request.method,
                "path": request.path,
                "query": {k: v for k, v in request.args.items() if k not in _SECRET_QUERY_PARAMS},
                "json": _recorded_body(),
                "guid": g.get("sent_guid"),
                "correlation_id": request.headers.get(CORRELATION_HEADER),
                "status": response.status_code,
            }
        )
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        return _error(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log_event(logger, "sandbox.yotpo.error", level=logging.ERROR, error=repr(exc))
        return _error(500, "unexpected sandbox error")

    # --- the Yotpo API subset ----------------------------------------------------------------

    @app.post(f"{API_PREFIX}/customers")
    def upsert_customer() -> Response:
        return jsonify(engine.upsert_customer(g.guid, _json_object()))

    @app.post(f"{API_PREFIX}/customer_birthdays")
    def set_customer_birthday() -> Response:
        # https://loyaltyapi.yotpo.com/reference/set-customer-birthday
        return jsonify(engine.set_customer_birthday(g.guid, _json_object()))

    @app.get(f"{API_PREFIX}/customers")
    def get_customer() -> Response:
        return jsonify(engine.get_customer(g.guid, request.args.to_dict()))

    @app.post(f"{API_PREFIX}/orders")
    def create_order() -> Response:
        return jsonify(engine.create_order(g.guid, _json_object()))

    @app.post(f"{API_PREFIX}/refunds")
    def create_refund() -> Response:
        return jsonify(engine.create_refund(g.guid, _json_object()))

    @app.post(f"{API_PREFIX}/points/adjust")
    def adjust_points() -> Response:
        return jsonify(engine.adjust_points(g.guid, _json_object()))

    @app.get(f"{API_PREFIX}/vip_tiers")
    def vip_tiers() -> Response:
        return jsonify(engine.vip_tiers(g.guid))

    @app.get(f"{API_PREFIX}/redemption_options")
    def redemption_options() -> Response:
        return jsonify(engine.redemption_options(g.guid, request.args.to_dict()))

    @app.post(f"{API_PREFIX}/redemptions")
    def create_redemption() -> Response:
        return jsonify(engine.create_redemption(g.guid, _json_object()))

    @app.post(f"{API_PREFIX}{REDEMPTION_CANCEL_PATH}")
    def complete_cancellation(redemption_id: int) -> Response:
        return jsonify(engine.complete_cancellation(g.guid, redemption_id, _json_object()))

    # --- sandbox administration (not part of Yotpo; no auth) ---------------------------------

    @app.get(f"{ADMIN_PREFIX}/state")
    def state() -> Response:
        return jsonify(engine.state())

    @app.get(f"{ADMIN_PREFIX}/requests")
    def requests_log() -> Response | tuple[Response, int]:
        try:
            since = int(request.args.get("since", "0"))
        except ValueError:
            return _error(400, "since must be an integer")
        entries = engine.requests_since(since)
        last = entries[-1]["seq"] if entries else since
        return jsonify({"requests": entries, "last_seq": last})

    @app.post(f"{ADMIN_PREFIX}/reset")
    def reset() -> Response:
        engine.reset()
        return jsonify({"reset": True})

    @app.post(f"{ADMIN_PREFIX}/accounts")
    def put_account() -> Response:
        return jsonify(engine.put_account(_json_object()))

    @app.post(f"{ADMIN_PREFIX}/faults")
    def set_faults() -> Response:
        return jsonify(engine.set_faults(_json_object()))

    @app.get(f"{ADMIN_PREFIX}/faults")
    def get_faults() -> Response:
        return jsonify(engine.faults())

    @app.post(f"{ADMIN_PREFIX}/redemptions/<int:redemption_id>/cancellation_request")
    def request_cancellation(redemption_id: int) -> Response | tuple[Response, int]:
        # The customer asks in Yotpo's widget; `guid` picks the account (default: the first).
        guid = request.args.get("guid") or engine.default_guid()
        return jsonify(engine.request_cancellation(guid, redemption_id))

    @app.get(f"{ADMIN_PREFIX}/webhooks")
    def webhooks() -> Response:
        dispatcher = engine.dispatcher
        return jsonify({"deliveries": dispatcher.deliveries() if dispatcher else []})

    for extension in (*_EXTENSIONS, *extensions):
        extension(app, engine)
    return app
