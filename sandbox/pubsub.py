"""The Google Pub/Sub emulator, and the topic + push subscription the event app listens on."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from sandbox.processes import ManagedProcess, free_port


class EmulatorMissing(RuntimeError):
    """gcloud (with its Pub/Sub emulator component) or Java is not installed."""


def emulator_available() -> bool:
    return shutil.which("gcloud") is not None and shutil.which("java") is not None


class PubSubEmulator:
    def __init__(self, log_dir: Path, project: str = "sandbox") -> None:
        if not emulator_available():
            raise EmulatorMissing(
                "the Pub/Sub emulator needs 'gcloud' (component pubsub-emulator) and Java; "
                "install the Google Cloud CLI"
            )
        self.project = project
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._process = ManagedProcess(
            "pubsub-emulator",
            [
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={self.host}",
                f"--project={project}",
                "--quiet",
            ],
            env={"CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
            log_dir=log_dir,
        )

    def start(self, timeout: float = 60.0) -> PubSubEmulator:
        self._process.start()
        self._process.wait_http(f"http://{self.host}/", timeout=timeout)
        return self

    def stop(self) -> None:
        self._process.stop()

    def env(self) -> dict[str, str]:
        return {"PUBSUB_EMULATOR_HOST": self.host, "PUBSUB_PROJECT_ID": self.project}

    def create_push_subscription(self, topic: str, subscription: str, push_endpoint: str) -> None:
        """Topic + push subscription, as Connect's infrastructure sets up for an event app."""
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import pubsub_v1

        previous = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = self.host
        try:
            publisher = pubsub_v1.PublisherClient()
            subscriber = pubsub_v1.SubscriberClient()
            topic_path = publisher.topic_path(self.project, topic)
            with contextlib.suppress(AlreadyExists):
                publisher.create_topic(name=topic_path)
            sub_path = subscriber.subscription_path(self.project, subscription)
            with contextlib.suppress(AlreadyExists):
                subscriber.create_subscription(
                    request={
                        "name": sub_path,
                        "topic": topic_path,
                        "push_config": {"push_endpoint": push_endpoint},
                        "ack_deadline_seconds": 10,
                        "retry_policy": {
                            "minimum_backoff": {"seconds": 0, "nanos": 100_000_000},
                            "maximum_backoff": {"seconds": 2},
                        },
                    }
                )
            subscriber.close()
        finally:
            if previous is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = previous
