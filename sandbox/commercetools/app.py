"""The stand-in's HTTP face: commercetools' paths, OAuth, error envelope, and `/_sandbox`.

Only base URLs differ from the real API, so the connector's own client runs against it
unchanged. `/_sandbox/...` (no auth) lets tests and the demo seed, observe and break it.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.commercetools import oauth, order_edits, product_projections
from sandbox.commercetools.catalogue import build_catalogue
from sandbox.commercetools.errors import (
    ApiError,
    general,
    invalid_input,
    invalid_json,
    not_found,
)
from sandbox.commercetools.state import KINDS, Faults, Ident, StandInState
from shared.correlation import (
    HEADER,
    bind_correlation_id,
    correlation_id,
    new_correlation_id,
    unbind_correlation_id,
)
from shared.logs import log_event

logger = logging.getLogger(__name__)

ADMIN = "/_sandbox"
# The platform SDK's name of each collection's resource type (for the type oracle).
SDK_TYPES: dict[str, str] = {
    "carts": "Cart",
    "orders": "Order",
    "customers": "Customer",
    "customer-groups": "CustomerGroup",
    "types": "Type",
    "payments": "Payment",
    "discount-codes": "DiscountCode",
    "cart-discounts": "CartDiscount",
    "extensions": "Extension",
    "subscriptions": "Subscription",
    "custom-objects": "CustomObject",
    "messages": "Message",
}
DRAFT_TYPES: dict[str, str] = {
    **{c: f"{t}Draft" for c, t in SDK_TYPES.items()},
    "orders": "OrderFromCartDraft",
    "customers": "CustomerDraft",
}
QUERYABLE = frozenset({*KINDS, "custom-objects", "messages"})
FAULT_STATUSES = frozenset({500, 502, 503, 504})


def create_app(state: StandInState | None = None) -> Flask:
    state = state or StandInState()
    app = Flask(__name__)
    app.extensions["ct_standin"] = state
    project = state.project_key

    @app.before_request
    def _before() -> Any:
        g.correlation_token = bind_correlation_id(
            request.headers.get(HEADER) or new_correlation_id("ct")
        )
        if request.path.startswith(ADMIN):
            return None
        status, latency_ms = state.take_fault(request.method, request.path)
        if latency_ms:
            time.sleep(latency_ms / 1000)
        if status is not None:
            return _error(general(status, f"Injected fault: HTTP {status}."))
        if request.path.startswith("/oauth/"):
            return None
        token = _bearer()
        grant = state.grant(token) if token is not None else None
        if grant is None:
            return _error(ApiError.single(401, "invalid_token", "invalid_token"), oauth=True)
        g.grant = grant
        accepted = _accepted_scopes(request.method, request.path, project)
        if accepted is not None and not oauth.allows(grant, accepted):
            missing = ", ".join(sorted(accepted))
            return _error(
                ApiError.single(
                    403,
                    "insufficient_scope",
                    f"Insufficient scope. One of the following scopes is missing: {missing}",
                ),
                oauth=True,
            )
        return None

    @app.after_request
    def _after(response: Response) -> Response:
        response.headers[HEADER] = correlation_id()
        if not request.path.startswith(ADMIN):
            state.record_request(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": request.query_string.decode(errors="replace"),
                    "status": response.status_code,
                    "correlationId": correlation_id(),
                }
            )
        return response

    @app.teardown_request
    def _teardown(exc: BaseException | None) -> None:
        token = g.pop("correlation_token", None)
        if token is not None:
            unbind_correlation_id(token)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        # The auth endpoints answer in OAuth's shape too (`error`, `error_description`).
        return _error(exc, oauth=request.path.startswith("/oauth/"))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 404:
            return _error(not_found(f"The endpoint {request.path} was not found."))
        if status == 405:
            return _error(ApiError.single(405, "MethodNotAllowed", "Method not allowed."))
        return _error(general(status, exc.description or "Error"))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log_event(logger, "standin.error", level=logging.ERROR, error=type(exc).__name__)
        logger.exception("unexpected error in the commercetools stand-in")
        return _error(general(500, "Internal stand-in error."))

    # --- OAuth -----------------------------------------------------------------------------
    @app.post("/oauth/token")
    def token() -> Any:
        auth = request.authorization
        if request.form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "Only client_credentials is supported."
            )
        issued = state.issue_token(
            auth.username or "" if auth else "",
            auth.password or "" if auth else "",
            request.form.get("scope"),
        )
        if issued is None:
            return _oauth_error(
                401,
                "invalid_client",
                "Please provide valid client credentials using HTTP Basic Authentication.",
            )
        return jsonify(issued)

    def _client() -> tuple[str, str]:
        auth = request.authorization
        return (auth.username or "" if auth else "", auth.password or "" if auth else "")

    @app.post(f"/oauth/{project}/customers/token")
    def customer_token() -> Any:
        if request.form.get("grant_type") != "password":
            return _oauth_error(400, "unsupported_grant_type", "Use grant_type=password.")
        issued = state.issue_customer_token(
            *_client(),
            request.form.get("username", ""),
            request.form.get("password", ""),
            request.form.get("scope"),
        )
        if issued is None:
            return _oauth_error(401, "invalid_client", "Invalid client credentials.")
        return jsonify(issued)

    @app.post(f"/oauth/{project}/anonymous/token")
    def anonymous_token() -> Any:
        if request.form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Use grant_type=client_credentials.")
        issued = state.issue_anonymous_token(
            *_client(), request.form.get("scope"), request.form.get("anonymous_id")
        )
        if issued is None:
            return _oauth_error(401, "invalid_client", "Invalid client credentials.")
        return jsonify(issued)

    # --- My Carts (a shopper's token) --------------------------------------------------------
    def _served_carts(resource: dict[str, Any], status: int = 200) -> Any:
        state.observe("Cart", resource, f"{request.method} {request.path}")
        return jsonify(resource), status

    def _shopper() -> oauth.Grant:
        grant: oauth.Grant = g.grant
        if not grant.shopper:
            raise ApiError.single(
                400,
                "InvalidOperation",
                "The Me endpoints need a token of a customer or an anonymous session.",
            )
        return grant

    for prefix, name in (
        (f"/{project}/me", "me"),
        (f"/{project}/in-store/key=<store_key>/me", "store_me"),
    ):
        _me_routes(app, state, prefix, name, _shopper, _served_carts)

    # --- the project API -------------------------------------------------------------------
    @app.get(f"/{project}")
    def project_info() -> Any:
        return jsonify(
            {
                "key": project,
                "name": project,
                "version": 1,
                "currencies": ["EUR", "USD", "JPY", "KWD"],
                "countries": ["DE", "US", "JP", "KW"],
                "languages": ["en"],
                "messages": {"enabled": True, "deleteDaysAfterCreation": 15},
            }
        )

    @app.get(f"/{project}/<collection>")
    def query(collection: str) -> Any:
        _known(collection, QUERYABLE)
        return _served_page(collection, state.query(collection, **_query_params()))

    @app.post(f"/{project}/<collection>")
    def create(collection: str) -> Any:
        _known(collection, QUERYABLE - {"messages"})
        draft = _body()
        state.observe(DRAFT_TYPES[collection], draft, f"POST /{collection}")
        if collection == "custom-objects":
            resource, created = state.put_custom_object(draft)
            return _served(collection, resource, 201 if created else 200)
        resource = state.create(collection, draft)
        if collection == "customers" and isinstance(draft.get("password"), str):
            state.set_password(resource["id"], draft["password"])
        if collection == "customers":
            shown = served_view(collection, resource)
            state.observe("CustomerSignInResult", {"customer": shown}, "POST /customers")
            return jsonify({"customer": shown}), 201
        return _served(collection, resource, 201)

    @app.post(f"/{project}/orders/import")
    def import_order() -> Any:
        draft = _body()
        state.observe("OrderImportDraft", draft, "POST /orders/import")
        return _served("orders", state.import_order(draft), 201)

    @app.get(f"/{project}/<collection>/<ident>")
    def get(collection: str, ident: str) -> Any:
        _known(collection, QUERYABLE)
        if collection == "custom-objects":
            return _served_page(
                collection, state.query(collection, container=ident, **_query_params())
            )
        return _served(collection, state.get(collection, _ident(ident), _expand_param()))

    @app.post(f"/{project}/<collection>/<ident>")
    def update(collection: str, ident: str) -> Any:
        _known(collection, KINDS)
        body = _body()
        version = body.get("version")
        actions = body.get("actions")
        if isinstance(version, bool) or not isinstance(version, int):
            raise invalid_json("Request body does not contain valid JSON: 'version' is required.")
        if not isinstance(actions, list) or not all(
            isinstance(a, dict) and isinstance(a.get("action"), str) for a in actions
        ):
            raise invalid_json("Request body does not contain valid JSON: 'actions' is required.")
        type_name = SDK_TYPES[collection]
        state.observe(f"{type_name}UpdateAction[]", actions, f"POST /{collection}/{{id}}")
        resource = state.update(collection, _ident(ident), version, actions)
        expand = _expand_param()
        if expand:
            resource = state.get(collection, ("id", resource["id"]), expand)
        return _served(collection, resource)

    @app.delete(f"/{project}/<collection>/<ident>")
    def delete(collection: str, ident: str) -> Any:
        _known(collection, KINDS)
        return _served(collection, state.delete(collection, _ident(ident), _version_param()))

    @app.get(f"/{project}/custom-objects/<container>/<key>")
    def get_custom_object(container: str, key: str) -> Any:
        return _served("custom-objects", state.get_custom_object(container, key))

    @app.delete(f"/{project}/custom-objects/<container>/<key>")
    def delete_custom_object(container: str, key: str) -> Any:
        return _served(
            "custom-objects", state.delete_custom_object(container, key, _version_param())
        )

    def _served(collection: str, resource: dict[str, Any], status: int = 200) -> Any:
        shown = served_view(collection, resource)
        state.observe(SDK_TYPES[collection], shown, f"{request.method} {request.path}")
        return jsonify(shown), status

    def _served_page(collection: str, page: dict[str, Any]) -> Any:
        results = [served_view(collection, r) for r in page.get("results", [])]
        for shown in results:
            state.observe(SDK_TYPES[collection], shown, f"{request.method} {request.path}")
        return jsonify({**page, "results": results})

    product_projections.register_routes(
        app, state, project, query_params=_query_params, ident=_ident
    )
    order_edits.register_routes(
        app,
        state,
        project,
        body=_body,
        query_params=_query_params,
        ident=_ident,
        version_param=_version_param,
    )
    _admin_routes(app, state)
    return app


def _config_view(state: StandInState) -> dict[str, Any]:
    return {
        "ignoreCartDiscountsDefault": state.config.ignore_cart_discounts_default,
        "payloadNotIncludedTypes": sorted(state.config.payload_not_included_types),
    }


def _me_routes(
    app: Flask, state: StandInState, prefix: str, name: str, shopper: Any, served: Any
) -> None:
    @app.post(f"{prefix}/carts", endpoint=f"{name}_create_cart")
    def create_my_cart(store_key: str | None = None) -> Any:
        draft = _body()
        state.observe("MyCartDraft", draft, f"POST {request.path}")
        return served(state.create_my_cart(shopper(), draft, store_key), 201)

    @app.get(f"{prefix}/carts", endpoint=f"{name}_query_carts")
    def query_my_carts(store_key: str | None = None) -> Any:
        carts = state.my_carts(shopper(), store_key)
        for cart in carts:
            state.observe("Cart", cart, f"GET {request.path}")
        return jsonify({"limit": 20, "offset": 0, "count": len(carts), "results": carts})

    @app.get(f"{prefix}/carts/<cart_id>", endpoint=f"{name}_get_cart")
    def get_my_cart(cart_id: str, store_key: str | None = None) -> Any:
        return served(state.my_cart(shopper(), cart_id, store_key))

    @app.post(f"{prefix}/orders", endpoint=f"{name}_create_order")
    def create_my_order(store_key: str | None = None) -> Any:
        draft = _body()
        state.observe("MyOrderFromCartDraft", draft, f"POST {request.path}")
        order = state.create_my_order(shopper(), draft, store_key)
        shown = served_view("orders", order)
        state.observe("Order", shown, f"POST {request.path}")
        return jsonify(shown), 201

    @app.post(f"{prefix}/carts/<cart_id>", endpoint=f"{name}_update_cart")
    def update_my_cart(cart_id: str, store_key: str | None = None) -> Any:
        body = _body()
        version, actions = body.get("version"), body.get("actions")
        if (
            isinstance(version, bool)
            or not isinstance(version, int)
            or not isinstance(actions, list)
        ):
            raise invalid_json("Request body does not contain valid JSON: version and actions.")
        state.observe("MyCartUpdateAction[]", actions, f"POST {request.path}")
        return served(state.update_my_cart(shopper(), cart_id, version, actions, store_key))


def _accepted_scopes(method: str, path: str, project: str) -> frozenset[str] | None:
    """The scopes of the endpoint at `path`; None where any valid token will do."""
    parts = path.strip("/").split("/")
    if not parts or parts[0] != project:
        return None
    rest = parts[1:]
    if rest and rest[0] == "in-store":
        rest = rest[2:] if len(rest) > 1 and rest[1].startswith("key=") else rest[1:]
    if not rest:
        return frozenset({"manage_project", "view_project"})
    if rest[0] == "me":
        return oauth.MY_CARTS_SCOPES | frozenset({"manage_project"})
    if rest[:2] == ["orders", "edits"]:
        return oauth.accepted_scopes("order-edits", method)
    return oauth.accepted_scopes(rest[0], method)


def _admin_routes(app: Flask, state: StandInState) -> None:
    @app.post(f"{ADMIN}/reset")
    def reset() -> Any:
        state.reset()
        return jsonify({"reset": True})

    @app.get(f"{ADMIN}/state")
    def snapshot() -> Any:
        full = request.args.get("resources", "").lower() in ("1", "true", "yes")
        return jsonify(state.snapshot(include_resources=full))

    @app.get(f"{ADMIN}/products")
    def products() -> Any:
        return jsonify(state.catalogue.describe())

    @app.post(f"{ADMIN}/products")
    def set_products() -> Any:
        body = _body()
        given = body.get("products") or []
        if not isinstance(given, list):
            raise invalid_input("'products' must be a list.")
        categories = body.get("categories") or []
        if not isinstance(categories, list):
            raise invalid_input("'categories' must be a list.")
        base = None if body.get("replace") else state.catalogue
        catalogue = build_catalogue(
            given, body.get("taxCategories"), base=base, categories=categories
        )
        state.set_catalogue(catalogue)
        return jsonify(catalogue.describe())

    @app.get(f"{ADMIN}/push-endpoints")
    def push_endpoints() -> Any:
        return jsonify(state.push_endpoints)

    @app.post(f"{ADMIN}/push-endpoints")
    def set_push_endpoint() -> Any:
        body = _body()
        topic, url = body.get("topic"), body.get("url")
        if not isinstance(topic, str) or not topic or not isinstance(url, str) or not url:
            raise invalid_input("A push endpoint needs 'topic' and 'url'.")
        state.set_push_endpoint(topic, url)
        return jsonify({"topic": topic, "url": url})

    @app.get(f"{ADMIN}/requests")
    def recorded() -> Any:
        return jsonify(state.recorded_requests(request.args.get("since", 0, type=int)))

    @app.get(f"{ADMIN}/config")
    def config() -> Any:
        return jsonify(_config_view(state))

    @app.post(f"{ADMIN}/config")
    def set_config() -> Any:
        """The platform behaviours the public docs leave open, played either way."""
        body = _body()
        flag = body.get("ignoreCartDiscountsDefault")
        if flag is not None:
            if not isinstance(flag, bool):
                raise invalid_input("'ignoreCartDiscountsDefault' must be a boolean.")
            state.config.ignore_cart_discounts_default = flag
        left_out = body.get("payloadNotIncludedTypes")
        if left_out is not None:
            if not isinstance(left_out, list) or not all(isinstance(t, str) for t in left_out):
                raise invalid_input("'payloadNotIncludedTypes' must be a list of message types.")
            state.config.payload_not_included_types = frozenset(left_out)
        return jsonify(_config_view(state))

    @app.get(f"{ADMIN}/faults")
    def faults() -> Any:
        return jsonify(state.faults.as_json())

    @app.post(f"{ADMIN}/faults")
    def set_faults() -> Any:
        body = _body()
        status = body.get("error_status", 503)
        if status not in FAULT_STATUSES:
            raise invalid_input(f"'error_status' must be one of {sorted(FAULT_STATUSES)}.")
        count, latency = body.get("error_next", 0), body.get("latency_ms", 0)
        if not isinstance(count, int) or count < 0 or not isinstance(latency, int) or latency < 0:
            raise invalid_input("'error_next' and 'latency_ms' must be non-negative integers.")
        method = body.get("method")
        faults = Faults(
            error_next=count,
            error_status=status,
            path_prefix=body.get("path_prefix"),
            method=method.upper() if isinstance(method, str) else None,
            latency_ms=latency,
        )
        state.set_faults(faults)
        return jsonify(faults.as_json())

    @app.get(f"{ADMIN}/deliveries")
    def deliveries() -> Any:
        return jsonify(
            {"deliveries": state.deliverer.records(), "pending": state.deliverer.pending()}
        )

    @app.post(f"{ADMIN}/deliveries/wait")
    def wait_for_deliveries() -> Any:
        timeout = request.args.get("timeout", 30.0, type=float)
        idle = state.deliverer.wait_idle(min(timeout, 120.0))
        return jsonify({"idle": idle, "pending": state.deliverer.pending()})


# --- what a read shows -------------------------------------------------------------------------
def served_view(collection: str, resource: dict[str, Any]) -> dict[str, Any]:
    """A resource as the API returns it. The Authorization header of an extension is
    "Partially hidden on retrieval for security reasons" (RAML
    types/extension/AuthorizationHeaderAuthentication.raml, headerValue)."""
    if collection != "extensions":
        return resource
    auth = (resource.get("destination") or {}).get("authentication") or {}
    if auth.get("type") != "AuthorizationHeader" or "headerValue" not in auth:
        return resource
    shown = copy.deepcopy(resource)
    shown["destination"]["authentication"]["headerValue"] = mask_header(auth["headerValue"])
    return shown


def mask_header(value: Any) -> str:
    """`Bearer s3cret-value` → `Bearer s3**********`: enough to recognise, never to reuse."""
    text = str(value)
    scheme, sep, secret = text.partition(" ")
    if not sep:
        scheme, secret = "", text
    kept = secret[:2] if len(secret) > 6 else ""
    masked = kept + "*" * max(len(secret) - len(kept), 4)
    return f"{scheme} {masked}" if sep else masked


def _expand_param() -> list[str]:
    return request.args.getlist("expand")


# --- request helpers ---------------------------------------------------------------------------
def _error(exc: ApiError, oauth: bool = False) -> Response:
    body = exc.envelope()
    if oauth:
        body["error"] = exc.errors[0]["code"]
        body["error_description"] = exc.errors[0]["message"]
    response = jsonify(body)
    response.status_code = exc.status
    return response


def _oauth_error(status: int, code: str, message: str) -> Response:
    return _error(ApiError.single(status, code, message), oauth=True)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _known(collection: str, allowed: Any) -> None:
    if collection not in allowed:
        raise not_found(f"The endpoint /{collection} was not found.")


def _ident(raw: str) -> Ident:
    if raw.startswith("key="):
        return ("key", raw[len("key=") :])
    return ("id", raw)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid_json("Request body does not contain valid JSON.")
    return body


def _int_param(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_input(f"Malformed parameter: {name}: '{raw}' is not an integer.") from None


def _version_param() -> int | None:
    return _int_param("version", -1) if "version" in request.args else None


def _query_params() -> dict[str, Any]:
    with_total = request.args.get("withTotal", "true").lower()
    if with_total not in ("true", "false"):
        raise invalid_input("Malformed parameter: withTotal: expected true or false.")
    return {
        "where": request.args.getlist("where"),
        "sort": request.args.getlist("sort"),
        "limit": _int_param("limit", 20),
        "offset": _int_param("offset", 0),
        "with_total": with_total == "true",
        "expand": request.args.getlist("expand"),
    }
