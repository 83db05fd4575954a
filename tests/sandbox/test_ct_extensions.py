"""API Extensions: the call, applied actions, refusals, timeouts, conditions, races."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, jsonify, request

from sandbox.commercetools import StandInState, create_app
from sandbox.serving import ServerThread
from tests.sandbox.test_commercetools_standin import Api, basic, new_state

Handler = Callable[[dict[str, Any]], tuple[Any, int]]


@dataclass
class Extension:
    """A local extension endpoint whose answer each test decides."""

    answer: Handler = lambda body: ({"actions": []}, 200)
    calls: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def app(self) -> Flask:
        app = Flask("extension")

        @app.post("/ext")
        def handle() -> Any:
            raw = request.get_data(as_text=True)
            self.calls.append(
                {
                    "headers": dict(request.headers),
                    "body": request.get_json(silent=True),
                    "raw": raw,
                }
            )
            body, status = self.answer(request.get_json(silent=True) or {})
            if isinstance(body, str):
                return Response(body, status=status, content_type="text/plain")
            return jsonify(body), status

        return app


@pytest.fixture
def extension() -> Iterator[tuple[Extension, str]]:
    ext = Extension()
    with ServerThread(ext.app()) as server:
        yield ext, f"{server.url}/ext"
        ext.release.set()


@pytest.fixture
def api() -> Iterator[Api]:
    state: StandInState = new_state()
    api = Api(create_app(state).test_client(), state)
    api.post(
        "types",
        {
            "key": "loyalty-order",
            "name": {"en": "Loyalty"},
            "resourceTypeIds": ["order"],
            "fieldDefinitions": [
                {
                    "name": "loyaltyRedemptionOptionId",
                    "type": {"name": "String"},
                    "required": False,
                    "label": {"en": "R"},
                },
                {
                    "name": "loyaltyHash",
                    "type": {"name": "String"},
                    "required": False,
                    "label": {"en": "H"},
                },
            ],
        },
    )
    yield api
    state.close()


def register(
    api: Api,
    url: str,
    *,
    condition: str | None = None,
    timeout_ms: int | None = None,
    actions: tuple[str, ...] = ("Create", "Update"),
    resource_type_id: str = "cart",
    key: str = "yotpo-loyalty",
) -> dict[str, Any]:
    trigger: dict[str, Any] = {"resourceTypeId": resource_type_id, "actions": list(actions)}
    if condition is not None:
        trigger["condition"] = condition
    draft: dict[str, Any] = {
        "key": key,
        "destination": {
            "type": "HTTP",
            "url": url,
            "authentication": {"type": "AuthorizationHeader", "headerValue": "Basic c2VjcmV0"},
        },
        "triggers": [trigger],
    }
    if timeout_ms is not None:
        draft["timeoutInMs"] = timeout_ms
    return api.post("extensions", draft)


def loyalty_cart(**fields: Any) -> dict[str, Any]:
    return {
        "currency": "EUR",
        "lineItems": [{"sku": "SKU-TSHIRT", "quantity": 1}],
        "custom": {"type": {"key": "loyalty-order"}, "fields": fields},
    }


def test_extension_receives_the_cart_to_be_persisted_and_its_actions_apply(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    register(api, url)

    def answer(body: dict[str, Any]) -> tuple[Any, int]:
        return {
            "actions": [
                {"action": "setCustomField", "name": "loyaltyHash", "value": "h-1"},
                {
                    "action": "addCustomLineItem",
                    "name": {"en": "Points"},
                    "money": {"currencyCode": "EUR", "centAmount": -500},
                    "slug": "loyalty",
                    "taxCategory": {"typeId": "tax-category", "key": "standard"},
                },
            ]
        }, 200

    ext.answer = answer
    response = api.client.post(
        "/sandbox/carts",
        json=loyalty_cart(),
        headers={**api.headers, "X-Correlation-ID": "storefront-42"},
    )
    assert response.status_code == 201
    cart = response.json
    [call] = ext.calls
    assert call["headers"]["Authorization"] == "Basic c2VjcmV0"
    assert call["headers"]["X-Correlation-Id"] == "storefront-42"
    body = call["body"]
    assert body["action"] == "Create"
    assert body["resource"]["typeId"] == "cart" and body["resource"]["id"] == cart["id"]
    sent = body["resource"]["obj"]
    assert sent["id"] == cart["id"] and sent["version"] == 1
    assert sent["lineItems"][0]["variant"]["sku"] == "SKU-TSHIRT"
    assert sent["totalPrice"]["centAmount"] == 1999 and sent["customLineItems"] == []

    assert cart["custom"]["fields"]["loyaltyHash"] == "h-1"
    assert cart["customLineItems"][0]["slug"] == "loyalty"
    assert cart["totalPrice"]["centAmount"] == 1499
    assert api.get(f"carts/{cart['id']}") == cart

    updated = api.update(
        "carts",
        cart,
        {
            "action": "changeLineItemQuantity",
            "lineItemId": cart["lineItems"][0]["id"],
            "quantity": 2,
        },
    )
    # One call per API request: the extension's own actions do not call it again.
    assert len(ext.calls) == 2
    assert ext.calls[1]["body"]["action"] == "Update"
    assert ext.calls[1]["body"]["resource"]["obj"]["lineItems"][0]["quantity"] == 2
    assert ext.calls[1]["body"]["resource"]["obj"]["version"] == 2
    assert updated["version"] == 2
    assert len(updated["customLineItems"]) == 2


def test_extension_validation_errors_reach_the_caller_and_change_nothing(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    cart = api.post("carts", loyalty_cart())
    register(api, url)
    ext.answer = lambda body: (
        {
            "errors": [
                {
                    "code": "InvalidInput",
                    "message": "Not enough points.",
                    "extensionExtraInfo": {"balance": 40, "needed": 100},
                }
            ]
        },
        400,
    )
    status, error = api.error(
        "POST",
        f"carts/{cart['id']}",
        {
            "version": 1,
            "actions": [
                {"action": "setCustomField", "name": "loyaltyRedemptionOptionId", "value": "opt-1"}
            ],
        },
    )
    assert status == 400
    assert error["statusCode"] == 400 and error["message"] == "Not enough points."
    [wrapped] = error["errors"]
    assert wrapped["code"] == "ExtensionBadResponse"
    assert wrapped["extensionExtraInfo"] == {"balance": 40, "needed": 100}
    assert wrapped["extensionErrors"][0]["code"] == "InvalidInput"
    assert wrapped["extensionKey"] == "yotpo-loyalty" and wrapped["extensionId"]
    assert api.get(f"carts/{cart['id']}") == cart


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (("boom", 500), 502),
        (("not json", 200), 502),
        (({"actions": [{"action": "setCustomField"}]}, 202), 502),
    ],
)
def test_broken_extension_answers_are_bad_responses(
    api: Api, extension: tuple[Extension, str], answer: tuple[Any, int], status: int
) -> None:
    ext, url = extension
    register(api, url)
    ext.answer = lambda body: answer
    code, error = api.error("POST", "carts", loyalty_cart())
    assert code == status
    assert error["errors"][0]["code"] == "ExtensionBadResponse"
    assert error["errors"][0]["extensionStatusCode"] == answer[1]
    assert api.get("carts")["total"] == 0


def test_actions_that_fail_are_reported_as_such(api: Api, extension: tuple[Extension, str]) -> None:
    ext, url = extension
    register(api, url)
    ext.answer = lambda body: (
        {"actions": [{"action": "setCustomField", "name": "noSuchField", "value": 1}]},
        200,
    )
    status, error = api.error("POST", "carts", loyalty_cart())
    assert status == 400
    assert error["errors"][0]["code"] == "ExtensionUpdateActionsFailed"
    assert error["errors"][0]["extensionErrors"][0]["code"] == "InvalidOperation"
    assert api.get("carts")["total"] == 0


def test_a_slow_extension_is_no_response_and_the_cart_is_unchanged(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    cart = api.post("carts", loyalty_cart())
    register(api, url, timeout_ms=200)

    def slow(body: dict[str, Any]) -> tuple[Any, int]:
        ext.release.wait(5)  # released when the test ends; far beyond the 200 ms allowed
        return {"actions": []}, 200

    ext.answer = slow
    status, error = api.error(
        "POST",
        f"carts/{cart['id']}",
        {"version": 1, "actions": [{"action": "addLineItem", "sku": "SKU-MUG"}]},
    )
    ext.release.set()
    assert status == 504
    assert error["errors"][0]["code"] == "ExtensionNoResponse"
    assert api.get(f"carts/{cart['id']}") == cart


def test_an_unreachable_extension_is_no_response(api: Api) -> None:
    register(api, "http://127.0.0.1:9/ext", timeout_ms=500)
    status, error = api.error("POST", "carts", loyalty_cart())
    assert status == 504 and error["errors"][0]["code"] == "ExtensionNoResponse"


def test_a_condition_that_does_not_hold_skips_the_call(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    register(api, url, condition="custom(fields(loyaltyRedemptionOptionId is defined))")
    plain = api.post("carts", loyalty_cart())
    assert ext.calls == []
    api.update(
        "carts",
        plain,
        {"action": "setCustomField", "name": "loyaltyRedemptionOptionId", "value": "opt-1"},
    )
    assert len(ext.calls) == 1
    assert (
        ext.calls[0]["body"]["resource"]["obj"]["custom"]["fields"]["loyaltyRedemptionOptionId"]
        == "opt-1"
    )


def test_a_write_during_the_extension_call_makes_the_slower_one_conflict(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    cart = api.post("carts", loyalty_cart())
    register(api, url, actions=("Update",))
    raced = threading.Event()

    def racing(body: dict[str, Any]) -> tuple[Any, int]:
        if not raced.is_set():
            raced.set()
            # Another storefront request lands while this extension call is in flight.
            api.update(
                "carts", cart, {"action": "setCustomField", "name": "loyaltyHash", "value": "other"}
            )
        return {"actions": []}, 200

    ext.answer = racing
    status, error = api.error(
        "POST",
        f"carts/{cart['id']}",
        {"version": 1, "actions": [{"action": "addLineItem", "sku": "SKU-MUG"}]},
    )
    assert status == 409
    assert error["errors"][0]["currentVersion"] == 2
    stored = api.get(f"carts/{cart['id']}")
    assert stored["custom"]["fields"]["loyaltyHash"] == "other" and len(stored["lineItems"]) == 1


def test_extension_registration_updates_in_place(
    api: Api, extension: tuple[Extension, str]
) -> None:
    _, url = extension
    created = register(api, url)
    assert created["key"] == "yotpo-loyalty" and "timeoutInMs" not in created
    updated = api.post(
        "extensions/key=yotpo-loyalty",
        {
            "version": created["version"],
            "actions": [
                {"action": "setTimeoutInMs", "timeoutInMs": 5000},
                {
                    "action": "changeTriggers",
                    "triggers": [
                        {
                            "resourceTypeId": "cart",
                            "actions": ["Update"],
                            "condition": 'store(key = "eu")',
                        }
                    ],
                },
                {
                    "action": "changeDestination",
                    "destination": {"type": "HTTP", "url": url + "?v=2"},
                },
            ],
        },
    )
    assert updated["version"] == 2 and updated["timeoutInMs"] == 5000
    assert updated["triggers"][0]["condition"] == 'store(key = "eu")'
    assert updated["destination"] == {"type": "HTTP", "url": url + "?v=2"}
    status, error = api.error(
        "POST",
        "extensions",
        {
            "destination": {"type": "HTTP", "url": url},
            "triggers": [
                {"resourceTypeId": "cart", "actions": ["Create"], "condition": "custom(("}
            ],
        },
    )
    assert status == 400 and error["errors"][0]["code"] == "InvalidInput"
    assert api.ok("DELETE", "extensions/key=yotpo-loyalty", version=2)["id"] == created["id"]
    assert api.get("extensions")["total"] == 0


# --- order creation ------------------------------------------------------------------------
# "An API Extension gets called after the processing of a create or update request of an API
# call but before the order is persisted. The API Extension can validate the order or apply
# additional updates to it." (https://docs.commercetools.com/api/releases/2018-03-23-order-api-extensions)
def order_extension(api: Api, url: str, **kwargs: Any) -> dict[str, Any]:
    return register(
        api, url, actions=("Create",), resource_type_id="order", key="order-check", **kwargs
    )


def test_an_order_extension_sees_the_order_before_it_is_stored_and_its_actions_apply(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    cart = api.post("carts", loyalty_cart(loyaltyRedemptionOptionId="1"))
    order_extension(api, url)
    ext.answer = lambda body: (
        {
            "actions": [
                {"action": "setCustomField", "name": "loyaltyHash", "value": "consumed"},
                {"action": "setOrderNumber", "orderNumber": "FROM-EXT"},
            ]
        },
        200,
    )
    order = api.post("orders", {"id": cart["id"], "version": cart["version"]})
    [call] = ext.calls
    body = call["body"]
    assert body["action"] == "Create"
    assert body["resource"]["typeId"] == "order" and body["resource"]["id"] == order["id"]
    sent = body["resource"]["obj"]
    assert sent["id"] == order["id"] and sent["version"] == 1
    assert sent["cart"] == {"typeId": "cart", "id": cart["id"]}
    assert sent["orderState"] == "Open" and sent["totalPrice"] == cart["totalPrice"]
    assert sent["custom"]["fields"] == {"loyaltyRedemptionOptionId": "1"}
    assert call["headers"]["Authorization"] == "Basic c2VjcmV0"

    assert order["custom"]["fields"]["loyaltyHash"] == "consumed"
    assert order["orderNumber"] == "FROM-EXT"
    assert api.get(f"orders/{order['id']}") == order
    (created,) = api.get("messages", where='type = "OrderCreated"')["results"]
    assert created["order"]["custom"]["fields"]["loyaltyHash"] == "consumed"
    assert api.get(f"carts/{cart['id']}")["cartState"] == "Ordered"


def test_a_cart_trigger_is_not_called_for_orders_nor_an_order_trigger_for_carts(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    register(api, url, actions=("Create", "Update"))
    cart = api.post("carts", loyalty_cart())
    assert [c["body"]["resource"]["typeId"] for c in ext.calls] == ["cart"]
    api.post("orders", {"id": cart["id"], "version": cart["version"]})
    assert len(ext.calls) == 1

    ext.calls.clear()
    first = api.get("extensions")["results"][0]
    assert (
        api.call("DELETE", f"extensions/{first['id']}", version=first["version"]).status_code == 200
    )
    order_extension(api, url, condition="custom(fields(loyaltyHash is defined))")
    plain = api.post("carts", loyalty_cart())
    assert ext.calls == []
    api.post("orders", {"id": plain["id"], "version": plain["version"]})  # condition false
    marked = api.post("carts", loyalty_cart(loyaltyHash="x"))
    api.post("orders", {"id": marked["id"], "version": marked["version"]})
    assert [c["body"]["resource"]["typeId"] for c in ext.calls] == ["order"]


def _discounted_cart(api: Api) -> dict[str, Any]:
    discount = api.post(
        "cart-discounts",
        {
            "name": {"en": "10 %"},
            "value": {"type": "relative", "permyriad": 1000},
            "cartPredicate": "true",
            "target": {"type": "lineItems", "predicate": "true"},
            "sortOrder": "0.5",
            "requiresDiscountCode": True,
        },
    )
    code = api.post(
        "discount-codes",
        {
            "code": "ONCE",
            "cartDiscounts": [{"typeId": "cart-discount", "id": discount["id"]}],
            "maxApplications": 1,
        },
    )
    cart = api.post("carts", loyalty_cart())
    cart = api.update("carts", cart, {"action": "addDiscountCode", "code": "ONCE"})
    assert cart["discountCodes"][0]["state"] == "MatchesCart"
    return {"cart": cart, "code": code}


def test_an_order_extension_refusal_reaches_the_caller_and_leaves_no_order(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    made = _discounted_cart(api)
    cart = made["cart"]
    order_extension(api, url)
    ext.answer = lambda body: (
        {
            "errors": [
                {
                    "code": "InvalidInput",
                    "message": "This reward is no longer available.",
                    "extensionExtraInfo": {"loyaltyError": "reward_no_longer_available"},
                }
            ]
        },
        400,
    )
    status, error = api.error("POST", "orders", {"id": cart["id"], "version": cart["version"]})
    assert status == 400
    [wrapped] = error["errors"]
    assert wrapped["code"] == "ExtensionBadResponse"
    assert wrapped["extensionExtraInfo"] == {"loyaltyError": "reward_no_longer_available"}
    assert wrapped["extensionErrors"][0]["code"] == "InvalidInput"
    assert wrapped["extensionKey"] == "order-check"
    assert api.get("orders")["total"] == 0
    assert api.get("messages", where='type = "OrderCreated"')["results"] == []
    assert api.get(f"carts/{cart['id']}") == cart  # still Active, same version
    # The code's one application was not used up by the refused order.
    ext.answer = lambda body: ({"actions": []}, 200)
    order = api.post("orders", {"id": cart["id"], "version": cart["version"]})
    assert order["discountCodes"][0]["state"] == "MatchesCart"


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (("boom", 500), 502, "ExtensionBadResponse"),
        (
            ({"actions": [{"action": "setCustomField", "name": "nope", "value": 1}]}, 200),
            400,
            "ExtensionUpdateActionsFailed",
        ),
        (
            ({"actions": [{"action": "addLineItem", "sku": "SKU-MUG"}]}, 200),
            400,
            "ExtensionUpdateActionsFailed",
        ),
    ],
)
def test_order_extension_failures_leave_no_order(
    api: Api, extension: tuple[Extension, str], answer: tuple[Any, int], status: int, code: str
) -> None:
    ext, url = extension
    cart = api.post("carts", loyalty_cart())
    order_extension(api, url)
    ext.answer = lambda body: answer
    got, error = api.error("POST", "orders", {"id": cart["id"], "version": cart["version"]})
    assert (got, error["errors"][0]["code"]) == (status, code)
    assert api.get("orders")["total"] == 0
    assert api.get(f"carts/{cart['id']}")["cartState"] == "Active"


def test_a_slow_order_extension_is_no_response(api: Api, extension: tuple[Extension, str]) -> None:
    ext, url = extension
    cart = api.post("carts", loyalty_cart())
    order_extension(api, url, timeout_ms=200)

    def hang(body: dict[str, Any]) -> tuple[Any, int]:
        ext.release.wait(5)
        return {"actions": []}, 200

    ext.answer = hang
    status, error = api.error("POST", "orders", {"id": cart["id"], "version": cart["version"]})
    ext.release.set()
    assert status == 504 and error["errors"][0]["code"] == "ExtensionNoResponse"
    assert api.get("orders")["total"] == 0


def test_a_cart_written_while_its_order_extension_runs_makes_the_order_conflict(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    cart = api.post("carts", loyalty_cart())
    order_extension(api, url)

    def write_meanwhile(body: dict[str, Any]) -> tuple[Any, int]:
        api.update("carts", cart, {"action": "setCustomField", "name": "loyaltyHash", "value": "z"})
        return {"actions": []}, 200

    ext.answer = write_meanwhile
    status, error = api.error("POST", "orders", {"id": cart["id"], "version": cart["version"]})
    assert status == 409 and error["errors"][0]["code"] == "ConcurrentModification"
    assert api.get("orders")["total"] == 0


def _shopper(api: Api, email: str) -> dict[str, str]:
    api.post("customers", {"email": email, "password": "s3cret!"})
    issued = api.client.post(
        "/oauth/sandbox/customers/token",
        data={"grant_type": "password", "username": email, "password": "s3cret!"},
        headers=basic("client", "secret"),
    )
    assert issued.status_code == 200, issued.json
    return {"Authorization": f"Bearer {issued.json['access_token']}"}


def test_a_shopper_orders_only_their_own_cart_and_order_extensions_run(
    api: Api, extension: tuple[Extension, str]
) -> None:
    ext, url = extension
    order_extension(api, url)
    ext.answer = lambda body: (
        {"actions": [{"action": "setCustomField", "name": "loyaltyHash", "value": "seen"}]},
        200,
    )
    mine = _shopper(api, "me@example.com")
    other = _shopper(api, "other@example.com")
    made = api.client.post(
        "/sandbox/me/carts", json=loyalty_cart(loyaltyRedemptionOptionId="1"), headers=mine
    )
    assert made.status_code == 201, made.json
    cart = made.json
    draft = {"id": cart["id"], "version": cart["version"]}
    stolen = api.client.post("/sandbox/me/orders", json=draft, headers=other)
    # Another shopper's cart is, to this token, a cart that does not exist.
    assert stolen.status_code == 400 and ext.calls == []
    assert stolen.json["errors"][0]["code"] == "ReferencedResourceNotFound"
    extra = api.client.post(
        "/sandbox/me/orders", json={**draft, "orderState": "Complete"}, headers=mine
    )
    assert extra.status_code == 400
    placed = api.client.post("/sandbox/me/orders", json=draft, headers=mine)
    assert placed.status_code == 201, placed.json
    assert placed.json["custom"]["fields"]["loyaltyHash"] == "seen"
    assert placed.json["customerId"] == cart["customerId"]
    [call] = ext.calls
    assert call["body"]["resource"]["typeId"] == "order"
    in_store = api.client.post("/sandbox/in-store/key=berlin/me/orders", json=draft, headers=mine)
    assert in_store.status_code == 400  # not a cart of that store (and ordered already)
    assert in_store.json["errors"][0]["code"] == "ReferencedResourceNotFound"
