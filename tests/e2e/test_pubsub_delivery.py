"""commercetools → Pub/Sub (the Google emulator) → push → the event app under gunicorn → Yotpo.

Every piece is a real process. These tests need the Pub/Sub emulator (gcloud + Java) and fail
— not skip — without it: CI must prove delivery works.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.stack import SandboxStack, StackOptions, eventually
from sandbox.storefront import Storefront

GUID = "sandbox-guid"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    options = StackOptions(
        pubsub="emulator",
        apps=("event",),
        log_dir=tmp_path_factory.mktemp("logs"),
        app_env={"OIDC_VERIFICATION": "off"},  # a local run: no Google-signed tokens
    )
    with SandboxStack(options) as running:
        yield running


def account(stack: SandboxStack) -> dict[str, Any]:
    return stack.yotpo_state()["accounts"][GUID]


def member(stack: SandboxStack, email: str) -> dict[str, Any] | None:
    return next((c for c in account(stack)["customers"] if c["email"] == email), None)


def test_the_emulator_carries_commercetools_messages_to_the_event_app(stack):
    assert stack.pubsub_mode == "emulator"
    shop = Storefront(stack.commercetools())
    customer = shop.sign_up("pubsub@example.com", "Pia", "Sub")
    eventually(lambda: member(stack, "pubsub@example.com"))  # CustomerCreated arrived

    cart = shop.cart([("SKU-HOODIE", 1), ("SKU-BOOK", 2)], customer=customer)
    order = shop.place_order(cart, order_number="PS-1")
    shop.pay(order)
    total = shop.order(order["id"])["taxedPrice"]["totalGross"]["centAmount"]
    eventually(lambda: member(stack, "pubsub@example.com")["points_balance"] == total // 100)

    shop.refund(order, 2000)
    expected = total // 100 - 2000 * (total // 100) // total
    eventually(lambda: account(stack)["refunds"])
    eventually(lambda: member(stack, "pubsub@example.com")["points_balance"] == expected)
    state = stack.yotpo_state()
    assert [o["order_id"] for o in state["accounts"][GUID]["orders"]] == ["PS-1"]
    assert state["duplicates"] == {"orders": {}, "refunds": {}}


def test_messages_are_tagged_with_a_correlation_id_end_to_end(stack):
    shop = Storefront(stack.commercetools())
    customer = shop.sign_up("trace@example.com", "Tra", "Ce")
    order = shop.place_order(shop.cart([("SKU-MUG", 1)], customer=customer), order_number="PS-2")
    shop.pay(order)
    eventually(lambda: any(o["order_id"] == "PS-2" for o in account(stack)["orders"]))
    sent = [
        r
        for r in stack.yotpo_requests()
        if r["path"].endswith("/orders") and r["json"]["order_id"] == "PS-2"
    ]
    assert len(sent) == 1
    correlation = sent[0]["correlation_id"]
    assert correlation.startswith("msg-")  # the Pub/Sub message id
    log = stack.processes["event"].log_path.read_text()
    assert correlation in log
