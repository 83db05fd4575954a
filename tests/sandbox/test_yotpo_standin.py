"""The Yotpo stand-in: program arithmetic, redemptions, webhooks, faults and the admin API."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, jsonify, request
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.serving import ServerThread
from sandbox.yotpo import (
    DEFAULT_API_KEY,
    DEFAULT_GUID,
    SILENT_PROFILES,
    WEBHOOK_SECRET_HEADER,
    AccountConfig,
    ProgramConfig,
    SandboxConfig,
    Webhook,
    WebhookDispatcher,
    YotpoEngine,
    create_app,
    default_config,
)
from sandbox.yotpo.__main__ import load_config
from sandbox.yotpo.engine import earned_points
from sandbox.yotpo.webhooks import (
    TOPIC_POINTS_CHANGED,
    TOPIC_REDEMPTION_CANCELLATION,
    TOPIC_TIER_EARNED,
    TOPIC_TIER_LOST,
)

HEADERS = {"X-GUID": DEFAULT_GUID, "X-API-KEY": DEFAULT_API_KEY}
HOOK_URL = "http://127.0.0.1:9/hooks"  # never contacted: tests capture webhooks in-process
HOOK_SECRET = "hook-shared-secret"
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Harness:
    engine: YotpoEngine
    client: FlaskClient
    clock: list[float]
    moments: list[datetime]
    sleeps: list[float] = field(default_factory=list)
    webhooks: list[Webhook] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Any:
        return self.client.open(
            f"/api/v2{path}",
            method=method,
            json=body,
            query_string=params or None,
            headers=HEADERS if headers is None else headers,
        )

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        response = self.call(method, path, body, **params)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def customer(self, **params: str) -> dict[str, Any]:
        return self.ok("GET", "/customers", **params)

    def order(self, order_id: str, cents: int, currency: str = "EUR", **extra: Any) -> Any:
        body = {
            "order_id": order_id,
            "customer_email": "jane@example.com",
            "customer_id": "ct-jane",
            "total_amount_cents": cents,
            "currency_code": currency,
            "status": "paid",
            **extra,
        }
        return self.call("POST", "/orders", body)

    def account(self) -> dict[str, Any]:
        return self.engine.state()["accounts"][DEFAULT_GUID]

    def order_record(self, order_id: str) -> dict[str, Any]:
        """The stand-in's latest record of an order (Create Order answers no body)."""
        return [o for o in self.account()["orders"] if o["order_id"] == order_id][-1]

    def refunds(self) -> list[dict[str, Any]]:
        return self.account()["refunds"]

    def topics(self) -> list[str]:
        return [w.topic for w in self.webhooks]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.open(f"/_sandbox{path}", method=method, json=body)


def _config(**program: Any) -> SandboxConfig:
    config = default_config()
    account = config.accounts[0]
    merged = {
        **account.program.model_dump(),
        "webhook_url": HOOK_URL,
        "webhook_secret": HOOK_SECRET,
        "rate_limit_per_second": 0,
        **program,
    }
    return SandboxConfig(
        accounts=[AccountConfig(guid=account.guid, api_key=account.api_key, program=merged)]
    )


@pytest.fixture
def make() -> Callable[..., Harness]:
    def build(**program: Any) -> Harness:
        clock = [1000.0]
        moments = [START]
        harness_webhooks: list[Webhook] = []
        sleeps: list[float] = []
        engine = YotpoEngine(
            _config(**program),
            clock=lambda: clock[0],
            now=lambda: moments[0],
            sleep=sleeps.append,
            webhook_sink=harness_webhooks.append,
        )
        return Harness(
            engine=engine,
            client=create_app(engine).test_client(),
            clock=clock,
            moments=moments,
            sleeps=sleeps,
            webhooks=harness_webhooks,
        )

    return build


@pytest.fixture
def h(make: Callable[..., Harness]) -> Harness:
    return make()


# --- auth ----------------------------------------------------------------------------------


def test_requests_without_valid_credentials_get_401(h: Harness) -> None:
    for headers in (
        {},
        {"X-GUID": DEFAULT_GUID, "X-API-KEY": "wrong"},
        {"X-GUID": "unknown", "X-API-KEY": DEFAULT_API_KEY},
    ):
        response = h.call("GET", "/vip_tiers", headers=headers)
        assert response.status_code == 401
        assert "error" in response.get_json()
    by_query = h.call("GET", "/vip_tiers", headers={}, guid=DEFAULT_GUID, api_key=DEFAULT_API_KEY)
    assert by_query.status_code == 200
    assert [t["name"] for t in by_query.get_json()] == ["Bronze", "Silver", "Gold"]


def test_each_account_has_its_own_program_and_data(h: Harness) -> None:
    other = {
        "guid": "store-b",
        "api_key": "key-b",
        "program": {"points_per_unit": "5", "rate_limit_per_second": 0},
    }
    assert h.admin("POST", "/accounts", other).status_code == 200
    assert h.order("A-1", 1000).status_code == 200
    b_headers = {"X-GUID": "store-b", "X-API-KEY": "key-b"}
    body = {
        "order_id": "B-1",
        "customer_email": "jane@example.com",
        "total_amount_cents": 1000,
        "currency_code": "EUR",
        "status": "paid",
    }
    assert h.call("POST", "/orders", body, headers=b_headers).status_code == 200
    assert h.customer(customer_email="jane@example.com")["points_balance"] == 10
    b_view = h.call("GET", "/customers", headers=b_headers, customer_email="jane@example.com")
    assert b_view.get_json()["points_balance"] == 50
    assert (
        h.call("GET", "/vip_tiers", headers={"X-GUID": "store-b", "X-API-KEY": "x"}).status_code
        == 401
    )


