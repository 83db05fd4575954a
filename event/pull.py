"""Pull mode: the event app's work without an HTTP endpoint.

`python -m event pull --subscription projects/P/subscriptions/S [--max-messages N]` reads the
same commercetools notifications from a Pub/Sub *pull* subscription (streaming pull), for
places push cannot reach: a private network, a worker without a public URL, local runs.

Each message goes through the same `EventProcessor.handle` as a push delivery, with the same
rule: a 2xx decision acknowledges it, anything else nacks it so Pub/Sub delivers it again.
At most `--max-messages` are leased and processed at once (flow control). SIGTERM or SIGINT
stops pulling, lets the messages in flight finish and acknowledge, nacks the ones leased but
not started (Pub/Sub hands them to another puller), then exits 0.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from event.envelope import Delivery, correlation_for, decode_notification
from event.processor import Decision, order_log_scope
from shared.correlation import correlation_scope
from shared.errors import describe
from shared.logs import log_event

logger = logging.getLogger(__name__)

SUBSCRIPTION_PATH = re.compile(r"^projects/[^/\s]+/subscriptions/[^/\s]+$")
DEFAULT_MAX_MESSAGES = 10
# In-flight work is bounded by EVENT_DEADLINE_SECONDS (under 10 s); this is the safety net
# for waiting on it at shutdown.
SHUTDOWN_TIMEOUT_SECONDS = 30.0


class Handler(Protocol):
    def handle(self, delivery: Delivery) -> Decision: ...


class PulledMessage(Protocol):
    """The part of `google.cloud.pubsub_v1.subscriber.message.Message` used here."""

    @property
    def data(self) -> bytes: ...
    @property
    def message_id(self) -> str: ...
    @property
    def delivery_attempt(self) -> int | None: ...
    def ack(self) -> None: ...
    def nack(self) -> None: ...


@dataclass
class PullStats:
    received: int = 0
    acked: int = 0
    nacked: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, acked: bool) -> None:
        with self._lock:
            self.received += 1
            if acked:
                self.acked += 1
            else:
                self.nacked += 1

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {"received": self.received, "acked": self.acked, "nacked": self.nacked}


class Puller:
    def __init__(
        self,
        processor: Handler,
        subscription: str,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        subscriber: Any = None,
    ) -> None:
        if not SUBSCRIPTION_PATH.match(subscription):
            raise ValueError("expected a subscription as projects/<project>/subscriptions/<name>")
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.processor = processor
        self.subscription = subscription
        self.max_messages = max_messages
        self.stats = PullStats()
        self._subscriber = subscriber

    def handle(self, message: PulledMessage) -> None:
        """One pulled message: decide, then ack or nack it (the streaming pull callback)."""
        # As with push, the Pub/Sub message id is what operators search the logs by.
        # The order id(s) found while deciding tag every line, the pull.message line included.
        with correlation_scope(correlation_for(str(message.message_id))), order_log_scope():
            acked = self._decide(message)
        if acked:
            message.ack()
        else:
            message.nack()
        self.stats.count(acked)

    def _decide(self, message: PulledMessage) -> bool:
        attempt = message.delivery_attempt  # None unless the subscription has a DLQ policy
        # Pulled data is the notification itself (no base64). One that cannot be read goes to
        # the processor as malformed: dead-lettered and acknowledged, as push does, so it
        # cannot come back forever.
        notification, malformed = decode_notification(bytes(message.data))
        delivery = Delivery(
            message_id=str(message.message_id),
            subscription=self.subscription,
            delivery_attempt=attempt,
            notification=notification,
            malformed=malformed,
        )
        try:
            decision = self.processor.handle(delivery)
        except Exception as exc:  # the processor classifies failures; this is a bug net
            logger.exception("unexpected error handling a pulled message")
            log_event(
                logger,
                "pull.message",
                level=logging.ERROR,
                message=delivery.reference,
                error=describe(exc),
                outcome="nack",
            )
            return False
        log_event(
            logger,
            "pull.message",
            # Waiting for another worker's claim is expected under load: INFO, not WARNING.
            level=logging.INFO
            if decision.acknowledged or decision.outcome == "deferred"
            else logging.WARNING,
            message=delivery.reference,
            status=decision.status,
            attempt=attempt,
            outcome=decision.outcome,
        )
        return decision.acknowledged

    def run(self, stop: threading.Event, *, poll_seconds: float = 0.5) -> int:
        """Pull until `stop` is set (0) or the stream fails for good (1)."""
        from google.cloud import pubsub_v1
        from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

        subscriber = self._subscriber or pubsub_v1.SubscriberClient()
        executor = ThreadPoolExecutor(self.max_messages, thread_name_prefix="event-pull")
        future = subscriber.subscribe(
            self.subscription,
            callback=self.handle,
            flow_control=pubsub_v1.types.FlowControl(max_messages=self.max_messages),
            scheduler=ThreadScheduler(executor),
            # Shutdown waits for the callbacks running, so their acks are sent.
            await_callbacks_on_shutdown=True,
        )
        log_event(
            logger,
            "pull.started",
            subscription=self.subscription,
            max_messages=self.max_messages,
            outcome="ok",
        )
        try:
            while not stop.is_set() and not future.done():
                stop.wait(poll_seconds)
            if not stop.is_set():
                # The stream ended by itself: missing subscription, no permission, ...
                error = future.exception()
                log_event(
                    logger,
                    "pull.failed",
                    level=logging.ERROR,
                    subscription=self.subscription,
                    error=f"{type(error).__name__}: {error}" if error else "stream closed",
                    **self.stats.as_dict(),
                    outcome="failed",
                )
                return 1
            log_event(logger, "pull.stopping", subscription=self.subscription)
            future.cancel()
            future.result(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        finally:
            if self._subscriber is None:
                subscriber.close()
        log_event(
            logger,
            "pull.stopped",
            subscription=self.subscription,
            **self.stats.as_dict(),
            outcome="ok",
        )
        return 0
