"""Pull mode against the real Pub/Sub emulator: `python -m event pull` and `event.pull.Puller`.

Needs the emulator (gcloud + Java) and fails — not skips — without it, like the push tests.
commercetools and Yotpo are the in-process stand-ins; the order's notifications are published
to the topic as a commercetools Subscription would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from event.envelope import Delivery
from event.processor import Decision, EventProcessor
from event.pull import Puller
from event.settings import EventSettings
from sandbox.pubsub import PubSubEmulator
from sandbox.stack import eventually
from shared.runtime import build_runtime
from shared.settings import load_settings
from tests.integration.world import World, start_world

# Local runs turn OIDC verification off explicitly (deployed apps refuse to start without it).
LOCAL = {"OIDC_VERIFICATION": "off"}

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEmulator]:
    running = PubSubEmulator(tmp_path_factory.mktemp("pubsub")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()


@dataclass
class Channel:
    """A topic and a pull subscription on it, in the emulator."""

    publisher: Any
    topic: str
    subscription: str

    def publish(self, notifications: list[dict[str, Any]]) -> None:
        sent = [self.publisher.publish(self.topic, json.dumps(n).encode()) for n in notifications]
        for future in sent:
            future.result(timeout=30)


@pytest.fixture
def channel(emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Channel]:
    from google.cloud import pubsub_v1

    # The client libraries follow this variable: insecure channel to the emulator, no creds.
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    name = f"pull-{uuid.uuid4().hex[:8]}"
    topic = publisher.topic_path(emulator.project, name)
    subscription = subscriber.subscription_path(emulator.project, name)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(
        request={"name": subscription, "topic": topic, "ack_deadline_seconds": 10}
    )
    try:
        yield Channel(publisher, topic, subscription)
    finally:
        with contextlib.suppress(Exception):
            subscriber.delete_subscription(subscription=subscription)
            publisher.delete_topic(topic=topic)
        subscriber.close()


def paid_order(world: World, number: str) -> list[dict[str, Any]]:
    shop = world.storefront
    customer = shop.sign_up(f"{number.lower()}@example.com", "Pia", "Pull")
    order = shop.place_order(shop.cart([("SKU-HOODIE", 1)], customer=customer), order_number=number)
    shop.pay(order)
    return world.messages(order["id"])


@contextlib.contextmanager
def pulling(world: World, subscription: str, **env: str) -> Iterator[Puller]:
    settings = load_settings(EventSettings, {**world.env, **LOCAL, **env})
    puller = Puller(EventProcessor(settings, build_runtime(settings)), subscription, max_messages=4)
    stop = threading.Event()
    exit_codes: list[int] = []
    thread = threading.Thread(target=lambda: exit_codes.append(puller.run(stop)), daemon=True)
    thread.start()
    try:
        yield puller
    finally:
        stop.set()
        thread.join(timeout=40)
    assert not thread.is_alive(), "the puller did not stop"
    assert exit_codes == [0]


def test_pulled_notifications_reach_yotpo_exactly_once(world, channel):
    messages = paid_order(world, "PULL-1")
    assert {"OrderCreated", "OrderPaymentStateChanged"} <= {m["type"] for m in messages}
    with pulling(world, channel.subscription) as puller:
        channel.publish(messages * 2)  # Pub/Sub is at least once: duplicates are normal
        eventually(lambda: puller.stats.acked == len(messages) * 2, what="every message acked")
    assert [o["order_id"] for o in world.yotpo_orders()] == ["PULL-1"]
    assert world.duplicates() == {"orders": {}, "refunds": {}}
    # Concurrent deliveries of one order may lose a ledger race: nacked, then acked later.
    assert puller.stats.received == puller.stats.acked + puller.stats.nacked


def test_a_transient_failure_is_nacked_and_redelivered_until_it_succeeds(world, channel):
    messages = paid_order(world, "PULL-2")
    paid = [m for m in messages if m["type"] == "OrderPaymentStateChanged"]
    world.yotpo.set_faults({"error_next": 100_000, "error_status": 503, "path_prefix": "/orders"})
    # A 2 s budget keeps each failed attempt short; many attempts before dead-lettering.
    with pulling(
        world, channel.subscription, EVENT_DEADLINE_SECONDS="2", MAX_DELIVERY_ATTEMPTS="1000"
    ) as puller:
        channel.publish(paid)
        eventually(lambda: puller.stats.nacked >= 2, what="the message nacked twice")
        assert world.yotpo_orders() == []
        world.yotpo.set_faults({})
        eventually(lambda: puller.stats.acked == 1, what="the redelivered message acked")
    assert puller.stats.received == puller.stats.nacked + 1  # the same message, again and again
    assert [o["order_id"] for o in world.yotpo_orders()] == ["PULL-2"]


def test_sigterm_finishes_the_message_in_flight_then_exits_cleanly(world, channel, emulator):
    messages = paid_order(world, "PULL-3")
    paid = [m for m in messages if m["type"] == "OrderPaymentStateChanged"]
    # Yotpo holds the order call for 3 s: SIGTERM arrives while it is in flight.
    world.yotpo.set_faults({"hang_next": 1, "hang_seconds": 3, "path_prefix": "/orders"})
    env = {
        "PATH": os.environ.get("PATH", ""),
        **world.env,
        **LOCAL,
        "PUBSUB_EMULATOR_HOST": emulator.host,
        "PUBSUB_PROJECT_ID": emulator.project,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "event",
            "pull",
            "--subscription",
            channel.subscription,
            "--max-messages",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        channel.publish(paid)
        eventually(
            lambda: world.yotpo.faults()["global"]["remaining"]["hang_next"] == 0,
            what="the order call in flight",
        )
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, output
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    names = [e.get("event") for e in events]
    assert names.index("pull.started") < names.index("pull.stopping") < names.index("pull.stopped")
    stopped = events[names.index("pull.stopped")]
    assert (stopped["received"], stopped["acked"], stopped["nacked"]) == (1, 1, 0)
    assert [o["order_id"] for o in world.yotpo_orders()] == ["PULL-3"]


def test_pull_refuses_a_malformed_subscription_name(world):
    result = subprocess.run(
        [sys.executable, "-m", "event", "pull", "--subscription", "my-subscription"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **world.env, **LOCAL},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "expected projects/<project>/subscriptions/<name>" in result.stderr


def test_pull_exits_non_zero_when_the_subscription_does_not_exist(world, emulator):
    env = {
        "PATH": os.environ.get("PATH", ""),
        **world.env,
        **LOCAL,
        "PUBSUB_EMULATOR_HOST": emulator.host,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "event",
            "pull",
            "--subscription",
            f"projects/{emulator.project}/subscriptions/does-not-exist",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert '"pull.failed"' in result.stdout


# --- the callback alone: ack / nack rules, no emulator needed ---------------------------------


@dataclass
class FakeMessage:
    data: bytes
    message_id: str = "m-1"
    delivery_attempt: int | None = None
    settled: str = ""

    def ack(self) -> None:
        self.settled += "ack"

    def nack(self) -> None:
        self.settled += "nack"


class FakeProcessor:
    def __init__(self, decision: Decision | Exception) -> None:
        self.decision = decision
        self.seen: list[Delivery] = []

    def handle(self, delivery: Delivery) -> Decision:
        self.seen.append(delivery)
        if isinstance(self.decision, Exception):
            raise self.decision
        return self.decision


SUBSCRIPTION = "projects/p/subscriptions/s"


@pytest.mark.parametrize(
    ("decision", "settled"),
    [
        (Decision(200, "processed"), "ack"),
        (Decision(204, "ignored"), "ack"),
        (Decision(200, "dead_letter"), "ack"),
        (Decision(503, "retry"), "nack"),
        (RuntimeError("bug"), "nack"),
    ],
)
def test_the_decision_acks_or_nacks_like_a_push_status(decision, settled):
    processor = FakeProcessor(decision)
    message = FakeMessage(json.dumps({"type": "OrderCreated"}).encode(), delivery_attempt=3)
    Puller(processor, SUBSCRIPTION).handle(message)
    assert message.settled == settled
    (delivery,) = processor.seen
    assert (delivery.message_id, delivery.subscription, delivery.delivery_attempt) == (
        "m-1",
        SUBSCRIPTION,
        3,
    )
    assert delivery.notification == {"type": "OrderCreated"}


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b"", b"[" * 100_000])
def test_a_message_that_is_not_a_notification_goes_to_the_processor_as_malformed(data):
    # The processor dead-letters and acknowledges it: a nack would bring it back forever.
    processor = FakeProcessor(Decision(200, "dead_letter"))
    puller = Puller(processor, SUBSCRIPTION)
    message = FakeMessage(data)
    puller.handle(message)
    assert message.settled == "ack"
    (delivery,) = processor.seen
    assert delivery.malformed and delivery.notification == {}
    assert puller.stats.as_dict() == {"received": 1, "acked": 1, "nacked": 0}


@pytest.mark.parametrize(
    ("subscription", "max_messages"), [("my-sub", 1), ("projects/p/topics/t", 1), (SUBSCRIPTION, 0)]
)
def test_the_puller_refuses_bad_arguments(subscription, max_messages):
    with pytest.raises(ValueError):
        Puller(FakeProcessor(Decision(200, "processed")), subscription, max_messages=max_messages)