# --- customers -----------------------------------------------------------------------------


def test_upsert_by_id_keeps_the_member_when_the_email_changes(h: Harness) -> None:
    first = h.ok(
        "POST",
        "/customers",
        {"id": "ct-1", "email": "Old@Example.com", "first_name": "Jo", "phone_number": "+3312"},
    )
    assert first["email"] == "old@example.com"
    assert (
        h.order("O-1", 5000, customer_id="ct-1", customer_email="old@example.com").status_code
        == 200
    )
    h.ok("POST", "/customers", {"id": "ct-1", "email": "new@example.com"})

    by_id = h.customer(customer_id="ct-1")
    assert by_id["email"] == "new@example.com"
    assert by_id["first_name"] == "Jo"
    assert by_id["points_balance"] == 50
    assert h.customer(customer_email="NEW@example.com")["third_party_id"] == "ct-1"
    assert h.customer(phone_number="+3312")["third_party_id"] == "ct-1"
    assert h.call("GET", "/customers", customer_email="old@example.com").status_code == 404
    assert len(h.engine.state()["accounts"][DEFAULT_GUID]["customers"]) == 1


def test_upsert_attaches_an_id_to_a_guest_member_and_refuses_a_taken_email(h: Harness) -> None:
    assert (
        h.order("G-1", 1000, customer_id=None, customer_email="guest@example.com").status_code
        == 200
    )
    h.ok("POST", "/customers", {"id": "ct-guest", "email": "guest@example.com"})
    assert h.customer(customer_id="ct-guest")["points_balance"] == 10
    clash = h.call("POST", "/customers", {"id": "ct-other", "email": "guest@example.com"})
    assert clash.status_code == 422


def test_customer_lookup_needs_exactly_one_identifier(h: Harness) -> None:
    h.ok("POST", "/customers", {"id": "ct-1", "email": "a@example.com"})
    assert h.call("GET", "/customers").status_code == 400
    both = h.call("GET", "/customers", customer_id="ct-1", customer_email="a@example.com")
    assert both.status_code == 400
    missing = h.call("GET", "/customers", customer_id="nobody")
    assert missing.status_code == 404
    assert "error" in missing.get_json()
    plain = h.customer(customer_id="ct-1")
    assert "referral_code" not in plain
    assert "history_items" not in plain
    # Real answers name the connector's id `third_party_id` and carry no `id` or `history`.
    assert plain["third_party_id"] == "ct-1" and "id" not in plain and "history" not in plain
    full = h.customer(customer_id="ct-1", with_referral_code="true", with_history="true")
    assert full["referral_code"]["code"]
    assert full["history_items"] == []


def test_customer_upsert_needs_an_email(h: Harness) -> None:
    assert h.call("POST", "/customers", {"id": "ct-1"}).status_code == 422
    assert h.call("POST", "/customers", {"id": "ct-1", "email": "not-an-email"}).status_code == 422


# --- earning -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "cents", "points_per_unit", "expected"),
    [
        ("EUR", 12345, "1", 123),  # 123.45 EUR
        ("EUR", 99, "1", 0),
        ("JPY", 1999, "1", 1999),  # JPY has no minor unit
        ("KWD", 12345, "1", 12),  # 12.345 KWD
        ("KWD", 12345, "10", 123),
        ("EUR", 12345, "0.5", 61),
    ],
)
def test_points_follow_the_currency_fraction_digits(
    make: Callable[..., Harness], currency: str, cents: int, points_per_unit: str, expected: int
) -> None:
    h = make(points_per_unit=points_per_unit)
    answer = h.order("O-1", cents, currency)
    assert answer.status_code == 200 and answer.get_json() == {}  # no documented body
    assert h.order_record("O-1")["points_earned"] == expected
    assert h.customer(customer_id="ct-jane")["points_balance"] == expected


def test_earned_points_is_exact_integer_arithmetic() -> None:
    assert earned_points(10**20 + 99, 2, 1) == 10**18
    assert earned_points(333, 3, 3) == 0
    assert earned_points(1000, 0, 1, multiplier=2) == 2000


def test_spend_in_another_currency_is_converted_to_the_base_currency(h: Harness) -> None:
    h.order("O-1", 10000, "JPY")  # 10000 JPY * 0.0062 = 62.00 EUR
    customer = h.customer(customer_id="ct-jane")
    assert customer["total_spend_cents"] == 6200
    assert customer["points_balance"] == 10000


def test_unknown_currency_and_missing_fields_are_422(h: Harness) -> None:
    assert h.order("O-1", 1000, "GBP").status_code == 422
    for missing in ("order_id", "customer_email", "total_amount_cents", "currency_code"):
        body = {
            "order_id": "O-2",
            "customer_email": "a@example.com",
            "total_amount_cents": 100,
            "currency_code": "EUR",
        }
        del body[missing]
        response = h.call("POST", "/orders", body)
        assert response.status_code == 422
        assert missing in response.get_json()["error"]
    assert h.order("O-3", -5).status_code == 422


def test_only_orders_whose_status_matches_the_regex_earn(make: Callable[..., Harness]) -> None:
    h = make()
    h.order("O-1", 10000, status="pending")
    customer = h.customer(customer_id="ct-jane")
    assert (customer["points_balance"], customer["total_spend_cents"]) == (0, 0)
    assert customer["total_purchases"] == 0
    h.order("O-2", 10000, status="completed")
    assert h.customer(customer_id="ct-jane")["points_balance"] == 100

    custom = make(earn_status_regex="^shipped$")
    custom.order("O-1", 10000, status="paid")
    custom.order("O-2", 5000, status="shipped")
    assert custom.customer(customer_id="ct-jane")["points_balance"] == 50


