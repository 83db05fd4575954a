"""Customer messages through the real event app: the member's profile and its birthday.

The commercetools stand-in does not keep `dateOfBirth` (a CustomerDraft field,
https://docs.commercetools.com/api/projects/customers#customerdraft), so the one customer read
is answered at the HTTP boundary with the stand-in's own customer plus that field; every other
call goes to the stand-ins.
"""

from __future__ import annotations

import re

import responses

from event.app import create_app
from event.settings import EventSettings
from shared.settings import load_settings
from tests.integration.world import World, push

LOCAL = {"OIDC_VERIFICATION": "off"}


def _sync(world: World, customer_id: str) -> None:
    client = create_app(load_settings(EventSettings, {**world.env, **LOCAL})).test_client()
    for message in world.messages(customer_id):
        assert client.post("/event", json=push(message)).status_code == 200


def _customer(world: World, email: str, **extra: str) -> dict:
    draft = {"email": email, "firstName": "Bea", "lastName": "Born", "password": "x1!", **extra}
    created = world.ct.create("customers", draft)
    return created.get("customer", created)


def _birthday_calls(world: World) -> list[dict]:
    return [r for r in world.yotpo.requests_since(0) if r["path"].endswith("/customer_birthdays")]


def test_a_customer_with_a_date_of_birth_gets_its_birthday_in_yotpo(world):
    customer = _customer(world, "bea@example.com")
    born = {**world.ct.get_by_id("customers", customer["id"]), "dateOfBirth": "1990-03-14"}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add_passthru(re.compile(r"http://127\.0\.0\.1:\d+/(?!.*/customers/).*"))
        rsps.get(re.compile(rf".*/customers/{customer['id']}(\?.*)?$"), json=born)
        _sync(world, customer["id"])

    member = world.yotpo_customer("bea@example.com")
    assert member["birthday"] == {"day": 14, "month": 3, "year": 1990}
    (call,) = _birthday_calls(world)
    assert call["json"] == {
        "customer_email": "bea@example.com",
        "day": 14,
        "month": 3,
        "year": 1990,
    }


def test_a_customer_without_one_gets_no_birthday_call(world):
    customer = _customer(world, "nobirthday@example.com")
    _sync(world, customer["id"])

    assert world.yotpo_customer("nobirthday@example.com")["birthday"] is None
    assert _birthday_calls(world) == []
