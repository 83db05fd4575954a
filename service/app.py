"""The service app: the cart API Extension (`POST /service`) and Yotpo's webhooks."""

from __future__ import annotations

import hmac

from flask import Flask, Response, g, jsonify, request

from service.cancellations import CancelledCodes
from service.extension import CheckoutExtension
from service.instore import register_instore
from service.settings import ServiceSettings
from service.webhooks import WEBHOOK_SECRET_HEADER, WebhookError, YotpoWebhooks
from shared.errors import TransientError, describe
from shared.runtime import Runtime, build_runtime, commercetools_client
from shared.webapp import create_base_app, error_response, json_body
from shared.writeback import CustomerWriteback

# The one commercetools read on the checkout path must not eat the extension's budget.
_CHECKOUT_CT_TIMEOUT = 0.5
# A webhook's write-back answers within a few seconds: short commercetools timeouts, one retry.
_WEBHOOK_CT_TIMEOUT = 2.0


def extension_authorization(settings: ServiceSettings) -> str:
    """The Authorization header value commercetools is told to send (install script too)."""
    return f"Bearer {settings.extension_secret.get_secret_value()}"


def _same(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode(), expected.encode())


def create_app(settings: ServiceSettings, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime(settings)
    checkout_ct = commercetools_client(settings, timeout=_CHECKOUT_CT_TIMEOUT, max_retries=0)
    extension = CheckoutExtension(settings, runtime, CancelledCodes(checkout_ct))
    webhook_ct = commercetools_client(settings, timeout=_WEBHOOK_CT_TIMEOUT, max_retries=1)
    writeback = CustomerWriteback(
        webhook_ct,
        runtime.yotpo_for_store,
        type_key=settings.customer_type_key,
        tier_groups=settings.tier_groups(),
    )
    webhooks = YotpoWebhooks(
        CancelledCodes(runtime.commercetools), writeback, commercetools=webhook_ct
    )
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
        except TransientError as exc:
            # Yotpo delivers the webhook again; nothing was half-written (one update per look).
            g.outcome = "retry"
            return error_response(503, "retry_later", describe(exc))
        g.outcome = outcome
        return jsonify({"outcome": outcome}), 200

    register_instore(app, settings, runtime)
    return app
