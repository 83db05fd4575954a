"""A cart that concerns loyalty is parsed once: the fast path hands its parse to the view.

commercetools sends the whole cart (tens of KB) on every update; a redemption should not
pay for reading it twice before it asks Yotpo anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask, jsonify

import service.extension_input as extension_input
import service.fast_path as fast_path
from service.extension_input import extension_body
from service.fast_path import ExtensionFastPath
from shared.domain.loyalty_fields import CartFields as F

AUTH = "Bearer parse-once-secret"


def _request(fields: dict[str, Any]) -> dict[str, Any]:
    cart = {
        "id": "cart-1",
        "version": 1,
        "currency": "EUR",
        "lineItems": [],
        "totalPrice": {"currencyCode": "EUR", "centAmount": 1000, "fractionDigits": 2},
        "custom": {"type": {"typeId": "type", "id": "t"}, "fields": fields},
    }
    return {"action": "Update", "resource": {"typeId": "cart", "id": "cart-1", "obj": cart}}


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counted: list[int] = []
    real = extension_input.parse_body

    def counting(raw: bytes) -> dict[str, Any]:
        counted.append(len(raw))
        return real(raw)

    monkeypatch.setattr(extension_input, "parse_body", counting)
    monkeypatch.setattr(fast_path, "parse_body", counting)
    return counted


def _app() -> Flask:
    app = Flask("parse-once")
    seen: list[dict[str, Any]] = []

    @app.post("/service")
    def view() -> Any:
        body = extension_body()
        seen.append(body)
        return jsonify({"cart": body["resource"]["obj"]["id"]})

    app.wsgi_app = ExtensionFastPath(app.wsgi_app, AUTH)  # type: ignore[method-assign]
    app.config["seen"] = seen
    return app


def test_a_loyalty_cart_is_parsed_once_and_the_view_gets_the_same_body(
    parses: list[int],
) -> None:
    app = _app()
    sent = _request({F.REQUESTED_OPTION: "1"})
    answer = app.test_client().post("/service", json=sent, headers={"Authorization": AUTH})
    assert answer.status_code == 200
    assert answer.get_json() == {"cart": "cart-1"}
    assert len(parses) == 1
    assert app.config["seen"] == [sent]


def test_a_plain_cart_never_reaches_the_view(parses: list[int]) -> None:
    app = _app()
    answer = app.test_client().post("/service", json=_request({}), headers={"Authorization": AUTH})
    assert answer.get_json() == {"actions": []}
    assert len(parses) == 1
    assert app.config["seen"] == []


def test_without_the_fast_path_s_parse_the_view_parses_itself(parses: list[int]) -> None:
    # Wrong credentials: the fast path reads nothing, the view still gets a strict parse.
    app = _app()
    answer = app.test_client().post(
        "/service",
        data=json.dumps(_request({F.REQUESTED_OPTION: "1"})),
        content_type="application/json",
        headers={"Authorization": "Bearer wrong"},
    )
    assert answer.status_code == 200
    assert len(parses) == 1


def test_a_body_the_fast_path_refuses_is_refused_by_the_view_too(parses: list[int]) -> None:
    app = _app()
    answer = app.test_client().post(
        "/service",
        data=b'{"action": NaN}',
        content_type="application/json",
        headers={"Authorization": AUTH},
    )
    assert answer.status_code == 400
