"""Yotpo's rewards page as the stand-in plays it (sandbox/yotpo/widget.py), calling the real
Create/Cancel Coupons endpoints of the service over HTTP, against the commercetools stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, jsonify, request

from sandbox.commercetools.app import create_app as create_ct_app
from sandbox.commercetools.state import StandInConfig, StandInState
from sandbox.serving import ServerThread
from sandbox.storefront import Storefront
from sandbox.yotpo import YotpoEngine
from sandbox.yotpo import create_app as create_yotpo_app
from sandbox.yotpo.widget import install as install_widget
from service.coupons import CouponSettings, register_coupons
from shared.checkout.coupon_codes import code_owners, upload_codes, yotpo_code_owner
from shared.commercetools import CommercetoolsClient
from shared.domain.checkout.coupons import email_digest, foreign_codes
from shared.webapp import create_base_app
from shared.yotpo import YotpoClient

GUID = "sandbox-guid"
API_KEY = "sandbox-api-key"
SECRET = "widget-flow-secret-0123"
EMAIL = "ada@example.com"


class Merchant:
    """A stub merchant endpoint that records what Yotpo's widget sends it."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        app = Flask("merchant")

        @app.post("/create")
        def create() -> Any:
            body = request.get_json()
            self.received.append({"headers": dict(request.headers), "body": body})
            return jsonify({"coupon_code": body.get("coupon_code")}), self.status

        self.server = ServerThread(app).start()


@pytest.fixture
def yotpo() -> Iterator[tuple[YotpoEngine, ServerThread]]:
    engine = YotpoEngine()
    server = ServerThread(create_yotpo_app(engine, extensions=(install_widget,))).start()
    engine.upsert_customer(GUID, {"id": "c-ada", "email": EMAIL})
    engine.adjust_points(GUID, {"customer_email": EMAIL, "point_adjustment_amount": 2000})
    yield engine, server
    server.stop()
    engine.close()


def configure(server: ServerThread, **config: Any) -> None:
    requests.post(
        f"{server.url}/_sandbox/widget/config", params={"guid": GUID}, json=config, timeout=5
    ).raise_for_status()


def redeem(server: ServerThread, option: int = 1, email: str = EMAIL) -> requests.Response:
    return requests.post(
        f"{server.url}/_sandbox/widget/redeem",
        params={"guid": GUID},
        json={"customer_email": email, "redemption_option_id": option},
        timeout=30,
    )


def balance(engine: YotpoEngine) -> int:
    account = engine.state()["accounts"][GUID]
    return next(c for c in account["customers"] if c["email"] == EMAIL)["points_balance"]


def client(server: ServerThread) -> YotpoClient:
    return YotpoClient(guid=GUID, api_key=API_KEY, api_url=f"{server.url}/api/v2")


def test_widget_calls_the_create_coupons_url_with_the_secret_in_header_and_body(yotpo):
    _engine, server = yotpo
    merchant = Merchant()
    configure(server, create_url=f"{merchant.server.url}/create", secret=SECRET)
    answer = redeem(server)
    assert answer.status_code == 200, answer.text
    (call,) = merchant.received
    assert call["headers"]["X-Api-Secret"] == SECRET
    assert call["body"]["secret"] == SECRET
    assert call["body"]["coupon_code"] == answer.json()["coupon_code"]
    assert call["body"]["discount_amount_cents"] == 500
    assert call["body"]["currency"] == "EUR"
    assert call["body"]["customer_email"] == EMAIL
    owner = yotpo_code_owner(client(server), answer.json()["coupon_code"])
    assert owner is not None and owner.email_digest == email_digest(EMAIL)
    merchant.server.stop()


def test_a_refusing_merchant_gives_the_points_back(yotpo):
    engine, server = yotpo
    merchant = Merchant(status=401)
    configure(server, create_url=f"{merchant.server.url}/create", secret="wrong")
    before = balance(engine)
    answer = redeem(server)
    assert answer.status_code == 502 and answer.json()["status"] == 401
    assert balance(engine) == before
    merchant.server.stop()


