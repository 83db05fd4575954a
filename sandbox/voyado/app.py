"""HTTP face of the Voyado Engage stand-in: the `/api/v2` and `/api/v3` subset, plus `/_sandbox`.

Every API request passes, in order: the `apikey` header (401), `User-Agent` and `Content-Type`
(https://developer.voyado.com/en/api/api-authentication.html: without Content-Type "Engage will
return a 500-error with the message 'An error has occurred'"), the injected latency (a bench's
knob, `/_sandbox/latency`), injected faults and the API key's rate limit (429,
https://developer.voyado.com/en/api/api-rate-limit.html), then the endpoint.
JSON numbers are read as `Decimal` and written back as numbers.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.voyado.engine import VoyadoEngine
from sandbox.voyado.state import ApiError
from sandbox.voyado.webhooks import encode
from shared.logs import log_event

logger = logging.getLogger(__name__)

ADMIN = "/_sandbox"
FAULT_HEADER = "X-Sandbox-Fault"


def _json(body: Any, status: int = 200) -> Response:
    return Response(encode(body), status=status, mimetype="application/json")


def _error(exc: ApiError) -> Response:
    return _json(exc.body(), exc.status)


def _body() -> Any:
    raw = request.get_data()
    if not raw:
        return None
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "InvalidModel", "the body is not valid JSON") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _recorded(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return {"unparsed": raw[:500].decode(errors="replace")}


def create_app(engine: VoyadoEngine) -> Flask:
    app = Flask("sandbox.voyado")

    def is_api() -> bool:
        return request.path.startswith(("/api/v2/", "/api/v3/"))

    @app.before_request
    def _admit() -> Response | None:
        if not is_api():
            return None
        tenant = engine.tenant_for_key(request.headers.get("apikey"))
        g.tenant = tenant
        if tenant is None:
            return _error(ApiError(401, "Unauthorized", "missing or unknown apikey"))
        silent = engine.tenant_config(tenant).silent
        if silent.user_agent == "reject" and not request.headers.get("User-Agent"):
            return _error(ApiError(400, "MissingUserAgent", "the User-Agent header is required"))
        needs_type = silent.content_type == "all" or bool(request.get_data())
        if needs_type and request.mimetype != "application/json":
            # The documented answer, word for word.
            return _json({"message": "An error has occurred"}, 500)
        # The bench's injected latency (`/_sandbox/latency`), before faults and the rate limit.
        engine.serve_latency()
        admission = engine.admit(request.headers["apikey"], request.path)
        g.admission = admission
        if admission.hang_seconds:
            engine.hang(admission.hang_seconds)
            g.fault = "hang"
            return _error(ApiError(504, "GatewayTimeout", "the request timed out"))
        if admission.reject is not None:
            g.fault = admission.reject.code
            return _error(admission.reject)
        return None

    @app.after_request
    def _after(response: Response) -> Response:
        if not is_api():
            return response
        admission = g.get("admission")
        if admission is not None and admission.drop_status and response.status_code < 300:
            # The ambiguous send: the work is committed, the answer is lost.
            if admission.drop_hang:
                engine.hang(admission.drop_hang)
            response = _error(ApiError(admission.drop_status, "InjectedFault", "answer dropped"))
            g.fault = "commit-then-drop"
        if g.get("fault"):
            response.headers[FAULT_HEADER] = g.fault
        engine.record_request(
            {
                "method": request.method,
                "path": request.path,
                "query": request.args.to_dict(),
                "json": json.loads(encode(_recorded(request.get_data()))),
                "tenant": g.get("tenant"),
                "userAgent": request.headers.get("User-Agent"),
                "idempotencyKey": request.headers.get("Idempotency-Key"),
                "status": response.status_code,
                "fault": g.get("fault"),
            }
        )
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return _error(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return _error(ApiError(exc.code or 500, exc.name.replace(" ", ""), exc.description or ""))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log_event(logger, "sandbox.voyado.error", level=logging.ERROR, error=repr(exc))
        return _json({"message": "An error has occurred"}, 500)

    # --- contacts ----------------------------------------------------------------------------

    @app.get("/api/v3/contacts/id")
    def find_contact() -> Response:
        # https://developer.voyado.com/en/contacts/identify-contact/find-contact.html: 200 with
        # the contactId (a JSON string).
        return _json(engine.find_contact_id(g.tenant, request.args.to_dict()))

    @app.post("/api/v3/contacts")
    def create_contact() -> Response:
        # https://developer.voyado.com/en/contacts/create-contact.html
        return _json(engine.create_contact(g.tenant, _body(), request.args.to_dict()), 201)

    @app.get("/api/v3/contacts/<contact_id>")
    def get_contact(contact_id: str) -> Response:
        # https://voyado.mintlify.app/docs/api/the-engage-api ("GET /api/v3/contacts/{contactId}")
        return _json(engine.get_contact(g.tenant, contact_id))

    # --- receipts ----------------------------------------------------------------------------

    # v2 is the path of https://developer.voyado.com/en/receipts/register-a-purchase.html; the
    # current page of https://developer.voyado.com/en/transactions/register-a-purchase.html and
    # a public integration (hantera-io/hantera.integration.voyado.engage) use v3. Both land here.
    @app.post("/api/v2/receipts")
    @app.post("/api/v3/receipts")
    def post_receipt() -> Response:
        engine.post_receipt(g.tenant, _body())
        answer = engine.tenant_config(g.tenant).silent.receipt_answer
        return Response(status=202 if answer == "202-empty" else 200)

    # --- points ------------------------------------------------------------------------------

    @app.get("/api/v3/point-accounts")
    def point_accounts() -> Response:
        # https://voyado.mintlify.app/docs/loyalty/points
        contact_id = request.args.get("contactId")
        if not contact_id:
            raise ApiError(400, "InvalidContactId", "contactId is required")
        items = engine.point_accounts(g.tenant, contact_id)
        return _json(_paged(items))

    @app.get("/api/v3/point-transactions")
    def point_transactions() -> Response:
        return _json(_paged(engine.point_transactions(g.tenant, request.args.to_dict())))

    @app.post("/api/v2/point-accounts/transactions")
    def add_point_transactions() -> Response:
        status, body = engine.add_point_transactions(
            g.tenant, _body(), request.headers.get("Idempotency-Key")
        )
        return _json(body, status)

    # --- reward vouchers ---------------------------------------------------------------------

    def _voucher_list(which: str) -> Response:
        contact_id = request.args.get("contactId")
        if not contact_id:
            raise ApiError(400, "InvalidContactId", "contactId is required")
        items = engine.vouchers(g.tenant, contact_id, which)
        if engine.tenant_config(g.tenant).silent.voucher_list == "plain":
            return _json(items)
        return _json(_paged(items))

    @app.get("/api/v3/reward-vouchers")
    def vouchers_all() -> Response:
        return _voucher_list("all")

    @app.get("/api/v3/reward-vouchers/available")
    def vouchers_available() -> Response:
        return _voucher_list("available")

    @app.get("/api/v3/reward-vouchers/redeemed")
    def vouchers_redeemed() -> Response:
        return _voucher_list("redeemed")

    @app.post("/api/v3/reward-vouchers/<voucher_id>/redeem")
    def redeem(voucher_id: str) -> Response:
        # 200 on success; the page gives no body, the stand-in returns the voucher.
        return _json(engine.redeem(g.tenant, voucher_id))

    @app.post("/api/v3/reward-vouchers/<voucher_id>/reactivate")
    def reactivate(voucher_id: str) -> Response:
        return _json(engine.reactivate(g.tenant, voucher_id))

    def _paged(items: list[Any]) -> dict[str, Any]:
        from sandbox.voyado.rewards import page

        return page(items, request.args.to_dict())

    _admin_routes(app, engine)
    return app


def _admin_routes(app: Flask, engine: VoyadoEngine) -> None:
    """Inspection and control for tests and the demo (not part of Voyado; no auth)."""

    def tenant() -> str:
        return request.args.get("tenant") or engine.default_tenant()

    def obj() -> dict[str, Any]:
        body = _body()
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidModel", "the body must be a JSON object")
        return body

    @app.get(f"{ADMIN}/state")
    def state() -> Response:
        return _json(engine.state(request.args.get("tenant")))

    @app.get(f"{ADMIN}/contacts/<contact_id>")
    def contact_state(contact_id: str) -> Response:
        return _json(engine.contact_state(tenant(), contact_id))

    @app.post(f"{ADMIN}/contacts")
    def seed_contact() -> Response:
        # `allow_duplicate=true` makes MultipleMatches reachable whatever the tenant setting.
        allow = request.args.get("allow_duplicate", "").lower() == "true"
        query = {k: v for k, v in request.args.items() if k in ("source", "storeExternalId")}
        view = engine.create_contact(tenant(), obj(), query, allow_duplicate=allow or None)
        return _json(view, 201)

    @app.post(f"{ADMIN}/reset")
    def reset() -> Response:
        engine.reset()
        return _json({"reset": True})

    @app.get(f"{ADMIN}/config")
    def config() -> Response:
        return _json(engine.config_view())

    @app.post(f"{ADMIN}/tenants")
    def put_tenant() -> Response:
        return _json(engine.put_tenant(obj()))

    @app.post(f"{ADMIN}/process")
    def process() -> Response:
        return _json({"processed": engine.process_pending(request.args.get("tenant"))})

    @app.post(f"{ADMIN}/clock")
    def clock() -> Response:
        seconds = obj().get("advance_seconds")
        if not isinstance(seconds, int | Decimal) or isinstance(seconds, bool):
            raise ApiError(400, "InvalidModel", "advance_seconds must be a number")
        return _json({"now": engine.advance(float(seconds)).isoformat()})

    @app.post(f"{ADMIN}/faults")
    def set_faults() -> Response:
        return _json(engine.set_faults(obj()))

    @app.get(f"{ADMIN}/faults")
    def get_faults() -> Response:
        return _json(engine.faults())

    @app.post(f"{ADMIN}/latency")
    def set_latency() -> Response:
        return _json(engine.set_latency(obj()))

    @app.get(f"{ADMIN}/latency")
    def get_latency() -> Response:
        return _json(engine.latency())

    @app.get(f"{ADMIN}/events")
    def events() -> Response:
        return _json({"events": engine.events()})

    @app.get(f"{ADMIN}/webhooks")
    def webhooks() -> Response:
        return _json({"deliveries": engine.dispatcher.deliveries()})

    @app.get(f"{ADMIN}/requests")
    def requests_log() -> Response:
        try:
            since = int(request.args.get("since", "0"))
        except ValueError as exc:
            raise ApiError(400, "InvalidQuery", "since must be an integer") from exc
        return _json({"requests": engine.requests_since(since)})
