"""The service app: the cart API Extension (`POST /service`) and Yotpo's webhooks."""

from __future__ import annotations

import hmac

from flask import Flask, Response, g, jsonify, request

from service.cancellations import CancelledCodes
from service.extension import CheckoutExtension
from service.settings import ServiceSettings
from service.webhooks import WEBHOOK_SECRET_HEADER, WebhookError, YotpoWebhooks
from shared.runtime import Runtime, build_runtime, commercetools_client
from shared.webapp import create_base_app, error_response, json_body

# The one commercetools read on the checkout path must not eat the extension's budget.
_CHECKOUT_CT_TIMEOUT = 0.5


def extension_authorization(settings: ServiceSettings) -> str:
    """The Authorization header value commercetools is told to send (install script too)."""
    return f"Bearer {settings.extension_secret.get_secret_value()}"


def _same(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode(), expected.encode())


def create_app(settings: ServiceSettings, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime(settings)
    checkout_ct = commercetools_client(settings, timeout=_CHECKOUT_CT_TIMEOUT, max_retries=0)
    extension = CheckoutExtension(settings, runtime, CancelledCodes(checkout_ct))
    webhooks = YotpoWebhooks(CancelledCodes(runtime.commercetools))
    expected_auth = extension_authorization(settings)
    webhook_secret = (
        settings.yotpo_webhook_secret.get_secret_value() if settings.yotpo_webhook_secret else None
    )
    app = create_base_app("service")

    @app.post("/service")
    def api_extension() -> tuple[Response, int]:
        if not _same(request.headers.get("Authorization"), expected_auth):
            return error_response(401, "unauthorized", "missing or wrong Authorization header")
        body = json_body()
        resource = body.get("resource")
        if body.get("action") not in {"Create", "Update"} or not isinstance(resource, dict):
            return error_response(
                400, "invalid_extension_request", "expected {action: Create|Update, resource}"
            )
        cart = resource.get("obj")
        if resource.get("typeId") != "cart" or not isinstance(cart, dict):
            return error_response(
                400, "invalid_extension_request", "this extension handles carts only"
            )
        answer = extension.handle(cart)
        g.outcome = answer.outcome
        return jsonify(answer.body), answer.status

    @app.post("/yotpo/webhooks")
    def yotpo_webhook() -> tuple[Response, int]:
        if webhook_secret is None:
            return error_response(
                404, "not_configured", "set YOTPO_WEBHOOK_SECRET to receive Yotpo webhooks"
            )
        if not _same(request.headers.get(WEBHOOK_SECRET_HEADER), webhook_secret):
            return error_response(401, "unauthorized", "missing or wrong webhook secret")
        try:
            outcome = webhooks.handle(json_body())
        except WebhookError as exc:
            return error_response(400, "invalid_webhook", str(exc))
        g.outcome = outcome
        return jsonify({"outcome": outcome}), 200

    return app
