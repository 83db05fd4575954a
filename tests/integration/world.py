"""Both stand-ins as real HTTP servers in this process, and the real apps wired to them.

The apps run unchanged (Flask test clients over the apps `create_app` builds from settings);
every commercetools and Yotpo call they make is real HTTP to the stand-ins.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.commercetools.app import create_app as create_ct_app
from sandbox.commercetools.state import StandInConfig, StandInState
from sandbox.serving import ServerThread
from sandbox.storefront import Storefront
from sandbox.yotpo import YotpoEngine
from sandbox.yotpo import create_app as create_yotpo_app
from shared.commercetools import CommercetoolsClient

PROJECT = "sandbox"
GUID = "sandbox-guid"


@dataclass
class World:
    yotpo: YotpoEngine
    ct_state: StandInState
    yotpo_server: ServerThread
    ct_server: ServerThread
    env: dict[str, str] = field(default_factory=dict)

    @property
    def ct(self) -> CommercetoolsClient:
        return CommercetoolsClient(
            project_key=PROJECT,
            client_id="test",
            client_secret="test-secret",
            scope=f"manage_project:{PROJECT}",
            api_url=self.ct_server.url,
            auth_url=self.ct_server.url,
        )

    @property
    def storefront(self) -> Storefront:
        return Storefront(self.ct)

    def yotpo_account(self) -> dict[str, Any]:
        return self.yotpo.state()["accounts"][GUID]

    def yotpo_orders(self) -> list[dict[str, Any]]:
        return self.yotpo_account()["orders"]

    def yotpo_refunds(self) -> list[dict[str, Any]]:
        return self.yotpo_account()["refunds"]

    def yotpo_customer(self, email: str) -> dict[str, Any] | None:
        return next(
            (c for c in self.yotpo_account()["customers"] if c["email"] == email.lower()), None
        )

    def set_yotpo_currencies(self, fraction_digits: dict[str, int]) -> None:
        """Replace the Yotpo program's enabled currencies (members and orders are kept)."""
        currencies = {code: {"fraction_digits": d} for code, d in fraction_digits.items()}
        self.yotpo.put_account(
            {"guid": GUID, "api_key": "sandbox-api-key", "program": {"currencies": currencies}}
        )

    def duplicates(self) -> dict[str, Any]:
        return self.yotpo.state()["duplicates"]

    def messages(self, resource_id: str) -> list[dict[str, Any]]:
        """Every message of one resource, as the notifications a Subscription delivers."""
        found = self.ct.query(
            "messages",
            where=f'resource(id = "{resource_id}")',
            sort="sequenceNumber asc",
            limit=500,
        )["results"]
        return [{**m, "notificationType": "Message", "projectKey": PROJECT} for m in found]

    def close(self) -> None:
        self.ct_server.stop()
        self.yotpo_server.stop()
        self.ct_state.close()
        self.yotpo.close()


def start_world() -> World:
    yotpo = YotpoEngine()
    ct_state = StandInState(StandInConfig(project_key=PROJECT))
    yotpo_server = ServerThread(create_yotpo_app(yotpo)).start()
    ct_server = ServerThread(create_ct_app(ct_state)).start()
    world = World(yotpo, ct_state, yotpo_server, ct_server)
    world.env = {
        "CTP_PROJECT_KEY": PROJECT,
        "CTP_CLIENT_ID": "test",
        "CTP_CLIENT_SECRET": "test-secret",
        "CTP_SCOPE": f"manage_project:{PROJECT}",
        "CTP_REGION": "europe-west1.gcp",
        "CTP_API_URL": ct_server.url,
        "CTP_AUTH_URL": ct_server.url,
        "YOTPO_GUID": GUID,
        "YOTPO_API_KEY": "sandbox-api-key",
        "YOTPO_API_URL": f"{yotpo_server.url}/api/v2",
        # Tests run the whole Yotpo budget in a few calls; the stand-in enforces its own limit.
        "YOTPO_RATE_LIMIT_PER_SECOND": "1000",
        # In-process apps on loopback: no Google-signed tokens to verify (the default is on).
        "OIDC_VERIFICATION": "off",
    }
    return world


_MESSAGE_IDS: Iterator[int] = iter(range(1, 10**9))


def push(
    notification: dict[str, Any], *, message_id: str | None = None, attempt: int | None = None
) -> dict[str, Any]:
    """The Pub/Sub push envelope carrying one notification."""
    body: dict[str, Any] = {
        "message": {
            "data": base64.b64encode(json.dumps(notification).encode()).decode(),
            "attributes": {},
            "messageId": message_id or str(notification.get("id") or next(_MESSAGE_IDS)),
            "publishTime": "2026-11-23T12:00:00Z",
        },
        "subscription": "projects/sandbox/subscriptions/event-app-push",
    }
    if attempt is not None:
        body["deliveryAttempt"] = attempt
    return body
