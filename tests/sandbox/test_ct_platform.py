"""The stand-in held to the platform's documented rules (the commercetools API reference: RAML
in commercetools/commercetools-api-reference, and the release notes cited per section):
discount interplay, every direct discount kind, Cart Discounts and Discount Codes, concurrent
extensions, My Carts with scopes, masked secrets, payload-less notifications, message shapes
and tax refusals."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, jsonify, request

from sandbox.commercetools import StandInState, create_app
from sandbox.serving import ServerThread
from tests.sandbox.test_commercetools_standin import PROJECT, Api, basic, new_state


def eur(cents: int) -> dict[str, Any]:
    return {"currencyCode": "EUR", "centAmount": cents}


def cents(money: dict[str, Any]) -> int:
    return int(money["centAmount"])


def state_with(**config: Any) -> StandInState:
    return new_state(**config)


@pytest.fixture
def api() -> Iterator[Api]:
    state = new_state()
    yield Api(create_app(state).test_client(), state)
    state.close()


def cart(api: Api, *items: tuple[str, int], **draft: Any) -> dict[str, Any]:
    lines = [{"sku": sku, "quantity": q} for sku, q in items or (("SKU-MUG", 2),)]
    return api.post("carts", {"currency": "EUR", "country": "DE", "lineItems": lines, **draft})


def cart_discount(sort_order: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": {"en": f"discount {sort_order}"},
        "value": {"type": "relative", "permyriad": 1000},
        "cartPredicate": "true",
        "target": {"type": "lineItems", "predicate": "true"},
        "sortOrder": sort_order,
        **fields,
    }


def code_for(api: Api, code: str, *discounts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    refs = [{"typeId": "cart-discount", "id": d["id"]} for d in discounts]
    return api.post("discount-codes", {"code": code, "cartDiscounts": refs, **fields})


RELATIVE_TOTAL = {
    "value": {"type": "relative", "permyriad": 1000},
    "target": {"type": "totalPrice"},
}
FLAG_FALSE = {
    "action": "setDirectDiscountsIgnoreCartDiscounts",
    "directDiscountsIgnoreCartDiscounts": False,
}


# --- direct discounts, discount codes and the 2026-09-17 flag --------------------------------
def test_a_direct_discount_is_refused_on_a_cart_with_a_code_while_the_flag_is_true(api):
    code_for(
        api, "SPRING", api.post("cart-discounts", cart_discount("0.5", requiresDiscountCode=True))
    )
    with_code = api.update("carts", cart(api), {"action": "addDiscountCode", "code": "SPRING"})
    assert with_code["directDiscountsIgnoreCartDiscounts"] is True  # the default played here
    status, body = api.error(
        "POST",
        f"carts/{with_code['id']}",
        {
            "version": with_code["version"],
            "actions": [{"action": "setDirectDiscounts", "discounts": [RELATIVE_TOTAL]}],
        },
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"
    # The flag first, then the discount: both apply.
    both = api.update(
        "carts",
        with_code,
        FLAG_FALSE,
        {"action": "setDirectDiscounts", "discounts": [RELATIVE_TOTAL]},
    )
    assert len(both["directDiscounts"]) == 1 and both["discountCodes"][0]["state"] == "MatchesCart"
    # "The value can be set to true only if the Cart does not have both".
    status, body = api.error(
        "POST",
        f"carts/{both['id']}",
        {
            "version": both["version"],
            "actions": [{**FLAG_FALSE, "directDiscountsIgnoreCartDiscounts": True}],
        },
    )
    assert status == 400 and "both" in body["message"]


def test_no_code_is_added_to_a_cart_with_direct_discounts_while_the_flag_is_true(api):
    code_for(
        api, "SPRING", api.post("cart-discounts", cart_discount("0.5", requiresDiscountCode=True))
    )
    discounted = api.update(
        "carts", cart(api), {"action": "setDirectDiscounts", "discounts": [RELATIVE_TOTAL]}
    )
    status, _ = api.error(
        "POST",
        f"carts/{discounted['id']}",
        {
            "version": discounted["version"],
            "actions": [{"action": "addDiscountCode", "code": "SPRING"}],
        },
    )
    assert status == 400


def test_direct_discounts_with_the_flag_true_ignore_matching_cart_discounts(api):
    api.post("cart-discounts", cart_discount("0.5"))  # 10 % off every line, automatic
    plain = cart(api)
    assert cents(plain["totalPrice"]) == 2 * 899 - 180  # 10 % per unit, rounded half even
    direct = api.update(
        "carts",
        plain,
        {
            "action": "setDirectDiscounts",
            "discounts": [
                {
                    "value": {"type": "absolute", "money": [eur(100)]},
                    "target": {"type": "totalPrice"},
                }
            ],
        },
    )
    assert cents(direct["totalPrice"]) == 2 * 899 - 100
    stacked = api.update("carts", direct, FLAG_FALSE)
    assert cents(stacked["totalPrice"]) == 2 * 899 - 180 - 100


@pytest.mark.parametrize("default", [True, False])
def test_the_undocumented_default_of_the_flag_is_played_both_ways(default):
    state = state_with(ignore_cart_discounts_default=default)
    try:
        api = Api(create_app(state).test_client(), state)
        assert cart(api)["directDiscountsIgnoreCartDiscounts"] is default
        explicit = cart(api, directDiscountsIgnoreCartDiscounts=not default)
        assert explicit["directDiscountsIgnoreCartDiscounts"] is (not default)
    finally:
        state.close()


def test_set_direct_discounts_takes_no_flag_inside_the_action(api):
    bad = {
        "action": "setDirectDiscounts",
        "discounts": [],
        "directDiscountsIgnoreCartDiscounts": False,
    }
    created = cart(api)
    # The flag has its own action; inside setDirectDiscounts it is not a field and is ignored.
    after = api.update("carts", created, bad)
    assert after["directDiscountsIgnoreCartDiscounts"] is True


# --- every direct discount kind ------
GIFT = {
    "value": {"type": "giftLineItem", "product": {"typeId": "product", "id": "p-1"}, "variantId": 1}
}
MULTI_BUY = {
    "value": {"type": "relative", "permyriad": 10000},
    "target": {
        "type": "multiBuyLineItems",
        "predicate": "true",
        "triggerQuantity": 3,
        "discountedQuantity": 1,
        "selectionMode": "Cheapest",
    },
}
MULTI_BUY_CUSTOM = {
    "value": {"type": "relative", "permyriad": 5000},
    "target": {**MULTI_BUY["target"], "type": "multiBuyCustomLineItems", "maxOccurrence": 2},
}
PATTERN = {
    "value": {"type": "relative", "permyriad": 1000},
    "target": {
        "type": "pattern",
        "triggerPattern": [{"type": "CountOnLineItemUnits", "predicate": "true", "minCount": 2}],
        "targetPattern": [{"type": "CountOnLineItemUnits", "predicate": "true", "minCount": 1}],
    },
}


def test_every_documented_direct_discount_kind_is_accepted_and_served(api):
    discounts = [GIFT, MULTI_BUY, MULTI_BUY_CUSTOM, PATTERN, RELATIVE_TOTAL]
    after = api.update("carts", cart(api), {"action": "setDirectDiscounts", "discounts": discounts})
    served = after["directDiscounts"]
    assert [d["value"]["type"] for d in served] == [
        "giftLineItem",
        "relative",
        "relative",
        "relative",
        "relative",
    ]
    assert "target" not in served[0]  # "Absent if the value is giftLineItem"
    assert [d.get("target", {}).get("type") for d in served[1:]] == [
        "multiBuyLineItems",
        "multiBuyCustomLineItems",
        "pattern",
        "totalPrice",
    ]
    # What the cart serves goes back as drafts unchanged.
    resent = [{k: v for k, v in d.items() if k != "id"} for d in served]
    again = api.update("carts", after, {"action": "setDirectDiscounts", "discounts": resent})
    assert [d["value"] for d in again["directDiscounts"]] == [d["value"] for d in served]


@pytest.mark.parametrize(
    "discount",
    [
        {**GIFT, "target": {"type": "totalPrice"}},  # "this must not be set"
        {"value": {"type": "absolute", "money": [eur(100)]}, "target": MULTI_BUY["target"]},
        {"value": {"type": "relative", "permyriad": 1000}, "target": {"type": "bogus"}},
    ],
)
def test_direct_discounts_the_platform_refuses(api, discount):
    created = cart(api)
    status, _ = api.error(
        "POST",
        f"carts/{created['id']}",
        {"version": 1, "actions": [{"action": "setDirectDiscounts", "discounts": [discount]}]},
    )
    assert status == 400


# --- Cart Discounts and Discount Codes ------
def test_cart_discounts_are_resources_with_query_and_update_actions(api):
    created = api.post("cart-discounts", cart_discount("0.5", key="spring"))
    assert created["isActive"] and created["requiresDiscountCode"] is False
    assert created["stackingMode"] == "Stacking" and created["stores"] == []
    found = api.get("cart-discounts", where='key = "spring"')
    assert [d["id"] for d in found["results"]] == [created["id"]]
    changed = api.update(
        "cart-discounts",
        created,
        {"action": "changeIsActive", "isActive": False},
        {"action": "changeCartPredicate", "cartPredicate": 'totalPrice > "10.00 EUR"'},
        {"action": "setValidFromAndUntil", "validFrom": "2026-01-01T00:00:00.000Z"},
    )
    assert changed["isActive"] is False and changed["validFrom"].startswith("2026-01-01")
    status, body = api.error("POST", "cart-discounts", cart_discount("0.5"))
    assert status == 400 and body["errors"][0]["code"] == "DuplicateField"  # sortOrder is unique
    status, _ = api.error("POST", "cart-discounts", cart_discount("1.5"))
    assert status == 400


def test_line_item_cart_discounts_show_in_discounted_price_per_quantity(api):
    discount = api.post(
        "cart-discounts",
        cart_discount("0.5", target={"type": "lineItems", "predicate": 'sku = "SKU-MUG"'}),
    )
    priced = cart(api, ("SKU-MUG", 2), ("SKU-HOODIE", 1))
    mug, hoodie = priced["lineItems"]
    (per_quantity,) = mug["discountedPricePerQuantity"]
    assert cents(per_quantity["discountedPrice"]["value"]) == 899 - 90
    (included,) = per_quantity["discountedPrice"]["includedDiscounts"]
    assert included["discount"] == {"typeId": "cart-discount", "id": discount["id"]}
    assert cents(mug["totalPrice"]) == 2 * (899 - 90)
    assert hoodie["discountedPricePerQuantity"] == []


def test_a_total_price_cart_discount_leaves_line_item_totals_and_reports_on_the_cart(api):
    discount = api.post(
        "cart-discounts",
        cart_discount(
            "0.5",
            value={"type": "absolute", "money": [eur(500)]},
            target={"type": "totalPrice"},
            cartPredicate='totalPrice >= "15.00 EUR"',
        ),
    )
    priced = cart(api, ("SKU-MUG", 2))
    # LineItem.totalPrice is price x quantity unless a line-item discount applies.
    assert cents(priced["lineItems"][0]["totalPrice"]) == 2 * 899
    assert priced["lineItems"][0]["discountedPricePerQuantity"] == []
    assert cents(priced["totalPrice"]) == 2 * 899 - 500
    on_total = priced["discountOnTotalPrice"]
    assert cents(on_total["discountedAmount"]) == 500
    assert on_total["includedDiscounts"][0]["discount"]["id"] == discount["id"]
    small = cart(api, ("SKU-MUG", 1))  # 8.99 EUR: the cart predicate does not hold
    assert cents(small["totalPrice"]) == 899 and "discountOnTotalPrice" not in small


def test_sort_order_and_stop_after_this_discount(api):
    api.post(
        "cart-discounts", cart_discount("0.3", value={"type": "absolute", "money": [eur(100)]})
    )
    api.post("cart-discounts", cart_discount("0.8", stackingMode="StopAfterThisDiscount"))
    priced = cart(api, ("SKU-MUG", 1))
    (per_quantity,) = priced["lineItems"][0]["discountedPricePerQuantity"]
    # Only the 0.8 discount (10 %): it stops the 0.3 one.
    assert cents(per_quantity["discountedPrice"]["value"]) == 899 - 90
    assert len(per_quantity["discountedPrice"]["includedDiscounts"]) == 1


def test_free_shipping_through_the_shipping_target(api):
    api.post(
        "cart-discounts",
        cart_discount(
            "0.5", value={"type": "relative", "permyriad": 10000}, target={"type": "shipping"}
        ),
    )
    shipped = api.update(
        "carts",
        cart(api),
        {
            "action": "setCustomShippingMethod",
            "shippingMethodName": "Standard",
            "shippingRate": {"price": eur(495)},
            "taxCategory": {"typeId": "tax-category", "key": "standard"},
        },
    )
    assert cents(shipped["shippingInfo"]["price"]) == 0
    assert cents(shipped["shippingInfo"]["discountedPrice"]["value"]) == 0


def test_discount_code_states(api):
    coded = api.post("cart-discounts", cart_discount("0.5", requiresDiscountCode=True))
    # Without the code the discount does not apply.
    plain = cart(api, ("SKU-MUG", 1))
    assert plain["lineItems"][0]["discountedPricePerQuantity"] == []
    code = code_for(api, "BIG", coded, cartPredicate='totalPrice > "10.00 EUR"')
    small = api.update("carts", plain, {"action": "addDiscountCode", "code": "BIG"})
    assert small["discountCodes"][0]["state"] == "DoesNotMatchCart"
    assert small["lineItems"][0]["discountedPricePerQuantity"] == []
    line = small["lineItems"][0]["id"]
    bigger = api.update(
        "carts", small, {"action": "changeLineItemQuantity", "lineItemId": line, "quantity": 2}
    )
    assert bigger["discountCodes"][0]["state"] == "MatchesCart"
    assert bigger["lineItems"][0]["discountedPricePerQuantity"]
    api.update("discount-codes", code, {"action": "changeIsActive", "isActive": False})
    off = api.update("carts", bigger, {"action": "recalculate"})
    assert off["discountCodes"][0]["state"] == "NotActive"
    # An order is refused while a code does not match the cart.
    status, body = api.error("POST", "orders", {"id": off["id"], "version": off["version"]})
    assert status == 400 and body["errors"][0]["code"] == "DiscountCodeNonApplicable"


def test_max_applications_are_counted_at_order_creation_and_orders_keep_the_codes(api):
    coded = api.post("cart-discounts", cart_discount("0.5", requiresDiscountCode=True))
    code_for(api, "ONCE", coded, maxApplications=1)
    first = api.update("carts", cart(api), {"action": "addDiscountCode", "code": "ONCE"})
    order = api.post("orders", {"id": first["id"], "version": first["version"]})
    assert order["discountCodes"] == first["discountCodes"]
    assert order["discountCodes"][0]["discountCode"]["typeId"] == "discount-code"
    second = api.update("carts", cart(api), {"action": "addDiscountCode", "code": "ONCE"})
    assert second["discountCodes"][0]["state"] == "MaxApplicationReached"


def test_max_applications_per_customer(api):
    customer = api.post("customers", {"email": "max@example.com"})["customer"]
    coded = api.post("cart-discounts", cart_discount("0.5", requiresDiscountCode=True))
    code_for(api, "MINE", coded, maxApplicationsPerCustomer=1)
    mine = {"customerId": customer["id"]}
    first = api.update("carts", cart(api, **mine), {"action": "addDiscountCode", "code": "MINE"})
    api.post("orders", {"id": first["id"], "version": first["version"]})
    again = api.update("carts", cart(api, **mine), {"action": "addDiscountCode", "code": "MINE"})
    assert again["discountCodes"][0]["state"] == "MaxApplicationReached"
    other = api.update("carts", cart(api), {"action": "addDiscountCode", "code": "MINE"})
    assert other["discountCodes"][0]["state"] == "MatchesCart"


def test_a_stopping_discount_stops_a_codes_discount(api):
    api.post("cart-discounts", cart_discount("0.9", stackingMode="StopAfterThisDiscount"))
    coded = api.post("cart-discounts", cart_discount("0.2", requiresDiscountCode=True))
    code_for(api, "LATE", coded)
    priced = api.update("carts", cart(api), {"action": "addDiscountCode", "code": "LATE"})
    assert priced["discountCodes"][0]["state"] == "ApplicationStoppedByPreviousDiscount"


def test_codes_outside_their_validity_or_with_unusable_discounts_are_refused(api):
    coded = api.post("cart-discounts", cart_discount("0.5", requiresDiscountCode=True))
    code_for(api, "OLD", coded, validUntil="2020-01-01T00:00:00.000Z")
    created = cart(api)
    status, body = api.error(
        "POST",
        f"carts/{created['id']}",
        {"version": 1, "actions": [{"action": "addDiscountCode", "code": "OLD"}]},
    )
    assert status == 400 and body["errors"][0]["reason"] == "TimeRangeNonApplicable"
    elsewhere = api.post(
        "cart-discounts",
        cart_discount("0.6", requiresDiscountCode=True, stores=[{"typeId": "store", "key": "us"}]),
    )
    code_for(api, "US-ONLY", elsewhere)
    status, body = api.error(
        "POST",
        f"carts/{created['id']}",
        {"version": 1, "actions": [{"action": "addDiscountCode", "code": "US-ONLY"}]},
    )
    assert status == 400 and body["errors"][0]["code"] == "DiscountCodeNonApplicable"


# --- extensions run concurrently unless chained ------
class Recorder:
    """Extension endpoints. With `together`, each waits at a barrier for the other: only calls
    made concurrently get past it (sequential calls would time out and answer 500)."""

    def __init__(self, together: int | None = None) -> None:
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(together, timeout=10) if together else None
        self.seen: dict[str, list[dict[str, Any]]] = {}

    def app(self) -> Flask:
        app = Flask("extensions")

        @app.post("/<name>")
        def handle(name: str) -> Any:
            body = request.get_json()
            with self.lock:
                self.seen.setdefault(name, []).append(body["resource"]["obj"])
            if self.barrier is not None:
                try:
                    self.barrier.wait()
                except threading.BrokenBarrierError:
                    return jsonify({"error": "not called concurrently"}), 500
            permyriad = 200 if name == "first" else 100
            discount = {
                "value": {"type": "relative", "permyriad": permyriad},
                "target": {"type": "totalPrice"},
            }
            return jsonify({"actions": [{"action": "setDirectDiscounts", "discounts": [discount]}]})

        return app


def register(api: Api, url: str, key: str, **extra: Any) -> dict[str, Any]:
    return api.post(
        "extensions",
        {
            "key": key,
            "destination": {
                "type": "HTTP",
                "url": f"{url}/{key}",
                "authentication": {
                    "type": "AuthorizationHeader",
                    "headerValue": f"Bearer {key}-secret-value",
                },
            },
            "triggers": [{"resourceTypeId": "cart", "actions": ["Create"]}],
            **extra,
        },
    )


def test_extensions_without_dependencies_run_concurrently_and_their_actions_apply_together(api):
    recorder = Recorder(together=2)
    with ServerThread(recorder.app()) as server:
        register(api, server.url, "first")
        register(api, server.url, "second")
        created = cart(api)  # both answered: each was called before the other answered
    # Neither saw the other's discount; both lists were applied, the later replacing.
    assert recorder.seen["first"][0]["directDiscounts"] == []
    assert recorder.seen["second"][0]["directDiscounts"] == []
    (discount,) = created["directDiscounts"]
    assert discount["value"]["permyriad"] == 100


def test_a_dependent_extension_receives_its_ancestors_result(api):
    recorder = Recorder()
    with ServerThread(recorder.app()) as server:
        first = register(api, server.url, "first")
        register(
            api, server.url, "second", dependencies=[{"typeId": "extension", "id": first["id"]}]
        )
        cart(api)
    assert recorder.seen["first"][0]["directDiscounts"] == []
    (seen,) = recorder.seen["second"][0]["directDiscounts"]
    assert seen["value"]["permyriad"] == 200


# --- the extension secret is masked on read ------
def test_the_authorization_header_is_partially_hidden_on_retrieval(api):
    created = register(api, "http://127.0.0.1:9", "masked")
    shown = created["destination"]["authentication"]["headerValue"]
    assert shown.startswith("Bearer ") and "masked-secret-value" not in shown
    assert (
        "masked-secret-value"
        not in api.get(f"extensions/{created['id']}")["destination"]["authentication"][
            "headerValue"
        ]
    )
    assert "masked-secret-value" not in str(api.get("extensions"))


# --- notifications and message shapes ------
class Sink:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def app(self) -> Flask:
        app = Flask("sink")

        @app.post("/push")
        def push() -> Any:
            import base64
            import json

            body = request.get_json()
            self.received.append(json.loads(base64.b64decode(body["message"]["data"])))
            return "", 204

        return app


def test_a_payload_left_out_names_its_type_in_payload_not_included_and_has_no_type():
    state = new_state(payload_not_included_types=frozenset({"OrderCreated"}))
    sink = Sink()
    try:
        with ServerThread(sink.app()) as server:
            state.set_push_endpoint("topic", f"{server.url}/push")
            api = Api(create_app(state).test_client(), state)
            api.post(
                "subscriptions",
                {
                    "key": "sub",
                    "destination": {
                        "type": "GoogleCloudPubSub",
                        "projectId": "p",
                        "topic": "topic",
                    },
                    "messages": [{"resourceTypeId": "order", "types": []}],
                },
            )
            created = cart(api)
            order = api.post("orders", {"id": created["id"], "version": created["version"]})
            api.update("orders", order, {"action": "changeOrderState", "orderState": "Confirmed"})
            assert state.deliverer.wait_idle(10)
    finally:
        state.close()
    messages = [n for n in sink.received if n.get("notificationType") == "Message"]
    (left_out,) = [n for n in messages if "payloadNotIncluded" in n]
    assert left_out["payloadNotIncluded"] == {
        "reason": "Payload too large.",
        "payloadType": "OrderCreated",
    }
    assert "type" not in left_out and "order" not in left_out
    assert left_out["resource"] == {"typeId": "order", "id": order["id"]}
    (changed,) = [n for n in messages if n.get("type") == "OrderStateChanged"]
    assert "orderId" not in changed and changed["orderState"] == "Confirmed"


def test_return_items_start_in_the_documented_payment_state(api):
    created = cart(api)
    order = api.post("orders", {"id": created["id"], "version": created["version"]})
    line = order["lineItems"][0]["id"]
    returned = api.update(
        "orders",
        order,
        {
            "action": "addReturnInfo",
            "items": [{"quantity": 1, "lineItemId": line, "shipmentState": "Returned"}],
        },
    )
    assert returned["returnInfo"][0]["items"][0]["paymentState"] == "Initial"
    status, _ = api.error(
        "POST",
        f"orders/{order['id']}",
        {
            "version": returned["version"],
            "actions": [
                {
                    "action": "addReturnInfo",
                    "items": [{"quantity": 1, "lineItemId": line, "shipmentState": "BackInStock"}],
                }
            ],
        },
    )
    assert status == 400  # a ReturnItemDraft is Advised or Returned only
    canceled = api.update(
        "orders", returned, {"action": "changeShipmentState", "shipmentState": "Canceled"}
    )
    assert canceled["shipmentState"] == "Canceled"


def test_a_deleted_customer_message_carries_the_email(api):
    customer = api.post("customers", {"email": "gone@example.com"})["customer"]
    api.ok("DELETE", f"customers/{customer['id']}", version=customer["version"])
    (deleted,) = api.get("messages", where='type = "CustomerDeleted"')["results"]
    assert deleted["email"] == "gone@example.com"


# --- tax the platform refuses ------
def test_a_custom_line_item_without_tax_category_is_refused_in_platform_tax_mode(api):
    created = cart(api)
    status, body = api.error(
        "POST",
        f"carts/{created['id']}",
        {
            "version": 1,
            "actions": [
                {
                    "action": "addCustomLineItem",
                    "name": {"en": "x"},
                    "money": eur(-100),
                    "slug": "x",
                }
            ],
        },
    )
    assert status == 400 and body["errors"][0]["code"] == "InvalidOperation"


def test_a_tax_category_without_a_rate_for_the_country_is_missing_tax_rate_for_country(api):
    api.client.post(
        "/_sandbox/products",
        json={"taxCategories": [{"key": "de-only", "rate": "0.19", "countries": ["DE"]}]},
    )
    us = api.post("carts", {"currency": "EUR", "shippingAddress": {"country": "US"}})
    status, body = api.error(
        "POST",
        f"carts/{us['id']}",
        {
            "version": 1,
            "actions": [
                {
                    "action": "addCustomLineItem",
                    "name": {"en": "x"},
                    "money": eur(-100),
                    "slug": "x",
                    "taxCategory": {"typeId": "tax-category", "key": "de-only"},
                }
            ],
        },
    )
    assert status == 400 and body["errors"][0]["code"] == "MissingTaxRateForCountry"


# --- My Carts with a shopper's token and scopes ------
def token(api: Api, path: str, **form: str) -> Any:
    return api.client.post(path, data=form, headers=basic("client", "secret"))


def test_a_customer_token_runs_my_carts_and_sets_custom_fields_on_its_own_cart(api):
    api.post(
        "types",
        {
            "key": "loyalty",
            "name": {"en": "Loyalty"},
            "resourceTypeIds": ["order"],
            "fieldDefinitions": [
                {
                    "name": "option",
                    "type": {"name": "String"},
                    "required": False,
                    "label": {"en": "o"},
                }
            ],
        },
    )
    api.post("customers", {"email": "Shop@Example.com", "password": "s3cret!"})
    wrong = token(
        api,
        f"/oauth/{PROJECT}/customers/token",
        grant_type="password",
        username="shop@example.com",
        password="nope",
    )
    assert wrong.status_code == 400
    issued = token(
        api,
        f"/oauth/{PROJECT}/customers/token",
        grant_type="password",
        username="shop@example.com",
        password="s3cret!",
    )
    assert issued.status_code == 200
    shopper = {"Authorization": f"Bearer {issued.json['access_token']}"}
    mine = api.client.post(
        f"/{PROJECT}/me/carts",
        json={"currency": "EUR", "lineItems": [{"sku": "SKU-MUG"}]},
        headers=shopper,
    )
    assert mine.status_code == 201 and mine.json["customerEmail"] == "Shop@Example.com"
    updated = api.client.post(
        f"/{PROJECT}/me/carts/{mine.json['id']}",
        json={
            "version": mine.json["version"],
            "actions": [
                {"action": "setCustomType", "type": {"typeId": "type", "key": "loyalty"}},
                {"action": "setCustomField", "name": "option", "value": "1"},
            ],
        },
        headers=shopper,
    )
    assert updated.status_code == 200 and updated.json["custom"]["fields"] == {"option": "1"}
    # A shopper cannot do what only the merchant can, nor reach the project API.
    refused = api.client.post(
        f"/{PROJECT}/me/carts/{mine.json['id']}",
        json={
            "version": updated.json["version"],
            "actions": [{"action": "setDirectDiscounts", "discounts": []}],
        },
        headers=shopper,
    )
    assert refused.status_code == 400
    assert api.client.get(f"/{PROJECT}/carts", headers=shopper).status_code == 403
    # Another shopper does not see this cart.
    anonymous = token(api, f"/oauth/{PROJECT}/anonymous/token", grant_type="client_credentials")
    other = {"Authorization": f"Bearer {anonymous.json['access_token']}"}
    assert (
        api.client.get(f"/{PROJECT}/me/carts/{mine.json['id']}", headers=other).status_code == 404
    )
    assert api.client.get(f"/{PROJECT}/me/carts", headers=other).json["results"] == []


def test_in_store_my_carts_belong_to_their_store(api):
    anonymous = token(api, f"/oauth/{PROJECT}/anonymous/token", grant_type="client_credentials")
    shopper = {"Authorization": f"Bearer {anonymous.json['access_token']}"}
    made = api.client.post(
        f"/{PROJECT}/in-store/key=berlin/me/carts", json={"currency": "EUR"}, headers=shopper
    )
    assert made.status_code == 201 and made.json["store"] == {"typeId": "store", "key": "berlin"}
    assert made.json["anonymousId"]
    assert (
        api.client.get(
            f"/{PROJECT}/in-store/key=munich/me/carts/{made.json['id']}", headers=shopper
        ).status_code
        == 404
    )


def test_scopes_are_enforced(api):
    narrow = token(
        api, "/oauth/token", grant_type="client_credentials", scope=f"view_orders:{PROJECT}"
    )
    assert narrow.status_code == 200
    headers = {"Authorization": f"Bearer {narrow.json['access_token']}"}
    assert api.client.get(f"/{PROJECT}/carts", headers=headers).status_code == 200
    denied = api.client.post(f"/{PROJECT}/carts", json={"currency": "EUR"}, headers=headers)
    assert denied.status_code == 403 and denied.json["errors"][0]["code"] == "insufficient_scope"
    assert api.client.get(f"/{PROJECT}/extensions", headers=headers).status_code == 403
    assert api.client.get(f"/{PROJECT}/me/carts", headers=headers).status_code == 403
    bad = token(
        api, "/oauth/token", grant_type="client_credentials", scope="manage_everything:sandbox"
    )
    assert bad.status_code == 400 and bad.json["error"] == "invalid_scope"


def test_the_open_behaviours_can_be_switched_at_run_time(api):
    answer = api.client.post(
        "/_sandbox/config",
        json={"ignoreCartDiscountsDefault": False, "payloadNotIncludedTypes": ["OrderCreated"]},
    )
    assert answer.json == {
        "ignoreCartDiscountsDefault": False,
        "payloadNotIncludedTypes": ["OrderCreated"],
    }
    assert cart(api)["directDiscountsIgnoreCartDiscounts"] is False
    assert (
        api.client.post("/_sandbox/config", json={"ignoreCartDiscountsDefault": 1}).status_code
        == 400
    )
