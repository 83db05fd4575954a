"""Yotpo's points-changed webhook for a legacy member, delivered by the Yotpo stand-in to the
real service app over HTTP (`MEMBER_ID_SOURCE=externalId`, docs/adr/0010): the customer holding
the member id as `externalId` gets the balance; with the default source it does not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sandbox.serving import ServerThread
from service.app import create_app
from service.settings import ServiceSettings
from shared.settings import load_settings
from tests.integration.world import GUID, World
from tests.writeback.legacy import adjust, balance, customer, install, member

WEBHOOK_SECRET = "webhook-secret-value"
LEGACY_ID = "legacy-0042"
OLD_EMAIL = "ada.lovelace@old-shop.example"


@contextmanager
def receiving(world: World, **env: str) -> Iterator[ServerThread]:
    """The service app, registered as the program's webhook URL in the Yotpo stand-in."""
    settings = load_settings(
        ServiceSettings,
        {
            **world.env,
            "EXTENSION_SECRET": "extension-secret-value",
            "YOTPO_WEBHOOK_SECRET": WEBHOOK_SECRET,
            **env,
        },
    )
    server = ServerThread(create_app(settings)).start()
    world.yotpo.put_account(
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
        yield server
    finally:
        server.stop()


def settle(world: World) -> list[dict]:
    dispatcher = world.yotpo.dispatcher
    assert dispatcher is not None and dispatcher.wait_idle(15)
    return [d for d in dispatcher.deliveries() if d["topic"] == "swell/points/changed"]


def test_a_points_webhook_for_a_legacy_member_updates_its_customer(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    with receiving(world, MEMBER_ID_SOURCE="externalId"):
        member(world, LEGACY_ID, OLD_EMAIL, 800)
        (delivered,) = settle(world)
        assert delivered["payload"]["customer"]["third_party_id"] == LEGACY_ID
        assert delivered["status"] == 200 and delivered["delivered"]
        assert balance(world, ada["id"]) == 800

        adjust(world, LEGACY_ID, -250)
        assert [d["status"] for d in settle(world)] == [200, 200]
        assert balance(world, ada["id"]) == 550


def test_with_the_default_source_the_legacy_webhook_writes_nothing(world: World) -> None:
    install(world)
    ada = customer(world, "ada@example.com", externalId=LEGACY_ID)
    with receiving(world):
        member(world, LEGACY_ID, OLD_EMAIL, 800)
        (delivered,) = settle(world)
        assert delivered["status"] == 200  # acknowledged: no customer has that id
    assert balance(world, ada["id"]) is None
