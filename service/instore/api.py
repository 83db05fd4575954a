"""The `/loyalty` Blueprint: HTTP in, the desks, HTTP out.

Authentication (bearer secret → POS key → store), the rate limits (lookups and redemptions per
key, failed authentications per client address), and the mapping of every failure to an
answer a terminal can act on: 4xx refusals (nothing changed), 503 with Retry-After when
commercetools or the store's loyalty provider (Yotpo, Voyado) is unavailable (retry with the
same request_id). No answer carries commercetools' or the provider's own error text: that goes
to the log.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from importlib.resources import files
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from pydantic import ValidationError

from service.install import OWN_CART_TYPE_KEY
from service.instore.access import Keyring, Principal, Throttle, worker_count
from service.instore.commerce import CustomerDirectory
from service.instore.members import (
    candidate,
    customer_summary,
    needs_next_tier_name,
    next_tier_name,
)
from service.instore.models import (
    OrderRequest,
    RedemptionRequest,
    RefundRequest,
    ReversalRequest,
    checked_email,
)
from service.instore.openapi import PREFIX, openapi_document
from service.instore.orders import OrderDesk
from service.instore.problems import Problem, invalid, not_found
from service.instore.redemptions import RedemptionDesk
from service.instore.refunds import RefundDesk
from service.instore.replays import RequestLog
from service.instore.settings import InStoreSettings
from shared.domain.customers.customer_sync import e164
from shared.domain.customers.member_identity import MemberIdentity
from shared.errors import PermanentError, TransientError, YotpoAuthError, describe
from shared.logs import log_event
from shared.providers.rewards import rewards_account
from shared.runtime import Runtime
from shared.settings import MemberSettings, SettingsError
from shared.voyado import VoyadoAuthError
from shared.webapp import error_response, json_body

logger = logging.getLogger(__name__)

_PUBLIC_ENDPOINTS = frozenset({"loyalty.openapi", "loyalty.associate_page"})
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
_RETRY_AFTER_SECONDS = "2"
_PAGE_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def _page_template() -> str:
    return files("service.instore").joinpath("associate.html").read_text(encoding="utf-8")


def _serves(runtime: Runtime, store: str) -> bool:
    route = runtime.provider_for_store(store)
    return route is not None and rewards_account(route.provider) is not None


def check_stores(settings: InStoreSettings, runtime: Runtime) -> None:
    """Every key's store must have a loyalty account with rewards (its own or the default
    one; Yotpo's or another provider's)."""
    unserved = sorted(
        {k.store for k in settings.pos_keys().values() if not _serves(runtime, k.store)}
    )
    if unserved:
        raise SettingsError(
            [
                f"POS_API_KEYS: no loyalty account serves store(s) {', '.join(unserved)}; add "
                "them to YOTPO_ACCOUNTS or LOYALTY_PROVIDERS, or configure a default account"
            ]
        )


class Limits:
    """The API's throttles, each shared out among this instance's worker processes."""

    def __init__(self, settings: InStoreSettings, workers: int | None = None) -> None:
        share = workers if workers is not None else worker_count()
        self.lookups = Throttle(settings.pos_lookups_per_second, share=share)
        self.writes = Throttle(settings.pos_redemptions_per_second, share=share)
        # Failures are counted per minute; the whole minute's allowance may come at once.
        self.failures = Throttle(
            settings.pos_failed_auth_per_minute / 60.0, share=share, burst_seconds=60.0
        )


def register_instore(
    app: Flask, settings: InStoreSettings, runtime: Runtime, *, workers: int | None = None
) -> None:
    """Add the `/loyalty` API and the associate page to the service app."""
    check_stores(settings, runtime)
    type_key = getattr(settings, "cart_custom_type_key", None) or OWN_CART_TYPE_KEY
    # The service app's settings carry MEMBER_ID_SOURCE; the till must name members as the
    # event app does (docs/adr/0010-member-identity.md).
    identity = (
        settings.member_identity() if isinstance(settings, MemberSettings) else MemberIdentity()
    )
    app.register_blueprint(
        _blueprint(
            Keyring(settings.pos_keys()),
            Limits(settings, workers),
            runtime,
            type_key,
            max_order_minor=settings.pos_max_order_minor,
            identity=identity,
            # The till refuses rewards in other currencies as the checkout does (ADR 0023).
            base_currency=getattr(settings, "reward_base_currency", None),
        )
    )


def _too_many(code: str, message: str, wait: float) -> Problem:
    return Problem(429, code, message, retry_after=max(1, math.ceil(wait)))


def _blueprint(
    keyring: Keyring,
    limits: Limits,
    runtime: Runtime,
    type_key: str,
    *,
    max_order_minor: int,
    identity: MemberIdentity | None = None,
    base_currency: str | None = None,
) -> Blueprint:
    ct = runtime.commercetools
    directory = CustomerDirectory(ct)
    redemptions = RedemptionDesk(
        runtime, directory, RequestLog(ct), identity=identity, base_currency=base_currency
    )
    orders = OrderDesk(ct, runtime, directory, type_key, max_order_minor=max_order_minor)
    refunds = RefundDesk(ct, runtime)
    page = _page_template()
    bp = Blueprint("loyalty", __name__, url_prefix=PREFIX)

    @bp.before_request
    def _authenticate() -> tuple[Response, int] | None:
        if request.endpoint in _PUBLIC_ENDPOINTS:
            return None
        if not keyring.configured:
            return error_response(
                404, "not_configured", "set POS_API_KEYS to use the in-store loyalty API"
            )
        source = request.remote_addr or "unknown"
        wait = limits.failures.blocked(source)
        if wait > 0:
            # This address failed too often: refuse before looking at what it sends, so
            # guessing gets no verdict at all until it slows down.
            g.outcome = "too_many_failures"
            response, status = error_response(
                429, "too_many_failures", "too many failed authentications; slow down"
            )
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response, status
        principal = keyring.authenticate(request.headers.get("Authorization"))
        if principal is None:
            limits.failures.take(source)
            g.outcome = "unauthorized"
            log_event(
                logger,
                "pos.auth_failed",
                level=logging.WARNING,
                path=request.path[:200],
                header_present="Authorization" in request.headers,
                outcome="rejected",
            )
            response, status = error_response(
                401, "unauthorized", "missing or unknown API key (Authorization: Bearer ...)"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="loyalty"'
            return response, status
        g.pos = principal
        return None

    def principal() -> Principal:
        return g.pos  # type: ignore[no-any-return]

    def lookup() -> Principal:
        who = principal()
        wait = limits.lookups.take(who.key_id)
        if wait > 0:
            raise _too_many("too_many_lookups", "too many lookups for this key; slow down", wait)
        return who

    def write() -> Principal:
        """Redemptions and reversals: several provider calls each, their own (smaller) budget."""
        who = principal()
        wait = limits.writes.take(who.key_id)
        if wait > 0:
            raise _too_many(
                "too_many_redemptions", "too many redemptions for this key; slow down", wait
            )
        return who

    # --- errors ----------------------------------------------------------------------------
    @bp.errorhandler(Problem)
    def _problem(exc: Problem) -> tuple[Response, int]:
        g.outcome = exc.code
        response, status = error_response(exc.status, exc.code, exc.message, **exc.extra)
        if "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response, status

    @bp.errorhandler(ValidationError)
    def _invalid(exc: ValidationError) -> tuple[Response, int]:
        g.outcome = "invalid_request"
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)
        ]
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return error_response(400, "invalid_request", message, problems=problems)

    @bp.errorhandler(TransientError)
    def _unavailable(exc: TransientError) -> tuple[Response, int]:
        g.outcome = "unavailable"
        log_event(
            logger,
            "pos.unavailable",
            level=logging.WARNING,
            path=request.path,
            error=describe(exc),
            retry=True,
            outcome="unavailable",
        )
        response, status = error_response(
            503, "unavailable", "the loyalty service is unavailable; retry with the same request_id"
        )
        response.headers["Retry-After"] = _RETRY_AFTER_SECONDS
        return response, status

    @bp.errorhandler(PermanentError)
    def _upstream(exc: PermanentError) -> tuple[Response, int]:
        # Refusals the desks expect are Problems; this is configuration or data to fix.
        g.outcome = "upstream_error"
        log_event(
            logger,
            "pos.upstream_error",
            level=logging.ERROR,
            path=request.path,
            error=describe(exc),
            auth=isinstance(exc, YotpoAuthError | VoyadoAuthError),
            outcome="failed",
        )
        return error_response(
            502,
            "upstream_error",
            "commercetools or the loyalty provider refused the call; see the logs",
        )

    # --- public ----------------------------------------------------------------------------
    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document())

    @bp.get("/associate")
    def associate_page() -> Response:
        nonce = secrets.token_urlsafe(16)
        response = Response(page.replace("{{nonce}}", nonce), mimetype="text/html")
        response.headers["Content-Security-Policy"] = _PAGE_CSP.format(nonce=nonce)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    # --- lookups ---------------------------------------------------------------------------
    @bp.get("/customers")
    def find_customer() -> Response:
        who = lookup()
        email, phone = request.args.get("email"), request.args.get("phone")
        if (email is None) == (phone is None):
            raise invalid("invalid_query", "give exactly one of email and phone")
        if email is not None:
            try:
                found = directory.by_email(who, checked_email(email))
            except ValueError:
                raise invalid("invalid_email", "email is not an email address") from None
        else:
            assert phone is not None
            # An unencoded "+" arrives as a space: "?phone=+49..." still means +49...
            raw = "+" + phone.lstrip() if phone.startswith(" ") else phone
            number = e164(raw)
            if number is None:
                raise invalid(
                    "invalid_phone", "phone must be E.164: + country code and number, e.g. +4917..."
                )
            found = directory.by_phone(who, number)
        if not found:
            raise not_found("unknown_customer", "no customer matches")
        if len(found) > 1:
            raise Problem(
                409,
                "ambiguous_customer",
                "several customers match; ask the customer which account to use",
                candidates=[candidate(c) for c in found],
            )
        return jsonify(_summary(who, found[0]))

    def _summary(who: Principal, customer: dict[str, Any]) -> dict[str, Any]:
        rewards = redemptions.rewards(who, shown=True)
        member = redemptions.member(rewards, customer)
        state = rewards.state(member)
        upcoming = None
        if rewards.capabilities.tiers and needs_next_tier_name(state.raw):
            upcoming = next_tier_name(rewards.tiers(), state.tier)
        g.outcome = "found"
        return customer_summary(customer, member, state, upcoming)

    @bp.get("/customers/<customer_id>")
    def get_customer(customer_id: str) -> Response:
        who = lookup()
        _customer_id(customer_id)
        return jsonify(_summary(who, directory.by_id(who, customer_id)))

    @bp.get("/customers/<customer_id>/rewards")
    def rewards(customer_id: str) -> Response:
        who = lookup()
        _customer_id(customer_id)
        offline = request.args.get("offline", "false").lower() in ("1", "true", "yes")
        return jsonify(redemptions.list_rewards(who, customer_id, offline))

    # --- writes ----------------------------------------------------------------------------
    @bp.post("/redemptions")
    def redeem() -> tuple[Response, int]:
        body = RedemptionRequest.model_validate(json_body())
        answer = redemptions.redeem(write(), body)
        g.outcome = "redeemed"
        return jsonify(answer.body), answer.status

    @bp.post("/redemptions/<redemption_id>/reversal")
    def reverse(redemption_id: str) -> tuple[Response, int]:
        body = ReversalRequest.model_validate(json_body())
        answer = redemptions.reverse(write(), redemption_id, body)
        g.outcome = "reversed"
        return jsonify(answer.body), answer.status

    @bp.post("/orders")
    def import_order() -> tuple[Response, int]:
        status, body = orders.import_order(principal(), OrderRequest.model_validate(json_body()))
        g.outcome = "imported" if status == 201 else "already_imported"
        return jsonify(body), status

    @bp.get("/orders/<path:order_number>")
    def order_summary(order_number: str) -> Response:
        return jsonify(refunds.summary(lookup(), order_number))

    @bp.post("/refunds")
    def refund() -> tuple[Response, int]:
        body = refunds.refund(principal(), RefundRequest.model_validate(json_body()))
        g.outcome = "recorded"
        return jsonify(body), 202

    return bp


def _customer_id(value: str) -> None:
    if not _CUSTOMER_ID.match(value):
        raise not_found("unknown_customer", "no customer with this id")
