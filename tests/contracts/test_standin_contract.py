"""The Yotpo stand-in against the contract fixtures: it accepts every fixture request and
answers with the fixture's status and only documented fields of the fixture's types; the
webhooks it sends have the shapes of the fixture payloads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from sandbox.yotpo import DEFAULT_API_KEY, DEFAULT_GUID, Webhook, YotpoEngine, create_app, widget
from sandbox.yotpo.engine import AccountConfig, ProgramConfig, SandboxConfig
from tests.contracts.yotpo_fixtures import (
    endpoint_names,
    fixture,
    request_path,
    same_kind,
    webhook_names,
)

HEADERS = {"X-GUID": DEFAULT_GUID, "X-API-KEY": DEFAULT_API_KEY}
CUSTOMER_ID, EMAIL = "ct-cust-1", "jane@example.com"


class StandIn:
    def __init__(self, **program: Any) -> None:
        self.webhooks: list[Webhook] = []
        config = SandboxConfig(
            accounts=[
                AccountConfig(
                    guid=DEFAULT_GUID,
                    api_key=DEFAULT_API_KEY,
                    program=ProgramConfig(
                        webhook_url="http://127.0.0.1:9/hooks", rate_limit_per_second=0, **program
                    ),
                )
            ]
        )
        self.engine = YotpoEngine(config, webhook_sink=self.webhooks.append)
        # The code pair (`/redemption_codes`) is served by the widget extension.
        self.client: FlaskClient = create_app(self.engine, (widget.install,)).test_client()

    def send(self, f: dict[str, Any], path: str | None = None, body: Any = None) -> Any:
        request = f["request"]
        return self.client.open(
            "/api/v2" + (path or request_path(f)),
            method=f["method"],
            json=body if body is not None else request["body"],
            query_string=request["query"] or None,
            headers=HEADERS,
        )

    # --- scenes ----------------------------------------------------------------------------
    def member(self, points: int = 5000) -> None:
        self.engine.upsert_customer(DEFAULT_GUID, {"id": CUSTOMER_ID, "email": EMAIL})
        self.engine.adjust_points(
            DEFAULT_GUID, {"customer_id": CUSTOMER_ID, "point_adjustment_amount": points}
        )

    def order(self, order_id: str = "10042", cents: int = 12500) -> None:
        self.engine.create_order(
            DEFAULT_GUID,
            {
                "order_id": order_id,
                "customer_id": CUSTOMER_ID,
                "customer_email": EMAIL,
                "total_amount_cents": cents,
                "currency_code": "EUR",
                "status": "paid",
            },
        )


Scene = Callable[[StandIn, dict[str, Any]], tuple[str | None, Any]]


def _member(s: StandIn, f: dict[str, Any]) -> tuple[str | None, Any]:
    s.member()
    return None, None


def _nothing(s: StandIn, f: dict[str, Any]) -> tuple[str | None, Any]:
    return None, None


def _ordered(s: StandIn, f: dict[str, Any]) -> tuple[str | None, Any]:
    s.member()
    s.order()
    return None, None


def _redeemed(s: StandIn, f: dict[str, Any]) -> tuple[str | None, Any]:
    s.member()
    made = s.engine.create_redemption(
        DEFAULT_GUID, {"customer_id": CUSTOMER_ID, "redemption_option_id": 1}
    )
    path = request_path(f, point_redemption_id=made["id"])
    return path, {"reward_text": made["reward_text"]}


def _code_redeemed(s: StandIn, f: dict[str, Any]) -> tuple[str | None, Any]:
    s.member()
    made = s.engine.create_redemption(
        DEFAULT_GUID, {"customer_id": CUSTOMER_ID, "redemption_option_id": 1}
    )
    f["request"]["query"]["code"] = made["reward_text"]  # the fixture is this test's copy
    return None, None


def _custom_coupon_option(s: StandIn, f: dict[str, Any]) -> tuple[str | None, Any]:
    option = f["request"]["body"]["redemption_option_id"]
    options = {o["id"] for o in s.engine.redemption_options(DEFAULT_GUID, {})}
    assert option in options, "the fixture's option must exist in the stand-in's program"
    return None, None


SCENES: dict[str, Scene] = {
    "upsert_customer": _nothing,
    "get_customer": _member,
    "create_order": _member,
    "create_refund": _ordered,
    "redemption_options": _member,
    "redemption_options_offline": _nothing,
    "create_redemption": _member,
    "cancel_redemption": _redeemed,
    "vip_tiers": _nothing,
    "adjust_points": _member,
    "set_customer_birthday": _member,
    "redemption_codes": _code_redeemed,
    "upload_redemption_codes": _custom_coupon_option,
}


def test_every_endpoint_fixture_has_a_stand_in_scene():
    assert set(SCENES) == set(endpoint_names())


@pytest.mark.parametrize("amount_as_string", [False, True])
@pytest.mark.parametrize("name", endpoint_names())
def test_the_stand_in_answers_the_fixture_request_like_the_fixture(name, amount_as_string):
    f = fixture(name)
    stand_in = StandIn(silent={"amount_as_string": amount_as_string})
    path, body = SCENES[name](stand_in, f)

    response = stand_in.send(f, path, body)

    answer = f["response"]
    assert response.status_code == answer["status"], response.get_json()
    got = response.get_json()
    loose = frozenset(answer.get("loose", ()))
    if isinstance(answer["example"], list):
        assert isinstance(got, list) and got, "the scene should produce at least one item"
        for item in got:
            assert set(item) <= set(answer["item_documented"]), set(item) - set(
                answer["item_documented"]
            )
            assert set(answer["item_required"]) <= set(item)
            assert not set(answer.get("item_forbidden", ())) & set(item)
            assert same_kind(answer["example"][0], item, loose) == []
        return
    assert isinstance(got, dict)
    assert set(got) <= set(answer["documented"]), set(got) - set(answer["documented"])
    assert set(answer["required"]) <= set(got)
    assert not set(answer.get("forbidden", ())) & set(got)
    assert same_kind(answer["example"], got) == []
    for key, documented in answer.get("nested_documented", {}).items():
        if got.get(key) is not None:
            assert set(got[key]) <= set(documented)


def test_an_unknown_customer_is_the_fixtures_not_found_status():
    f = fixture("get_customer")
    assert StandIn().send(f).status_code == f["response"]["not_found_status"]


def test_the_offline_query_returns_in_store_options_only():
    f = fixture("redemption_options_offline")
    stand_in = StandIn()
    offline = {o["id"] for o in stand_in.send(f).get_json()}
    every = {o["id"] for o in stand_in.engine.redemption_options(DEFAULT_GUID, {})}
    assert offline == {4} and offline < every


# --- webhooks ------------------------------------------------------------------------------


def _points_changed(s: StandIn) -> None:
    s.member(150)


def _tier_earned(s: StandIn) -> None:
    s.member(0)
    s.order(cents=60000)


def _tier_lost(s: StandIn) -> None:
    _tier_earned(s)
    s.engine.create_refund(DEFAULT_GUID, {"order_id": "10042", "total_amount_cents": 30000})


def _cancellation_request(s: StandIn) -> None:
    s.member()
    made = s.engine.create_redemption(
        DEFAULT_GUID, {"customer_id": CUSTOMER_ID, "redemption_option_id": 1}
    )
    s.engine.request_cancellation(DEFAULT_GUID, made["id"])


TRIGGERS: dict[str, Callable[[StandIn], None]] = {
    "webhook_points_changed": _points_changed,
    "webhook_tier_earned": _tier_earned,
    "webhook_tier_lost": _tier_lost,
    "webhook_cancellation_request": _cancellation_request,
}
# Sent by Yotpo on its own schedule (tier maintenance); the stand-in does not play it.
NOT_PLAYED = {"webhook_tier_status_changed"}


def test_every_webhook_fixture_is_played_or_listed_as_not_played():
    assert set(TRIGGERS) | NOT_PLAYED == set(webhook_names())


@pytest.mark.parametrize("spelling", ["third_party_id", "thirty_party_id"])
@pytest.mark.parametrize("name", sorted(TRIGGERS))
def test_the_stand_in_sends_webhooks_shaped_like_the_fixture(name, spelling):
    f = fixture(name)
    stand_in = StandIn(points_changed_id_spelling=spelling)
    TRIGGERS[name](stand_in)

    sent = [w.payload for w in stand_in.webhooks if w.topic == f["topic"]]

    assert sent, f"no {f['topic']} webhook"
    for payload in sent:
        assert set(payload) <= set(f["documented"]), set(payload) - set(f["documented"])
        customer = payload["customer"]
        assert set(customer) <= set(f["customer_documented"])
        assert "id" not in customer
        assert customer.get("third_party_id", customer.get("thirty_party_id")) == CUSTOMER_ID
        assert same_kind(f["payload"], payload) == []
        for key in f.get("tier_fields", ()):
            if payload[key] is not None:
                assert set(payload[key]) <= set(f["tier_documented"])
                assert same_kind(f["payload"][key], payload[key]) == []
