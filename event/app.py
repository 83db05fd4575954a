"""The event app: Pub/Sub push deliveries of commercetools messages at `POST /event`."""

from __future__ import annotations

import math

from flask import Flask, Response, g, jsonify, request

from event.envelope import EnvelopeError, correlation_for, parse_delivery
from event.processor import EventProcessor, order_log_scope
from event.settings import EventSettings
from shared.correlation import HEADER, bind_correlation_id
from shared.oidc import GoogleCerts, protect
from shared.runtime import Runtime, build_runtime
from shared.webapp import create_base_app, error_response, json_body


def create_app(
    settings: EventSettings, runtime: Runtime | None = None, oidc_certs: GoogleCerts | None = None
) -> Flask:
    # A delivery must end inside Pub/Sub's 10 s ack deadline: commercetools calls get short
    # timeouts and one retry (a failure is retried by redelivery anyway).
    runtime = runtime or build_runtime(settings, ct_timeout=2.5, ct_max_retries=1)
    processor = EventProcessor(settings, runtime)
    app = create_base_app("event")
    app.extensions["event_processor"] = processor

    @app.post("/event")
    def receive() -> tuple[Response, int] | tuple[str, int]:
        try:
            delivery = parse_delivery(json_body())
        except EnvelopeError as exc:
            return error_response(400, "invalid_envelope", str(exc))
        if not request.headers.get(HEADER):
            # Pub/Sub sends no correlation header: the message id is what operators search by
            # (sanitised and bounded: it becomes a header of the answer and of every call).
            bind_correlation_id(correlation_for(delivery.message_id))
        # Until the request ends (its request log line included), lines carry the order id.
        scope = order_log_scope()
        scope.__enter__()
        g.order_log_scope = scope
        decision = processor.handle(delivery)
        g.outcome = decision.outcome
        if decision.status == 204:
            return "", 204
        # The answer says what happened in a short code; errors (with upstream text, project
        # key or predicates) go to the log and the dead letter only.
        response = jsonify({"outcome": decision.outcome, "code": decision.code})
        if decision.retry_after is not None:
            response.headers["Retry-After"] = str(math.ceil(decision.retry_after))
        return response, decision.status

    @app.teardown_request
    def _end_order_scope(_exc: BaseException | None) -> None:
        scope = g.pop("order_log_scope", None)
        if scope is not None:
            scope.__exit__(None, None, None)

    # Pub/Sub push signs its calls with a Google OIDC token when configured (off if not set).
    protect(app, settings.oidc_verifier(oidc_certs), {"/event"})
    return app
