"""Yotpo's webhooks, received by the service app at `POST /yotpo/webhooks`."""

from __future__ import annotations

import logging
from typing import Any

from service.cancellations import CancelledCodes
from shared.logs import log_event

logger = logging.getLogger(__name__)

# Yotpo sends the authentication value the merchant configured in the Loyalty admin.
WEBHOOK_SECRET_HEADER = "X-Yotpo-Webhook-Secret"
CANCELLATION_REQUEST = "swell/point_redemption/cancellation_request"


class WebhookError(ValueError):
    """The body is not a Yotpo webhook this app can act on."""


class YotpoWebhooks:
    def __init__(self, cancelled: CancelledCodes) -> None:
        self._cancelled = cancelled

    def handle(self, body: dict[str, Any]) -> str:
        topic = str(body.get("topic") or "")
        if not topic:
            raise WebhookError("webhook has no topic")
        if topic == CANCELLATION_REQUEST:
            return self._cancellation(body)
        log_event(logger, "webhook.ignored", topic=topic, outcome="ignored")
        return "ignored"

    def _cancellation(self, body: dict[str, Any]) -> str:
        code = str(body.get("reward_text") or "").strip()
        if not code:
            raise WebhookError("cancellation request without reward_text")
        customer = body.get("customer") or {}
        self._cancelled.record(
            code,
            redemption_id=body.get("point_redemption_id"),
            customer_id=customer.get("id") or customer.get("third_party_id"),
        )
        log_event(
            logger,
            "webhook.reward_cancelled",
            redemption_id=body.get("point_redemption_id"),
            outcome="recorded",
        )
        return "recorded"
