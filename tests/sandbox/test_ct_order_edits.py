"""Order Edits in the commercetools stand-in (https://docs.commercetools.com/api/projects/
order-edits): create, read, update, dry run and apply, the prices and messages they make."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.commercetools import StandInState, create_app
from tests.sandbox.test_commercetools_standin import PROJECT, Api, basic, new_state
from tests.sandbox.test_ct_carts import code_discount
from tests.sandbox.test_ct_messages import (
    DESTINATION,
    Receiver,
    messages_of,
    receiver,  # noqa: F401  (the fixture)
    wait_for_deliveries,
)

LINES = [{"sku": "SKU-HOODIE", "quantity": 1}, {"sku": "SKU-MUG", "quantity": 2}]


@pytest.fixture
def api() -> Iterator[Api]:
    state: StandInState = new_state()
    yield Api(create_app(state).test_client(), state)
    state.close()


def placed(api: Api, lines: list[dict[str, Any]] | None = None, **cart: Any) -> dict[str, Any]:
    draft = {"currency": "EUR", "country": "DE", "lineItems": lines or LINES, **cart}
    made = api.post("carts", draft)
    return api.post("orders", {"id": made["id"], "version": made["version"], "orderNumber": "E-1"})


def cart_of(api: Api, lines: list[dict[str, Any]], **cart: Any) -> dict[str, Any]:
    return api.post("carts", {"currency": "EUR", "country": "DE", "lineItems": lines, **cart})


def new_edit(api: Api, order: dict[str, Any], *staged: dict[str, Any], **draft: Any) -> Any:
    return api.post(
        "orders/edits",
        {
            "resource": {"typeId": "order", "id": order["id"]},
            "stagedActions": list(staged),
            **draft,
        },
    )


def apply(api: Api, edit: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    return api.post(
        f"orders/edits/{edit['id']}/apply",
        {"editVersion": edit["version"], "resourceVersion": order["version"]},
    )


def gross(resource: dict[str, Any]) -> int:
    return int(resource["taxedPrice"]["totalGross"]["centAmount"])


def test_an_edit_is_stored_not_processed_and_read_by_id_key_and_query(api: Api) -> None:
    order = placed(api)
    edit = new_edit(
        api,
        order,
        {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1},
        key="grow-1",
        comment="one more book",
    )
    assert edit["version"] == 1
    assert edit["resource"] == {"typeId": "order", "id": order["id"]}
    assert edit["result"] == {"type": "NotProcessed"}
    assert edit["stagedActions"] == [{"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1}]
    assert edit["comment"] == "one more book" and edit["key"] == "grow-1"
    assert api.get(f"orders/edits/{edit['id']}") == edit
    assert api.get("orders/edits/key=grow-1") == edit
    page = api.get("orders/edits", where=f'resource(id = "{order["id"]}")')
    assert [e["id"] for e in page["results"]] == [edit["id"]] and page["total"] == 1
    # Creating an edit changes nothing on the order.
    assert api.get(f"orders/{order['id']}") == order
    status, body = api.error(
        "POST",
        "orders/edits",
        {"resource": {"typeId": "order", "id": order["id"]}, "key": "grow-1"},
    )
    assert status == 400 and body["errors"][0]["code"] == "DuplicateField"
    status, body = api.error(
        "POST", "orders/edits", {"resource": {"typeId": "order", "id": "no-such-order"}}
    )
    assert status == 400 and body["errors"][0]["code"] == "ReferencedResourceNotFound"


def test_applying_replaces_lines_and_totals_priced_like_a_cart(api: Api) -> None:
    order = placed(api)
    edit = new_edit(api, order, {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1})
    applied = apply(api, edit, order)
    edited = api.get(f"orders/{order['id']}")
    # The order's own lines keep their ids; the new one is priced and taxed as a cart's.
    same = cart_of(api, [*LINES, {"sku": "SKU-BOOK", "quantity": 1}])
    assert edited["version"] == order["version"] + 1
    assert [li["id"] for li in edited["lineItems"][:2]] == [li["id"] for li in order["lineItems"]]
    assert [(li["variant"]["sku"], li["quantity"]) for li in edited["lineItems"]] == [
        ("SKU-HOODIE", 1),
        ("SKU-MUG", 2),
        ("SKU-BOOK", 1),
    ]
    for field in ("totalPrice", "taxedPrice"):
        assert edited[field] == same[field], field
    assert [li["taxedPrice"] for li in edited["lineItems"]] == [
        li["taxedPrice"] for li in same["lineItems"]
    ]
    assert gross(edited) > gross(order)
    # The edit holds the Applied result: its excerpts are the order before and after.
    assert applied["version"] == edit["version"] + 1
    result = applied["result"]
    assert result["type"] == "Applied" and result["appliedAt"] == edited["lastModifiedAt"]
    assert result["excerptBeforeEdit"] == {
        "totalPrice": order["totalPrice"],
        "taxedPrice": order["taxedPrice"],
        "version": order["version"],
    }
    assert result["excerptAfterEdit"] == {
        "totalPrice": edited["totalPrice"],
        "taxedPrice": edited["taxedPrice"],
        "version": edited["version"],
    }
    assert api.get(f"orders/edits/{edit['id']}") == applied


def test_apply_emits_the_line_message_then_order_edit_applied(api: Api) -> None:
    order = placed(api)
    edit = new_edit(api, order, {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 2})
    applied = apply(api, edit, order)
    edited = api.get(f"orders/{order['id']}")
    messages = messages_of(api, order["id"])
    assert [m["type"] for m in messages] == [
        "OrderCreated",
        "OrderLineItemAdded",
        "OrderEditApplied",
    ]
    added, done = messages[1], messages[2]
    assert added["lineItem"] == edited["lineItems"][2] and added["addedQuantity"] == 2
    # OrderEditApplied: `edit` (the OrderEdit as applied) and `result` (OrderEditApplied).
    assert done["edit"] == applied and done["result"] == applied["result"]
    assert done["resource"] == {"typeId": "order", "id": order["id"]}
    assert done["resourceVersion"] == edited["version"]
    assert [m["sequenceNumber"] for m in messages] == [1, 2, 3]
    assert edited["lastMessageSequenceNumber"] == 3


def test_the_applied_message_reaches_a_subscription(api: Api, receiver: Receiver) -> None:  # noqa: F811
    api.post(
        "subscriptions",
        {
            "key": "edits",
            "destination": DESTINATION,
            "messages": [{"resourceTypeId": "order", "types": ["OrderEditApplied"]}],
        },
    )
    order = placed(api)
    edit = new_edit(api, order, {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1})
    apply(api, edit, order)
    wait_for_deliveries(api)
    (note,) = receiver.notifications("OrderEditApplied")
    assert note["notificationType"] == "Message" and note["projectKey"] == PROJECT
    assert note["resource"]["id"] == order["id"] and note["edit"]["id"] == edit["id"]
    assert note["result"]["type"] == "Applied"


def test_remove_and_change_quantity_and_a_line_by_product_and_variant(api: Api) -> None:
    order = placed(api)
    hoodie, mug = order["lineItems"]
    book = api.state.catalogue.product("SKU-BOOK")
    assert book is not None
    edit = new_edit(
        api,
        order,
        {"action": "removeLineItem", "lineItemId": mug["id"], "quantity": 1},
        {"action": "changeLineItemQuantity", "lineItemId": hoodie["id"], "quantity": 3},
        {"action": "addLineItem", "productId": book.product_id, "variantId": book.variant_id},
    )
    apply(api, edit, order)
    edited = api.get(f"orders/{order['id']}")
    assert [(li["id"], li["quantity"]) for li in edited["lineItems"][:2]] == [
        (hoodie["id"], 3),
        (mug["id"], 1),
    ]
    assert edited["lineItems"][2]["variant"]["sku"] == "SKU-BOOK"
    same = cart_of(
        api,
        [
            {"sku": "SKU-HOODIE", "quantity": 3},
            {"sku": "SKU-MUG", "quantity": 1},
            {"sku": "SKU-BOOK", "quantity": 1},
        ],
    )
    assert edited["taxedPrice"] == same["taxedPrice"]
    removed = next(m for m in messages_of(api, order["id"]) if m["type"] == "OrderLineItemRemoved")
    assert removed["lineItemId"] == mug["id"]
    assert (removed["removedQuantity"], removed["newQuantity"]) == (1, 1)
    assert removed["newTotalPrice"] == edited["lineItems"][1]["totalPrice"]
    assert removed["newTaxedPrice"] == edited["lineItems"][1]["taxedPrice"]
    # A whole line removed: quantity 0, no state left.
    order = edited
    edit = new_edit(api, order, {"action": "removeLineItem", "lineItemId": mug["id"]})
    apply(api, edit, order)
    edited = api.get(f"orders/{order['id']}")
    assert mug["id"] not in [li["id"] for li in edited["lineItems"]]
    last = [m for m in messages_of(api, order["id"]) if m["type"] == "OrderLineItemRemoved"][-1]
    assert (last["removedQuantity"], last["newQuantity"], last["newState"]) == (1, 0, [])
    assert last["newTotalPrice"]["centAmount"] == 0


def test_stale_versions_answer_409_and_change_nothing(api: Api) -> None:
    order = placed(api)
    edit = new_edit(api, order, {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1})
    path = f"orders/edits/{edit['id']}/apply"
    status, body = api.error(
        "POST", path, {"editVersion": edit["version"] + 1, "resourceVersion": order["version"]}
    )
    assert status == 409 and body["errors"][0]["code"] == "ConcurrentModification"
    assert body["errors"][0]["currentVersion"] == edit["version"]
    # The order moved on since the edit was made: its version is stale.
    order = api.update("orders", order, {"action": "changeOrderState", "orderState": "Confirmed"})
    status, body = api.error(
        "POST", path, {"editVersion": edit["version"], "resourceVersion": order["version"] - 1}
    )
    assert status == 409 and body["errors"][0]["currentVersion"] == order["version"]
    assert api.get(f"orders/{order['id']}") == order
    assert api.get(f"orders/edits/{edit['id']}") == edit
    status, body = api.error("POST", path, {"editVersion": edit["version"]})
    assert status == 400 and body["errors"][0]["code"] == "InvalidJsonInput"
    # Applied once; a second apply is refused.
    apply(api, edit, order)
    applied = api.get(f"orders/edits/{edit['id']}")
    edited = api.get(f"orders/{order['id']}")
    status, body = api.error(
        "POST", path, {"editVersion": applied["version"], "resourceVersion": edited["version"]}
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"
    assert api.get(f"orders/{order['id']}") == edited


def test_a_failing_staged_action_changes_nothing_and_previews_as_a_failure(api: Api) -> None:
    order = placed(api)
    edit = new_edit(
        api,
        order,
        {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1},
        {"action": "removeLineItem", "lineItemId": "no-such-line"},
    )
    status, body = api.error(
        "POST",
        f"orders/edits/{edit['id']}/apply",
        {"editVersion": edit["version"], "resourceVersion": order["version"]},
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"
    assert "no-such-line" in body["message"]
    assert api.get(f"orders/{order['id']}") == order
    assert api.get(f"orders/edits/{edit['id']}")["result"] == {"type": "NotProcessed"}
    assert [m["type"] for m in messages_of(api, order["id"])] == ["OrderCreated"]
    preview = api.post(
        f"orders/edits/{edit['id']}", {"version": edit["version"], "actions": [], "dryRun": True}
    )
    assert preview["result"]["type"] == "PreviewFailure"
    assert preview["result"]["errors"][0]["code"] == "InvalidOperation"
    assert api.get(f"orders/edits/{edit['id']}") == edit


def test_a_dry_run_previews_without_storing(api: Api) -> None:
    order = placed(api)
    dry = new_edit(
        api, order, {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1}, dryRun=True
    )
    result = dry["result"]
    assert result["type"] == "PreviewSuccess"
    assert result["preview"]["version"] == order["version"] + 1
    assert len(result["preview"]["lineItems"]) == 3 and gross(result["preview"]) > gross(order)
    assert [p["type"] for p in result["messagePayloads"]] == [
        "OrderLineItemAdded",
        "OrderEditApplied",
    ]
    assert api.get("orders/edits")["total"] == 0
    assert api.get(f"orders/{order['id']}") == order
    status, _ = api.error("GET", f"orders/edits/{dry['id']}")
    assert status == 404


def test_unmodelled_staged_actions_and_fields_are_refused_by_name(api: Api) -> None:
    order = placed(api)
    status, body = api.error(
        "POST",
        "orders/edits",
        {
            "resource": {"typeId": "order", "id": order["id"]},
            "stagedActions": [{"action": "setShippingAddress", "address": {"country": "DE"}}],
        },
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidInput"
    assert "'setShippingAddress'" in body["message"]
    status, body = api.error(
        "POST",
        "orders/edits",
        {
            "resource": {"typeId": "order", "id": order["id"]},
            "stagedActions": [
                {
                    "action": "addLineItem",
                    "sku": "SKU-BOOK",
                    "externalPrice": {"currencyCode": "EUR", "centAmount": 1},
                }
            ],
        },
    )
    assert status == 400 and "externalPrice" in body["message"]
    edit = new_edit(api, order)
    status, body = api.error(
        "POST",
        f"orders/edits/{edit['id']}",
        {
            "version": edit["version"],
            "actions": [{"action": "addStagedAction", "stagedAction": {"action": "setLocale"}}],
        },
    )
    assert status == 400 and "'setLocale'" in body["message"]
    assert api.get(f"orders/edits/{edit['id']}") == edit
    status, body = api.error(
        "POST",
        f"orders/edits/{edit['id']}",
        {"version": edit["version"], "actions": [{"action": "changeResource"}]},
    )
    assert status == 400 and "changeResource" in body["message"]


def test_update_actions_and_staged_actions_frozen_once_applied(api: Api) -> None:
    order = placed(api)
    edit = new_edit(api, order)
    edit = api.update(
        "orders/edits",
        edit,
        {
            "action": "addStagedAction",
            "stagedAction": {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1},
        },
        {"action": "setComment", "comment": "book"},
        {"action": "setKey", "key": "edit-key"},
    )
    assert edit["version"] == 2 and edit["comment"] == "book" and edit["key"] == "edit-key"
    edit = api.update(
        "orders/edits",
        edit,
        {
            "action": "setStagedActions",
            "stagedActions": [{"action": "addLineItem", "sku": "SKU-MUG", "quantity": 1}],
        },
    )
    assert edit["stagedActions"] == [{"action": "addLineItem", "sku": "SKU-MUG", "quantity": 1}]
    applied = apply(api, edit, order)
    assert api.get(f"orders/{order['id']}")["lineItems"][1]["quantity"] == 3
    status, body = api.error(
        "POST",
        f"orders/edits/{applied['id']}",
        {
            "version": applied["version"],
            "actions": [{"action": "setStagedActions", "stagedActions": []}],
        },
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"
    # What is not a staged action still changes.
    commented = api.update("orders/edits", applied, {"action": "setComment"})
    assert "comment" not in commented and commented["result"]["type"] == "Applied"


def test_pricing_again_does_not_count_the_orders_own_discount_code(api: Api) -> None:
    discount = api.post("cart-discounts", code_discount("0.4"))
    api.post(
        "discount-codes",
        {
            "code": "ONCE",
            "cartDiscounts": [{"typeId": "cart-discount", "id": discount["id"]}],
            "maxApplications": 1,
        },
    )
    order = placed(api, discountCodes=["ONCE"])
    assert order["discountCodes"][0]["state"] == "MatchesCart"
    edit = new_edit(api, order, {"action": "addLineItem", "sku": "SKU-BOOK", "quantity": 1})
    apply(api, edit, order)
    edited = api.get(f"orders/{order['id']}")
    assert edited["discountCodes"][0]["state"] == "MatchesCart"
    book = edited["lineItems"][2]
    assert book["discountedPricePerQuantity"], "the code's 10 % applies to the added line"


def test_order_edits_need_their_own_scopes(api: Api) -> None:
    order = placed(api)

    def token(scope: str) -> dict[str, str]:
        issued = api.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": f"{scope}:{PROJECT}"},
            headers=basic("client", "secret"),
        )
        return {"Authorization": f"Bearer {issued.json['access_token']}"}

    draft = {"resource": {"typeId": "order", "id": order["id"]}}
    refused = api.client.post(
        f"/{PROJECT}/orders/edits", json=draft, headers=token("manage_orders")
    )
    assert refused.status_code == 403
    assert refused.json["errors"][0]["code"] == "insufficient_scope"
    made = api.client.post(
        f"/{PROJECT}/orders/edits", json=draft, headers=token("manage_order_edits")
    )
    assert made.status_code == 201
    read = api.client.get(
        f"/{PROJECT}/orders/edits/{made.json['id']}", headers=token("view_order_edits")
    )
    assert read.status_code == 200


def test_custom_fields_expansion_and_delete(api: Api) -> None:
    api.post(
        "types",
        {
            "key": "edit-reason",
            "name": {"en": "Why"},
            "resourceTypeIds": ["order-edit"],
            "fieldDefinitions": [
                {"name": "reason", "type": {"name": "String"}, "required": False, "label": {}}
            ],
        },
    )
    order = placed(api)
    status, body = api.error(
        "POST",
        "orders/edits",
        {
            "resource": {"typeId": "order", "id": order["id"]},
            "custom": {"type": {"key": "edit-reason"}, "fields": {"x": 1}},
        },
    )
    assert status == 400 and "'x'" in body["message"]
    made = new_edit(api, order, custom={"type": {"key": "edit-reason"}, "fields": {"reason": "a"}})
    assert made["custom"]["fields"] == {"reason": "a"}
    edit = api.update(
        "orders/edits",
        new_edit(api, order),
        {"action": "setCustomType", "type": {"typeId": "type", "key": "edit-reason"}},
        {"action": "setCustomField", "name": "reason", "value": "shopper called"},
    )
    assert edit["custom"]["fields"] == {"reason": "shopper called"}
    expanded = api.get(f"orders/edits/{edit['id']}", expand="resource")
    assert expanded["resource"]["obj"]["id"] == order["id"]
    status, body = api.error("DELETE", f"orders/edits/{edit['id']}", version=edit["version"] - 1)
    assert status == 409
    deleted = api.ok("DELETE", f"orders/edits/{edit['id']}", version=edit["version"])
    assert deleted["id"] == edit["id"]
    status, _ = api.error("GET", f"orders/edits/{edit['id']}")
    assert status == 404


def test_an_order_that_reserves_inventory_takes_no_edit() -> None:
    # "You can only create an Order Edit if the InventoryMode of the Order and its LineItems
    # is None" (RAML resources/orders.raml); the stand-in's own orders are always None.
    from sandbox.commercetools.errors import ApiError
    from sandbox.commercetools.staged_orders import check_editable

    check_editable({"inventoryMode": "None", "lineItems": [{"id": "a"}]})
    for order in (
        {"inventoryMode": "ReserveOnOrder", "lineItems": []},
        {"inventoryMode": "None", "lineItems": [{"id": "a", "inventoryMode": "TrackOnly"}]},
    ):
        with pytest.raises(ApiError) as refused:
            check_editable(order)
        assert refused.value.errors[0]["code"] == "InvalidOperation"
