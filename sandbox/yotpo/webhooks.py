"""Outgoing webhooks of the Yotpo stand-in: payload shapes and a background dispatcher.

Payload shapes follow the examples of Yotpo's webhook pages (points-changed, vip-tier-earned,
vip-tier-lost, redemption-cancellation-request under https://loyaltyapi.yotpo.com/reference/ and
https://develop.yotpo.com/reference/vip-tier-lost); `tests/contracts/yotpo/webhook_*.json` hold
the same examples and the stand-in's tests compare against them.

Yotpo documents no signature for its webhooks and no page says how the "Webhook
Authentication" value configured in the Loyalty admin travels. The stand-in sends it in a
configurable header (default below), or not at all when the program sets no header name (the
merchant then registers a webhook URL that carries a token).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from shared.logs import log_event

logger = logging.getLogger(__name__)

# The stand-in's default; an assumption, not a documented Yotpo header.
WEBHOOK_SECRET_HEADER = "X-Yotpo-Webhook-Secret"

TOPIC_POINTS_CHANGED = "swell/points/changed"
TOPIC_TIER_EARNED = "swell/tier/earned"
TOPIC_TIER_LOST = "swell/tier/lost"
TOPIC_TIER_STATUS_CHANGED = "swell/tier/status/changed"
TOPIC_REDEMPTION_CANCELLATION = "swell/point_redemption/cancellation_request"

_NAMES = {
    TOPIC_POINTS_CHANGED: "Points Changed",
    TOPIC_TIER_EARNED: "VIP Tier Earned",
    TOPIC_TIER_LOST: "VIP Tier Lost",
    TOPIC_REDEMPTION_CANCELLATION: "Point Redemption Cancellation Request",
}


@dataclass(frozen=True)
class Webhook:
    """One POST the stand-in owes a merchant: where, with which secret, and what."""

    url: str
    secret: str | None
    payload: dict[str, Any]
    secret_header: str | None = WEBHOOK_SECRET_HEADER

    @property
    def topic(self) -> str:
        return str(self.payload.get("topic", ""))


def points_changed_payload(
    customer: Mapping[str, Any], previous: int, current: int, reason: str
) -> dict[str, Any]:
    return {
        "topic": TOPIC_POINTS_CHANGED,
        "name": _NAMES[TOPIC_POINTS_CHANGED],
        "email": customer.get("email"),
        "customer": dict(customer),
        "previous_balance": previous,
        "current_balance": current,
        "difference": current - previous,
        "added_or_removed": "added" if current >= previous else "removed",
        "points_changed_reason": reason,
    }


def tier_changed_payload(
    topic: str,
    customer: Mapping[str, Any],
    new_tier: Mapping[str, Any] | None,
    old_tier: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """`new_tier` / `old_tier` are tier objects, as `GET /vip_tiers` lists them."""
    if topic not in (TOPIC_TIER_EARNED, TOPIC_TIER_LOST):
        raise ValueError(f"not a tier topic: {topic}")
    return {
        "topic": topic,
        "name": _NAMES[topic],
        "email": customer.get("email"),
        "customer": dict(customer),
        "new_tier": dict(new_tier) if new_tier is not None else None,
        "old_tier": dict(old_tier) if old_tier is not None else None,
    }


def cancellation_request_payload(
    customer: Mapping[str, Any], point_redemption_id: int, reward_text: str
) -> dict[str, Any]:
    return {
        "topic": TOPIC_REDEMPTION_CANCELLATION,
        "name": _NAMES[TOPIC_REDEMPTION_CANCELLATION],
        "email": customer.get("email"),
        # A string in the page's example.
        "point_redemption_id": str(point_redemption_id),
        "reward_text": reward_text,
        "customer": dict(customer),
    }


Poster = Callable[[str, dict[str, Any], dict[str, str], float], int]
"""(url, json payload, headers, timeout) -> HTTP status; raises on connection errors."""


def _post_with_requests(
    url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float
) -> int:
    return requests.post(url, json=payload, headers=headers, timeout=timeout).status_code


@dataclass
class DeliveryRecord:
    seq: int
    topic: str
    url: str
    payload: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False
    finished: bool = False
    history: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "topic": self.topic,
            "url": self.url,
            "payload": self.payload,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
            "delivered": self.delivered,
            "finished": self.finished,
        }


class WebhookDispatcher:
    """Delivers webhooks on one background thread so no API request waits for a receiver.

    A delivery is retried (`attempts` in total, waiting `backoff` seconds between tries) on
    connection errors and non-2xx answers; every outcome is kept for `/_sandbox/webhooks`.
    """

    def __init__(
        self,
        *,
        attempts: int = 3,
        backoff: tuple[float, ...] = (0.2, 1.0),
        timeout: float = 5.0,
        post: Poster = _post_with_requests,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._post = post
        self._queue: queue.Queue[DeliveryRecord | None] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._records: list[DeliveryRecord] = []
        self._secrets: dict[int, tuple[str | None, str | None]] = {}
        self._unfinished = 0
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, webhook: Webhook) -> None:
        self.send(webhook)

    def send(self, webhook: Webhook) -> None:
        with self._lock:
            if self._closing.is_set():
                return
            record = DeliveryRecord(
                seq=len(self._records) + 1,
                topic=webhook.topic,
                url=webhook.url,
                payload=webhook.payload,
            )
            self._records.append(record)
            self._secrets[record.seq] = (webhook.secret_header, webhook.secret)
            self._unfinished += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="yotpo-sandbox-webhooks", daemon=True
                )
                self._thread.start()
        self._queue.put(record)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record.as_dict() for record in self._records]

    def clear(self) -> None:
        """Forget finished deliveries (sandbox reset); ones in flight still complete."""
        with self._lock:
            self._records = [r for r in self._records if not r.finished]

    def wait_idle(self, timeout: float) -> bool:
        """True once every queued delivery has finished (delivered or given up)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout=timeout)

    def close(self, timeout: float = 5.0) -> None:
        self._closing.set()
        self._queue.put(None)
        thread = self._thread
        if thread is not None:
            thread.join(timeout=timeout)

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            if record is None:
                return
            try:
                self._deliver(record)
            finally:
                with self._idle:
                    record.finished = True
                    self._unfinished -= 1
                    self._secrets.pop(record.seq, None)
                    self._idle.notify_all()

    def _deliver(self, record: DeliveryRecord) -> None:
        headers = {"Content-Type": "application/json"}
        header, secret = self._secrets.get(record.seq, (None, None))
        if header and secret:
            headers[header] = secret
        for attempt in range(1, self._attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                status = self._post(record.url, record.payload, headers, self._timeout)
            except Exception as exc:  # any failure of the receiver is just a failed attempt
                error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                record.attempts = attempt
                record.status = status
                record.error = error
                record.delivered = status is not None and 200 <= status < 300
            log_event(
                logger,
                "sandbox.webhook.delivery",
                level=logging.INFO if record.delivered else logging.WARNING,
                topic=record.topic,
                attempt=attempt,
                status=status,
                error=error,
            )
            if record.delivered or attempt == self._attempts:
                return
            wait = self._backoff[min(attempt - 1, len(self._backoff) - 1)] if self._backoff else 0
            if self._closing.wait(wait):
                return