@pytest.mark.parametrize(
    ("mode", "status", "balance", "purchases"),
    [("process", 200, 100, 1), ("ignore", 200, 0, 0), ("reject", 422, 0, 0)],
)
def test_a_repeated_order_id_is_answered_as_configured_and_always_counted(
    make: Callable[..., Harness], mode: str, status: int, balance: int, purchases: int
) -> None:
    """The loyalty reference does not say what a repeated order_id does: each answer can be
    played (SilentCases), and the repeat is counted whatever the answer."""
    h = make(silent={"duplicate_order_id": mode})
    h.order("O-1", 10000)
    assert h.order("O-1", 10000).status_code == status
    customer = h.customer(customer_id="ct-jane")
    assert customer["points_balance"] == 100 + balance
    assert customer["total_purchases"] == 1 + purchases
    assert h.engine.state()["duplicates"]["orders"] == {"O-1": 1}


def test_a_repeated_refund_id_can_be_processed_again(make: Callable[..., Harness]) -> None:
    h = make(silent={"duplicate_refund_id": "process"})
    h.order("O-1", 10000)
    body = {"order_id": "O-1", "total_amount_cents": 2500, "id": "R-1"}
    h.ok("POST", "/refunds", body)
    h.ok("POST", "/refunds", body)
    assert h.customer(customer_id="ct-jane")["points_balance"] == 50
    assert h.engine.state()["duplicates"]["refunds"] == {"R-1": 1}


def test_orders_without_ip_and_user_agent_can_be_refused(make: Callable[..., Harness]) -> None:
    """Create Order lists ip_address and user_agent as required and documents ignore_ip_ua
    (https://loyaltyapi.yotpo.com/reference/create-order); whether Yotpo refuses an order
    without them is not documented, so the stand-in plays both."""
    lenient = make()
    assert lenient.order("O-1", 1000).status_code == 200
    strict = make(silent={"missing_ip_ua": "reject"})
    refused = strict.order("O-1", 1000, user_agent="Mozilla/5.0")
    assert refused.status_code == 422 and "ip_address" in refused.get_json()["error"]
    assert strict.order("O-2", 1000, ip_address="203.0.113.7", user_agent="UA").status_code == 200
    assert strict.order("O-3", 1000, ignore_ip_ua=True).status_code == 200
    assert [o["order_id"] for o in strict.account()["orders"]] == ["O-2", "O-3"]


def test_the_silent_profiles_are_valid_programs() -> None:
    for profile in SILENT_PROFILES.values():
        assert ProgramConfig(silent=profile).silent.model_dump() == profile


# --- tiers and refunds ---------------------------------------------------------------------


def test_tier_upgrades_with_spend_and_drops_after_a_refund(h: Harness) -> None:
    h.ok("POST", "/customers", {"id": "ct-jane", "email": "jane@example.com"})
    bronze = h.customer(customer_id="ct-jane")
    assert bronze["vip_tier_name"] == "Bronze"
    assert bronze["vip_tier_upgrade_requirements"]["amount_cents_needed"] == 20000

    h.moments[0] = START + timedelta(days=10)
    h.order("O-1", 60000)
    gold = h.customer(customer_id="ct-jane")
    assert gold["vip_tier_name"] == "Gold"
    assert gold["vip_tier_ends_at"] == "2026-03-11T12:00:00Z"
    assert gold["vip_tier_upgrade_requirements"] is None
    earned = [w.payload for w in h.webhooks if w.topic == TOPIC_TIER_EARNED]
    # Tier objects, as GET /vip_tiers lists them (the vip-tier-earned page's example).
    assert [(p["new_tier"]["name"], p["old_tier"]["name"]) for p in earned] == [("Gold", "Bronze")]
    assert earned[0]["new_tier"] == h.ok("GET", "/vip_tiers")[2]

    h.ok("POST", "/refunds", {"order_id": "O-1", "total_amount_cents": 20000, "id": "R-1"})
    silver = h.customer(customer_id="ct-jane")
    assert (silver["vip_tier_name"], silver["total_spend_cents"]) == ("Silver", 40000)
    assert silver["points_balance"] == 400
    lost = [w.payload for w in h.webhooks if w.topic == TOPIC_TIER_LOST]
    assert [(p["new_tier"]["name"], p["old_tier"]["name"]) for p in lost] == [("Silver", "Gold")]
    assert lost[0]["email"] == "jane@example.com"


def test_two_partial_refunds_reverse_exactly_what_the_order_earned(h: Harness) -> None:
    h.order("O-1", 10001)  # 100 points
    first = h.ok(
        "POST", "/refunds", {"order_id": "O-1", "total_amount_cents": 3333, "currency": "EUR"}
    )
    assert first == {}  # asynchronous: 200 acknowledges receipt, nothing more
    h.ok("POST", "/refunds", {"order_id": "O-1", "total_amount_cents": 6668})
    assert [r["points_reversed"] for r in h.refunds()] == [33, 67]  # floor(100 * 3333 / 10001)
    customer = h.customer(customer_id="ct-jane")
    assert (customer["points_balance"], customer["points_earned"]) == (0, 0)
    assert (customer["total_spend_cents"], customer["total_purchases"]) == (0, 0)
    h.ok("POST", "/refunds", {"order_id": "O-1", "total_amount_cents": 1})  # still 200
    assert [r["reason"] for r in h.account()["refunds_failed"]] == [
        "refunds (10002) would exceed the order total (10001)"
    ]


