from __future__ import annotations

import io
import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from shared.correlation import correlation_scope
from shared.errors import YotpoAuthError, YotpoPermanentError, YotpoTransientError
from shared.ratelimit import RateLimiter
from shared.yotpo import (
    DEFAULT_RATE_LIMIT_PER_SECOND,
    RedemptionOption,
    YotpoClient,
    YotpoPaths,
    YotpoRateLimited,
)

API = "https://loyalty.test/api/v2"
API_KEY = "yotpo-api-key-do-not-log"


class FakeTime:
    def __init__(self, start: float = 500.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.on_sleep: list = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        for hook in self.on_sleep:
            hook(seconds)
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_client(fake: FakeTime, **overrides) -> YotpoClient:
    options = {
        "guid": "guid-1",
        "api_key": API_KEY,
        "api_url": API + "/",
        "rate_limit_per_second": 1000.0,  # out of the way unless a test is about it
        "clock": fake.clock,
        "sleep": fake.sleep,
        "jitter": lambda: 0.5,
        **overrides,
    }
    return YotpoClient(**options)


@pytest.fixture
def yotpo(fake: FakeTime) -> YotpoClient:
    return make_client(fake)


def sleeps_without_limiter_spacing(fake: FakeTime) -> list[float]:
    return [s for s in fake.sleeps if s > 0.01]


# --- request shape -------------------------------------------------------------------------


def test_every_call_carries_the_account_headers_and_a_json_body(rsps, yotpo):
    rsps.post(f"{API}/orders", json={"ok": True})

    with correlation_scope("corr-9"):
        assert yotpo.create_order({"order_id": "o-1", "total_amount_cents": 1250}) == {"ok": True}

    (call,) = rsps.calls
    headers = call.request.headers
    assert headers["X-GUID"] == "guid-1"
    assert headers["X-API-KEY"] == API_KEY
    assert headers["X-Correlation-ID"] == "corr-9"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {"order_id": "o-1", "total_amount_cents": 1250}
    assert call.request.req_kwargs["timeout"] == 10.0
    # Credentials travel in headers only, never in the URL.
    assert API_KEY not in call.request.url


@pytest.mark.parametrize(
    ("method_name", "http_method", "path"),
    [
        ("upsert_customer", "POST", "/customers"),
        ("create_refund", "POST", "/refunds"),
        ("create_redemption", "POST", "/redemptions"),
        ("adjust_points", "POST", "/points/adjust"),
        ("set_customer_birthday", "POST", "/customer_birthdays"),
    ],
)
def test_write_methods_post_their_payload(rsps, yotpo, method_name, http_method, path):
    rsps.add(http_method, f"{API}{path}", json={"id": 1})

    assert getattr(yotpo, method_name)({"x": 1}) == {"id": 1}
    assert json.loads(rsps.calls[0].request.body) == {"x": 1}


def test_get_customer_by_email_asks_for_the_referral_code(rsps, yotpo):
    rsps.get(f"{API}/customers", json={"email": "jane@example.com", "points_balance": 120})

    found = yotpo.get_customer(email="jane@example.com")

    assert found == {"email": "jane@example.com", "points_balance": 120}
    assert parse_qs(urlsplit(rsps.calls[0].request.url).query) == {
        "customer_email": ["jane@example.com"],
        "with_referral_code": ["true"],
        "with_history": ["false"],
    }


def test_get_customer_answers_none_for_an_unknown_customer(rsps, yotpo, fake):
    rsps.get(f"{API}/customers", status=404, json={"error": "Customer not found"})

    assert yotpo.get_customer(customer_id="c-404") is None
    assert len(rsps.calls) == 1 and fake.sleeps == []


@pytest.mark.parametrize(
    "identifiers",
    [{}, {"customer_id": "c-1", "email": "a@b.co"}, {"email": "a@b.co", "phone_number": "+1"}],
)
def test_get_customer_needs_exactly_one_identifier(yotpo, identifiers):
    with pytest.raises(ValueError, match="exactly one"):
        yotpo.get_customer(**identifiers)


def test_redemption_options_and_vip_tiers_are_lists(rsps, yotpo):
    rsps.get(f"{API}/redemption_options", json=[{"id": 7, "amount": 500}])
    rsps.get(f"{API}/vip_tiers", json=[{"id": 1, "name": "Gold"}])

    options = yotpo.redemption_options(customer_id="c-1")
    assert options == [{"id": 7, "amount": 500}]
    assert isinstance(options[0], RedemptionOption) and options[0].offline is None
    assert yotpo.redemption_options() == [{"id": 7, "amount": 500}]
    assert yotpo.vip_tiers() == [{"id": 1, "name": "Gold"}]
    queries = [parse_qs(urlsplit(c.request.url).query) for c in rsps.calls[:2]]
    assert queries == [{"customer_id": ["c-1"]}, {}]
    with pytest.raises(ValueError):
        yotpo.redemption_options(customer_id="c-1", email="a@b.co")


def test_in_store_options_are_asked_for_with_the_is_offline_query(rsps, yotpo):
    rsps.get(f"{API}/redemption_options", json=[{"id": 4, "amount": "1000"}])

    (option,) = yotpo.redemption_options(email="a@b.co", is_offline=True)

    assert option.offline is True and option.points_cost == 1000
    query = parse_qs(urlsplit(rsps.calls[0].request.url).query)
    assert query == {"customer_email": ["a@b.co"], "is_offline": ["true"]}


def test_online_options_leave_the_in_store_ones_out(rsps, yotpo):
    def answer(request):
        query = parse_qs(urlsplit(request.url).query)
        offline = query.get("is_offline") == ["true"]
        body = [{"id": 4}] if offline else [{"id": 1}, {"id": 4}]
        return (200, {}, json.dumps(body))

    rsps.add_callback(responses.GET, f"{API}/redemption_options", callback=answer)

    online = yotpo.redemption_options(customer_id="c-1", is_offline=False)

    assert [o.option_id for o in online] == ["1"] and online[0].offline is False
    queries = [parse_qs(urlsplit(c.request.url).query) for c in rsps.calls]
    assert queries == [{"customer_id": ["c-1"]}, {"is_offline": ["true"]}]


@pytest.mark.parametrize(
    ("option", "points", "value"),
    [
        ({"discount_type": "generic_variable", "discount_rate_cents": 1}, 250, 250),
        ({"discount_type": "generic_variable", "discount_rate_cents": "0.5"}, 251, 125),
        ({"discount_type": "generic_variable", "discount_rate_cents": 0.1}, 30, 3),
        # No rate: the caller must refuse, never apply a zero discount.
        ({"discount_type": "generic_variable", "discount_rate_cents": None}, 250, None),
        ({"discount_type": "generic_variable", "discount_amount_cents": 1}, 250, None),
        ({"discount_type": "generic_variable", "discount_rate_cents": 0}, 250, None),
        ({"discount_type": "generic_variable", "discount_rate_cents": "lots"}, 250, None),
        ({"discount_type": "generic_variable", "discount_rate_cents": True}, 250, None),
        ({"discount_type": "fixed_amount", "discount_rate_cents": 1}, 250, None),
        ({"discount_type": "generic_variable", "discount_rate_cents": 1}, 0, None),
    ],
)
def test_pay_with_points_value_comes_from_the_rate_or_not_at_all(option, points, value):
    assert RedemptionOption(option).variable_value_cents(points) == value


@pytest.mark.parametrize(("amount", "cost"), [(500, 500), ("500", 500), (" 7 ", 7), ("x", None)])
def test_the_points_cost_reads_the_string_the_reference_types(amount, cost):
    assert RedemptionOption({"amount": amount}).points_cost == cost


def test_an_unexpected_answer_shape_is_refused(rsps, yotpo):
    rsps.get(f"{API}/vip_tiers", json={"tiers": []})

    with pytest.raises(YotpoPermanentError, match="expected a JSON array"):
        yotpo.vip_tiers()


def test_cancel_redemption_approves_the_cancellation_with_its_code(rsps, yotpo):
    path = YotpoPaths.CANCEL_REDEMPTION.format(redemption_id="r%2F9")
    assert path == "/redemptions/r%2F9/cancellation_completed"
    rsps.post(f"{API}{path}", json={})

    assert yotpo.cancel_redemption("r/9", reward_text="LOY-9") == {}
    assert json.loads(rsps.calls[0].request.body) == {"reward_text": "LOY-9"}


def test_cancel_redemption_without_its_code_lets_yotpo_refuse(rsps, yotpo):
    path = YotpoPaths.CANCEL_REDEMPTION.format(redemption_id="9")
    rsps.post(f"{API}{path}", status=422, json={"error": "reward_text is required"})

    with pytest.raises(YotpoPermanentError):
        yotpo.cancel_redemption(9)
    assert json.loads(rsps.calls[0].request.body) == {}


def test_redemption_code_lookup_and_upload(rsps, yotpo):
    rsps.get(f"{API}/redemption_codes", json={"code": "LOY-1", "customer_email": "a@b.co"})
    rsps.post(f"{API}/redemption_codes", json={})

    assert yotpo.redemption_codes(code="LOY-1")["code"] == "LOY-1"
    assert yotpo.upload_redemption_codes(4, ["A", "B"]) == {}
    assert parse_qs(urlsplit(rsps.calls[0].request.url).query) == {"code": ["LOY-1"]}
    assert json.loads(rsps.calls[1].request.body) == {
        "redemption_option_id": 4,
        "codes": "A,B",
    }
    with pytest.raises(ValueError):
        yotpo.upload_redemption_codes(4, [f"C{n}" for n in range(10_001)])
    with pytest.raises(ValueError):
        yotpo.redemption_codes(code="")


def test_an_empty_success_body_is_an_empty_object(rsps, yotpo):
    rsps.post(f"{API}/refunds", body="", status=200)

    assert yotpo.create_refund({"order_id": "o-1"}) == {}


# --- retries and errors --------------------------------------------------------------------


def test_429_waits_for_ratelimit_reset_and_pauses_the_whole_account(rsps, yotpo, fake):
    rsps.post(f"{API}/orders", status=429, headers={"ratelimit-reset": "2"}, json={})
    rsps.post(f"{API}/orders", json={"ok": True})
    pauses: list[float | None] = []
    fake.on_sleep.append(lambda _s: pauses.append(yotpo.limiter.paused_until))

    assert yotpo.create_order({"order_id": "o-1"}) == {"ok": True}

    assert sleeps_without_limiter_spacing(fake) == [pytest.approx(2.0)]
    assert pauses[0] == pytest.approx(502.0)  # other threads of the account wait as well
    assert len(rsps.calls) == 2


def test_429_honours_retry_after(rsps, yotpo, fake):
    rsps.get(f"{API}/vip_tiers", status=429, headers={"Retry-After": "3"})
    rsps.get(f"{API}/vip_tiers", json=[])

    assert yotpo.vip_tiers() == []
    assert sleeps_without_limiter_spacing(fake) == [pytest.approx(3.0)]


def test_429_without_headers_backs_off(rsps, yotpo, fake):
    rsps.get(f"{API}/vip_tiers", status=429)
    rsps.get(f"{API}/vip_tiers", json=[])

    assert yotpo.vip_tiers() == []
    assert sleeps_without_limiter_spacing(fake) == [pytest.approx(0.1875)]


def test_422_is_permanent_and_not_retried(rsps, yotpo, fake):
    rsps.post(f"{API}/orders", status=422, json={"error": "total_amount_cents is invalid"})

    with pytest.raises(YotpoPermanentError) as err:
        yotpo.create_order({"order_id": "o-1"})

    assert not isinstance(err.value, YotpoAuthError)
    assert err.value.status == 422
    assert "total_amount_cents is invalid" in err.value.body
    assert len(rsps.calls) == 1 and fake.sleeps == []


def test_error_bodies_never_carry_the_api_key(rsps, yotpo):
    rsps.post(f"{API}/orders", status=400, body=f"bad key {API_KEY} for jane.doe@example.com")

    with pytest.raises(YotpoPermanentError) as err:
        yotpo.create_order({})
    assert API_KEY not in err.value.body and API_KEY not in str(err.value)
    assert "jane.doe@example.com" not in str(err.value)


def test_long_error_bodies_are_truncated(rsps, yotpo):
    rsps.post(f"{API}/orders", status=400, body="x" * 5000)

    with pytest.raises(YotpoPermanentError) as err:
        yotpo.create_order({})
    assert len(err.value.body) == 500


@pytest.mark.parametrize("status", [401, 403])
def test_bad_credentials_raise_an_auth_error(rsps, yotpo, status):
    rsps.get(f"{API}/vip_tiers", status=status, json={"error": "unauthorized"})

    with pytest.raises(YotpoAuthError) as err:
        yotpo.vip_tiers()
    assert err.value.status == status
    assert API_KEY not in str(err.value)
    assert len(rsps.calls) == 1


def test_500_is_retried_then_raises_a_transient_error(rsps, yotpo, fake):
    rsps.post(f"{API}/customers", status=500, json={"error": "boom"})

    with pytest.raises(YotpoTransientError) as err:
        yotpo.upsert_customer({"email": "a@b.co"})

    assert err.value.status == 500
    assert len(rsps.calls) == 4
    assert sleeps_without_limiter_spacing(fake) == [
        pytest.approx(0.1875),
        pytest.approx(0.375),
        pytest.approx(0.75),
    ]


@pytest.mark.parametrize("status", [408, 423, 502])
def test_other_transient_statuses_are_retried_then_succeed(rsps, yotpo, status):
    # 423: /points/adjust while the member's record is busy (adjust-a-customers-point-balance).
    rsps.post(f"{API}/points/adjust", status=status)
    rsps.post(f"{API}/points/adjust", json={"id": "r-1"})

    assert yotpo.adjust_points({"customer_id": "c-1"}) == {"id": "r-1"}
    assert len(rsps.calls) == 2


def test_409_is_documented_nowhere_and_so_is_permanent(rsps, yotpo, fake):
    rsps.post(f"{API}/orders", status=409, json={"error": "conflict"})

    with pytest.raises(YotpoPermanentError) as err:
        yotpo.create_order({"order_id": "o-1"})
    assert err.value.status == 409
    assert len(rsps.calls) == 1 and fake.sleeps == []


def test_timeouts_and_connection_errors_are_retried(rsps, yotpo):
    rsps.get(f"{API}/vip_tiers", body=requests.ReadTimeout("slow"))
    rsps.get(f"{API}/vip_tiers", body=requests.ConnectionError("refused"))
    rsps.get(f"{API}/vip_tiers", json=[{"id": 1}])

    assert yotpo.vip_tiers() == [{"id": 1}]
    assert len(rsps.calls) == 3


# --- rate limit ----------------------------------------------------------------------------


def test_the_default_limit_is_yotpos_documented_ten_per_second_with_a_burst(fake):
    client = YotpoClient(guid="g", api_key="k", clock=fake.clock, sleep=fake.sleep)

    assert DEFAULT_RATE_LIMIT_PER_SECOND == 10.0
    assert (client.limiter.rate_per_second, client.limiter.burst) == (10.0, 10)


def test_every_call_goes_through_the_account_rate_limit(rsps, fake):
    client = make_client(fake, rate_limit_per_second=5.0)
    rsps.get(f"{API}/vip_tiers", json=[])

    for _ in range(7):
        client.vip_tiers()

    # A burst of five at once, then the sixth waits for the first to leave the window.
    assert fake.sleeps == [pytest.approx(1.0)]


@pytest.mark.parametrize(("reset", "wait"), [("3", 2.0), ("0.4", 0.4), ("1", None)])
def test_the_servers_remaining_count_slows_the_client_before_a_429(rsps, fake, reset, wait):
    """ratelimit-remaining 0: wait for ratelimit-reset (guidelines-and-conventions); a whole
    number of seconds is rounded up, so the earliest moment it can mean is used."""
    client = make_client(fake)
    rsps.get(
        f"{API}/vip_tiers",
        json=[],
        headers={"ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": reset},
    )
    rsps.get(f"{API}/vip_tiers", json=[])

    client.vip_tiers()
    client.vip_tiers()

    assert fake.sleeps == ([] if wait is None else [pytest.approx(wait)])
    assert len(rsps.calls) == 2


def test_a_remaining_count_above_zero_lets_that_many_through(rsps, fake):
    client = make_client(fake)
    rsps.get(
        f"{API}/vip_tiers",
        json=[],
        headers={"ratelimit-remaining": "1", "ratelimit-reset": "5"},
    )

    for _ in range(3):
        client.vip_tiers()

    # Two more after the answer that said 1 left: the second waits for the reset (5 s - 1).
    assert fake.sleeps == [pytest.approx(4.0)]


def test_clients_sharing_a_limiter_share_the_budget(rsps, fake):
    limiter = RateLimiter(2.0, burst=1, clock=fake.clock, sleep=fake.sleep)
    first = make_client(fake, limiter=limiter)
    second = make_client(fake, limiter=limiter)
    rsps.get(f"{API}/vip_tiers", json=[])

    first.vip_tiers()
    second.vip_tiers()

    assert fake.sleeps == [pytest.approx(0.5)]


# --- bounded views -------------------------------------------------------------------------


def test_bounded_view_shares_session_and_limiter_and_leaves_the_original_unbounded(yotpo, fake):
    view = yotpo.bounded(1.5)

    assert view.limiter is yotpo.limiter
    assert view._session is yotpo._session
    assert view.deadline == pytest.approx(501.5)
    assert yotpo.deadline is None
    assert view.bounded(10).deadline == pytest.approx(501.5)  # a view never extends its budget


def test_bounded_call_shrinks_the_request_timeout_to_the_time_left(rsps, yotpo, fake):
    rsps.get(f"{API}/vip_tiers", json=[])
    view = yotpo.bounded(2.0)
    fake.now += 0.5

    view.vip_tiers()

    assert rsps.calls[0].request.req_kwargs["timeout"] == pytest.approx(1.5)


def test_bounded_slow_failing_endpoint_raises_without_sleeping_past_the_budget(rsps, yotpo, fake):
    def slow_503(request):
        fake.now += 0.04  # the call itself eats most of the budget
        return (503, {}, '{"error": "unavailable"}')

    rsps.add_callback(responses.POST, f"{API}/orders", callback=slow_503)
    start = fake.now

    with pytest.raises(YotpoTransientError):
        yotpo.bounded(0.05).create_order({"order_id": "o-1"})

    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.req_kwargs["timeout"] == pytest.approx(0.05)
    assert fake.sleeps == []
    assert fake.now - start <= 0.05 + 1e-9


def test_bounded_timeout_is_not_retried_past_the_budget(rsps, yotpo, fake):
    def times_out(request):
        fake.now += request.req_kwargs["timeout"]
        raise requests.ReadTimeout("read timed out")

    rsps.add_callback(responses.GET, f"{API}/customers", callback=times_out)
    start = fake.now

    with pytest.raises(YotpoTransientError, match="ReadTimeout"):
        yotpo.bounded(0.05).get_customer(customer_id="c-1")

    assert fake.sleeps == []
    assert fake.now - start == pytest.approx(0.05)


def test_bounded_429_with_a_long_reset_fails_fast_but_still_pauses_the_account(rsps, yotpo, fake):
    rsps.get(f"{API}/vip_tiers", status=429, headers={"ratelimit-reset": "2"})

    with pytest.raises(YotpoRateLimited) as raised:
        yotpo.bounded(1.0).vip_tiers()

    assert fake.sleeps == []
    assert yotpo.limiter.paused_until == pytest.approx(502.0)
    assert raised.value.status == 429 and raised.value.retry_after == pytest.approx(2.0)


def test_a_429_after_the_last_retry_is_rate_limited_not_a_failure(rsps, fake):
    client = make_client(fake, max_retries=1)
    rsps.get(f"{API}/vip_tiers", status=429, headers={"ratelimit-reset": "1"})

    with pytest.raises(YotpoRateLimited):
        client.vip_tiers()
    assert len(rsps.calls) == 2


def test_a_503_that_does_not_fit_is_transient_but_not_rate_limited(rsps, yotpo):
    rsps.get(f"{API}/vip_tiers", status=503)

    with pytest.raises(YotpoTransientError) as raised:
        yotpo.bounded(0.01).vip_tiers()
    assert not isinstance(raised.value, YotpoRateLimited)


def test_a_bounded_view_can_make_a_single_attempt(rsps, yotpo):
    rsps.get(f"{API}/vip_tiers", status=503)

    with pytest.raises(YotpoTransientError):
        yotpo.bounded(5.0, max_retries=0).vip_tiers()
    assert len(rsps.calls) == 1
    with pytest.raises(ValueError):
        yotpo.bounded(1.0, max_retries=-1)


def test_bounded_call_does_not_wait_for_the_rate_limit_beyond_the_budget(rsps, fake):
    client = make_client(fake, rate_limit_per_second=1.0)
    rsps.get(f"{API}/vip_tiers", json=[])
    client.vip_tiers()  # takes the only grant; the next one is a second away

    with pytest.raises(YotpoRateLimited, match="rate limit") as raised:
        client.bounded(0.05).vip_tiers()

    assert fake.sleeps == [] and len(rsps.calls) == 1
    # When the next grant comes, so the caller can say when to come back.
    assert raised.value.retry_after == pytest.approx(1.0)


def test_bounded_retry_that_fits_the_budget_still_happens(rsps, yotpo, fake):
    rsps.get(f"{API}/vip_tiers", status=503)
    rsps.get(f"{API}/vip_tiers", json=[])

    assert yotpo.bounded(1.0).vip_tiers() == []
    assert sleeps_without_limiter_spacing(fake) == [pytest.approx(0.1875)]


def test_an_exhausted_budget_raises_before_any_request(rsps, yotpo, fake):
    rsps.get(f"{API}/vip_tiers", json=[])

    with pytest.raises(YotpoTransientError, match="budget"):
        yotpo.bounded(0.0).vip_tiers()
    assert len(rsps.calls) == 0


# --- logs ----------------------------------------------------------------------------------


def test_the_api_key_and_full_emails_never_reach_the_logs(rsps, fake):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(json_fields)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    client = make_client(fake)
    rsps.get(f"{API}/customers", status=500, body=f"echo {API_KEY}?")
    rsps.get(f"{API}/customers", json={"email": "jane.doe@example.com"})
    rsps.post(f"{API}/orders", status=422, json={"error": "bad"})
    rsps.get(f"{API}/vip_tiers", body=requests.ConnectionError("refused"))
    try:
        client.get_customer(email="jane.doe@example.com")
        with pytest.raises(YotpoPermanentError):
            client.create_order({"customer_email": "jane.doe@example.com"})
        with pytest.raises(YotpoTransientError):
            client.vip_tiers()
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)

    text = stream.getvalue()
    assert "http.call" in text
    assert "/customers?customer_email=j***@example.com&with_referral_code=true" in text
    assert API_KEY not in text
    assert "jane.doe@example.com" not in text
    assert repr(client).count(API_KEY) == 0
