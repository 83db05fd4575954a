"""A customer's cancellation request (Yotpo's `swell/point_redemption/cancellation_request`)
completes: an unused code is disabled in commercetools and approved in Yotpo, so the points
come back; a code an order already used is left alone, logged and recorded for the audit.

Runs the receiver against both stand-ins (real HTTP), with the contract fixture's payload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.serving import ServerThread
from service.cancellations import CancellationRefusals, CancelledCodes
from service.webhooks import (
    CANCELLATION_REQUEST,
    WebhookAuth,
    YotpoWebhooks,
    register_webhook_route,
)
from shared.commercetools import CommercetoolsClient
from shared.domain.loyalty_fields import CartFields
from shared.errors import TransientError
from shared.runtime import build_runtime
from shared.settings import ConnectorSettings, load_settings
from shared.webapp import create_base_app
from tests.contracts.yotpo_fixtures import fixture
from tests.integration.world import GUID, World, start_world

TOKEN = "cancellation-test-token"


class Scene:
    def __init__(self, world: World) -> None:
        self.world = world
        self.ct: CommercetoolsClient = world.ct
        settings = load_settings(ConnectorSettings, world.env)
        self.runtime = build_runtime(settings)
        self.cancelled = CancelledCodes(self.ct)
        self.refusals = CancellationRefusals(self.ct)
        self.webhooks = YotpoWebhooks(
            self.cancelled,
            commercetools=self.ct,
            accounts=self.runtime.provider_account,
            refusals=self.refusals,
        )
        customer = world.storefront.sign_up("ria@example.com", "Ria", "Shopper")
        self.customer = customer
        engine = world.yotpo
        engine.upsert_customer(GUID, {"id": customer["id"], "email": customer["email"]})
        engine.adjust_points(GUID, {"customer_id": customer["id"], "point_adjustment_amount": 800})

    def redeem(self, **extra: Any) -> dict[str, Any]:
        """An immediate-deduction redemption: 500 of Ria's 800 points leave at once."""
        return self.world.yotpo.create_redemption(
            GUID, {"customer_id": self.customer["id"], "redemption_option_id": 1, **extra}
        )

    def balance(self) -> int:
        return self.world.yotpo_customer(self.customer["email"])["points_balance"]

    def request(self, redemption: dict[str, Any]) -> dict[str, Any]:
        """The contract fixture's payload, about this redemption and customer."""
        payload = fixture("webhook_cancellation_request")["payload"]
        payload["point_redemption_id"] = str(redemption["id"])
        payload["reward_text"] = redemption["reward_text"]
        payload["email"] = self.customer["email"]
        payload["customer"] = {
            **payload["customer"],
            "third_party_id": self.customer["id"],
            "email": self.customer["email"],
        }
        return payload

    def approvals(self) -> list[dict[str, Any]]:
        return [
            r
            for r in self.world.yotpo.requests_since(0)
            if r["path"].endswith("/cancellation_completed")
        ]

    def discount_code(self, code: str) -> dict[str, Any]:
        """A discount code as a Create Coupons URL endpoint makes it (one cart discount)."""
        discount = self.ct.create(
            "cart-discounts",
            {
                "name": {"en": "€5 loyalty reward"},
                "value": {
                    "type": "absolute",
                    "money": [{"currencyCode": "EUR", "centAmount": 500, "type": "centPrecision"}],
                },
                "cartPredicate": "1 = 1",
                "target": {"type": "totalPrice"},
                "sortOrder": "0.77",
                "requiresDiscountCode": True,
            },
        )
        return self.ct.create(
            "discount-codes",
            {"code": code, "cartDiscounts": [{"typeId": "cart-discount", "id": discount["id"]}]},
        )

    def loyalty_type(self) -> None:
        self.ct.create(
            "types",
            {
                "key": self.world.storefront.cart_type_key,
                "name": {"en": "Loyalty"},
                "resourceTypeIds": ["order"],
                "fieldDefinitions": [
                    {
                        "name": CartFields.REWARD_CODE,
                        "label": {"en": "Reward code"},
                        "required": False,
                        "type": {"name": "String"},
                        "inputHint": "SingleLine",
                    }
                ],
            },
        )

    def cart_with(self, code: str) -> dict[str, Any]:
        self.loyalty_type()
        return self.world.storefront.cart(
            [("SKU-MUG", 1)], customer=self.customer, fields={CartFields.REWARD_CODE: code}
        )


@pytest.fixture
def scene() -> Iterator[Scene]:
    world = start_world()
    try:
        yield Scene(world)
    finally:
        world.close()


def test_an_unused_discount_code_is_deactivated_and_the_points_come_back(scene):
    redemption = scene.redeem()
    code = scene.discount_code(redemption["reward_text"])
    assert scene.balance() == 300

    assert scene.webhooks.handle(scene.request(redemption)) == "approved"

    assert scene.ct.get_by_id("discount-codes", code["id"])["isActive"] is False
    assert scene.cancelled.contains(redemption["reward_text"])
    assert scene.balance() == 800
    (approval,) = scene.approvals()
    assert approval["json"] == {"reward_text": redemption["reward_text"]}


