"""Webhooks of the Voyado stand-in, delivered the way Svix delivers Voyado's.

Voyado sends webhooks through Svix ("you'll need to approve Svix (Voyado's webhooks provider)",
https://developer.voyado.com/en/webhooks/webhooks-for-points-and-vouchers.html; that page
also gives the payloads). Svix signs each attempt: headers `svix-id` (the same on every retry
of a message), `svix-timestamp` (seconds since epoch) and `svix-signature` = "v1," + base64
HMAC-SHA256 over "{svix-id}.{svix-timestamp}.{body}" keyed with the base64-decoded part of the
`whsec_` secret (https://docs.svix.com/receiving/verifying-payloads/how-manual). A non-2xx
answer (3xx included) or no answer within 15 s is a failure, retried on Svix's schedule
(https://docs.svix.com/retries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from shared.logs import log_event

logger = logging.getLogger(__name__)

Poster = Callable[[str, bytes, dict[str, str], float], int]
"""(url, raw body, headers, timeout) -> HTTP status; raises on connection errors."""


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode(body: Any) -> bytes:
    return json.dumps(body, default=_json_default, separators=(",", ":")).encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `svix-signature` value for one attempt."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A receiver's check (for tests): any `v1,` signature in the header matches."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        expected = sign(secret, lowered["svix-id"], int(lowered["svix-timestamp"]), body)
    except (KeyError, ValueError):
        return False
    return any(hmac.compare_digest(expected, s) for s in lowered["svix-signature"].split(" "))


def envelope(topic: str, payload: dict[str, Any], tenant: str, event_id: str) -> dict[str, Any]:
    """The documented envelopes: point.balance.updated carries `id`, reward.voucher.created
    carries `eventId` (both as the page shows them)."""
    id_field = "eventId" if topic == "reward.voucher.created" else "id"
    return {
        id_field: event_id,
        "eventType": topic,
        "isEncrypted": False,
        "payload": payload,
        "tenant": tenant,
    }


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    answer = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    return answer.status_code


@dataclass
class Delivery:
    seq: int
    msg_id: str
    topic: str
    url: str
    tenant: str
    body: dict[str, Any]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False
    finished: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "msgId": self.msg_id,
            "topic": self.topic,
            "url": self.url,
            "tenant": self.tenant,
            "body": json.loads(encode(self.body)),
            "attempts": list(self.attempts),
            "delivered": self.delivered,
            "finished": self.finished,
        }


class SvixDispatcher:
    """One background thread delivers messages in order, each with its retries."""

    def __init__(
        self,
        *,
        retry_delays: Sequence[float],
        timeout: float = 15.0,
        post: Poster = _post,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._delays = list(retry_delays)
        self._timeout = timeout
        self._post = post
        self._clock = clock
        self._queue: queue.Queue[tuple[Delivery, str] | None] = queue.Queue()
        self._lock = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._unfinished = 0
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, url: str, secret: str, tenant: str, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            if self._closing.is_set():
                return
            delivery = Delivery(
                seq=len(self._deliveries) + 1,
                msg_id="msg_" + uuid.uuid4().hex,
                topic=topic,
                url=url,
                tenant=tenant,
                body=envelope(topic, payload, tenant, str(uuid.uuid4())),
            )
            self._deliveries.append(delivery)
            self._unfinished += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="voyado-sandbox-svix", daemon=True
                )
                self._thread.start()
        self._queue.put((delivery, secret))

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.view() for d in self._deliveries]

    def clear(self) -> None:
        with self._lock:
            self._deliveries = [d for d in self._deliveries if not d.finished]

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._unfinished == 0, timeout=timeout)

    def close(self, timeout: float = 5.0) -> None:
        self._closing.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            delivery, secret = item
            try:
                self._deliver(delivery, secret)
            finally:
                with self._lock:
                    delivery.finished = True
                    self._unfinished -= 1
                    self._lock.notify_all()

    def _deliver(self, delivery: Delivery, secret: str) -> None:
        body = encode(delivery.body)
        for attempt in range(len(self._delays) + 1):
            timestamp = int(self._clock())
            headers = {
                "Content-Type": "application/json",
                "svix-id": delivery.msg_id,
                "svix-timestamp": str(timestamp),
                "svix-signature": sign(secret, delivery.msg_id, timestamp, body),
            }
            status: int | None = None
            error: str | None = None
            try:
                status = self._post(delivery.url, body, headers, self._timeout)
            except Exception as exc:  # a receiver failing in any way is a failed attempt
                error = type(exc).__name__
            ok = status is not None and 200 <= status < 300
            with self._lock:
                delivery.attempts.append({"status": status, "error": error})
                delivery.delivered = ok
            log_event(
                logger,
                "sandbox.voyado.webhook",
                level=logging.INFO if ok else logging.WARNING,
                topic=delivery.topic,
                attempt=attempt + 1,
                status=status,
                error=error,
            )
            if ok or attempt == len(self._delays):
                return
            if self._closing.wait(self._delays[attempt]):
                return
