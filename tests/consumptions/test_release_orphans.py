"""The sweep that gives back rewards consumed at placement whose order never appeared
(job/consumptions.py), against the commercetools and Yotpo stand-ins: real custom objects with
versioned writes, real redemptions and balances."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job.consumptions import CONTENDED, _release_one, release_orphans
from job.settings import JobSettings
from service.consumption_records import (
    CONSUMPTIONS_CONTAINER,
    PENDING,
    Consumption,
    ConsumptionRecords,
    consumption_key,
)
from shared.runtime import Runtime, build_runtime
from shared.settings import load_settings
from tests.checkout.harness import Checkout, running_checkout
from tests.integration.world import GUID, World, start_world

NOW = datetime.now(UTC)
LATER = NOW + timedelta(hours=2)


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def checkout(world: World) -> Iterator[Checkout]:
    with running_checkout(world) as running:
        yield running


@pytest.fixture
def runtime(world: World) -> Runtime:
    return build_runtime(load_settings(JobSettings, {**world.env, "OIDC_VERIFICATION": "off"}))


def consumed(checkout: Checkout, email: str, *, cart_id: str | None = None) -> Consumption:
    """A member whose reward was redeemed immediately and recorded, as the order guard does
    when commercetools then refuses the order: 800 points, 500 of them spent."""
    customer = checkout.member(email, 800)
    redemption = checkout.world.yotpo.create_redemption(
        GUID,
        {
            "customer_id": customer["id"],
            "redemption_option_id": 1,
            "delay_points_deduction": False,
            "currency": "EUR",
        },
    )
    record = Consumption(
        cart_id=cart_id or f"cart-of-{customer['id']}",
        customer_id=customer["id"],
        option_id="1",
        redemption_id=str(redemption["id"]),
        code=str(redemption["reward_text"]),
        account="default",
        status=PENDING,
        created_at=NOW,
        touched_at=NOW,
    )
    return ConsumptionRecords(checkout.world.ct).write(record)


def cancellations(world: World) -> list[dict[str, Any]]:
    return [
        r
        for r in world.yotpo.requests_since(0)
        if str(r.get("path", "")).endswith("/cancellation_completed")
    ]


def stored(world: World, cart_id: str) -> Consumption | None:
    return ConsumptionRecords(world.ct).get(cart_id)


def test_an_orphan_is_given_back_once_even_with_two_runners(checkout, runtime):
    world = checkout.world
    record = consumed(checkout, "ivy@example.com")
    assert checkout.balance("ivy@example.com") == 300

    summary = release_orphans(world.ct, runtime, now=LATER)

    assert (summary.examined, summary.released) == (1, 1)
    assert summary.results == [
        {"cartId": record.cart_id, "redemptionId": record.redemption_id, "result": "released"}
    ]
    assert checkout.balance("ivy@example.com") == 800
    assert stored(world, record.cart_id).status == "released"
    # A second runner that read the record before the first one claimed it loses the
    # versioned claim and touches nothing.
    records = ConsumptionRecords(world.ct)
    assert _release_one(world.ct, runtime, records, record, LATER) == CONTENDED
    assert len(cancellations(world)) == 1
    assert checkout.balance("ivy@example.com") == 800
    again = release_orphans(world.ct, runtime, now=LATER + timedelta(hours=1))
    assert (again.settled, again.released) == (1, 0)
    assert len(cancellations(world)) == 1


def test_a_retry_reusing_the_record_wins_over_a_sweep_that_read_it_before(checkout, runtime):
    world = checkout.world
    record = consumed(checkout, "jo@example.com")
    records = ConsumptionRecords(world.ct)
    records.write(replace(record, touched_at=LATER))  # the order guard reused it just now
    assert _release_one(world.ct, runtime, records, record, LATER) == CONTENDED
    summary = release_orphans(world.ct, runtime, now=LATER)
    assert (summary.young, summary.released) == (1, 0)  # recently used: left alone
    assert cancellations(world) == []
    assert checkout.balance("jo@example.com") == 300
    assert stored(world, record.cart_id).status == "pending"


def test_an_order_of_the_cart_without_this_redemption_does_not_keep_it(checkout, runtime):
    """The cart was ordered, but its order does not carry the recorded redemption (it was
    placed without the reward): the recorded one is an orphan all the same."""
    world = checkout.world
    shopper = world.storefront.sign_up("kim@example.com", "Kim", "Shopper")
    cart = world.storefront.cart([("SKU-BOOK", 1)], customer=shopper)
    order = world.storefront.place_order(cart, "KIM-1")
    world.yotpo.upsert_customer(GUID, {"id": shopper["id"], "email": "kim@example.com"})
    world.yotpo.adjust_points(GUID, {"customer_id": shopper["id"], "point_adjustment_amount": 800})
    redemption = world.yotpo.create_redemption(
        GUID,
        {"customer_id": shopper["id"], "redemption_option_id": 1, "delay_points_deduction": False},
    )
    ConsumptionRecords(world.ct).write(
        Consumption(
            cart_id=cart["id"],
            customer_id=shopper["id"],
            option_id="1",
            redemption_id=str(redemption["id"]),
            code=str(redemption["reward_text"]),
            account="default",
            status=PENDING,
            created_at=NOW,
            touched_at=NOW,
        )
    )
    assert order["cart"]["id"] == cart["id"]
    summary = release_orphans(world.ct, runtime, now=LATER)
    assert (summary.released, summary.ordered) == (1, 0)
    assert checkout.balance("kim@example.com") == 800


def test_yotpo_refusing_the_cancellation_leaves_it_to_an_operator(checkout, runtime, caplog):
    world = checkout.world
    record = consumed(checkout, "lou@example.com")
    ConsumptionRecords(world.ct).write(replace(record, code="NOT-THE-CODE"))  # Yotpo says 422
    summary = release_orphans(world.ct, runtime, now=LATER)
    assert (summary.failed, summary.released) == (1, 0)
    assert stored(world, record.cart_id).status == "release_failed"
    assert checkout.balance("lou@example.com") == 300
    assert any(
        getattr(r, "json_fields", {}).get("retry") == "needs_operator" for r in caplog.records
    )
    again = release_orphans(world.ct, runtime, now=LATER)
    assert (again.settled, again.failed) == (1, 0)  # no poison loop


def test_yotpo_unreachable_leaves_the_record_claimed_for_a_later_run(checkout, runtime):
    world = checkout.world
    record = consumed(checkout, "max@example.com")
    world.yotpo.set_faults({"error_next": 50, "error_status": 503})
    try:
        summary = release_orphans(world.ct, runtime, now=LATER)
    finally:
        world.yotpo.set_faults({})
    assert (summary.retry, summary.released) == (1, 0)
    assert stored(world, record.cart_id).status == "releasing"  # never reused meanwhile
    assert checkout.balance("max@example.com") == 300
    too_soon = release_orphans(world.ct, runtime, now=LATER + timedelta(minutes=5))
    assert too_soon.young == 1
    later = release_orphans(world.ct, runtime, now=LATER + timedelta(hours=2))
    assert later.released == 1
    assert checkout.balance("max@example.com") == 800


def test_young_records_and_foreign_objects_are_left_alone(checkout, runtime):
    world = checkout.world
    record = consumed(checkout, "ned@example.com")
    world.ct.put_custom_object(CONSUMPTIONS_CONTAINER, "foreign", {"hello": "world"}, version=0)
    summary = release_orphans(world.ct, runtime, now=NOW + timedelta(minutes=59))
    assert (summary.examined, summary.young, summary.unreadable) == (2, 1, 1)
    assert summary.released == 0 and cancellations(world) == []
    assert stored(world, record.cart_id) == record
    assert world.ct.get_custom_object(CONSUMPTIONS_CONTAINER, "foreign")["value"] == {
        "hello": "world"
    }


def test_a_record_is_keyed_by_a_hash_of_its_cart_id():
    key = consumption_key('cart"; delete / all')
    assert len(key) == 64 and key.isalnum()
    assert consumption_key("a") != consumption_key("b")


def test_look_only_lists_orphans_and_changes_nothing(checkout, runtime):
    world = checkout.world
    record = consumed(checkout, "ola@example.com")
    summary = release_orphans(world.ct, runtime, now=LATER, release=False)
    assert (summary.orphaned, summary.released) == (1, 0)
    assert summary.as_dict()["outcome"] == "done"
    assert stored(world, record.cart_id) == record
    assert cancellations(world) == [] and checkout.balance("ola@example.com") == 300


def test_commercetools_unreachable_ends_the_sweep_with_retry(checkout, runtime, monkeypatch):
    from shared.errors import CommercetoolsTransientError

    consumed(checkout, "pia@example.com")

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise CommercetoolsTransientError("commercetools: 503", status=503)

    monkeypatch.setattr(type(checkout.world.ct), "iterate", down)
    summary = release_orphans(checkout.world.ct, runtime, now=LATER)
    assert summary.outcome == "retry" and summary.error and summary.released == 0
    assert checkout.balance("pia@example.com") == 300
