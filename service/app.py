"""The service app: the cart and order API Extension (`POST /service`), Yotpo's webhooks and
coupon URLs, and the in-store loyalty API."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Flask, Response, g, jsonify, request

from service.cancellations import CancellationRefusals, CancelledCodes
from service.coupons import register_coupons
from service.extension import CheckoutExtension, ExtensionAnswer, member_lookup, rejection_answer
from service.extension_input import extension_body
from service.fast_path import ExtensionFastPath
from service.instore import register_instore
from service.order_guard import ConsumptionRecords, OrderGuard
from service.settings import ServiceSettings
from service.voyado_webhooks import register_voyado_webhooks
from service.webhooks import YotpoWebhooks, register_webhook_route
from shared.customers.writeback import CustomerWriteback
from shared.domain.checkout.cart import InvalidCart, LoyaltyError, Rejection
from shared.errors import describe
from shared.logs import log_event
from shared.runtime import Runtime, build_runtime, commercetools_client
from shared.webapp import create_base_app, error_response

# The one commercetools read on the checkout path must not eat the extension's budget.
_CHECKOUT_CT_TIMEOUT = 0.5
# A webhook's write-back answers within a few seconds: short commercetools timeouts, one retry.
_WEBHOOK_CT_TIMEOUT = 2.0
_EXTENSION_ACTIONS = frozenset({"Create", "Update"})

logger = logging.getLogger(__name__)


def extension_authorization(settings: ServiceSettings) -> str:
    """The Authorization header value commercetools is told to send (install script too)."""
    return f"Bearer {settings.extension_secret.get_secret_value()}"


def _same(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode(), expected.encode())


def create_app(settings: ServiceSettings, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime(settings)
    checkout_ct = commercetools_client(settings, timeout=_CHECKOUT_CT_TIMEOUT, max_retries=0)
    # One customer read (only when the member id is not the customer id), on the quick client.
    members = member_lookup(settings, checkout_ct)
    extension = CheckoutExtension(
        settings, runtime, CancelledCodes(checkout_ct), members=members, customers=checkout_ct
    )
    # The order check shares the extension's rewards (the same cached program lists and base
    # currency) and its quick commercetools client.
    orders = OrderGuard(
        extension.config,
        runtime,
        CancelledCodes(checkout_ct),
        settings.loyalty_call_budget_ms / 1000,
        members=members,
        consumptions=ConsumptionRecords(checkout_ct),
        customers=checkout_ct,
        rewards=extension.rewards,
    )
    webhook_ct = commercetools_client(settings, timeout=_WEBHOOK_CT_TIMEOUT, max_retries=1)
    # One write-back for both webhook receivers (Yotpo's and Voyado's), every provider through
    # the provider port (ADR 0097).
    writeback = CustomerWriteback(
        webhook_ct,
        runtime.provider_for_store,
        type_key=settings.customer_type_key,
        tier_groups=settings.tier_groups(),
        identity=settings.member_identity(),
    )
    webhooks = YotpoWebhooks(
        CancelledCodes(runtime.commercetools),
        writeback,
        commercetools=webhook_ct,
        accounts=runtime.provider_account,
        refusals=CancellationRefusals(webhook_ct),
    )
    expected_auth = extension_authorization(settings)
    app = create_base_app("service")

    @app.post("/service")
    def api_extension() -> tuple[Response, int]:
        if not _same(request.headers.get("Authorization"), expected_auth):
            return error_response(401, "unauthorized", "missing or wrong Authorization header")
        body = extension_body()
        action = body.get("action")
        resource = body.get("resource")
        if not isinstance(action, str) or action not in _EXTENSION_ACTIONS:
            return error_response(
                400, "invalid_extension_request", "expected {action: Create|Update, resource}"
            )
        if not isinstance(resource, dict) or not isinstance(resource.get("obj"), dict):
            return error_response(
                400, "invalid_extension_request", "expected {action: Create|Update, resource}"
            )
        type_id = resource.get("typeId")
        obj: dict[str, Any] = resource["obj"]
        if type_id == "cart":
            answer = _answer(lambda: extension.handle(obj), type_id)
        elif type_id == "order" and action == "Create":
            answer = _answer(lambda: orders.handle(obj), type_id)
        else:
            return error_response(
                400, "invalid_extension_request", "this extension handles carts and new orders"
            )
        g.outcome = answer.outcome
        return jsonify(answer.body), answer.status

    register_webhook_route(app, webhooks, settings.webhook_auth(settings.yotpo_webhook_secret))
    register_voyado_webhooks(app, settings, runtime, webhook_ct, writeback)
    register_instore(app, settings, runtime)
    register_coupons(app, settings)
    # Carts without loyalty fields are answered before Flask (service/fast_path.py).
    app.wsgi_app = ExtensionFastPath(app.wsgi_app, expected_auth)  # type: ignore[method-assign]
    return app


def _answer(handle: Any, type_id: str) -> ExtensionAnswer:
    """Every input gets a 200 or a 400 InvalidInput, never a 500 (which commercetools would
    turn into ExtensionBadResponse and the shopper into a broken checkout)."""
    try:
        return handle()
    except InvalidCart as exc:
        return ExtensionAnswer(
            400,
            {"errors": [{"code": "InvalidInput", "message": f"not a valid {type_id}: {exc}"}]},
            "invalid_input",
        )
    except Exception as exc:
        log_event(
            logger,
            "checkout.unexpected_error",
            level=logging.ERROR,
            resource=type_id,
            error=describe(exc),
            outcome="rejected",
        )
        logger.exception("checkout extension failed")
        return rejection_answer(Rejection(LoyaltyError.UNAVAILABLE))
