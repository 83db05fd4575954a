"""An order of the Voyado store that grows after its receipt was sent, through the real event
app against the commercetools and Voyado stand-ins over real HTTP (issue #18, ADR 0096).

Voyado receipts are final ("Data sent to this endpoint cannot be reversed or updated",
https://developer.voyado.com/en/receipts/register-a-purchase.html) and a return is "just
another transaction" (https://developer.voyado.com/en/receipts/register-a-return.html). An order
that grows is re-issued: its purchase comes back whole in a return receipt and the order as it
is now is a new purchase receipt `{orderNumber}-r1`; later refunds and the cancellation take
from that one.

The order grows through the commercetools stand-in's Order Edits endpoints
(https://docs.commercetools.com/api/projects/order-edits): an edit with an `addLineItem` staged
action is created and applied with the edit's and the order's versions; applying it replaces
the order's lines and totals (priced by the stand-in's cart pricing), steps its version and
records the `OrderEditApplied` message commercetools sends then
(https://docs.commercetools.com/api/message-types#order-edit-applied), which the test delivers
to the event app as its subscription would.
"""

from __future__ import annotations

import random
from typing import Any

from shared.orders.ledger_store import LEDGER_CONTAINER
from tests.integration.test_voyado_event_app import (
    balance,
    deliver,
    deliver_all,
    earned_by,
    event_app,
    paid_message,
    total_of,
    voyado_customer,
    voyado_order,
)
from tests.integration.world import World


def edit_order(world: World, order: dict[str, Any], items: list[tuple[str, int]]) -> dict[str, Any]:
    """Create and apply an Order Edit that adds `items` to `order` (its lines keep their ids,
    the new ones are priced as the stand-in prices a cart). Returns the order as commercetools
    serves it afterwards."""
    current = world.storefront.order(order["id"])
    edit = world.ct.create(
        "orders/edits",
        {
            "resource": {"typeId": "order", "id": order["id"]},
            "stagedActions": [
                {"action": "addLineItem", "sku": sku, "quantity": quantity}
                for sku, quantity in items
            ],
            "comment": "a line added after the receipt was sent",
        },
    )
    assert edit["result"] == {"type": "NotProcessed"}
    applied = world.ct.post(
        f"orders/edits/{edit['id']}/apply",
        {"editVersion": edit["version"], "resourceVersion": current["version"]},
    )
    assert applied["result"]["type"] == "Applied"
    edited = world.storefront.order(order["id"])
    assert applied["result"]["excerptAfterEdit"]["version"] == edited["version"]
    return edited


def edit_applied(world: World, order: dict[str, Any]) -> dict[str, Any]:
    """The `OrderEditApplied` notification of the edit, as the order's messages hold it."""
    (message,) = [m for m in world.messages(order["id"]) if m["type"] == "OrderEditApplied"]
    assert message["resourceVersion"] == order["version"]
    return message


def receipts_of(world: World, number: str) -> dict[str, dict[str, Any]]:
    """Every receipt of the order: its purchases (`{number}`, `{number}-r{n}`) and the returns
    taken from them (`{purchase}:...`)."""
    return {
        r["uniqueReceiptId"]: r
        for r in world.voyado_receipts()
        if r["uniqueReceiptId"] == number or r["uniqueReceiptId"].startswith(f"{number}")
    }


def ledger_of(world: World, order: dict[str, Any]) -> dict[str, Any]:
    return world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]


