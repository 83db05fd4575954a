"""The in-store desk of a store served by Voyado Engage (`LOYALTY_PROVIDERS`), through the
rewards port, against the real Voyado stand-in (`sandbox/voyado/`) over HTTP and the
commercetools / Yotpo stand-ins of this package's world.

The same endpoints a Yotpo till uses: the member is the contact (customKey = the member id,
else the customer record's email), the rewards are the contact's available reward vouchers
(https://voyado.mintlify.app/docs/loyalty/vouchers) shown in the till's neutral reward view, a
redemption redeems the voucher now, a reversal reactivates it
(https://developer.voyado.com/en/points-and-vouchers/reactivate-a-voucher.html). What Voyado
has not (tiers, referrals, points-spend options) is null or a 4xx, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from event.app import create_app as create_event_app
from event.settings import EventSettings
from sandbox.stack import (
    VOYADO_STORE,
    VOYADO_VOUCHER_EUR,
    voyado_config,
    voyado_provider_entry,
)
from sandbox.voyado.config import SandboxConfig
from sandbox.voyado.testing import VoyadoServer
from service.instore.redemptions import RECORDS_CONTAINER
from shared.settings import load_settings
from tests.instore.conftest import BERLIN_SECRET, MUNICH_SECRET, POS_KEYS, Pos, Shop, build_app
from tests.integration.world import World, push

NORDIC_SECRET = "nordic-till-secret-0123456789"
STEP_POINTS = 1000  # one €10 voucher per 1000 points (the tenant's step model)
VOUCHER_MINOR = VOYADO_VOUCHER_EUR * 100


@pytest.fixture(scope="module")
def voyado() -> Iterator[VoyadoServer]:
    config = SandboxConfig.model_validate(voyado_config(voucher_step_points=STEP_POINTS))
    with VoyadoServer(config) as server:
        yield server


@pytest.fixture
def nordic(world: World, voyado: VoyadoServer) -> Iterator[tuple[Shop, Pos]]:
    voyado.engine.reset()
    keys = {**POS_KEYS, "nordic_till": {"secret": NORDIC_SECRET, "store": VOYADO_STORE}}
    app = build_app(
        world,
        POS_API_KEYS=json.dumps(keys),
        LOYALTY_PROVIDERS=json.dumps({VOYADO_STORE: voyado_provider_entry(voyado.url)}),
    )
    shop = Shop(world, app)
    yield shop, Pos(shop.client, NORDIC_SECRET)


def contact_with_points(
    shop: Shop, voyado: VoyadoServer, email: str, points: int, **contact: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A commercetools customer of the Voyado store and its contact, given `points` (every
    full step of them becomes a voucher in the stand-in)."""
    created = shop.world.ct.create(
        "customers",
        {
            "email": email,
            "firstName": "Nils",
            "lastName": "Holm",
            "stores": [{"typeId": "store", "key": VOYADO_STORE}],
        },
    )
    customer = created.get("customer", created)
    found = voyado.seed_contact(email=email, **contact)
    if points:
        status, _ = voyado.engine.add_point_transactions(
            voyado.engine.default_tenant(),
            [
                {
                    "contactId": found["id"],
                    "amount": points,
                    "definitionId": 1,
                    "source": "test",
                    "description": "seeded",
                }
            ],
            f"seed-{found['id']}",
        )
        assert status == 200
    return customer, found


def vouchers(voyado: VoyadoServer, contact_id: str) -> list[Any]:
    """The contact's vouchers as the stand-in holds them (redeemed or not)."""
    state = voyado.engine._state(voyado.engine.default_tenant())
    return [v for v in state.vouchers.values() if v.contact_id == contact_id.lower()]


def test_a_voyado_member_is_looked_up_with_balance_and_no_tier(nordic, voyado):
    shop, till = nordic
    customer, _ = contact_with_points(shop, voyado, "nils@example.com", 1500)
    summary = till.get("/customers", email="nils@example.com")
    assert summary.status_code == 200, summary.get_json()
    body = summary.get_json()
    assert body["customer_id"] == customer["id"]
    # 1500 points: one voucher made of 1000, 500 left on the balance.
    assert body["points_balance"] == 500
    # Voyado documents no tier or level API and no referral program: shown as null.
    assert body["vip_tier"] is None and body["vip_tier_progress"] is None
    assert body["referral_code"] is None
    assert body["email"] != "nils@example.com"  # masked


