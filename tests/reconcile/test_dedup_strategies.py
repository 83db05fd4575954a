"""What the reconciler does after an ambiguous send, by the provider's dedup mode (ADR 0080).

The real reconciler and ledger store run against the commercetools stand-in; the provider is a
fake at the port's level (`tests/providers/fakes.py`) that can act and then lose its answer.
"""

from __future__ import annotations

import pytest

from shared.domain.orders.ledger import OpStatus
from shared.domain.providers.port import DedupMode
from shared.orders.reconciler import UNKNOWN_PAST_IDEMPOTENCY_TTL, OrderReconciler
from shared.runtime import ProviderRoute, Runtime, build_runtime
from tests.ledger.helpers import Clock, ledger_of, paid_order, settings_for
from tests.providers.fakes import FakeProvider, LostAnswer, capabilities


def _reconciler(world, provider: FakeProvider, clock: Clock) -> OrderReconciler:
    settings = settings_for(world)
    real = build_runtime(settings)
    runtime = Runtime(
        commercetools=real.commercetools,
        routes={},  # no Yotpo account: every store is the fake's
        providers={"default": ProviderRoute(key="default", provider=provider)},
    )
    return OrderReconciler(runtime, settings.planner_config(), lease_seconds=60, now=clock)


def _order_key(world, order_id: str) -> str:
    return next(k for k, op in ledger_of(world, order_id).ops.items() if op.kind == "order")


def test_an_idempotency_key_within_its_ttl_resends_with_the_same_key(world):
    provider = FakeProvider(capabilities(order=DedupMode.IDEMPOTENCY_KEY), ambiguous_next=1)
    clock = Clock()
    reconciler = _reconciler(world, provider, clock)
    _, order = paid_order(world)

    with pytest.raises(LostAnswer):
        reconciler.reconcile(order["id"])
    key = _order_key(world, order["id"])
    assert ledger_of(world, order["id"]).ops[key].status == OpStatus.PENDING

    clock.advance(600)  # well inside the 3600 s the key is kept
    outcome = reconciler.reconcile(order["id"])
    assert outcome.sent == (key,)
    assert provider.sends == [("order", key), ("order", key)]
    assert provider.applied_calls == []  # within the TTL the key itself deduplicates
    assert provider.acted == 1
    assert ledger_of(world, order["id"]).ops[key].status == OpStatus.DONE


@pytest.mark.parametrize(
    ("applied", "sent_again", "status"),
    [(True, False, OpStatus.DONE), (False, True, OpStatus.DONE), (None, False, OpStatus.FAILED)],
)
def test_past_the_ttl_an_unsettled_operation_is_looked_up_before_a_resend(
    world, applied, sent_again, status
):
    provider = FakeProvider(
        capabilities(order=DedupMode.IDEMPOTENCY_KEY), ambiguous_next=1, applied_answer=applied
    )
    clock = Clock()
    reconciler = _reconciler(world, provider, clock)
    _, order = paid_order(world)
    with pytest.raises(LostAnswer):
        reconciler.reconcile(order["id"])
    key = _order_key(world, order["id"])

    clock.advance(3600 + 1)  # the key may be forgotten now
    outcome = reconciler.reconcile(order["id"])
    assert provider.applied_calls == ["order"]
    assert len(provider.sends) == (2 if sent_again else 1)
    op = ledger_of(world, order["id"]).ops[key]
    assert op.status == status
    if status == OpStatus.FAILED:
        assert outcome.failed == ((key, f"PermanentError: {UNKNOWN_PAST_IDEMPOTENCY_TTL}"),)
    else:
        assert outcome.sent == (key,)


def test_a_conflict_on_repeat_is_a_duplicate_and_done(world):
    provider = FakeProvider(capabilities(order=DedupMode.CONFLICT_ON_REPEAT), ambiguous_next=1)
    clock = Clock()
    reconciler = _reconciler(world, provider, clock)
    _, order = paid_order(world)
    with pytest.raises(LostAnswer):
        reconciler.reconcile(order["id"])
    key = _order_key(world, order["id"])

    clock.advance(5)
    assert reconciler.reconcile(order["id"]).sent == (key,)
    assert provider.acted == 1 and len(provider.sends) == 2
    assert provider.applied_calls == []
    assert ledger_of(world, order["id"]).ops[key].status == OpStatus.DONE