def test_an_order_that_grows_is_re_issued_once_however_often_its_messages_arrive(voyado_world):
    world = voyado_world
    client = event_app(world)
    customer = voyado_customer(world)
    order = voyado_order(world, customer, [("SKU-HOODIE", 1), ("SKU-MUG", 2)])
    first_total = order["taxedPrice"]["totalGross"]["centAmount"]
    deliver_all(client, world, order["id"])
    world.voyado_process()
    assert balance(world, customer["email"]) == earned_by(order)

    edited = edit_order(world, order, [("SKU-BOOK", 1)])
    new_total = edited["taxedPrice"]["totalGross"]["centAmount"]
    assert new_total > first_total and len(edited["lineItems"]) == 3
    # The edit's message, redelivered, among old ones delivered again.
    storm = [edit_applied(world, edited)] * 4 + [paid_message(world, order)] * 3
    random.Random(18).shuffle(storm)
    for message in storm:
        assert deliver(client, message) in (200, 204)
    world.voyado_process()

    number = order["orderNumber"]
    receipts = receipts_of(world, number)
    assert set(receipts) == {number, f"{number}:refund:{number}-changed-1", f"{number}-r1"}
    back = receipts[f"{number}:refund:{number}-changed-1"]
    assert total_of(back) == -first_total
    assert sorted((i["type"], i["sku"], i["quantity"]) for i in back["items"]) == [
        ("RETURN", "SKU-HOODIE", -1),
        ("RETURN", "SKU-MUG", -2),
    ]
    again = receipts[f"{number}-r1"]
    assert total_of(again) == new_total
    assert sorted(i["sku"] for i in again["items"]) == ["SKU-BOOK", "SKU-HOODIE", "SKU-MUG"]
    assert sum(total_of(r) for r in receipts.values()) == new_total
    # Each receipt sent once; Voyado holds the points of the order as it is now, once.
    for unique_id in receipts:
        assert len(world.voyado_receipt_posts(unique_id)) == 1, unique_id
    assert world.voyado_state()["duplicateReceipts"] == 0
    assert balance(world, customer["email"]) == earned_by(edited)
    ledger = ledger_of(world, order)
    assert {k: op["status"] for k, op in ledger["ops"].items()} == {
        f"member:{number}": "DONE",
        f"order:{number}": "DONE",
        f"refund:{number}-changed-1": "DONE",
        f"order:{number}-r1": "DONE",
    }
    assert ledger.get("skipped_reason") is None

    # The cancellation takes what the re-issue holds, from the re-issue.
    world.storefront.cancel(edited)
    for message in world.messages(order["id"]) * 2:
        deliver(client, message)
    world.voyado_process()
    receipts = receipts_of(world, number)
    assert total_of(receipts[f"{number}-r1:cancel"]) == -new_total
    assert sum(total_of(r) for r in receipts.values()) == 0
    assert balance(world, customer["email"]) == 0


def test_a_refund_before_the_growth_is_not_granted_back_by_the_re_issue(voyado_world):
    """REFUND_SOURCE=payments: 10.00 refunded, then a line added. The old purchase gives back
    what it still holds, the new one holds the order as it is now less the 10.00."""
    world = voyado_world
    client = event_app(world)
    customer = voyado_customer(world)
    order = voyado_order(world, customer, [("SKU-HOODIE", 1), ("SKU-MUG", 2)])
    first_total = order["taxedPrice"]["totalGross"]["centAmount"]
    deliver_all(client, world, order["id"])
    world.storefront.refund(order, 1000)
    payment_id = order["paymentInfo"]["payments"][0]["id"]
    for message in world.messages(payment_id) * 2:
        deliver(client, message)
    world.voyado_process()

    edited = edit_order(world, order, [("SKU-BOOK", 1)])
    new_total = edited["taxedPrice"]["totalGross"]["centAmount"]
    for message in [edit_applied(world, edited)] * 3:
        assert deliver(client, message) in (200, 204)
    world.voyado_process()

    number = order["orderNumber"]
    receipts = receipts_of(world, number)
    refunds = [r for k, r in receipts.items() if k.startswith(f"{number}:refund:")]
    assert sorted(total_of(r) for r in refunds) == sorted([-1000, -(first_total - 1000)])
    assert total_of(receipts[f"{number}-r1"]) == new_total - 1000
    assert sum(total_of(r) for r in receipts.values()) == new_total - 1000
    assert world.voyado_state()["duplicateReceipts"] == 0
    ledger = ledger_of(world, order)
    assert all(op["status"] == "DONE" for op in ledger["ops"].values())
    # Points: what the order's lines earn now, less what the refunded 10.00 earned (Voyado
    # floors per line, so a point of slack per receipt line).
    slack = sum(len(r["items"]) for r in receipts.values())
    expected = earned_by(edited) - 10 * 10
    assert abs(balance(world, customer["email"]) - expected) <= slack
