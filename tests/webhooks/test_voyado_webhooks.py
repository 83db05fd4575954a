"""Voyado's Svix-signed webhooks, delivered by the running Voyado stand-in to the real service
app (`sandbox.serving.ServerThread`), which writes the balance onto the customer in the running
commercetools stand-in (issue #18, ADR 0085).

The stand-in signs each attempt as Svix does (https://docs.svix.com/receiving/verifying-payloads/
how-manual) and retries any non-2xx answer under the same `svix-id` (https://docs.svix.com/retries;
shortened schedule here). Two Voyado tenants serve two accounts of `LOYALTY_PROVIDERS`, each with
its own `webhookSecret`: the receiver tries both.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.serving import ServerThread
from sandbox.voyado import SandboxConfig, VoyadoServer
from sandbox.voyado.webhooks import encode, sign
from service.app import create_app
from service.settings import ServiceSettings
from service.voyado_webhooks import BALANCE_UPDATED, VOYADO_WEBHOOK_PATH
from shared.domain.loyalty_fields import CustomerFields
from shared.settings import ProviderSettings, load_settings
from tests.writeback.test_provider_writeback import (
    KEY,
    SECRET,
    Commercetools,
    earn,
    start_commercetools,
    tenant,
    voyado_account,
)

OUTLET_KEY = "outlet-voyado-key"
OUTLET_SECRET = "whsec_" + "b3V0bGV0LXZveWFkby13ZWJob29rLXNlY3JldC0wMg=="
OTHER_SECRET = "whsec_" + "bm90LWEtc2VjcmV0LWFueS1hY2NvdW50LWtub3dzLTM="
EMAIL = "nils@example.com"


class _Settings(ServiceSettings, ProviderSettings):
    """ServiceSettings with LOYALTY_PROVIDERS, for as long as the service app does not declare
    the key itself (an integration request of this change)."""


SETTINGS = ServiceSettings if issubclass(ServiceSettings, ProviderSettings) else _Settings


@dataclass
class Shop:
    ct: Commercetools
    voyado: VoyadoServer
    service: ServerThread

    @property
    def url(self) -> str:
        return f"{self.service.url}{VOYADO_WEBHOOK_PATH}"

    def settle(self, topic: str = BALANCE_UPDATED) -> list[dict[str, Any]]:
        """Every Svix delivery of `topic` so far, once the stand-in has finished them all."""
        self.voyado.engine.dispatcher.wait_idle(30)
        return [d for d in self.voyado.engine.dispatcher.deliveries() if d["topic"] == topic]

    def post(
        self, body: Any, *, secret: str = SECRET, msg_id: str = "msg_test", age: int = 0
    ) -> requests.Response:
        """A delivery signed as Svix signs one, `age` seconds old."""
        raw = body if isinstance(body, bytes) else encode(body)
        timestamp = int(time.time()) - age
        headers = {
            "Content-Type": "application/json",
            "svix-id": msg_id,
            "svix-timestamp": str(timestamp),
            "svix-signature": sign(secret, msg_id, timestamp, raw),
        }
        return requests.post(self.url, data=raw, headers=headers, timeout=10)

    def balance(self, customer_id: str) -> Any:
        return self.ct.fields(customer_id).get(CustomerFields.POINTS_BALANCE)


@pytest.fixture
def shop() -> Iterator[Shop]:
    ct = start_commercetools()
    voyado: VoyadoServer | None = None
    service: ServerThread | None = None
    try:
        ct.install()
        config = SandboxConfig(
            tenants=[tenant(), tenant("outlet", OUTLET_KEY, OUTLET_SECRET)],
            webhook_retry_delays=[0.5] * 6,
            webhook_timeout_seconds=10,
        )
        voyado = VoyadoServer(config).start()
        providers = {
            "default": voyado_account(voyado.url),
            "outlet": voyado_account(voyado.url, OUTLET_KEY, OUTLET_SECRET),
        }
        env = {
            **ct.env,
            "EXTENSION_SECRET": "extension-secret-value",
            "LOYALTY_PROVIDERS": json.dumps(providers),
            "OIDC_VERIFICATION": "off",
        }
        service = ServerThread(create_app(load_settings(SETTINGS, env))).start()
        url = f"{service.url}{VOYADO_WEBHOOK_PATH}"
        # The service's URL is known only now: register it as both tenants' webhook endpoint.
        for made in (tenant(webhook_url=url), tenant("outlet", OUTLET_KEY, OUTLET_SECRET)):
            if made.name == "outlet":
                made = made.model_copy(update={"webhook_url": url})
            voyado.engine.put_tenant(made.model_dump(mode="json"))
        yield Shop(ct, voyado, service)
    finally:
        if service is not None:
            service.stop()
        if voyado is not None:
            voyado.stop()
        ct.close()


def _member(shop: Shop, email: str = EMAIL, tenant_name: str = "shop") -> tuple[dict, dict]:
    customer = shop.ct.customer(email)
    contact = shop.voyado.seed_contact(tenant_name, email=email)
    return customer, contact


# --- the story ---------------------------------------------------------------------------------
def test_a_receipt_earns_points_and_the_webhook_writes_the_balance(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    customer, contact = _member(shop)

    earn(shop.voyado, contact["id"], "order-1", "120.00")
    (delivered,) = shop.settle()
    assert delivered["body"]["payload"]["contactId"] == contact["id"]
    assert [a["status"] for a in delivered["attempts"]] == [200]
    assert shop.balance(customer["id"]) == 120

    earn(shop.voyado, contact["id"], "order-2", "30.00")
    assert [d["attempts"][-1]["status"] for d in shop.settle()] == [200, 200]
    assert shop.balance(customer["id"]) == 150

    # One JSON line per delivery, with its svix-id; never the email.
    written = [r for r in caplog.records if r.getMessage() == "voyado_webhook.written_back"]
    assert [r.json_fields["delivery_id"] for r in written] == [  # type: ignore[attr-defined]
        d["msgId"] for d in shop.settle()
    ]
    assert all(EMAIL not in json.dumps(getattr(r, "json_fields", {})) for r in caplog.records)


def test_a_redelivery_changes_nothing(shop: Shop) -> None:
    customer, contact = _member(shop)
    earn(shop.voyado, contact["id"], "order-1", "75.00")
    (delivered,) = shop.settle()
    before = shop.ct.read(customer["id"])
    assert before["custom"]["fields"][CustomerFields.POINTS_BALANCE] == 75

    again = shop.post(delivered["body"], msg_id=delivered["msgId"])

    assert again.status_code == 200 and again.json() == {"outcome": "unchanged"}
    assert shop.ct.read(customer["id"])["version"] == before["version"]


def test_a_transient_failure_is_a_503_and_the_retry_writes_the_balance(shop: Shop) -> None:
    """Voyado answers 503 to the contact read (each of the client's attempts): the service
    answers 503, Svix retries under the same svix-id, and the retry writes the balance."""
    customer, contact = _member(shop)
    shop.voyado.engine.set_faults(
        {"api_key": KEY, "path_prefix": "/api/v3/contacts/", "error_next": 3}
    )

    earn(shop.voyado, contact["id"], "order-1", "64.00")
    (delivered,) = shop.settle()

    statuses = [a["status"] for a in delivered["attempts"]]
    assert statuses[0] == 503 and statuses[-1] == 200 and delivered["delivered"]
    assert shop.balance(customer["id"]) == 64


def test_the_second_account_s_secret_is_tried_too(shop: Shop) -> None:
    customer, contact = _member(shop, "outi@example.com", tenant_name="outlet")

    earn(shop.voyado, contact["id"], "outlet-1", "33.00", key=OUTLET_KEY)
    (delivered,) = shop.settle()

    assert delivered["tenant"] == "outlet" and delivered["attempts"][-1]["status"] == 200
    assert shop.balance(customer["id"]) == 33


# --- refusals ------------------------------------------------------------------------------------
def test_a_bad_signature_is_401_and_changes_nothing(shop: Shop) -> None:
    customer, contact = _member(shop)
    earn(shop.voyado, contact["id"], "order-1", "10.00")
    (delivered,) = shop.settle()
    before = shop.ct.read(customer["id"])
    # Voyado's balance moves; a forged delivery must not make the connector look.
    shop.voyado.engine.dispatcher.close()  # no more genuine deliveries from here
    earn(shop.voyado, contact["id"], "order-2", "5.00")
    forged = dict(delivered["body"])

    wrong = shop.post(forged, secret=OTHER_SECRET, msg_id="msg_forged")
    unsigned = requests.post(shop.url, json=forged, timeout=10)
    tampered_raw = encode(forged)
    timestamp = int(time.time())
    tampered = requests.post(
        shop.url,
        data=tampered_raw + b" ",
        headers={
            "Content-Type": "application/json",
            "svix-id": "msg_t",
            "svix-timestamp": str(timestamp),
            "svix-signature": sign(SECRET, "msg_t", timestamp, tampered_raw),
        },
        timeout=10,
    )

    assert [wrong.status_code, unsigned.status_code, tampered.status_code] == [401, 401, 401]
    assert shop.ct.read(customer["id"])["version"] == before["version"]


def test_a_replayed_old_timestamp_is_401(shop: Shop) -> None:
    """A delivery captured and replayed later: its signature is right, its timestamp is not
    (Svix's tolerance is five minutes)."""
    customer, contact = _member(shop)
    shop.ct.client.update(
        "customers",
        customer["id"],
        customer["version"],
        [{"action": "setFirstName", "firstName": "Nils"}],
    )
    body = {
        "id": "evt-1",
        "eventType": BALANCE_UPDATED,
        "isEncrypted": False,
        "payload": {"balance": 999, "contactId": contact["id"], "accountId": 1},
        "tenant": "shop",
    }
    before = shop.ct.read(customer["id"])

    old = shop.post(body, msg_id="msg_old", age=10 * 60)
    future = shop.post(body, msg_id="msg_future", age=-10 * 60)

    assert (old.status_code, future.status_code) == (401, 401)
    assert shop.ct.read(customer["id"])["version"] == before["version"]


def test_a_signed_body_that_is_not_an_envelope_is_400_and_svix_stops(shop: Shop) -> None:
    not_json = shop.post(b"{not json", msg_id="msg_1")
    no_type = shop.post({"payload": {}}, msg_id="msg_2")
    no_contact = shop.post({"eventType": BALANCE_UPDATED, "payload": {}}, msg_id="msg_3")
    listed = shop.post([1, 2], msg_id="msg_4")

    for answer in (not_json, no_type, no_contact, listed):
        assert answer.status_code == 400
        assert answer.headers["webhook-delivery"] == "abort-message"


def test_other_topics_are_acknowledged_and_write_nothing(shop: Shop) -> None:
    customer, contact = _member(shop)
    voucher = {
        "eventId": "evt-2",
        "eventType": "reward.voucher.created",
        "isEncrypted": False,
        "payload": {"ContactId": contact["id"], "Id": "v-1", "Amount": 50.0, "Currency": "SEK"},
        "tenant": "shop",
    }
    other = {"id": "evt-3", "eventType": "contact.updated", "payload": {}, "tenant": "shop"}
    unknown = {**voucher, "eventType": BALANCE_UPDATED, "payload": {"contactId": "nobody"}}

    answers = [shop.post(b, msg_id=f"msg_{i}") for i, b in enumerate((voucher, other, unknown))]

    assert [(a.status_code, a.json()["outcome"]) for a in answers] == [
        (200, "acknowledged"),
        (200, "ignored"),
        (200, "unknown_contact"),
    ]
    assert shop.ct.read(customer["id"])["version"] == customer["version"]


def test_an_encrypted_payload_is_acknowledged_as_a_permanent_failure(shop: Shop) -> None:
    body = {"id": "e", "eventType": BALANCE_UPDATED, "isEncrypted": True, "payload": "b64..."}
    answer = shop.post(body, msg_id="msg_enc")
    assert (answer.status_code, answer.json()["outcome"]) == (200, "encrypted")


def test_a_contact_known_by_external_id_finds_its_customer_by_id(shop: Shop) -> None:
    """The contact has no email the shop knows: its externalId (the member id the connector
    gives the contacts it creates, here the customer id) names the customer."""
    customer = shop.ct.customer("nils@example.com")
    contact = shop.voyado.seed_contact(email="nils.private@example.org", externalId=customer["id"])

    earn(shop.voyado, contact["id"], "order-1", "21.00")
    (delivered,) = shop.settle()

    assert delivered["attempts"][-1]["status"] == 200
    assert shop.balance(customer["id"]) == 21


def test_a_contact_without_a_customer_is_acknowledged(shop: Shop) -> None:
    contact = shop.voyado.seed_contact(email="only-in-voyado@example.com")
    earn(shop.voyado, contact["id"], "order-1", "9.00")
    (delivered,) = shop.settle()
    assert [a["status"] for a in delivered["attempts"]] == [200]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=300),
    headers=st.dictionaries(
        st.sampled_from(["svix-id", "svix-timestamp", "svix-signature", "webhook-id", "X-Other"]),
        # Header values requests can send (no leading blank): ids, digits, `v1,<base64>` lists.
        st.from_regex(r"[!-~]{1,30}( v1,[A-Za-z0-9+/=]{0,44})?", fullmatch=True),
    ),
)
def test_no_unsigned_input_gets_past_the_signature(
    shop: Shop, body: bytes, headers: dict[str, str]
) -> None:
    answer = requests.post(shop.url, data=body, headers=headers, timeout=10)
    assert answer.status_code == 401


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    envelope=st.fixed_dictionaries(
        {},
        optional={
            "eventType": st.sampled_from([BALANCE_UPDATED, "reward.voucher.created", "x"])
            | st.integers(),
            "isEncrypted": st.booleans() | st.none(),
            "payload": st.dictionaries(
                st.sampled_from(["contactId", "ContactId", "balance", "Id"]),
                st.text(max_size=40) | st.integers() | st.none() | st.lists(st.integers()),
            )
            | st.text(max_size=10),
        },
    )
)
def test_no_signed_envelope_gets_a_5xx(shop: Shop, envelope: dict[str, Any]) -> None:
    answer = shop.post(envelope, msg_id="msg_fuzz")
    assert answer.status_code in (200, 400), answer.text