def test_refunds_may_not_exceed_the_order_total(h: Harness) -> None:
    h.order("O-1", 1000)
    h.ok("POST", "/refunds", {"order_id": "O-1", "total_amount_cents": 600})
    h.ok(
        "POST", "/refunds", {"order_id": "O-1", "total_amount_cents": 500}
    )  # accepted, not applied
    assert h.customer(customer_id="ct-jane")["points_balance"] == 4
    assert len(h.refunds()) == 1 and len(h.account()["refunds_failed"]) == 1


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(min_value=1, max_value=10**7),
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
    cuts=st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=6),
)
def test_refunds_never_reverse_more_than_the_order_earned(
    total: int, currency: str, cuts: list[int]
) -> None:
    engine = YotpoEngine(_config(webhook_url=None), webhook_sink=lambda _: None)
    order = {
        "order_id": "P-1",
        "customer_email": "p@example.com",
        "total_amount_cents": total,
        "currency_code": currency,
        "status": "paid",
    }
    engine.create_order(DEFAULT_GUID, order)
    account = engine.state()["accounts"][DEFAULT_GUID]
    earned = account["orders"][0]["points_earned"]
    refunded = 0
    for cut in cuts:
        amount = min(cut, total - refunded)
        if amount == 0:
            break
        engine.create_refund(DEFAULT_GUID, {"order_id": "P-1", "total_amount_cents": amount})
        refunded += amount
        reversed_points = sum(
            r["points_reversed"] for r in engine.state()["accounts"][DEFAULT_GUID]["refunds"]
        )
        assert 0 <= reversed_points <= earned
    # Settle the remainder: a fully refunded order has given back exactly what it earned.
    if refunded < total:
        engine.create_refund(
            DEFAULT_GUID, {"order_id": "P-1", "total_amount_cents": total - refunded}
        )
    refunds = engine.state()["accounts"][DEFAULT_GUID]["refunds"]
    assert sum(r["points_reversed"] for r in refunds) == earned
    customer = engine.get_customer(DEFAULT_GUID, {"customer_email": "p@example.com"})
    assert (customer["points_balance"], customer["total_spend_cents"]) == (0, 0)


def test_refunds_are_acknowledged_and_processed_later(h: Harness) -> None:
    """https://loyaltyapi.yotpo.com/reference/create-refund: "Requests are processed
    asynchronously. A HTTP 200 success response acknowledges the receipt of the request." """
    h.order("O-1", 1000)
    assert h.ok("POST", "/refunds", {"order_id": "nope", "total_amount_cents": 1}) == {}
    wrong_currency = {"order_id": "O-1", "total_amount_cents": 100, "currency": "USD"}
    assert h.ok("POST", "/refunds", wrong_currency) == {}
    assert h.refunds() == []
    assert [r["reason"] for r in h.account()["refunds_failed"]] == [
        "order nope not found",
        "refund currency USD differs from order EUR",
    ]
    assert h.customer(customer_id="ct-jane")["points_balance"] == 10
    # A body missing a required field is refused at once.
    assert h.call("POST", "/refunds", {"order_id": "O-1"}).status_code == 422


def test_a_refund_id_seen_before_is_ignored_and_counted(h: Harness) -> None:
    h.order("O-1", 10000)
    body = {"order_id": "O-1", "total_amount_cents": 2500, "id": "R-1"}
    h.ok("POST", "/refunds", body)
    assert h.ok("POST", "/refunds", body) == {}
    assert h.customer(customer_id="ct-jane")["points_balance"] == 75
    assert h.engine.state()["duplicates"]["refunds"] == {"R-1": 1}
    # Without an id nothing identifies a repeat: it is a new refund.
    h.ok("POST", "/refunds", {"order_id": "O-1", "total_amount_cents": 2500})
    h.ok("POST", "/refunds", {"order_id": "O-1", "total_amount_cents": 2500})
    assert h.customer(customer_id="ct-jane")["points_balance"] == 25


# --- points --------------------------------------------------------------------------------


def test_points_adjustments(h: Harness) -> None:
    h.order("O-1", 10000)
    h.ok(
        "POST",
        "/points/adjust",
        {"customer_id": "ct-jane", "point_adjustment_amount": 50, "history_title": "Welcome"},
    )
    after = h.customer(customer_id="ct-jane", with_history="true")
    assert (after["points_balance"], after["points_earned"]) == (150, 100)
    assert after["history_items"][-1]["action"] == "Welcome"
    h.ok(
        "POST",
        "/points/adjust",
        {
            "customer_email": "jane@example.com",
            "point_adjustment_amount": -30,
            "apply_adjustment_to_points_earned": True,
        },
    )
    after = h.customer(customer_id="ct-jane")
    assert (after["points_balance"], after["points_earned"]) == (120, 70)
    too_much = {"customer_id": "ct-jane", "point_adjustment_amount": -121}
    assert h.call("POST", "/points/adjust", too_much).status_code == 422
    unknown = {"customer_id": "nobody", "point_adjustment_amount": 1}
    assert h.call("POST", "/points/adjust", unknown).status_code == 404
    changed = [w.payload for w in h.webhooks if w.topic == TOPIC_POINTS_CHANGED]
    assert [(p["previous_balance"], p["current_balance"], p["difference"]) for p in changed] == [
        (0, 100, 100),
        (100, 150, 50),
        (150, 120, -30),
    ]
    assert all(w.secret == HOOK_SECRET and w.url == HOOK_URL for w in h.webhooks)


