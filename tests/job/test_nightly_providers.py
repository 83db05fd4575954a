"""The nightly run and the audit through the provider port (issue #18): one project whose store
`nordic` is served by Voyado Engage (`LOYALTY_PROVIDERS`) and every other store by the Yotpo
account, against the commercetools, Yotpo and Voyado stand-ins over real HTTP.

The Voyado stand-in (`sandbox.voyado`) is started here; its tenant applies receipts only when
the test runs the batch (Voyado applies them "at a preset interval",
https://developer.voyado.com/en/receipts/introduction-to-receipts.html).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from job.audit import audit, render_table
from job.backfill import Backfill
from job.nightly import NIGHTLY_TASK, OUTAGE_AFTER, NightlyJob
from job.orders import OrderRange
from job.state import JOB_CONTAINER
from sandbox.voyado import SandboxConfig, TenantConfig, VoyadoServer, receipt
from sandbox.voyado.webhooks import encode
from service.order_guard import PENDING, Consumption, ConsumptionRecords
from shared.customers.writeback import CustomerWriteback
from shared.domain.loyalty_fields import CustomerFields as F
from tests.integration.world import GUID, World
from tests.job.conftest import Scene

VOYADO_STORE = "nordic"
TENANT = "nordic-tenant"
KEY = "nightly-voyado-key"
SECRET = "whsec_" + base64.b64encode(b"nightly-voyado-webhook-secret-1").decode()
STORE_EXTERNAL_ID = "ecom-1"


@pytest.fixture
def voyado() -> Iterator[VoyadoServer]:
    config = SandboxConfig(
        tenants=[
            TenantConfig(
                name=TENANT,
                api_keys=[KEY],
                stores=[STORE_EXTERNAL_ID],
                # The shop sells in EUR: the tenant's group currency, one point per euro.
                currency="EUR",
                batch_interval_seconds=None,
                webhook_secret=SECRET,
            )
        ]
    )
    with VoyadoServer(config) as server:
        yield server


def provider_env(voyado: VoyadoServer) -> dict[str, str]:
    entry = {
        "provider": "voyado",
        "baseUrl": voyado.url,
        "apiKey": KEY,
        "storeExternalId": STORE_EXTERNAL_ID,
        "webhookSecret": SECRET,
    }
    return {"LOYALTY_PROVIDERS": json.dumps({VOYADO_STORE: entry})}


@pytest.fixture
def shop(world: World, voyado: VoyadoServer) -> Scene:
    # One pass covers every customer (the slice is everyone), so a second run looks again.
    scene = Scene(world, NIGHTLY_COVERAGE_NIGHTS="1", **provider_env(voyado))
    scene.install()
    return scene


def voyado_member(scene: Scene, voyado: VoyadoServer, email: str, points: int = 0) -> Any:
    """A customer of the Voyado store, a contact of the tenant with `points`."""
    created = scene.world.ct.create(
        "customers",
        {
            "email": email,
            "firstName": "Nils",
            "lastName": "Holm",
            "password": "x1!",
            "stores": [{"typeId": "store", "key": VOYADO_STORE}],
        },
    )
    customer = created.get("customer", created)
    contact = voyado.seed_contact(email=email, firstName="Nils", lastName="Holm")
    if points:
        earn(voyado, str(contact["id"]), f"seed-{email}", points)
    return customer


def earn(voyado: VoyadoServer, contact_id: str, receipt_id: str, points: int) -> None:
    """A purchase receipt of `points` euros for the contact, applied by the batch."""
    body = receipt(contact_id, receipt_id, [("sku-1", 1, f"{points}.00")], store=STORE_EXTERNAL_ID)
    body["currency"] = "EUR"
    answer = requests.post(
        f"{voyado.url}/api/v3/receipts",
        data=encode(body),
        headers=voyado.headers(KEY),
        timeout=5,
    )
    assert answer.status_code in (200, 202), answer.text
    assert voyado.process(TENANT) >= 1


def stored_cursor(scene: Scene) -> dict[str, Any]:
    """The nightly run's stored cursor (`job.state.TaskCheckpoint` keeps it beside its lock)."""
    stored = scene.world.ct.get_custom_object(JOB_CONTAINER, NIGHTLY_TASK)
    return dict(stored["value"]["cursor"]) if stored else {}