def test_a_reward_on_an_open_cart_is_stopped_for_the_extension_and_approved(scene):
    redemption = scene.redeem()
    scene.cart_with(redemption["reward_text"])

    assert scene.webhooks.handle(scene.request(redemption)) == "approved"

    # The extension drops a reward whose code is recorded as cancelled on the next update.
    assert scene.cancelled.contains(redemption["reward_text"])
    assert scene.balance() == 800


def test_a_code_an_order_used_is_left_logged_and_recorded_for_the_audit(scene):
    redemption = scene.redeem()
    order = scene.world.storefront.place_order(
        scene.cart_with(redemption["reward_text"]), order_number="R-1001"
    )

    assert scene.webhooks.handle(scene.request(redemption)) == "used_by_order"

    assert scene.approvals() == []
    assert scene.balance() == 300
    assert not scene.cancelled.contains(redemption["reward_text"])
    refusal = scene.refusals.get(redemption["reward_text"])
    assert refusal is not None
    assert (refusal["reason"], refusal["orderId"], refusal["orderNumber"]) == (
        "used_by_order",
        order["id"],
        "R-1001",
    )
    assert refusal["redemptionId"] == str(redemption["id"])
    assert refusal["customerId"] == scene.customer["id"]


def test_a_redelivered_request_gives_the_points_back_once(scene):
    redemption = scene.redeem()
    request = scene.request(redemption)

    assert scene.webhooks.handle(request) == "approved"
    assert scene.webhooks.handle(request) == "approved"

    assert scene.balance() == 800
    assert len(scene.approvals()) == 2


def test_yotpo_refusing_the_approval_is_recorded_not_retried(scene):
    redemption = scene.redeem(delay_points_deduction=True)
    # Yotpo saw an order use the code (commercetools did not: e.g. an in-store order).
    scene.world.yotpo.create_order(
        GUID,
        {
            "order_id": "POS-1",
            "customer_id": scene.customer["id"],
            "customer_email": scene.customer["email"],
            "total_amount_cents": 0,
            "currency_code": "EUR",
            "status": "paid",
            "coupon_code": redemption["reward_text"],
        },
    )

    assert scene.webhooks.handle(scene.request(redemption)) == "approval_refused"

    refusal = scene.refusals.get(redemption["reward_text"])
    assert refusal is not None and refusal["reason"] == "yotpo_refused:422"
    assert scene.balance() == 300


def test_yotpo_down_is_transient_and_the_redelivery_completes(scene):
    redemption = scene.redeem()
    scene.world.yotpo.set_faults({"error_next": 50, "error_status": 503})

    with pytest.raises(TransientError):
        scene.webhooks.handle(scene.request(redemption))
    assert scene.balance() == 300

    scene.world.yotpo.set_faults({})
    assert scene.webhooks.handle(scene.request(redemption)) == "approved"
    assert scene.balance() == 800


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"topic": CANCELLATION_REQUEST, "point_redemption_id": "1"}, "reward_text"),
        ({"topic": CANCELLATION_REQUEST, "reward_text": "LOY-1"}, "point_redemption_id"),
        (
            {"topic": CANCELLATION_REQUEST, "reward_text": {"x": 1}, "point_redemption_id": 1},
            "reward",
        ),
    ],
)
def test_a_request_without_its_code_or_id_is_refused(scene, body, problem):
    from service.webhooks import WebhookError

    with pytest.raises(WebhookError, match=problem):
        scene.webhooks.handle(body)
    assert scene.approvals() == []


def test_the_stand_in_delivers_the_request_and_the_loop_completes(scene):
    """Yotpo's side played by the stand-in: the customer asks, the webhook arrives at the
    receiver (URL token, no header), the receiver approves, the points are back."""
    app = create_base_app("service")
    register_webhook_route(app, scene.webhooks, WebhookAuth(secret=None, url_token=TOKEN))
    with ServerThread(app) as receiver:
        scene.world.yotpo.put_account(
            {
                "guid": GUID,
                "api_key": "sandbox-api-key",
                "program": {
                    "webhook_url": f"{receiver.url}/yotpo/webhooks?token={TOKEN}",
                    "webhook_secret": TOKEN,
                    "webhook_secret_header": None,
                },
            }
        )
        redemption = scene.redeem()
        admin = f"{scene.world.yotpo_server.url}/_sandbox/redemptions/{redemption['id']}"
        requests.post(f"{admin}/cancellation_request", timeout=5).raise_for_status()
        dispatcher = scene.world.yotpo.dispatcher
        assert dispatcher is not None and dispatcher.wait_idle(15)

    delivery = next(d for d in dispatcher.deliveries() if d["topic"] == CANCELLATION_REQUEST)
    assert delivery["delivered"] and delivery["status"] == 200
    assert scene.balance() == 800