# --- redemptions ---------------------------------------------------------------------------


def _redeem(h: Harness, option_id: int, **extra: Any) -> Any:
    return h.call(
        "POST",
        "/redemptions",
        {"redemption_option_id": option_id, "customer_id": "ct-jane", **extra},
    )


def test_redemption_options_shape_and_customer_filter(h: Harness) -> None:
    options = h.ok("GET", "/redemption_options")
    assert [o["id"] for o in options] == [1, 2, 3, 4]
    percent = options[1]
    assert (percent["discount_percentage"], percent["cart_greater_than"]) == (10, 5000)
    # Offline is a query, not a field; options carry no currency either.
    assert all("is_offline" not in o and "currency" not in o for o in options)
    assert [o["id"] for o in h.ok("GET", "/redemption_options", is_offline="true")] == [4]
    # Pay with points: the per-point rate, no per-step amount.
    variable = options[2]
    assert (variable["discount_rate_cents"], variable["discount_amount_cents"]) == (1, None)
    h.order("O-1", 60000)  # 600 points
    affordable = h.ok("GET", "/redemption_options", customer_id="ct-jane")
    assert [o["id"] for o in affordable] == [1, 3]
    assert h.call("GET", "/redemption_options", customer_id="nobody").status_code == 404


def test_option_amount_can_be_played_as_the_string_the_reference_types(
    make: Callable[..., Harness],
) -> None:
    h = make(silent={"amount_as_string": True})
    assert [o["amount"] for o in h.ok("GET", "/redemption_options")] == ["500", "1000", "1", "1000"]


def test_a_variable_option_without_a_rate_plays_yotpo_leaving_it_out(
    make: Callable[..., Harness],
) -> None:
    rateless = {
        "id": 7,
        "name": "Points off",
        "amount": 1,
        "discount_type": "generic_variable",
    }
    h = make(redemption_options=[rateless])
    (option,) = h.ok("GET", "/redemption_options")
    assert option["discount_rate_cents"] is None and option["discount_amount_cents"] is None


def test_redemptions_that_cannot_be_afforded_or_do_not_exist_are_422(h: Harness) -> None:
    h.order("O-1", 40000)  # 400 points
    assert _redeem(h, 1).status_code == 422
    assert _redeem(h, 99).status_code == 422
    assert _redeem(h, 3).status_code == 422  # variable option needs points_to_redeem
    assert _redeem(h, 3, points_to_redeem=401).status_code == 422
    assert h.customer(customer_id="ct-jane")["points_balance"] == 400


def test_an_immediate_redemption_deducts_at_once(h: Harness) -> None:
    h.order("O-1", 60000)
    body = _redeem(h, 1).get_json()
    # The documented answer, nothing more.
    assert set(body) == {"id", "reward_text", "approved", "approved_at", "created_at", "updated_at"}
    assert body["approved"] is True and body["reward_text"]
    assert h.customer(customer_id="ct-jane")["points_balance"] == 100
    second = _redeem(h, 3, points_to_redeem=100, currency="JPY").get_json()
    assert second["reward_text"] != body["reward_text"]
    assert h.customer(customer_id="ct-jane")["points_balance"] == 0


def test_a_delayed_redemption_deducts_on_the_order_that_carries_its_code(h: Harness) -> None:
    h.order("O-1", 60000)
    redemption = _redeem(h, 1, delay_points_deduction=True).get_json()
    assert h.customer(customer_id="ct-jane")["points_balance"] == 600
    h.order("O-2", 1000, coupon_code=redemption["reward_text"])
    assert h.customer(customer_id="ct-jane")["points_balance"] == 600 + 10 - 500
    h.order("O-3", 1000, coupon_code=redemption["reward_text"])  # used: takes nothing more
    assert h.customer(customer_id="ct-jane")["points_balance"] == 120
    state = h.account()["redemptions"]
    assert (state[0]["status"], state[0]["used_by_order_id"]) == ("used", "O-2")


def test_coupon_code_is_a_comma_separated_list(h: Harness) -> None:
    h.order("O-1", 150000)  # 1500 points
    first = _redeem(h, 1, delay_points_deduction=True).get_json()
    h.order("O-2", 0, coupon_code=f"WELCOME10, {first['reward_text']}")
    assert h.account()["redemptions"][0]["status"] == "used"
    assert h.customer(customer_id="ct-jane")["points_balance"] == 1000


def test_redeeming_again_cancels_the_unconsumed_delayed_reward(h: Harness) -> None:
    """Yotpo's POS guide: with delayed deduction a customer's unconsumed reward is cancelled
    when the same customer redeems again; no webhook (that topic is the customer's request)."""
    h.order("O-1", 60000)  # 600 points
    first = _redeem(h, 1, delay_points_deduction=True).get_json()
    h.webhooks.clear()
    second = _redeem(h, 1, delay_points_deduction=True).get_json()
    assert h.topics() == []
    assert [r["status"] for r in h.account()["redemptions"]] == ["cancelled", "active"]

    h.order("O-2", 0, coupon_code=first["reward_text"])  # the cancelled code takes nothing
    assert h.customer(customer_id="ct-jane")["points_balance"] == 600
    h.order("O-3", 0, coupon_code=second["reward_text"])
    assert h.customer(customer_id="ct-jane")["points_balance"] == 100