def test_a_late_delivery_of_an_older_balance_writes_nothing(shop: Shop) -> None:
    """The payload's balance is input, not state: the balance is read fresh from Voyado, so
    the first message delivered after the second one cannot put 120 back over 150."""
    customer, contact = _member(shop)
    earn(shop.voyado, contact["id"], "order-1", "120.00")
    earn(shop.voyado, contact["id"], "order-2", "30.00")
    first, _second = shop.settle()
    assert first["body"]["payload"]["balance"] == 120
    version = shop.ct.read(customer["id"])["version"]

    late = shop.post(first["body"], msg_id=first["msgId"])

    assert late.json() == {"outcome": "unchanged"}
    assert shop.balance(customer["id"]) == 150
    assert shop.ct.read(customer["id"])["version"] == version


def test_without_a_voyado_webhook_secret_the_route_is_not_configured() -> None:
    ct = start_commercetools()
    try:
        env = {
            **ct.env,
            "EXTENSION_SECRET": "extension-secret-value",
            "YOTPO_GUID": "guid",
            "YOTPO_API_KEY": "key",
            "OIDC_VERIFICATION": "off",
        }
        client = create_app(load_settings(SETTINGS, env)).test_client()
        answer = client.post(VOYADO_WEBHOOK_PATH, json={"eventType": BALANCE_UPDATED})
        assert answer.status_code == 404 and answer.json["error"] == "not_configured"
    finally:
        ct.close()
