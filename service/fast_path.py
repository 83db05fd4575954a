"""The extension's answer to carts that do not concern loyalty, before Flask is involved.

The trigger condition keeps such carts away from the extension, but a project whose trigger
is missing or wrong (or an older one) sends every cart update here, and each one is a
shopper waiting. Those calls get `{"actions": []}` from this WSGI layer: Authorization
checked in constant time, the body parsed with the same strict rules, no request context, no
hooks, no I/O — within a few percent of a do-nothing extension (`make bench`).

Anything else — wrong credentials, a body that is not acceptable JSON, another path, a cart
with loyalty fields, an order — goes to the Flask app unchanged (its body is handed on), so
every refusal, log line and loyalty decision stays where it is. The answer carries the same
security headers and correlation header the base app sets (docs/adr/0025).
"""

from __future__ import annotations

import hmac
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from service.extension_input import (
    PARSED_BODY_ENVIRON,
    BodyError,
    json_content_type,
    parse_body,
)
from shared.correlation import HEADER, safe_correlation_id
from shared.domain.checkout.cart import InvalidCart, concerns_loyalty
from shared.webapp import DEFAULT_MAX_BODY_BYTES, SECURITY_HEADERS

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_NO_ACTIONS = json.dumps({"actions": []}).encode()
_HEADER_ENVIRON = "HTTP_" + HEADER.upper().replace("-", "_")
_STATIC_HEADERS = [
    ("Content-Type", "application/json"),
    ("Content-Length", str(len(_NO_ACTIONS))),
    *SECURITY_HEADERS.items(),
]
_ACTIONS = frozenset({"Create", "Update"})


class ExtensionFastPath:
    def __init__(
        self,
        app: WsgiApp,
        authorization: str,
        *,
        path: str = "/service",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._app = app
        self._authorization = authorization.encode()
        self._path = path
        self._max = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != self._path:
            return self._app(environ, start_response)
        given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, self._authorization):
            return self._app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self._app(environ, start_response)
        if not 0 < length <= self._max or not json_content_type(environ.get("CONTENT_TYPE")):
            return self._app(environ, start_response)
        raw = environ["wsgi.input"].read(length)
        # Whatever happens next, the Flask app can read the body again.
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        try:
            body = parse_body(raw)
        except BodyError:
            return self._app(environ, start_response)
        # The Flask view takes this parse instead of repeating it (extension_input).
        environ[PARSED_BODY_ENVIRON] = body
        if not self._plain_cart(body):
            return self._app(environ, start_response)
        headers = list(_STATIC_HEADERS)
        correlation = safe_correlation_id(environ.get(_HEADER_ENVIRON))
        if correlation:
            headers.append((HEADER, correlation))
        start_response("200 OK", headers)
        return [_NO_ACTIONS]

    @staticmethod
    def _plain_cart(body: dict[str, Any]) -> bool:
        resource = body.get("resource")
        action = body.get("action")
        if not isinstance(action, str) or action not in _ACTIONS:
            return False
        if not isinstance(resource, dict) or resource.get("typeId") != "cart":
            return False
        cart = resource.get("obj")
        if not isinstance(cart, dict):
            return False
        try:
            return not concerns_loyalty(cart)
        except InvalidCart:
            return False
