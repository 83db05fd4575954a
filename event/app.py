"""The event app: Pub/Sub push deliveries of commercetools messages at `POST /event`."""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, request

from event.envelope import EnvelopeError, parse_delivery
from event.processor import EventProcessor
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
            # Pub/Sub sends no correlation header: the message id is what operators search by.
            bind_correlation_id(f"msg-{delivery.message_id}")
        decision = processor.handle(delivery)
        g.outcome = decision.outcome
        if decision.status == 204:
            return "", 204
        return jsonify({"outcome": decision.outcome, "detail": decision.detail}), decision.status

    # Pub/Sub push signs its calls with a Google OIDC token when configured (off if not set).
    protect(app, settings.oidc_verifier(oidc_certs), {"/event"})
    return app