def test_another_customers_redemption_cancels_nothing(h: Harness) -> None:
    h.order("O-1", 60000)
    h.order("O-9", 60000, customer_id="ct-joe", customer_email="joe@example.com")
    _redeem(h, 1, delay_points_deduction=True)
    _redeem(h, 1, delay_points_deduction=True, customer_id="ct-joe")
    assert [r["status"] for r in h.account()["redemptions"]] == ["active", "active"]


def test_approving_a_cancellation_gives_the_points_back_once(h: Harness) -> None:
    h.order("O-1", 60000)
    immediate = _redeem(h, 1).get_json()
    path = f"/redemptions/{immediate['id']}/cancellation_completed"
    assert h.call("POST", path, {}).status_code == 422  # reward_text is required
    assert h.call("POST", path, {"reward_text": "LOY-OTHER"}).status_code == 422
    assert h.ok("POST", path, {"reward_text": immediate["reward_text"]}) == {}
    assert h.customer(customer_id="ct-jane")["points_balance"] == 600
    h.ok("POST", path, {"reward_text": immediate["reward_text"]})  # again: no second refund
    assert h.customer(customer_id="ct-jane")["points_balance"] == 600
    used = _redeem(h, 1).get_json()
    h.order("O-2", 0, coupon_code=used["reward_text"])
    used_path = f"/redemptions/{used['id']}/cancellation_completed"
    assert h.call("POST", used_path, {"reward_text": used["reward_text"]}).status_code == 422
    missing = h.call("POST", "/redemptions/999/cancellation_completed", {"reward_text": "X"})
    assert missing.status_code == 404
    # The old invented path is gone.
    assert h.call("POST", f"/redemptions/{used['id']}/cancel").status_code == 404


def test_a_merchant_initiated_approval_can_be_refused(make: Callable[..., Harness]) -> None:
    """Approve Redemption Cancellation approves a customer's request; whether Yotpo also takes
    it for a reversal nobody asked for is not documented, so both answers can be played."""
    h = make(silent={"approval_without_request": "reject"})
    h.order("O-1", 60000)
    redemption = _redeem(h, 1).get_json()
    path = f"/redemptions/{redemption['id']}/cancellation_completed"
    body = {"reward_text": redemption["reward_text"]}
    assert h.call("POST", path, body).status_code == 422
    assert h.customer(customer_id="ct-jane")["points_balance"] == 100
    h.admin("POST", f"/redemptions/{redemption['id']}/cancellation_request")
    assert h.ok("POST", path, body) == {}
    assert h.customer(customer_id="ct-jane")["points_balance"] == 600


def test_a_customers_cancellation_request_waits_for_the_merchants_approval(h: Harness) -> None:
    h.order("O-1", 60000)
    redemption = _redeem(h, 1).get_json()
    h.webhooks.clear()
    asked = h.admin("POST", f"/redemptions/{redemption['id']}/cancellation_request")
    assert asked.status_code == 200
    (hook,) = h.webhooks
    assert hook.topic == TOPIC_REDEMPTION_CANCELLATION
    assert hook.payload["point_redemption_id"] == str(redemption["id"])
    assert hook.payload["reward_text"] == redemption["reward_text"]
    assert hook.payload["customer"]["third_party_id"] == "ct-jane"
    assert "id" not in hook.payload["customer"]
    # Points come back only once the merchant approves.
    assert h.customer(customer_id="ct-jane")["points_balance"] == 100
    h.ok(
        "POST",
        f"/redemptions/{redemption['id']}/cancellation_completed",
        {"reward_text": redemption["reward_text"]},
    )
    assert h.customer(customer_id="ct-jane")["points_balance"] == 600


