"""Yotpo's webhooks, received by the service app at `POST /yotpo/webhooks`.

- `swell/point_redemption/cancellation_request`: the reward code stops being accepted.
- `swell/points/changed`, `swell/tier/earned`, `swell/tier/lost`, `swell/tier/status/changed`:
  the member's balance and tier are written back onto its commercetools customer at once
  (`shared.writeback`, the same path as the nightly job). The webhook is only a reason to
  look: the member is read fresh from Yotpo, so late or reordered webhooks cannot write an
  old balance. The work is bounded so Yotpo gets its answer within a few seconds; a transient
  failure raises, the app answers 503 and Yotpo delivers again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from service.cancellations import CancelledCodes
from shared.commercetools import CommercetoolsClient
from shared.errors import PermanentError, describe
from shared.logs import log_event
from shared.writeback import CustomerWriteback

logger = logging.getLogger(__name__)

# Yotpo sends the authentication value the merchant configured in the Loyalty admin.
WEBHOOK_SECRET_HEADER = "X-Yotpo-Webhook-Secret"
CANCELLATION_REQUEST = "swell/point_redemption/cancellation_request"
WRITEBACK_TOPICS = frozenset(
    {
        "swell/points/changed",
        "swell/tier/earned",
        "swell/tier/lost",
        "swell/tier/status/changed",
    }
)
# Yotpo's own webhook timeout is not documented; answering within a few seconds is safe.
WRITEBACK_BUDGET_SECONDS = 3.0


class WebhookError(ValueError):
    """The body is not a Yotpo webhook this app can act on."""


class YotpoWebhooks:
    def __init__(
        self,
        cancelled: CancelledCodes,
        writeback: CustomerWriteback | None = None,
        *,
        commercetools: CommercetoolsClient | None = None,
        budget_seconds: float = WRITEBACK_BUDGET_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cancelled = cancelled
        self._writeback = writeback
        self._ct = commercetools
        self._budget = budget_seconds
        self._monotonic = monotonic

    def handle(self, body: dict[str, Any]) -> str:
        """The outcome; raises WebhookError (400) or TransientError (503: deliver again)."""
        topic = str(body.get("topic") or "")
        if not topic:
            raise WebhookError("webhook has no topic")
        if topic == CANCELLATION_REQUEST:
            return self._cancellation(body)
        if topic in WRITEBACK_TOPICS and self._writeback is not None:
            return self._write_back(topic, body)
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

    def _write_back(self, topic: str, body: dict[str, Any]) -> str:
        assert self._writeback is not None
        customer = body.get("customer")
        if not isinstance(customer, Mapping):
            raise WebhookError(f"{topic} without a customer object")
        deadline = self._monotonic() + self._budget
        customer_id = _text(customer.get("third_party_id")) or _text(customer.get("id"))
        try:
            if customer_id:
                result = self._writeback.sync(customer_id, deadline=deadline)
            else:
                found = self._by_email(_text(customer.get("email")) or _text(body.get("email")))
                if found is None:
                    log_event(logger, "webhook.unknown_customer", topic=topic, outcome="ignored")
                    return "unknown_customer"
                result = self._writeback.sync_customer(found, deadline=deadline)
        except PermanentError as exc:
            # Retrying cannot help until configuration is fixed; the nightly job catches up.
            log_event(
                logger,
                "webhook.writeback_failed",
                level=logging.ERROR,
                topic=topic,
                customer_id=customer_id,
                error=describe(exc),
                failure="permanent",
                outcome="failed",
            )
            return "failed"
        log_event(
            logger,
            "webhook.written_back",
            topic=topic,
            customer_id=result.customer_id,
            changed=list(result.changed),
            outcome=result.outcome,
        )
        return result.outcome

    def _by_email(self, email: str | None) -> Mapping[str, Any] | None:
        """A customer Yotpo only knows by email (joined before its id was linked)."""
        if not email or self._ct is None:
            return None
        spellings = ", ".join(_literal(e) for e in dict.fromkeys((email, email.lower())))
        found = self._ct.query("customers", where=f"email in ({spellings})", limit=2)
        results = found.get("results") or []
        # Without stores, an email is unique in a project; with several matches, pick none.
        return results[0] if len(results) == 1 else None


def _literal(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
