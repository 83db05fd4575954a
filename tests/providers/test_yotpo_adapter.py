"""Yotpo behind the port, at the HTTP boundary: the same calls, bodies, limiter and errors as
the reconciler made before (`YotpoClient`), and what `was_applied` / `member_state` read."""

from __future__ import annotations

import json

import pytest
import responses

from shared.domain.providers.port import DedupMode
from shared.errors import PermanentError, YotpoPermanentError, YotpoTransientError
from shared.providers.port import LoyaltyProvider, SendOutcome
from shared.providers.yotpo import YotpoProvider
from shared.ratelimit import RateLimiter
from shared.yotpo import YotpoClient

API = "https://loyalty.test/api/v2"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def provider() -> YotpoProvider:
    client = YotpoClient(
        guid="guid-1", api_key="key-1", api_url=API, rate_limit_per_second=1000.0, max_retries=0
    )
    return YotpoProvider("eu", client)


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("order", "/orders"),
        ("refund", "/refunds"),
        ("customer", "/customers"),
        ("reward_return", "/points/adjust"),
        ("birthday", "/customer_birthdays"),  # the customer sync's
    ],
)
def test_each_kind_is_the_call_the_reconciler_made(rsps, provider, kind, path):
    body = {"order_id": "CT-1", "total_amount_cents": 100}
    rsps.post(f"{API}{path}", json={"ok": True})
    outcome = provider.send(kind, body, idempotency_key=f"{kind}:CT-1")
    assert outcome is SendOutcome.SENT
    (call,) = rsps.calls
    assert json.loads(call.request.body) == body  # the pinned body, byte for byte
    # Yotpo documents no idempotency key: none is invented.
    assert not any("idempotency" in h.lower() for h in call.request.headers)
    assert call.request.headers["X-GUID"] == "guid-1"


def test_an_unknown_kind_is_permanent_and_calls_nothing(rsps, provider):
    with pytest.raises(PermanentError, match="unknown operation kind 'redemption'"):
        provider.send("redemption", {}, idempotency_key="redemption:1")
    assert len(rsps.calls) == 0


def test_errors_stay_yotpos_own(rsps, provider):
    # No Yotpo page documents 409 as "already done": it stays a refusal, never a duplicate.
    rsps.post(f"{API}/orders", status=409, json={"error": "exists"})
    with pytest.raises(YotpoPermanentError):
        provider.send("order", {"order_id": "CT-1"}, idempotency_key="order:CT-1")
    rsps.post(f"{API}/refunds", status=503)
    with pytest.raises(YotpoTransientError):
        provider.send("refund", {"id": "r"}, idempotency_key="refund:r")


def test_capabilities_declare_yotpos_dedup_modes(provider):
    caps = provider.capabilities
    assert caps.dedup_mode("order") is DedupMode.NONE
    assert caps.dedup_mode("refund") is DedupMode.NONE
    assert caps.dedup_mode("reward_return") is DedupMode.NONE
    assert caps.dedup_mode("customer") is DedupMode.STATE_UPSERT
    assert caps.dedup_mode("birthday") is DedupMode.STATE_UPSERT  # sets the date
    assert not caps.supports("redemption")
    assert caps.amount_unit == "minor" and caps.rate_limit_per_second == 10.0
    assert isinstance(provider, LoyaltyProvider)
    assert provider.renderer.capabilities is caps


def test_was_applied_reads_a_member_and_cannot_tell_for_orders(rsps, provider):
    assert provider.was_applied("order", {"order_id": "CT-1"}) is None
    assert provider.was_applied("refund", {"id": "r"}) is None
    rsps.get(f"{API}/customers", json={"email": "Ada@Example.com", "points_balance": 5})
    assert provider.was_applied("customer", {"id": "m-1", "email": "ada@example.com"}) is True
    assert rsps.calls[0].request.params["customer_id"] == "m-1"
    rsps.get(f"{API}/customers", json={"email": "someone@else.com"})
    assert provider.was_applied("customer", {"id": "m-1", "email": "ada@example.com"}) is False
    rsps.get(f"{API}/customers", status=404)
    assert provider.was_applied("customer", {"id": "m-1", "email": "ada@example.com"}) is False


def test_member_state_is_what_the_write_back_copies(rsps, provider):
    rsps.get(
        f"{API}/customers",
        json={
            "email": "ada@example.com",
            "points_balance": 120,
            "vip_tier_name": "Gold",
            "vip_tier_ends_at": "2027-01-31T10:00:00Z",
            "referral_code": {"code": "ADA10"},
            "referral_link": "https://ref.example/ADA10",
        },
    )
    state = provider.member_state(email="ada@example.com")
    assert state is not None
    assert (state.points_balance, state.tier, state.referral_link) == (
        120,
        "Gold",
        "https://ref.example/ADA10",
    )
    assert state.tier_ends_at is not None and state.tier_ends_at.year == 2027
    assert rsps.calls[0].request.params["customer_email"] == "ada@example.com"
    rsps.get(f"{API}/customers", status=404)
    assert provider.member_state(member_id="nobody") is None


def test_bounded_keeps_the_accounts_limiter_and_reports_its_pause():
    limiter = RateLimiter(10.0)
    client = YotpoClient(guid="g", api_key="k", api_url=API, limiter=limiter)
    provider = YotpoProvider("default", client)
    view = provider.bounded(2.0)
    assert view.client.limiter is limiter and view.client.deadline is not None
    assert (view.name, view.account_key) == ("yotpo", "default")
    assert provider.paused_until() is None