def contact_of(voyado: VoyadoServer, email: str) -> dict[str, Any]:
    contacts = voyado.engine.state(TENANT)["tenants"][TENANT]["contacts"]
    return next(c for c in contacts if (c.get("attributes") or {}).get("email") == email)


# --- the nightly run -----------------------------------------------------------------------
def test_a_voyado_contacts_balance_reaches_its_customer_and_yotpo_customers_are_unchanged(
    shop: Scene, voyado: VoyadoServer
) -> None:
    yotpo = shop.member("yara@example.com", 120, spend_cents=60_000)
    nils = voyado_member(shop, voyado, "nils@example.com", 250)
    yotpo_calls_before = shop.yotpo_seq()

    summary = NightlyJob(shop.settings, shop.clients).run()

    assert summary.outcome == "complete"
    assert (summary.checked, summary.changed, summary.failed) == (2, 2, 0)
    assert summary.handed_back == 0 and summary.providers_unavailable is None
    assert shop.fields(nils)[F.POINTS_BALANCE] == 250
    # Voyado documents no tier API: the Voyado customer gets a balance, never a tier.
    assert F.VIP_TIER not in shop.fields(nils)
    # The Yotpo customer as before: balance and tier from Yotpo's member record.
    member = shop.yotpo_member(yotpo)
    assert shop.fields(yotpo)[F.POINTS_BALANCE] == member["points_balance"]
    assert shop.fields(yotpo).get(F.VIP_TIER) == (member.get("vip_tier_name") or None)
    # Each provider was asked about its own customers only, and its calls are counted apart.
    assert shop.looked_up(yotpo_calls_before) == [yotpo["id"]]
    assert summary.provider_calls is not None and summary.provider_calls["voyado"] >= 2
    assert summary.yotpo_calls >= 1

    # The contact earns more: the next run writes the new balance, and only that.
    earn(voyado, str(contact_of(voyado, "nils@example.com")["id"]), "later", 40)
    again = NightlyJob(shop.settings, shop.clients).run()
    assert (again.checked, again.changed) == (2, 1)
    assert shop.fields(nils)[F.POINTS_BALANCE] == 290
    assert shop.fields(yotpo)[F.POINTS_BALANCE] == member["points_balance"]


class RecordingWriteback(CustomerWriteback):
    """The nightly run's write-back, noting which provider each customer was handed."""

    def __init__(self, scene: Scene) -> None:
        super().__init__(
            scene.clients.commercetools,
            scene.clients.runtime.provider_for_store,
            type_key=scene.settings.customer_type_key,
        )
        self.handed: dict[str, str | None] = {}

    def sync_customer(self, customer, provider=None, *, deadline=None, provider_name=None):
        self.handed[str(customer["id"])] = provider.name if provider is not None else None
        return super().sync_customer(
            customer, provider, deadline=deadline, provider_name=provider_name
        )


def test_one_write_back_serves_the_customers_of_both_providers(
    shop: Scene, voyado: VoyadoServer
) -> None:
    yotpo = shop.member("yara@example.com", 30)
    nils = voyado_member(shop, voyado, "nils@example.com", 60)
    one = RecordingWriteback(shop)

    summary = NightlyJob(shop.settings, shop.clients, writeback=one).run()

    assert (summary.checked, summary.changed, summary.failed) == (2, 2, 0)
    assert one.handed == {yotpo["id"]: "yotpo", nils["id"]: "voyado"}
    assert shop.fields(yotpo)[F.POINTS_BALANCE] == 30
    assert shop.fields(nils)[F.POINTS_BALANCE] == 60


