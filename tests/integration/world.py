"""The stand-ins as real HTTP servers in this process, and the real apps wired to them.

The apps run unchanged (Flask test clients over the apps `create_app` builds from settings);
every commercetools, Yotpo and Voyado call they make is real HTTP to the stand-ins.

`start_world(voyado=True)` adds the Voyado Engage stand-in and configures the apps with
`LOYALTY_PROVIDERS`: the store `VOYADO_STORE` is served by Voyado, every other store by the
Yotpo account, as in one project running both providers (ADR 0080).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandbox.commercetools.app import create_app as create_ct_app
from sandbox.commercetools.state import StandInConfig, StandInState
from sandbox.serving import ServerThread
from sandbox.stack import VOYADO_STORE, VOYADO_TENANT, voyado_config, voyado_provider_entry
from sandbox.storefront import Storefront
from sandbox.voyado import SandboxConfig, VoyadoServer
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
    voyado: VoyadoServer | None = None

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

    # --- the Voyado side (start_world(voyado=True)) ------------------------------------------
    @property
    def voyado_server(self) -> VoyadoServer:
        assert self.voyado is not None, "start_world(voyado=True) runs the Voyado stand-in"
        return self.voyado

    def voyado_state(self) -> dict[str, Any]:
        """The tenant's contacts, receipts (applied or pending), duplicates seen."""
        return self.voyado_server.engine.state(VOYADO_TENANT)["tenants"][VOYADO_TENANT]

    def voyado_process(self) -> int:
        """Run Voyado's receipt batch now (the world's tenant applies receipts only then)."""
        return self.voyado_server.process(VOYADO_TENANT)

    def voyado_receipts(self, order_ref: str | None = None) -> list[dict[str, Any]]:
        """Stored receipts; with `order_ref`, the order's purchase and its return receipts."""
        receipts = self.voyado_state()["receipts"]
        if order_ref is None:
            return receipts
        return [
            r
            for r in receipts
            if r["uniqueReceiptId"] == order_ref or r["uniqueReceiptId"].startswith(f"{order_ref}:")
        ]

    def voyado_receipt_posts(self, unique_id: str) -> list[dict[str, Any]]:
        """Every receipt request the connector made with this uniqueReceiptId."""
        return [
            r
            for r in self.voyado_server.engine.requests_since(0)
            if r["method"] == "POST"
            and r["path"].endswith("/receipts")
            and (r.get("json") or {}).get("uniqueReceiptId") == unique_id
        ]

    def voyado_contact(self, email: str) -> dict[str, Any] | None:
        for contact in self.voyado_state()["contacts"]:
            if (contact.get("attributes") or {}).get("email") == email.lower():
                return contact
        return None

    def voyado_balance(self, contact_id: str) -> Decimal:
        return Decimal(str(self.voyado_server.contact_state(contact_id, VOYADO_TENANT)["balance"]))

    def close(self) -> None:
        if self.voyado is not None:
            self.voyado.stop()
        self.ct_server.stop()
        self.yotpo_server.stop()
        self.ct_state.close()
        self.yotpo.close()


def start_world(*, voyado: bool = False, voyado_silent: dict[str, Any] | None = None) -> World:
    """`voyado_silent`: the Voyado stand-in's answers where Voyado's documentation is silent
    (`sandbox.voyado.SilentAnswers`), defaults otherwise."""
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
    if voyado:
        # The sandbox tenant, its batch run only on `voyado_process()` so tests read a settled
        # state (Voyado applies receipts "at a preset interval",
        # https://developer.voyado.com/en/receipts/introduction-to-receipts.html).
        # No voucher step within reach: a voucher deducts the points it is made of, and the
        # tests compare balances with what orders earned.
        config = voyado_config(voucher_step_points=10**9)
        config["tenants"][0]["batch_interval_seconds"] = None
        if voyado_silent:
            config["tenants"][0]["silent"] = dict(voyado_silent)
        try:
            world.voyado = VoyadoServer(SandboxConfig.model_validate(config)).start()
        except BaseException:
            world.close()
            raise
        world.env["LOYALTY_PROVIDERS"] = json.dumps(
            {VOYADO_STORE: voyado_provider_entry(world.voyado.url)}
        )
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