def test_not_a_contact_is_a_404(nordic, voyado):
    shop, till = nordic
    created = shop.world.ct.create(
        "customers",
        {"email": "nobody@example.com", "stores": [{"typeId": "store", "key": VOYADO_STORE}]},
    )
    customer = created.get("customer", created)
    answer = till.get(f"/customers/{customer['id']}")
    assert answer.status_code == 404 and answer.get_json()["error"] == "not_a_member"


def test_two_contacts_with_the_customers_email_are_a_clear_conflict(nordic, voyado):
    shop, till = nordic
    customer, _ = contact_with_points(shop, voyado, "twice@example.com", 0)
    voyado.seed_contact(email="twice@example.com", allow_duplicate=True)
    answer = till.get(f"/customers/{customer['id']}")
    assert answer.status_code == 409 and answer.get_json()["error"] == "ambiguous_member"


def test_the_rewards_are_the_contacts_vouchers_in_the_tills_view(nordic, voyado):
    shop, till = nordic
    customer, contact = contact_with_points(shop, voyado, "vera@example.com", 2000)
    listed = till.get(f"/customers/{customer['id']}/rewards")
    assert listed.status_code == 200, listed.get_json()
    body = listed.get_json()
    assert body["points_balance"] == 0
    ids = sorted(v.id for v in vouchers(voyado, contact["id"]))
    assert sorted(r["id"] for r in body["rewards"]) == ids and len(ids) == 2
    reward = body["rewards"][0]
    assert {k: reward[k] for k in ("kind", "amount_minor", "currency", "points", "offline")} == {
        "kind": "fixed",
        "amount_minor": VOUCHER_MINOR,
        "currency": "EUR",
        "points": 0,  # its points left the balance when the voucher was made
        "offline": True,
    }
    assert reward["expires_at"]
    # A voucher is usable in stores: the in-store filter shows the same ones.
    offline = till.get(f"/customers/{customer['id']}/rewards", offline="true").get_json()
    assert sorted(r["id"] for r in offline["rewards"]) == ids


def redeem(till: Pos, request_id: str, customer_id: str, voucher_id: str) -> Any:
    body = {"request_id": request_id, "customer_id": customer_id, "option_id": voucher_id}
    return till.post("/redemptions", body)


def test_a_voucher_is_redeemed_at_the_till_and_reversal_reactivates_it(nordic, voyado):
    shop, till = nordic
    customer, contact = contact_with_points(shop, voyado, "tove@example.com", 1000)
    (voucher,) = vouchers(voyado, contact["id"])
    answer = redeem(till, "v-1", customer["id"], voucher.id)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["code"] == voucher.voucher_number
    assert (body["amount_minor"], body["currency"], body["points"]) == (VOUCHER_MINOR, "EUR", 0)
    assert body["redemption_id"] != voucher.id  # an opaque token, not Voyado's id
    assert voucher.redeemed_on is not None
    # The record: neutral names (no Yotpo names for a Voyado redemption).
    record = shop.world.ct.get_custom_object(RECORDS_CONTAINER, body["redemption_id"])["value"]
    assert record["providerRedemptionId"] == voucher.id and record["provider"] == "voyado"
    assert record["account"] and "yotpoRedemptionId" not in record
    # The same request again: the same answer, nothing redeemed twice.
    again = redeem(till, "v-1", customer["id"], voucher.id)
    assert again.status_code == 201 and again.get_json() == body
    # Another request for the used voucher: it is no longer among the available.
    used = redeem(till, "v-2", customer["id"], voucher.id)
    assert used.status_code == 422 and used.get_json()["error"] == "not_eligible"

    reversed_ = till.post(f"/redemptions/{body['redemption_id']}/reversal", {"request_id": "r-1"})
    assert reversed_.status_code == 200, reversed_.get_json()
    assert reversed_.get_json() == {
        "redemption_id": body["redemption_id"],
        "status": "reversed",
        "points": 0,
    }
    assert voucher.redeemed_on is None and voucher.reactivations == 1
    # Usable again, and a second reversal by another request gives nothing back twice.
    twice = till.post(f"/redemptions/{body['redemption_id']}/reversal", {"request_id": "r-2"})
    assert twice.status_code == 409 and twice.get_json()["error"] == "not_reversible"
    assert redeem(till, "v-3", customer["id"], voucher.id).status_code == 201
    assert voucher.reactivations == 1