def test_a_customer_is_routed_by_its_first_store_with_an_account_of_its_own(
    shop: Scene, voyado: VoyadoServer
) -> None:
    """A store without its own account does not decide (the default serves it): the next
    store, the Voyado one, does — the rule the Yotpo write-back always used."""
    created = shop.world.ct.create(
        "customers",
        {
            "email": "two.stores@example.com",
            "password": "x1!",
            "stores": [
                {"typeId": "store", "key": "plain-store"},
                {"typeId": "store", "key": VOYADO_STORE},
            ],
        },
    )
    both = created.get("customer", created)
    contact = voyado.seed_contact(email="two.stores@example.com")
    earn(voyado, str(contact["id"]), "two-stores", 75)
    before = shop.yotpo_seq()

    summary = NightlyJob(shop.settings, shop.clients).run()

    assert summary.changed == 1
    assert shop.fields(both)[F.POINTS_BALANCE] == 75
    assert shop.looked_up(before) == []


def test_a_voyado_outage_is_handed_back_and_the_next_run_catches_up(
    shop: Scene, voyado: VoyadoServer
) -> None:
    scene = shop.with_env(JOB_CONCURRENCY="1")  # one customer at a time: a countable outage
    yotpo = scene.member("yara@example.com", 120)
    nordics = [voyado_member(scene, voyado, f"n{n}@example.com", 10 * (n + 1)) for n in range(5)]
    # Every call of the first OUTAGE_AFTER customers fails, retries included (1 + 2 each):
    # after them the account is taken as out, so no further call is made in this run. Were
    # the others still asked, they would find Voyado answering and be written.
    attempts = OUTAGE_AFTER * 3
    voyado.engine.set_faults({"api_key": KEY, "error_next": attempts, "error_status": 503})

    summary = NightlyJob(scene.settings, scene.clients).run()

    assert summary.outcome == "complete"
    assert summary.handed_back == 5 and summary.failed == 0
    assert summary.providers_unavailable is not None
    assert list(summary.providers_unavailable) == [f"voyado:{VOYADO_STORE}"]
    assert summary.as_dict()["handed_back"] == 5
    assert all(F.POINTS_BALANCE not in scene.fields(c) for c in nordics)
    assert voyado.engine.faults()["faults"][0]["left"]["error_next"] == 0
    # The Yotpo side did not wait for Voyado.
    assert scene.fields(yotpo)[F.POINTS_BALANCE] == 120
    # The checkpoint keeps them for the next run.
    assert sorted(stored_cursor(scene)["handed_back"]) == sorted(c["id"] for c in nordics)

    after = NightlyJob(scene.settings, scene.clients).run()

    assert after.handed_back == 0 and after.providers_unavailable is None
    assert after.handed_back_retried == 5  # looked at first, before the slice
    assert [scene.fields(c)[F.POINTS_BALANCE] for c in nordics] == [10, 20, 30, 40, 50]
    assert stored_cursor(scene)["handed_back"] == []


