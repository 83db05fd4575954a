"""Every log line about an order carries its id, across all its messages (issue 16)."""

from __future__ import annotations

import logging

from event.app import create_app
from event.envelope import parse_delivery
from event.processor import EventProcessor
from event.settings import EventSettings
from shared.runtime import build_runtime
from shared.settings import load_settings
from tests.event.test_hostile_messages import LOCAL, paid_order
from tests.integration.world import push

ABOUT_THE_ORDER = (
    "event.processor",
    "shared.orders.reconciler",
    "shared.yotpo",
    "shared.commercetools",
    "shared.webapp",
)


def _lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name in ABOUT_THE_ORDER]


def test_every_line_of_an_order_message_carries_the_order_id(world, caplog):
    settings = load_settings(EventSettings, {**world.env, **LOCAL})
    client = create_app(settings).test_client()
    order = paid_order(world)
    messages = world.messages(order["id"])
    caplog.set_level(logging.INFO)
    caplog.clear()
    for message in messages:
        client.post("/event", json=push(message))
    lines = _lines(caplog)
    events = {r.json_fields.get("event") for r in lines}
    assert {"http.call", "order.reconciled", "http.request"} <= events
    assert all(r.json_fields.get("order_id") == order["id"] for r in lines), [
        r.json_fields for r in lines if r.json_fields.get("order_id") != order["id"]
    ]


def test_lines_of_a_payment_message_carry_the_order_once_it_is_known(world, caplog):
    settings = load_settings(EventSettings, {**world.env, **LOCAL})
    client = create_app(settings).test_client()
    order = paid_order(world)
    world.storefront.refund(order, 500)
    payment_id = order["paymentInfo"]["payments"][0]["id"]
    messages = world.messages(payment_id)
    caplog.set_level(logging.INFO)
    caplog.clear()
    for message in messages:
        client.post("/event", json=push(message))
    lines = _lines(caplog)
    refunds = [r for r in lines if r.json_fields.get("event") == "yotpo.operation_sent"]
    assert refunds and all(r.json_fields["order_id"] == order["id"] for r in refunds)
    # After the order lookup, nothing of this delivery is logged without the order.
    lookup = next(
        i
        for i, r in enumerate(lines)
        if r.json_fields.get("event") == "http.call" and "/orders" in str(r.json_fields)
    )
    later = [r for r in lines[lookup + 1 :] if r.json_fields.get("event") != "http.request"]
    assert later and all(r.json_fields.get("order_id") == order["id"] for r in later)


def test_the_tag_does_not_outlive_its_delivery(world, caplog):
    settings = load_settings(EventSettings, {**world.env, **LOCAL})
    processor = EventProcessor(settings, build_runtime(settings))
    order = paid_order(world)
    paid = next(m for m in world.messages(order["id"]) if m["type"] == "OrderPaymentStateChanged")
    processor.handle(parse_delivery(push(paid)))
    caplog.set_level(logging.INFO)
    caplog.clear()
    logging.getLogger("shared.orders.reconciler").info("unrelated")
    (line,) = caplog.records
    assert "order_id" not in (getattr(line, "json_fields", None) or {})
