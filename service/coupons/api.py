"""`POST /yotpo/coupons` and `POST /yotpo/coupons/cancel`: Yotpo's Create / Cancel Coupons URLs.

When a shopper redeems a Generic Fixed Amount or Generic Variable reward in Yotpo's widgets on a
custom platform, Yotpo asks the merchant's Create Coupons URL to make the code exist in the shop,
and its Cancel Coupons URL to retire old unused ones; the configured secret comes in the
`X-Api-Secret` header and in the body
(https://support.yotpo.com/docs/implementing-redemptions-via-api).

Outcomes: 200 with the code (a repeated request answers the same code and creates nothing);
401 wrong or missing secret; 400 malformed request; 409 the code exists for something else;
422 a request the merchant's reward configuration does not allow (unknown reward, currency,
amount); 503 commercetools is unavailable (Yotpo may ask again: nothing was half-made that a
repeat does not finish). Nothing in the body is trusted beyond its authenticated shape: the
reward's value comes from the configuration, the customer binding from commercetools.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request

from service.coupons.settings import CouponSettings
from shared.checkout.coupon_codes import CouponIssuer
from shared.commercetools import CommercetoolsClient
from shared.domain.checkout.coupons import (
    CouponError,
    CouponWire,
    body_secret,
    parse_cancel,
    parse_create,
    plan_issue,
)
from shared.errors import PermanentError, TransientError
from shared.logs import log_event, log_failure
from shared.webapp import error_response

logger = logging.getLogger(__name__)

CREATE_PATH = "/yotpo/coupons"
CANCEL_PATH = "/yotpo/coupons/cancel"


def _same(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode(), expected.encode())


def _body() -> dict[str, Any]:
    """JSON, or a form post (the support page does not say which Yotpo sends)."""
    data = request.get_json(silent=True, force=True)
    if isinstance(data, dict):
        return data
    if request.form:
        form: dict[str, Any] = request.form.to_dict()
        # A form carries every value as text; whole numbers of the money fields are numbers.
        for name in CouponWire.AMOUNT_CENTS:
            value = form.get(name)
            if isinstance(value, str) and value.isdigit():
                form[name] = int(value)
        return form
    raise CouponError(400, "invalid_request", "request body must be a JSON object")


def authenticated(body: Mapping[str, Any], secret: str) -> bool:
    """The header and the body both carry the secret; each one present must match, and at
    least one must be there."""
    header = request.headers.get(CouponWire.SECRET_HEADER)
    in_body = body_secret(body)
    if header is None and in_body is None:
        return False
    return all(_same(given, secret) for given in (header, in_body) if given is not None)


def coupons_blueprint(settings: CouponSettings, ct: CommercetoolsClient) -> Blueprint:
    blueprint = Blueprint("yotpo_coupons", __name__)
    configured = settings.yotpo_coupon_secret
    secret = configured.get_secret_value() if configured else None
    options = settings.reward_options()
    issuer = CouponIssuer(ct)

    def guarded(handler: Any) -> tuple[Response, int]:
        if secret is None:
            return error_response(
                404, "not_configured", "set YOTPO_COUPON_SECRET to receive Yotpo's coupon calls"
            )
        try:
            body = _body()
            if not authenticated(body, secret):
                g.outcome = "unauthorized"
                return error_response(401, "unauthorized", "missing or wrong X-Api-Secret")
            return handler(body)
        except CouponError as exc:
            g.outcome = exc.code
            log_event(
                logger, "coupon.refused", reason=exc.code, status=exc.status, outcome="refused"
            )
            return error_response(exc.status, exc.code, str(exc))
        except TransientError as exc:
            g.outcome = "retry"
            log_failure(logger, "coupon.unavailable", exc, outcome="retry")
            return error_response(503, "retry_later", "commercetools is unavailable; try again")
        except PermanentError as exc:
            # A draft commercetools refuses is a configuration problem (e.g. unknown store).
            g.outcome = "failed"
            log_failure(logger, "coupon.failed", exc, outcome="failed")
            return error_response(422, "not_issuable", "commercetools refused the code; see logs")

    @blueprint.post(CREATE_PATH)
    def create() -> tuple[Response, int]:
        def handle(body: dict[str, Any]) -> tuple[Response, int]:
            assert secret is not None
            parsed = parse_create(body)
            prefix = settings.coupon_code_prefix
            plan = plan_issue(parsed, options, secret=secret, code_prefix=prefix)
            answer, created = issuer.issue(plan, email=parsed.customer_email)
            g.outcome = "created" if created else "repeated"
            return jsonify(answer), 200

        return guarded(handle)

    @blueprint.post(CANCEL_PATH)
    def cancel() -> tuple[Response, int]:
        def handle(body: dict[str, Any]) -> tuple[Response, int]:
            results = issuer.cancel(parse_cancel(body))
            g.outcome = "cancel"
            return jsonify({"results": results}), 200

        return guarded(handle)

    return blueprint


# Yotpo waits for the code while the shopper looks at its widget: short commercetools calls,
# one retry (a repeat of the whole request is safe, it creates nothing twice).
COUPON_CT_TIMEOUT = 3.0


def register_coupons(
    app: Flask, settings: CouponSettings, ct: CommercetoolsClient | None = None
) -> None:
    """Add the two routes to the service app; `settings` is the app's settings class (it
    inherits `CouponSettings`), `ct` a commercetools client (default: one of its own)."""
    if ct is None:
        from shared.runtime import commercetools_client
        from shared.settings import ConnectorSettings

        assert isinstance(settings, ConnectorSettings)
        ct = commercetools_client(settings, timeout=COUPON_CT_TIMEOUT, max_retries=1)
    app.register_blueprint(coupons_blueprint(settings, ct))
