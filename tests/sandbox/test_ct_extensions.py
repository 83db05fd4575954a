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
from tests.sandbox.test_commercetools_standin import Api, new_state

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
) -> dict[str, Any]:
    trigger: dict[str, Any] = {"resourceTypeId": "cart", "actions": list(actions)}
    if condition is not None:
        trigger["condition"] = condition
    draft: dict[str, Any] = {
        "key": "yotpo-loyalty",
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
