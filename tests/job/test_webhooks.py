"""Yotpo's points and tier webhooks, delivered by the Yotpo stand-in to the real service app
(an HTTP server), written back onto the commercetools customer at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.serving import ServerThread
from service.app import create_app
from service.settings import ServiceSettings
from service.webhooks import WEBHOOK_SECRET_HEADER
from shared.domain.loyalty_fields import CustomerFields as F
from shared.settings import load_settings
from tests.integration.world import GUID

WEBHOOK_SECRET = "webhook-secret-value"
GROUPS = {"Gold": "vip-gold"}


class Receiver:
    def __init__(self, scene, server: ServerThread) -> None:
        self.scene = scene
        self.server = server
        self.url = f"{server.url}/yotpo/webhooks"

    def post(self, body: dict[str, Any], secret: str | None = WEBHOOK_SECRET) -> requests.Response:
        headers = {WEBHOOK_SECRET_HEADER: secret} if secret else {}
        return requests.post(self.url, json=body, headers=headers, timeout=10)

    def settle(self) -> list[dict[str, Any]]:
        """Wait for every webhook the stand-in owes, and return their deliveries."""
        dispatcher = self.scene.world.yotpo.dispatcher
        assert dispatcher is not None and dispatcher.wait_idle(15)
        return dispatcher.deliveries()


@pytest.fixture
def receiver(scene) -> Iterator[Receiver]:
    grouped = scene.with_env(VIP_TIER_GROUPS=json.dumps(GROUPS))
    grouped.install()
    env = {
        **grouped.env,
        "EXTENSION_SECRET": "extension-secret-value",
        "YOTPO_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    server = ServerThread(create_app(load_settings(ServiceSettings, env))).start()
    scene.world.yotpo.put_account(
        {
            "guid": GUID,
            "api_key": "sandbox-api-key",
            "program": {
                "webhook_url": f"{server.url}/yotpo/webhooks",
                "webhook_secret": WEBHOOK_SECRET,
            },
        }
    )
    try:
        yield Receiver(grouped, server)
    finally:
        server.stop()


def test_points_and_tier_webhooks_write_back_at_once(receiver):
    scene = receiver.scene
    sam = scene.member("sam@example.com")
    scene.adjust(sam, 150)
    deliveries = receiver.settle()
    assert [d["topic"] for d in deliveries] == ["swell/points/changed"]
    assert deliveries[0]["status"] == 200 and deliveries[0]["delivered"]
    fields = scene.fields(sam)
    assert fields[F.POINTS_BALANCE] == 150 and fields[F.VIP_TIER] == "Bronze"

    scene.spend(sam, 60000)  # points and Gold tier at once
    topics = [d["topic"] for d in receiver.settle()]
    assert "swell/tier/earned" in topics
    customer = scene.customer(sam)
    member = scene.yotpo_member(sam)
    assert customer["custom"]["fields"][F.POINTS_BALANCE] == member["points_balance"]
    assert customer["custom"]["fields"][F.VIP_TIER] == "Gold"
    gold = scene.world.ct.get_by_key("customer-groups", "vip-gold")
    assert customer["customerGroup"]["id"] == gold["id"]


def test_a_replayed_old_webhook_cannot_write_an_old_balance(receiver):
    scene = receiver.scene
    sam = scene.member("replay@example.com", 100)
    receiver.settle()
    old = next(d for d in receiver.settle() if d["topic"] == "swell/points/changed")["payload"]
    scene.adjust(sam, 400)
    receiver.settle()
    version = scene.customer(sam)["version"]
    answer = receiver.post(old)  # a late duplicate of the first webhook
    assert answer.status_code == 200 and answer.json()["outcome"] == "unchanged"
    assert scene.fields(sam)[F.POINTS_BALANCE] == 500
    assert scene.customer(sam)["version"] == version


def test_webhook_authentication_and_payloads(receiver):
    scene = receiver.scene
    sam = scene.member("pay@example.com", 20)
    receiver.settle()
    body = {"topic": "swell/tier/status/changed", "customer": {"third_party_id": sam["id"]}}
    assert receiver.post(body, secret=None).status_code == 401
    assert receiver.post(body, secret="wrong").status_code == 401
    assert receiver.post({"topic": "swell/points/changed"}).status_code == 400  # no customer
    assert receiver.post({"customer": {}}).status_code == 400  # no topic

    unknown = {"topic": "swell/points/changed", "customer": {"id": "no-such-customer"}}
    assert receiver.post(unknown).json()["outcome"] == "customer_gone"
    nobody = {"topic": "swell/points/changed", "customer": {"email": "ghost@example.com"}}
    assert receiver.post(nobody).json()["outcome"] == "unknown_customer"
    # Yotpo only knows the member by email: the customer is found by it.
    by_email = {"topic": "swell/tier/lost", "email": "pay@example.com", "customer": {}}
    assert receiver.post(by_email).json()["outcome"] in ("updated", "unchanged")
    other = {"topic": "swell/redemption/created", "customer": {"id": sam["id"]}}
    assert receiver.post(other).json()["outcome"] == "ignored"


def test_yotpo_down_answers_503_so_yotpo_delivers_again(receiver):
    scene = receiver.scene
    sam = scene.member("later@example.com", 30)
    receiver.settle()
    scene.world.yotpo.set_faults({"error_next": 50, "error_status": 503})
    body = {"topic": "swell/points/changed", "customer": {"id": sam["id"]}}
    answer = receiver.post(body)
    assert answer.status_code == 503 and answer.json()["error"] == "retry_later"
    scene.world.yotpo.set_faults({})
    assert receiver.post(body).json()["outcome"] in ("updated", "unchanged")


def test_without_the_customer_type_the_webhook_is_acknowledged_and_logged(scene):
    env = {
        **scene.env,
        "EXTENSION_SECRET": "extension-secret-value",
        "YOTPO_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    client = create_app(load_settings(ServiceSettings, env)).test_client()
    sam = scene.member("notype@example.com", 5)
    body = {"topic": "swell/points/changed", "customer": {"id": sam["id"]}}
    answer = client.post(
        "/yotpo/webhooks", json=body, headers={WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}
    )
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "failed"


def test_the_points_changed_examples_thirty_party_id_spelling_still_writes_back(receiver):
    """Yotpo's points-changed example spells the customer's id `thirty_party_id`
    (https://loyaltyapi.yotpo.com/reference/points-changed); the stand-in can send it so."""
    scene = receiver.scene
    scene.world.yotpo.put_account(
        {
            "guid": GUID,
            "api_key": "sandbox-api-key",
            "program": {
                "webhook_url": receiver.url,
                "webhook_secret": WEBHOOK_SECRET,
                "points_changed_id_spelling": "thirty_party_id",
            },
        }
    )
    sam = scene.member("thirty@example.com")
    scene.adjust(sam, 70)
    deliveries = [d for d in receiver.settle() if d["topic"] == "swell/points/changed"]
    assert deliveries and all(d["delivered"] for d in deliveries)
    assert "thirty_party_id" in deliveries[-1]["payload"]["customer"]
    assert scene.fields(sam)[F.POINTS_BALANCE] == 70


def test_tier_webhooks_carry_tier_objects_and_still_write_back(receiver):
    scene = receiver.scene
    sam = scene.member("objects@example.com")
    scene.spend(sam, 60000)
    earned = [d for d in receiver.settle() if d["topic"] == "swell/tier/earned"]
    assert earned and earned[-1]["payload"]["new_tier"]["name"] == "Gold"
    assert scene.fields(sam)[F.VIP_TIER] == "Gold"