def test_a_contact_found_by_its_external_id_first(nordic, voyado):
    shop, till = nordic
    customer, _ = contact_with_points(shop, voyado, "first@example.com", 1000)
    # A second contact whose externalId is the customer id (what the connector writes):
    # customKey finds it before the email is asked.
    other = voyado.seed_contact(email="other@example.com", externalId=customer["id"])
    listed = till.get(f"/customers/{customer['id']}/rewards").get_json()
    assert listed["rewards"] == [] and other["id"]


def test_what_voyado_cannot_do_is_a_clear_refusal(nordic, voyado):
    shop, till = nordic
    customer, contact = contact_with_points(shop, voyado, "rune@example.com", 1000)
    # A Yotpo option id (points-spend options): not a voucher id, refused before any call.
    answer = redeem(till, "p-1", customer["id"], "1")
    assert answer.status_code == 404 and answer.get_json()["error"] == "unknown_option"
    unknown = redeem(till, "p-2", customer["id"], "00000000-0000-0000-0000-000000000001")
    assert unknown.status_code == 422 and unknown.get_json()["error"] == "not_eligible"
    # Points to spend: Voyado has no points-spend rewards.
    (voucher,) = vouchers(voyado, contact["id"])
    spend = till.post(
        "/redemptions",
        {"request_id": "p-4", "customer_id": customer["id"], "option_id": voucher.id, "points": 5},
    )
    assert spend.status_code == 400 and spend.get_json()["error"] == "invalid_points"
    assert voucher.redeemed_on is None
    # Neither an option id nor a voucher id: the request itself is invalid.
    refused = till.post(
        "/redemptions",
        {"request_id": "p-3", "customer_id": customer["id"], "option_id": "x"},
    )
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_request"


def test_another_stores_till_cannot_reverse_a_voyado_redemption(nordic, voyado):
    shop, till = nordic
    customer, contact = contact_with_points(shop, voyado, "siri@example.com", 1000)
    (voucher,) = vouchers(voyado, contact["id"])
    body = redeem(till, "s-1", customer["id"], voucher.id).get_json()
    for other in (BERLIN_SECRET, MUNICH_SECRET):  # Yotpo stores' tills in the same app
        pos = Pos(shop.client, other)
        refused = pos.post(f"/redemptions/{body['redemption_id']}/reversal", {"request_id": "x"})
        assert refused.status_code == 404 and refused.get_json()["error"] == "unknown_redemption"
    assert voucher.redeemed_on is not None


def test_yotpo_stores_keep_working_beside_the_voyado_store(nordic, voyado):
    shop, _ = nordic
    customer = shop.member("beside@example.com", 1200)
    answer = shop.berlin.get(f"/customers/{customer['id']}")
    assert answer.status_code == 200 and answer.get_json()["points_balance"] == 1200


def test_an_in_store_sale_of_the_voyado_store_reaches_voyado_through_the_event_app(nordic, voyado):
    # The sale is imported into commercetools (never sent from the till); the event app,
    # configured like the service app, sends it to the store's provider through the port.
    shop, till = nordic
    customer, contact = contact_with_points(shop, voyado, "sale@example.com", 0)
    sale = {
        "request_id": "sale-NOR-1",
        "order_number": "NOR-1",
        "customer_id": customer["id"],
        "currency": "EUR",
        "lines": [{"sku": "SKU-MUG", "name": "Mug", "quantity": 2, "unit_price_minor": 1500}],
    }
    imported = till.post("/orders", sale)
    assert imported.status_code == 201, imported.get_json()
    order = shop.order("NOR-1")
    assert order["store"]["key"] == VOYADO_STORE
    env = {
        **shop.world.env,
        "OIDC_VERIFICATION": "off",
        "LOYALTY_PROVIDERS": json.dumps({VOYADO_STORE: voyado_provider_entry(voyado.url)}),
    }
    event = create_event_app(load_settings(EventSettings, env)).test_client()
    for message in shop.world.messages(order["id"]):
        assert event.post("/event", json=push(message)).status_code in (200, 204)
    voyado.process()
    state = voyado.engine.state(voyado.engine.default_tenant())["tenants"]
    receipts = [r for t in state.values() for r in t["receipts"]]
    assert [r["uniqueReceiptId"] for r in receipts] == ["NOR-1"]
    assert shop.world.yotpo_orders() == []  # Yotpo never hears of the Voyado store's sale
    # 30.00 EUR at 10 points per euro, the tenant's model.
    assert voyado.contact_state(contact["id"])["balance"] == 300
