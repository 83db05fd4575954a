"""The SDK types as oracle for Order Edits: every draft, update, apply body, edit (with each of
its results) and message the stand-in takes or serves in an edit's life is a typed literal
that `tsc` checks against `@commercetools/platform-sdk` (tests/oracle/sdk.py)."""

from __future__ import annotations

from sandbox.commercetools import create_app
from tests.oracle.sdk import Typed, typecheck
from tests.sandbox.test_commercetools_standin import Api, new_state


def _edit_life(api: Api) -> None:
    cart = api.post(
        "carts",
        {
            "currency": "EUR",
            "country": "DE",
            "lineItems": [{"sku": "SKU-HOODIE", "quantity": 1}, {"sku": "SKU-MUG", "quantity": 2}],
        },
    )
    order = api.post("orders", {"id": cart["id"], "version": cart["version"], "orderNumber": "T-1"})
    hoodie, mug = order["lineItems"]
    reference = {"typeId": "order", "id": order["id"]}
    book = {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1}
    # A dry run that succeeds and one that fails: PreviewSuccess, PreviewFailure.
    api.post("orders/edits", {"resource": reference, "stagedActions": [book], "dryRun": True})
    api.post(
        "orders/edits",
        {
            "resource": reference,
            "stagedActions": [{"action": "removeLineItem", "lineItemId": "gone"}],
            "dryRun": True,
        },
    )
    edit = api.post(
        "orders/edits",
        {"resource": reference, "stagedActions": [book], "key": "oracle-edit", "comment": "c"},
    )
    edit = api.post(
        f"orders/edits/{edit['id']}",
        {
            "version": edit["version"],
            "actions": [
                {
                    "action": "addStagedAction",
                    "stagedAction": {
                        "action": "removeLineItem",
                        "lineItemId": mug["id"],
                        "quantity": 1,
                    },
                },
                {"action": "setComment", "comment": "book, one mug less"},
            ],
        },
    )
    api.post(
        f"orders/edits/{edit['id']}",
        {
            "version": edit["version"],
            "actions": [
                {
                    "action": "setStagedActions",
                    "stagedActions": [
                        *edit["stagedActions"],
                        {
                            "action": "changeLineItemQuantity",
                            "lineItemId": hoodie["id"],
                            "quantity": 2,
                        },
                    ],
                }
            ],
            "dryRun": True,
        },
    )
    api.post(
        f"orders/edits/{edit['id']}/apply",
        {"editVersion": edit["version"], "resourceVersion": order["version"]},
    )
    api.get("orders/edits/key=oracle-edit")
    api.get("orders/edits", where=f'resource(id = "{order["id"]}")')
    api.get("orders", where=f'id = "{order["id"]}"')
    api.get("messages", where=f'resource(id = "{order["id"]}")', sort="sequenceNumber asc")


def test_what_the_order_edits_take_and_serve_conforms() -> None:
    state = new_state(observe=True)
    try:
        _edit_life(Api(create_app(state).test_client(), state))
        observed = state.observed()
    finally:
        state.close()
    kinds = {o.type_name for o in observed}
    for expected in (
        "OrderEditDraft",
        "OrderEdit",
        "OrderEditUpdate",
        "OrderEditApply",
        "OrderEditPagedQueryResponse",
        "Message",
    ):
        assert expected in kinds, f"no {expected} observed: {sorted(kinds)}"
    results = {o.payload["result"]["type"] for o in observed if o.type_name == "OrderEdit"}
    assert results == {"NotProcessed", "PreviewSuccess", "PreviewFailure", "Applied"}, results
    messages = {o.payload["type"] for o in observed if o.type_name == "Message"}
    assert {"OrderLineItemAdded", "OrderLineItemRemoved", "OrderEditApplied"} <= messages
    entries = [Typed(o.type_name, o.payload, o.where) for o in observed]
    errors = typecheck(entries)
    assert not errors, "the SDK types refuse:\n  " + "\n  ".join(errors)