@pytest.mark.parametrize("mode", [DedupMode.NATURAL_KEY, DedupMode.STATE_UPSERT])
def test_safe_repeats_are_resent(world, mode):
    provider = FakeProvider(capabilities(order=mode), ambiguous_next=1)
    clock = Clock()
    reconciler = _reconciler(world, provider, clock)
    _, order = paid_order(world)
    with pytest.raises(LostAnswer):
        reconciler.reconcile(order["id"])
    clock.advance(7200)  # no TTL applies to these modes
    key = _order_key(world, order["id"])
    assert reconciler.reconcile(order["id"]).sent == (key,)
    assert provider.applied_calls == [] and len(provider.sends) == 2


def test_mode_none_resends_as_before_the_port(world):
    """ADR 0001's ambiguous window, unchanged: a provider that may act twice is sent again
    (Yotpo's orders are in this mode)."""
    provider = FakeProvider(capabilities(order=DedupMode.NONE), ambiguous_next=1)
    clock = Clock()
    reconciler = _reconciler(world, provider, clock)
    _, order = paid_order(world)
    with pytest.raises(LostAnswer):
        reconciler.reconcile(order["id"])
    clock.advance(7200)
    key = _order_key(world, order["id"])
    assert reconciler.reconcile(order["id"]).sent == (key,)
    assert provider.applied_calls == []
    assert provider.acted == 2  # the window ADR 0001 documents


def test_operations_planned_for_another_provider_are_not_sent_to_this_one(world):
    """A store moved from Yotpo to another provider while an operation was pending: a Yotpo
    body means nothing to the new provider, so it fails, saying why, and nothing more is
    planned for the order under the new provider."""
    settings = settings_for(world)
    yotpo_runtime = build_runtime(settings)
    clock = Clock()
    yotpo = OrderReconciler(yotpo_runtime, settings.planner_config(), lease_seconds=60, now=clock)
    _, order = paid_order(world)
    ledger, version = yotpo.ledger_store.read(order["id"])
    # Plan with Yotpo but never send (a worker that died before its call).
    from shared.domain.orders.planner import AccountView, plan_order

    view = yotpo.view_of(world.ct.get_by_id("orders", order["id"]), ledger)
    plan = plan_order(view, ledger, settings.planner_config(), AccountView(key="default"), clock())
    yotpo.ledger_store.write(plan.apply(ledger), version)

    provider = FakeProvider(capabilities())
    clock.advance(61)  # the dead worker's lease is over
    outcome = _reconciler(world, provider, clock).reconcile(order["id"])
    (key,) = [k for k, _ in outcome.failed]
    assert "planned for yotpo" in outcome.failed[0][1]
    assert outcome.skipped_reason == "provider_changed"
    assert provider.sends == []
    assert ledger_of(world, order["id"]).ops[key].status == OpStatus.FAILED
    assert world.yotpo_orders() == []


def test_the_fake_renderer_pins_its_own_bodies(world):
    provider = FakeProvider(capabilities())
    reconciler = _reconciler(world, provider, Clock())
    _, order = paid_order(world)
    reconciler.reconcile(order["id"])
    (op,) = ledger_of(world, order["id"]).ops.values()
    assert op.provider == "fake"
    assert op.payload["fake"] == "order"
    assert op.payload["order_ref"] == order["orderNumber"]
    assert op.intent is not None and op.intent.order_ref == order["orderNumber"]
    assert world.yotpo_orders() == []


def test_an_operation_the_provider_cannot_take_fails_at_once_and_is_never_sent(world):
    from shared.domain.providers.port import Capabilities

    caps = Capabilities(provider="fake", dedup={"refund": DedupMode.NONE})  # no "order"
    provider = FakeProvider(caps)
    _, order = paid_order(world)
    outcome = _reconciler(world, provider, Clock()).reconcile(order["id"])
    ((key, error),) = outcome.failed
    assert key.startswith("order:") and error.startswith("the provider cannot take")
    assert outcome.outcome == "failed"
    assert provider.sends == []
    op = ledger_of(world, order["id"]).ops[key]
    assert (op.status, op.payload) == (OpStatus.FAILED, {})