# --- the audit -----------------------------------------------------------------------------
def test_the_audit_reads_the_ledger_of_a_voyado_stores_orders(
    shop: Scene, voyado: VoyadoServer
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    nils = voyado_member(shop, voyado, "nils@example.com")
    store = shop.world.storefront
    sent = store.place_order(
        store.cart([("SKU-MUG", 2)], customer=nils, store=VOYADO_STORE), order_number="VOY-1"
    )
    store.pay(sent)
    backfill = Backfill(shop.settings, shop.clients, out=lambda line: None)
    assert backfill.run(OrderRange(since=since)).outcome == "complete"
    assert voyado.process(TENANT) == 1  # VOY-1's receipt reached Voyado
    receipts = voyado.engine.state(TENANT)["tenants"][TENANT]["receipts"]
    assert [r["uniqueReceiptId"] for r in receipts] == ["VOY-1"]
    unsent = store.place_order(
        store.cart([("SKU-MUG", 1)], customer=nils, store=VOYADO_STORE), order_number="VOY-2"
    )
    store.pay(unsent)

    report = audit(shop.settings, shop.clients, OrderRange(since=since))

    assert report.orders == 2
    assert [(m.name, m.provider, m.issues) for m in report.mismatches] == [
        # Voyado hears of the member before the order (its receipt's contact), so an order
        # never sent also shows its member upsert as not sent.
        (
            "VOY-2",
            f"voyado:{VOYADO_STORE}",
            ["customer not linked in Voyado", "paid but never earned"],
        )
    ]
    assert report.earned_cents.get("EUR", 0) > 0  # VOY-1's DONE order operation
    assert not report.clean


def consumed(scene: Scene, email: str, at: datetime) -> Consumption:
    """A member's reward redeemed at order placement for a cart never ordered (the order guard
    recorded it, then commercetools refused the order): 800 points, some of them spent."""
    customer = scene.member(email, 800)
    redemption = scene.world.yotpo.create_redemption(
        GUID,
        {
            "customer_id": customer["id"],
            "redemption_option_id": 1,
            "delay_points_deduction": False,
            "currency": "EUR",
        },
    )
    record = Consumption(
        cart_id=f"cart-of-{customer['id']}",
        customer_id=customer["id"],
        option_id="1",
        redemption_id=str(redemption["id"]),
        code=str(redemption["reward_text"]),
        account="default",
        status=PENDING,
        created_at=at,
        touched_at=at,
    )
    return ConsumptionRecords(scene.world.ct).write(record)


def cancellations(world: World) -> list[dict[str, Any]]:
    return [
        r
        for r in world.yotpo.requests_since(0)
        if str(r.get("path", "")).endswith("/cancellation_completed")
    ]


def test_the_audit_lists_orphaned_consumptions_and_releases_them_only_to_recover(
    scene: Scene,
) -> None:
    scene.install()
    placed = datetime.now(UTC)
    later = placed + timedelta(hours=2)
    record = consumed(scene, "ivy@example.com", placed)
    spent = scene.yotpo_member({"email": "ivy@example.com"})["points_balance"]
    assert spent < 800
    window = OrderRange(since=placed - timedelta(days=1))

    looked = audit(scene.settings, scene.clients, window, now=lambda: later, recover=False)

    listed = {"cartId": record.cart_id, "redemptionId": record.redemption_id}
    assert looked.consumptions == [{**listed, "result": "orphaned"}]
    assert looked.consumptions_error is None and not looked.clean
    assert "never ordered" in render_table(looked, width=200)
    assert record.cart_id in render_table(looked, width=200)
    assert cancellations(scene.world) == []
    stored = ConsumptionRecords(scene.world.ct).get(record.cart_id)
    assert stored is not None and stored.status == PENDING
    assert scene.yotpo_member({"email": "ivy@example.com"})["points_balance"] == spent

    recovered = audit(scene.settings, scene.clients, window, now=lambda: later)

    assert recovered.consumptions == [{**listed, "result": "released"}]
    assert recovered.clean
    assert len(cancellations(scene.world)) == 1
    assert scene.yotpo_member({"email": "ivy@example.com"})["points_balance"] == 800
    assert audit(scene.settings, scene.clients, window, now=lambda: later).consumptions == []


def test_an_account_out_is_probed_once_a_period_and_back_after_a_success() -> None:
    from job.nightly import OUTAGE_PROBE_SECONDS, _Outages
    from tests.job.conftest import FakeClock

    clock = FakeClock()
    outages = _Outages(clock)
    for _ in range(OUTAGE_AFTER - 1):
        assert outages.failed("voyado:nordic", "503") is False
    assert outages.down("voyado:nordic") is None  # not out yet
    assert outages.failed("voyado:nordic", "503") is True
    assert outages.down("voyado:nordic") == "503"
    assert outages.down("voyado:other") is None  # accounts are apart
    clock.advance(OUTAGE_PROBE_SECONDS)
    assert outages.down("voyado:nordic") is None  # this caller probes...
    assert outages.down("voyado:nordic") == "503"  # ...the others still wait
    outages.succeeded("voyado:nordic")
    assert outages.down("voyado:nordic") is None
    assert outages.unavailable == {"voyado:nordic": "503"}  # the summary keeps the outage