def test_concurrent_orders_are_all_counted(h: Harness) -> None:
    def place(worker: int) -> None:
        for n in range(25):
            assert h.order(f"W{worker}-{n}", 100).status_code == 200

    threads = [threading.Thread(target=place, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    customer = h.customer(customer_id="ct-jane")
    assert (customer["total_purchases"], customer["points_balance"]) == (200, 200)
    assert h.engine.state()["duplicates"]["orders"] == {}


# --- faults and rate limits ----------------------------------------------------------------


def test_error_next_fails_exactly_the_next_requests_on_a_path(h: Harness) -> None:
    faults = {"error_next": 2, "error_status": 502, "path_prefix": "/orders"}
    assert h.admin("POST", "/faults", faults).status_code == 200
    assert h.call("GET", "/vip_tiers").status_code == 200
    assert [h.order(f"O-{i}", 100).status_code for i in range(3)] == [502, 502, 200]
    assert h.admin("GET", "/faults").get_json()["global"]["remaining"]["error_next"] == 0
    assert h.customer(customer_id="ct-jane")["total_purchases"] == 1


def test_error_rate_is_deterministic_for_a_seed(make: Callable[..., Harness]) -> None:
    def run() -> list[int]:
        h = make()
        h.admin("POST", "/faults", {"error_rate": 0.5, "seed": 7, "account": DEFAULT_GUID})
        return [h.call("GET", "/vip_tiers").status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert {503, 200} == set(first)


def test_injected_429_carries_reset_headers(h: Harness) -> None:
    h.admin("POST", "/faults", {"rate_limited_next": 1, "retry_after_seconds": 3})
    limited = h.call("GET", "/vip_tiers")
    assert limited.status_code == 429
    assert limited.headers["ratelimit-reset"] == "3"
    # Yotpo documents ratelimit-* headers and no Retry-After (guidelines-and-conventions).
    assert "Retry-After" not in limited.headers
    assert limited.headers["ratelimit-remaining"] == "0"
    assert h.call("GET", "/vip_tiers").status_code == 200


def test_latency_is_served_through_the_injected_sleep(h: Harness) -> None:
    h.admin("POST", "/faults", {"latency_ms": 250, "account": DEFAULT_GUID})
    response = h.call("GET", "/vip_tiers")
    assert response.status_code == 200
    assert response.headers["X-Sandbox-Latency-Ms"] == "250"
    assert h.sleeps == [0.25]


def test_a_hanging_request_is_released_when_the_sandbox_stops(h: Harness) -> None:
    h.admin("POST", "/faults", {"hang_next": 1, "hang_seconds": 30})
    results: list[int] = []
    worker = threading.Thread(
        target=lambda: results.append(h.call("GET", "/vip_tiers").status_code)
    )
    worker.start()
    # Keep releasing until the request has been let go: it may not be waiting yet.
    while worker.is_alive():
        h.engine.release_hangs()
        worker.join(timeout=0.01)
    assert results == [503]
    assert h.call("GET", "/vip_tiers").status_code == 200


def test_rate_limit_per_account_uses_the_injected_clock(make: Callable[..., Harness]) -> None:
    h = make(rate_limit_per_second=3)
    remaining = [h.call("GET", "/vip_tiers").headers["ratelimit-remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    h.clock[0] += 0.4
    limited = h.call("GET", "/vip_tiers")
    assert limited.status_code == 429
    assert limited.headers["ratelimit-limit"] == "3"
    assert limited.headers["ratelimit-reset"] == "1"
    assert "error" in limited.get_json()
    h.clock[0] += 0.6
    assert h.call("GET", "/vip_tiers").status_code == 200


# --- admin API -----------------------------------------------------------------------------


def test_the_request_log_keeps_bodies_and_correlation_ids(h: Harness) -> None:
    h.call(
        "POST",
        "/customers",
        {"id": "ct-1", "email": "a@example.com"},
        headers={**HEADERS, "X-Correlation-ID": "corr-123"},
    )
    h.call(
        "GET",
        "/customers",
        headers={},
        guid=DEFAULT_GUID,
        api_key=DEFAULT_API_KEY,
        customer_id="ct-1",
    )
    log = h.admin("GET", "/requests").get_json()
    first, second = log["requests"]
    assert (first["seq"], first["method"], first["path"]) == (1, "POST", "/api/v2/customers")
    assert first["json"] == {"id": "ct-1", "email": "a@example.com"}
    assert (first["correlation_id"], first["guid"], first["status"]) == (
        "corr-123",
        DEFAULT_GUID,
        200,
    )
    assert second["query"] == {"guid": DEFAULT_GUID, "customer_id": "ct-1"}  # no api_key
    assert log["last_seq"] == 2
    later = h.admin("GET", "/requests?since=1").get_json()["requests"]
    assert [r["seq"] for r in later] == [2]
    assert h.admin("GET", "/requests?since=2").get_json() == {"requests": [], "last_seq": 2}


def test_reset_restores_the_starting_program_and_clears_data(h: Harness) -> None:
    h.order("O-1", 1000)
    h.admin("POST", "/faults", {"error_next": 5, "path_prefix": "/orders"})
    h.admin("POST", "/accounts", {"guid": "extra", "api_key": "extra-key"})
    assert h.admin("POST", "/reset").status_code == 200
    state = h.admin("GET", "/state").get_json()
    assert list(state["accounts"]) == [DEFAULT_GUID]
    assert state["accounts"][DEFAULT_GUID]["orders"] == []
    assert h.admin("GET", "/requests").get_json()["requests"] == []
    assert h.order("O-1", 1000).status_code == 200


def test_admin_api_validates_its_input(h: Harness) -> None:
    assert h.admin("POST", "/faults", {"error_status": 418}).status_code == 422
    assert h.admin("POST", "/faults", {"account": "nobody"}).status_code == 422
    bad_program = {"guid": "x", "api_key": "y", "program": {"base_currency": "GBP"}}
    assert h.admin("POST", "/accounts", bad_program).status_code == 422
    state = h.admin("GET", "/state").get_json()
    program = state["accounts"][DEFAULT_GUID]["program"]
    assert "api_key" not in program
    assert program["program"]["webhook_secret"] == "[set]"


def test_replacing_a_program_keeps_members_and_recomputes_tiers(h: Harness) -> None:
    h.order("O-1", 30000)
    assert h.customer(customer_id="ct-jane")["vip_tier_name"] == "Silver"
    program = h.engine.state()["accounts"][DEFAULT_GUID]["program"]["program"]
    program["tiers"][1]["amount_spent_cents"] = 40000
    program["webhook_secret"] = HOOK_SECRET
    h.admin(
        "POST", "/accounts", {"guid": DEFAULT_GUID, "api_key": DEFAULT_API_KEY, "program": program}
    )
    assert h.customer(customer_id="ct-jane")["vip_tier_name"] == "Bronze"


def test_config_files_fill_in_program_defaults(tmp_path: Path) -> None:
    path = tmp_path / "yotpo.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {"guid": "g1", "api_key": "k1", "program": {"points_per_unit": "2"}},
                    {"guid": "g2", "api_key": "k2"},
                ]
            }
        )
    )
    config = load_config(path)
    assert [a.guid for a in config.accounts] == ["g1", "g2"]
    assert str(config.accounts[0].program.points_per_unit) == "2"
    assert [t.rank for t in config.accounts[1].program.tiers] == [1, 2, 3]
    assert set(config.accounts[1].program.currencies) >= {"EUR", "USD", "JPY", "KWD"}
    assert load_config(None).accounts[0].guid == DEFAULT_GUID


# --- webhook delivery ----------------------------------------------------------------------


def test_the_dispatcher_retries_failed_deliveries() -> None:
    answers = iter([ConnectionError("refused"), 500, 204])
    calls: list[tuple[str, dict[str, str]]] = []

    def post(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> int:
        calls.append((url, headers))
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    dispatcher = WebhookDispatcher(attempts=3, backoff=(0.0,), post=post)
    try:
        dispatcher.send(Webhook(url="http://x/hook", secret="s3cret", payload={"topic": "t"}))
        assert dispatcher.wait_idle(timeout=5)
        (delivery,) = dispatcher.deliveries()
        assert (delivery["attempts"], delivery["status"], delivery["delivered"]) == (3, 204, True)
        assert all(h[WEBHOOK_SECRET_HEADER] == "s3cret" for _, h in calls)
    finally:
        dispatcher.close()


def test_the_secret_header_is_configurable_or_absent() -> None:
    """No public page says how Yotpo sends the webhook authentication value."""
    calls: list[dict[str, str]] = []

    def post(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> int:
        calls.append(headers)
        return 200

    dispatcher = WebhookDispatcher(post=post)
    try:
        named = Webhook(url="http://x/h", secret="s", payload={}, secret_header="X-Custom")
        dispatcher.send(named)
        dispatcher.send(
            Webhook(url="http://x/h?token=s", secret="s", payload={}, secret_header=None)
        )
        assert dispatcher.wait_idle(timeout=5)
    finally:
        dispatcher.close()
    assert calls[0]["X-Custom"] == "s" and WEBHOOK_SECRET_HEADER not in calls[0]
    assert set(calls[1]) == {"Content-Type"}


def test_extensions_add_routes_to_the_stand_in() -> None:
    seen: list[YotpoEngine] = []

    def extension(app: Flask, engine: YotpoEngine) -> None:
        seen.append(engine)

        @app.get("/widget/ping")
        def ping() -> Any:
            return jsonify({"accounts": list(engine.state()["accounts"])})

    engine = YotpoEngine(default_config(), webhook_sink=lambda _w: None)
    client = create_app(engine, extensions=(extension,)).test_client()
    assert seen == [engine]
    assert client.get("/widget/ping").get_json() == {"accounts": [DEFAULT_GUID]}


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, Any], str | None]], threading.Event]]:
    received: list[tuple[dict[str, Any], str | None]] = []
    arrived = threading.Event()
    app = Flask("hook-receiver")

    @app.post("/hooks")
    def hook() -> Any:
        received.append((request.get_json(), request.headers.get(WEBHOOK_SECRET_HEADER)))
        if request.get_json().get("topic") == TOPIC_REDEMPTION_CANCELLATION:
            arrived.set()
        return jsonify({"ok": True})

    with ServerThread(app) as server:
        yield f"{server.url}/hooks", received, arrived


