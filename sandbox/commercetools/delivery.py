"""Subscription delivery, always in the background: Pub/Sub emulator publish or direct push.

With `PUBSUB_EMULATOR_HOST` set, each notification is published to the destination's topic
(created if missing) and the emulator's push subscription takes it from there. Without it
the stand-in plays Pub/Sub itself: it POSTs the push envelope to the URL registered for the
topic and redelivers on non-2xx or a connection error with capped exponential backoff —
at least once, concurrently, so in no guaranteed order.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from shared.logs import log_event

logger = logging.getLogger(__name__)

# Pub/Sub treats these as acknowledgements of a push.
ACK_STATUSES = frozenset({102, 200, 201, 202, 204})


@dataclass(frozen=True)
class DeliveryConfig:
    use_emulator: bool = field(default_factory=lambda: bool(os.environ.get("PUBSUB_EMULATOR_HOST")))
    push_url: str | None = field(default_factory=lambda: os.environ.get("SANDBOX_PUSH_URL") or None)
    # About a minute and a half of retries: enough to ride out an app restart in the demo.
    max_attempts: int = 50
    backoff_start: float = 0.1
    backoff_cap: float = 2.0
    workers: int = 8
    timeout: float = 10.0

    def backoff(self, failures: int) -> float:
        return min(self.backoff_cap, self.backoff_start * 2 ** (failures - 1))


@dataclass
class DeliveryRecord:
    message_id: str
    notification_id: str | None
    type: str
    subscription: str | None
    topic: str
    mode: str
    state: str = "pending"  # pending, delivered, failed, dropped
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "notificationId": self.notification_id,
            "type": self.type,
            "subscription": self.subscription,
            "topic": self.topic,
            "mode": self.mode,
            "state": self.state,
            "attempts": self.attempts,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
        }


def push_envelope(
    notification: dict[str, Any],
    *,
    message_id: str,
    subscription: str,
    attempt: int,
    published: str,
) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    return {
        "message": {
            "data": data,
            "attributes": {},
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        },
        "subscription": subscription,
        "deliveryAttempt": attempt,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Deliverer:
    """Runs deliveries on worker threads; `wait_idle` lets tests and demos wait for them."""

    def __init__(
        self,
        config: DeliveryConfig | None = None,
        *,
        push_url_for: Callable[[str], str | None] = lambda topic: None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.config = config or DeliveryConfig()
        self._push_url_for = push_url_for
        self._stopping = threading.Event()
        # Waiting on the stop event lets `close` cut a backoff short.
        self._wait = wait or self._stopping.wait
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="ct-delivery")
        self._condition = threading.Condition()
        self._pending = 0
        self._records: list[DeliveryRecord] = []
        self._ids = itertools.count(1)
        self._session = requests.Session()
        self._publisher: Any = None
        self._topics: set[str] = set()
        self._publisher_lock = threading.Lock()

    @property
    def mode(self) -> str:
        return "emulator" if self.config.use_emulator else "direct"

    def submit(
        self, destination: dict[str, Any], notification: dict[str, Any], subscription: str | None
    ) -> DeliveryRecord:
        record = DeliveryRecord(
            message_id=str(next(self._ids)),
            notification_id=notification.get("id"),
            type=str(notification.get("type") or notification.get("notificationType")),
            subscription=subscription,
            topic=f"projects/{destination['projectId']}/topics/{destination['topic']}",
            mode=self.mode,
        )
        with self._condition:
            self._records.append(record)
            self._pending += 1
        self._pool.submit(self._deliver, record, destination, notification)
        return record

    def _deliver(
        self, record: DeliveryRecord, destination: dict[str, Any], notification: dict[str, Any]
    ) -> None:
        try:
            while not self._stopping.is_set():
                record.attempts += 1
                if self.config.use_emulator:
                    done = self._publish(record, notification)
                else:
                    url = self._push_url_for(destination["topic"]) or self.config.push_url
                    if url is None:
                        record.state, record.last_error = "dropped", "no push endpoint for topic"
                        return
                    done = self._push(record, destination, notification, url)
                if done:
                    record.state = "delivered"
                    return
                if record.attempts >= self.config.max_attempts:
                    record.state = "failed"
                    return
                self._wait(self.config.backoff(record.attempts))
        finally:
            if record.state == "pending":
                record.state = "failed"
            log_event(
                logger,
                "delivery.finished",
                level=logging.INFO if record.state == "delivered" else logging.WARNING,
                message_id=record.message_id,
                type=record.type,
                attempts=record.attempts,
                status=record.last_status,
                outcome=record.state,
            )
            with self._condition:
                self._pending -= 1
                self._condition.notify_all()

    def _push(
        self,
        record: DeliveryRecord,
        destination: dict[str, Any],
        notification: dict[str, Any],
        url: str,
    ) -> bool:
        envelope = push_envelope(
            notification,
            message_id=record.message_id,
            subscription=f"projects/{destination['projectId']}/subscriptions/"
            f"{destination['topic']}-sandbox-push",
            attempt=record.attempts,
            published=_now(),
        )
        try:
            response = self._session.post(url, json=envelope, timeout=self.config.timeout)
        except requests.RequestException as exc:
            record.last_status, record.last_error = None, type(exc).__name__
            return False
        record.last_status = response.status_code
        record.last_error = None if response.status_code in ACK_STATUSES else response.text[:200]
        return response.status_code in ACK_STATUSES

    def _publish(self, record: DeliveryRecord, notification: dict[str, Any]) -> bool:
        try:
            publisher = self._emulator_publisher(record.topic)
            published_id = publisher.publish(
                record.topic, json.dumps(notification).encode()
            ).result(timeout=self.config.timeout)
        except Exception as exc:  # any client failure is a reason to retry, like Pub/Sub's own
            record.last_error = f"{type(exc).__name__}: {exc}"[:200]
            return False
        record.last_status, record.last_error = 200, None
        record.message_id = str(published_id)
        return True

    def _emulator_publisher(self, topic: str) -> Any:
        # PublisherClient follows PUBSUB_EMULATOR_HOST by itself: insecure channel, no creds.
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import pubsub_v1

        with self._publisher_lock:
            if self._publisher is None:
                self._publisher = pubsub_v1.PublisherClient()
            if topic not in self._topics:
                with contextlib.suppress(AlreadyExists):
                    self._publisher.create_topic(name=topic)
                self._topics.add(topic)
            return self._publisher

    # --- observing -------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once nothing is pending (within `timeout` seconds)."""
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout=timeout)

    def pending(self) -> int:
        with self._condition:
            return self._pending

    def records(self) -> list[dict[str, Any]]:
        with self._condition:
            return [r.as_json() for r in self._records]

    def clear(self) -> None:
        with self._condition:
            self._records = [r for r in self._records if r.state == "pending"]

    def close(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._session.close()
