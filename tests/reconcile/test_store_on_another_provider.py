"""A project whose stores are served by Voyado (LOYALTY_PROVIDERS): the real reconciler plans
with Voyado's renderer and sends through Voyado's adapter to the Voyado stand-in, while Yotpo
hears nothing (ADR 0080). commercetools and Yotpo are the integration world's stand-ins."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from event.settings import EventSettings
from sandbox.voyado import FakeClock, SandboxConfig, TenantConfig, VoyadoServer
from shared.domain.orders.ledger import OpStatus
from shared.orders.reconciler import OrderReconciler
from shared.runtime import build_runtime
from shared.settings import ProviderSettings, load_settings
from tests.ledger.helpers import LOCAL, ledger_of, paid_order

KEY = "reconcile-voyado-key"


class Settings(EventSettings, ProviderSettings):
    """The event app's settings once LOYALTY_PROVIDERS is one of its keys."""


@pytest.fixture
def voyado():
    config = SandboxConfig(
        tenants=[
            TenantConfig(
                name="shop",
                api_keys=[KEY],
                stores=["ecom-1"],
                currency="SEK",
                exchange_rates={"EUR": Decimal("10")},
                batch_interval_seconds=None,
            )
        ]
    )
    with VoyadoServer(config, clock=FakeClock()) as server:
        yield server


def _reconciler(world, voyado) -> OrderReconciler:
    account = {"provider": "voyado", "baseUrl": voyado.url, "apiKey": KEY}
    account["storeExternalId"] = "ecom-1"
    env = {k: v for k, v in world.env.items() if not k.startswith("YOTPO_")}
    env = {**env, **LOCAL, "LOYALTY_PROVIDERS": json.dumps({"default": account})}
    settings = load_settings(Settings, env)
    runtime = build_runtime(settings)
    assert runtime.routes == {} and runtime.yotpo_for_store(None) is None
    return OrderReconciler(runtime, settings.planner_config(), lease_seconds=60)


def test_a_paid_order_of_a_voyado_store_becomes_a_receipt_and_nothing_reaches_yotpo(world, voyado):
    customer, order = paid_order(world)
    contact = voyado.seed_contact(email=customer["email"])
    reconciler = _reconciler(world, voyado)

    outcome = reconciler.reconcile(order["id"])
    # Voyado hears of the member first (a receipt's contact must exist), then of the order.
    member_key, key = outcome.sent
    assert ledger_of(world, order["id"]).ops[member_key].kind == "customer"
    op = ledger_of(world, order["id"]).ops[key]
    assert (op.kind, op.provider, op.status) == ("order", "voyado", OpStatus.DONE)
    assert op.intent is not None and op.intent.order_ref == order["orderNumber"]
    assert world.yotpo_orders() == []

    voyado.process()
    state = voyado.contact_state(contact["id"])
    assert [r["uniqueReceiptId"] for r in state["receipts"]] == [order["orderNumber"]]
    assert state["balance"] > 0
    # A redelivery plans nothing new and sends nothing.
    assert reconciler.reconcile(order["id"]).sent == ()


def test_a_refund_and_the_cancellation_are_return_receipts_of_the_purchase(world, voyado):
    customer, order = paid_order(world)
    contact = voyado.seed_contact(email=customer["email"])
    reconciler = _reconciler(world, voyado)
    reconciler.reconcile(order["id"])

    world.storefront.refund(order, 1000)
    (refund_key,) = reconciler.reconcile(order["id"]).sent
    world.storefront.cancel(world.storefront.order(order["id"]))
    (cancel_key,) = reconciler.reconcile(order["id"]).sent
    voyado.process()
    state = voyado.contact_state(contact["id"])
    ledger = ledger_of(world, order["id"])
    assert [ledger.ops[k].intent.reason for k in (refund_key, cancel_key)] == ["refund", "cancel"]
    assert len(state["receipts"]) == 3  # the purchase and two returns, none twice
    assert ledger.refunded_amount() == ledger.earned_amount()
    assert world.yotpo_orders() == [] and world.yotpo_refunds() == []