def test_uploaded_codes_are_handed_out_and_known_to_the_lookup(yotpo):
    _engine, server = yotpo
    yotpo_client = client(server)
    upload_codes(yotpo_client, 4, ["SHOP-0001", "SHOP-0002"])
    first = redeem(server, option=4)
    assert first.status_code == 200 and first.json()["coupon_code"] == "SHOP-0001"
    owner = yotpo_code_owner(yotpo_client, "SHOP-0001")
    assert owner is not None and owner.customer_id == "c-ada"
    assert yotpo_code_owner(yotpo_client, "SHOP-0002") is None  # not handed out yet
    with pytest.raises(ValueError):
        upload_codes(yotpo_client, 4, [f"X{i}" for i in range(10_001)])


@pytest.fixture
def shop(yotpo) -> Iterator[dict[str, Any]]:
    """The commercetools stand-in and the service's coupon endpoints, served over HTTP."""
    state = StandInState(StandInConfig(project_key="sandbox"))
    ct_server = ServerThread(create_ct_app(state)).start()
    ct = CommercetoolsClient(
        project_key="sandbox",
        client_id="t",
        client_secret="t-secret",
        scope="manage_project:sandbox",
        api_url=ct_server.url,
        auth_url=ct_server.url,
    )
    settings = CouponSettings.model_validate(
        {
            "yotpo_coupon_secret": SECRET,
            "coupon_rewards": json.dumps({"1": {"kind": "fixed", "amount": {"EUR": 500}}}),
        }
    )
    service = create_base_app("service")
    register_coupons(service, settings, ct)
    service_server = ServerThread(service).start()
    engine, yotpo_server = yotpo
    configure(
        yotpo_server,
        create_url=f"{service_server.url}/yotpo/coupons",
        cancel_url=f"{service_server.url}/yotpo/coupons/cancel",
        secret=SECRET,
    )
    yield {"ct": ct, "engine": engine, "yotpo": yotpo_server}
    service_server.stop()
    ct_server.stop()
    state.close()


def test_redeemed_in_the_widget_used_at_checkout(shop):
    ct: CommercetoolsClient = shop["ct"]
    grace = "grace@example.com"
    customer = Storefront(ct).sign_up(grace, "Grace", "Hopper")
    engine: YotpoEngine = shop["engine"]
    engine.upsert_customer(GUID, {"id": customer["id"], "email": grace})
    engine.adjust_points(GUID, {"customer_email": grace, "point_adjustment_amount": 1000})
    answer = redeem(shop["yotpo"], email=grace)
    assert answer.status_code == 200, answer.text
    code = answer.json()["coupon_code"]
    again = ct.query("discount-codes", where=f'code = "{code}"')["results"]
    assert len(again) == 1 and again[0]["cartPredicate"] == f'customerId = "{customer["id"]}"'
    storefront = Storefront(ct)
    cart = storefront.cart([("SKU-BOOK", 2)], customer=customer)
    full = cart["totalPrice"]["centAmount"]
    cart = storefront.add_code(cart, code)
    assert full - cart["totalPrice"]["centAmount"] == 500
    # Someone else cannot use Ada's code.
    other = storefront.sign_up("eve@example.com", "Eve", "X")
    eve_cart = storefront.add_code(storefront.cart([("SKU-BOOK", 2)], customer=other), code)
    assert eve_cart["totalPrice"]["centAmount"] == full
    owners = code_owners(ct, None, [code])
    assert foreign_codes(owners, customer_id=other["id"], email="eve@example.com") == [code]
    assert foreign_codes(owners, customer_id=customer["id"], email=grace) == []
    # Yotpo retires the unused code: the cart no longer gets the discount.
    cancelled = requests.post(
        f"{shop['yotpo'].url}/_sandbox/widget/cancel",
        params={"guid": GUID},
        json={"coupon_codes": [code]},
        timeout=10,
    )
    assert cancelled.json()["answer"]["results"] == [{"coupon_code": code, "status": "cancelled"}]