def test_real_http_server_end_to_end(
    receiver: tuple[str, list[tuple[dict[str, Any], str | None]], threading.Event],
) -> None:
    hook_url, received, arrived = receiver
    engine = YotpoEngine(_config(webhook_url=hook_url, rate_limit_per_second=10))
    try:
        with ServerThread(create_app(engine)) as server, requests.Session() as http:
            http.headers.update({**HEADERS, "X-Correlation-ID": "e2e-1"})
            base = f"{server.url}/api/v2"
            assert requests.get(f"{base}/vip_tiers", timeout=5).status_code == 401
            http.post(
                f"{base}/customers", json={"id": "ct-9", "email": "e2e@example.com"}, timeout=5
            ).raise_for_status()
            order = {
                "order_id": "E-1",
                "customer_email": "e2e@example.com",
                "customer_id": "ct-9",
                "total_amount_cents": "60000",
                "currency_code": "EUR",
                "status": "paid",
            }
            http.post(f"{base}/orders", json=order, timeout=5).raise_for_status()
            redeem = {
                "redemption_option_id": 1,
                "customer_id": "ct-9",
                "delay_points_deduction": True,
            }
            first = http.post(f"{base}/redemptions", json=redeem, timeout=5).json()
            customer = http.get(f"{base}/customers", params={"customer_id": "ct-9"}, timeout=5)
            assert customer.json()["points_balance"] == 600
            assert customer.headers["ratelimit-limit"] == "10"
            asked = f"{server.url}/_sandbox/redemptions/{first['id']}/cancellation_request"
            requests.post(asked, timeout=5).raise_for_status()

            assert arrived.wait(timeout=10)
            cancellation = next(
                (p, secret) for p, secret in received if p["topic"] == TOPIC_REDEMPTION_CANCELLATION
            )
            assert cancellation[0]["reward_text"] == first["reward_text"]
            assert cancellation[1] == HOOK_SECRET

            log = requests.get(f"{server.url}/_sandbox/requests", timeout=5).json()["requests"]
            assert [r["status"] for r in log] == [401, 200, 200, 200, 200]
            assert {r["correlation_id"] for r in log[1:]} == {"e2e-1"}
    finally:
        engine.close()


def test_the_state_never_shows_a_token_in_the_webhook_url(make: Callable[..., Harness]) -> None:
    h = make(webhook_url="http://receiver.test/yotpo/webhooks?token=very-secret-token")
    program = h.engine.state()["accounts"][DEFAULT_GUID]["program"]["program"]
    assert program["webhook_url"] == "http://receiver.test/yotpo/webhooks?[redacted]"
    assert "very-secret-token" not in json.dumps(h.engine.state())
