"""Yotpo's rewards behind the rewards port, at the HTTP boundary (`responses`), answering with
the contract fixtures (`tests/contracts/yotpo/`): which calls each step makes, with which
bodies, and how Yotpo's answers and errors map onto the port."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from shared.domain.checkout.redemption import Approval, Channel, RedemptionError, Rejection
from shared.domain.customers.member_identity import MemberIdentity
from shared.errors import PermanentError, YotpoPermanentError, YotpoTransientError
from shared.providers.rewards import (
    NotReversible,
    Redeemed,
    RewardAsk,
    RewardGone,
    RewardMember,
    RewardsAccount,
    rewards_account,
)
from shared.providers.yotpo import YotpoProvider
from shared.providers.yotpo_rewards import YotpoRewards
from shared.yotpo import YotpoClient
from tests.contracts.yotpo_fixtures import fixture

API = "https://loyalty.test/api/v2"
CUSTOMER = {"id": "ct-cust-1", "email": "jane@example.com", "externalId": "legacy-7"}
OPTIONS = fixture("redemption_options")["response"]["example"]  # ids 1 (fixed) and 3 (variable)
IN_STORE = fixture("redemption_options_offline")["response"]["example"]  # id 4
PROFILE = fixture("get_customer")["response"]["example"]  # points_balance 1250
REDEMPTION = fixture("create_redemption")["response"]["example"]  # id 901, LOY-000901


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def provider() -> YotpoProvider:
    client = YotpoClient(
        guid="guid-1", api_key="key-1", api_url=API, rate_limit_per_second=1000.0, max_retries=0
    )
    return YotpoProvider("eu", client)


def account(**setup) -> RewardsAccount:
    found = rewards_account(provider(), **setup)
    assert isinstance(found, YotpoRewards)
    return found


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


class Cache:
    """`RewardsCache` over a dict (what `service/options_cache.OptionsCache` does, no expiry)."""

    def __init__(self, **entries: list[dict]) -> None:
        self.entries = dict(entries)
        self.loaded: list[str] = []

    def fresh(self, key: str) -> list[dict] | None:
        return self.entries.get(key)

    def get(self, key: str, load) -> list[dict]:
        if key not in self.entries:
            self.loaded.append(key)
            self.entries[key] = load()
        return self.entries[key]


def options_for(rsps, params: dict, answer: list) -> None:
    """`GET /redemption_options` answering `answer` to exactly these query parameters."""
    rsps.get(
        f"{API}/redemption_options",
        json=answer,
        match=[matchers.query_param_matcher(params)],
    )


def member(**overrides) -> RewardMember:
    values = {
        "customer_id": "ct-cust-1",
        "member_id": "ct-cust-1",
        "email": "jane@example.com",
        "balance": 1250,
    }
    return RewardMember(**{**values, **overrides})


def approval(option_id: str = "1", kind="fixed", points: int = 500) -> Approval:
    return Approval(option_id, kind, 500, points, None, 0, 500)


# --- dispatch --------------------------------------------------------------------------------


def test_the_factory_dispatches_by_provider_name_and_keeps_the_account():
    found = account()
    assert isinstance(found, RewardsAccount)
    assert (found.provider, found.account_key) == ("yotpo", "eu")
    assert found.capabilities == provider().capabilities


def test_a_provider_without_rewards_gets_none():
    class Other:
        name = "someone-else"

    assert rewards_account(Other()) is None


def test_bounded_keeps_the_rate_limiter():
    found = account()
    bounded = found.bounded(2.0)
    assert isinstance(bounded, YotpoRewards)
    assert bounded.client.limiter is found.client.limiter  # type: ignore[attr-defined]


# --- the member ------------------------------------------------------------------------------


def test_the_member_is_found_by_member_id_without_referral_code_at_checkout(rsps):
    rsps.get(f"{API}/customers", json=PROFILE)
    found = account().find_member(CUSTOMER, MemberIdentity())
    assert found == RewardMember(
        "ct-cust-1", "ct-cust-1", "jane@example.com", 1250, PROFILE, "member_id"
    )
    (call,) = rsps.calls
    assert query(call) == {
        "customer_id": ["ct-cust-1"],
        "with_referral_code": ["false"],
        "with_history": ["false"],
    }


def test_the_till_reads_the_referral_code_and_the_legacy_member_id(rsps):
    rsps.get(f"{API}/customers", json=PROFILE)
    found = account(full_member=True).find_member(CUSTOMER, MemberIdentity(source="externalId"))
    assert found is not None and found.member_id == "legacy-7"
    (call,) = rsps.calls
    assert query(call)["customer_id"] == ["legacy-7"]
    assert query(call)["with_referral_code"] == ["true"]


def test_a_member_made_from_guest_orders_is_found_by_the_records_email(rsps):
    rsps.get(f"{API}/customers", status=404, json={"error": "not found"})
    rsps.get(f"{API}/customers", json={**PROFILE, "points_balance": 40})
    found = account().find_member(CUSTOMER, MemberIdentity())
    assert found is not None
    assert (found.found_by, found.balance, found.member_id) == ("email", 40, "ct-cust-1")
    assert query(rsps.calls[1])["customer_email"] == ["jane@example.com"]


def test_no_member_is_none_and_no_email_means_one_call(rsps):
    rsps.get(f"{API}/customers", status=404, json={"error": "not found"})
    assert account().find_member({"id": "ct-cust-1"}, MemberIdentity()) is None
    assert len(rsps.calls) == 1


def test_a_profile_without_a_balance_is_a_member_with_none_to_spend(rsps):
    rsps.get(f"{API}/customers", json={"email": "jane@example.com"})
    found = account().find_member(CUSTOMER, MemberIdentity())
    assert found is not None and found.balance == 0


def test_presumed_is_the_member_id_without_io(rsps):
    presumed = account().presumed(CUSTOMER, MemberIdentity(source="externalId"))
    assert presumed == RewardMember("ct-cust-1", "legacy-7", "jane@example.com", None)
    assert len(rsps.calls) == 0


def test_a_transient_failure_is_transient(rsps):
    rsps.get(f"{API}/customers", status=503)
    with pytest.raises(YotpoTransientError):
        account().find_member(CUSTOMER, MemberIdentity())


# --- the rewards -----------------------------------------------------------------------------


def test_online_offers_leave_the_in_store_ones_out_asking_both_at_once(rsps):
    options_for(rsps, {"customer_id": "ct-cust-1"}, OPTIONS + IN_STORE)
    options_for(rsps, {"is_offline": "true"}, IN_STORE)
    cache = Cache()
    offers = account(cache=cache).offers(member(), channel=Channel.ONLINE)
    assert [str(o["id"]) for o in offers] == ["1", "3"]
    assert len(rsps.calls) == 2
    # Loaded through the caller's cache, under the key the checkout has always used.
    assert cache.entries == {"eu#offline": [{"id": "4"}]}


def test_online_offers_without_a_cache_still_leave_the_in_store_ones_out(rsps):
    options_for(rsps, {"customer_id": "ct-cust-1"}, OPTIONS + IN_STORE)
    options_for(rsps, {"is_offline": "true"}, IN_STORE)
    offers = account().offers(member(), channel=Channel.ONLINE)
    assert [str(o["id"]) for o in offers] == ["1", "3"]


def test_online_offers_with_cached_in_store_ids_make_one_call(rsps):
    options_for(rsps, {"customer_id": "ct-cust-1"}, OPTIONS + IN_STORE)
    cache = Cache(**{"eu#offline": [{"id": "4"}]})
    offers = account(cache=cache).offers(member(), channel=Channel.ONLINE)
    assert [str(o["id"]) for o in offers] == ["1", "3"]
    assert len(rsps.calls) == 1 and cache.loaded == []


def test_a_failing_in_store_read_fails_the_offers(rsps):
    options_for(rsps, {"customer_id": "ct-cust-1"}, OPTIONS)
    rsps.get(
        f"{API}/redemption_options",
        status=503,
        match=[matchers.query_param_matcher({"is_offline": "true"})],
    )
    with pytest.raises(YotpoTransientError):
        account().offers(member(), channel=Channel.ONLINE)


def test_the_till_may_redeem_any_offered_option_and_lists_in_store_ones_by_filter(rsps):
    rsps.get(f"{API}/redemption_options", json=OPTIONS + IN_STORE)
    rsps.get(f"{API}/redemption_options", json=IN_STORE)
    rewards = account()
    everything = rewards.offers(member(), channel=Channel.IN_STORE)
    assert [str(o["id"]) for o in everything] == ["1", "3", "4"]
    in_store = rewards.offers(member(), channel=Channel.IN_STORE, in_store_only=True)
    assert [str(o["id"]) for o in in_store] == ["4"]
    assert getattr(in_store[0], "offline", None) is True
    assert query(rsps.calls[1]) == {"customer_id": ["ct-cust-1"], "is_offline": ["true"]}


def test_a_member_found_by_email_is_named_by_email(rsps):
    rsps.get(f"{API}/redemption_options", json=OPTIONS)
    account().offers(member(found_by="email"), channel=Channel.IN_STORE)
    assert query(rsps.calls[0]) == {"customer_email": ["jane@example.com"]}


# --- the decision ----------------------------------------------------------------------------


def ask(reward_id: str = "1", **overrides) -> RewardAsk:
    values = {"reward_id": reward_id, "channel": Channel.ONLINE, "currency": "EUR", "basket": 5000}
    return RewardAsk(**{**values, **overrides})


def test_an_offered_option_is_decided_without_io(rsps):
    decision = account(base_currency="eur").decide(member(), OPTIONS, ask())
    assert isinstance(decision, Approval)
    assert (decision.option_id, decision.kind, decision.amount, decision.points) == (
        "1",
        "fixed",
        500,
        500,
    )
    assert len(rsps.calls) == 0


def test_an_unknown_base_currency_refuses_online():
    decision = account().decide(member(), OPTIONS, ask())
    assert isinstance(decision, Rejection)


def test_a_variable_reward_takes_the_asked_points():
    decision = account(base_currency="EUR").decide(member(), OPTIONS, ask("3", points=300))
    assert isinstance(decision, Approval)
    assert (decision.kind, decision.points, decision.amount) == ("variable", 300, 300)


def test_an_in_store_option_online_is_refused_as_in_store(rsps):
    rsps.get(f"{API}/redemption_options", json=IN_STORE)
    decision = account(base_currency="EUR").decide(member(), OPTIONS, ask("4"))
    assert decision == Rejection(RedemptionError.NOT_ELIGIBLE, "an in-store reward")
    assert query(rsps.calls[0]) == {"is_offline": ["true"]}


def test_the_catalogue_tells_unknown_from_unaffordable(rsps):
    options_for(rsps, {"is_offline": "true"}, [])  # the in-store ids
    options_for(rsps, {}, OPTIONS)  # the catalogue
    cache = Cache()
    decision = account(base_currency="EUR", cache=cache).decide(member(), [], ask("99"))
    assert isinstance(decision, Rejection) and decision.error is RedemptionError.UNKNOWN_OPTION
    assert cache.loaded == ["eu#offline", "eu"]
    catalogue = [{**OPTIONS[0], "amount": "5000"}]
    poor = account(base_currency="EUR", cache=Cache(**{"eu#offline": [], "eu": catalogue}))
    decision = poor.decide(member(balance=10), [], ask("1"))
    assert isinstance(decision, Rejection) and decision.error is RedemptionError.NOT_ENOUGH_POINTS
    assert len(rsps.calls) == 2  # the caller's cache answered


def test_a_non_member_is_refused_without_io(rsps):
    decision = account().decide(member(balance=None), [], ask("1"))
    assert isinstance(decision, Rejection) and decision.error is RedemptionError.NOT_ELIGIBLE
    assert len(rsps.calls) == 0


def test_the_till_decides_without_a_basket_in_the_programs_currency():
    till = ask(channel=Channel.IN_STORE, currency=None, basket=None)
    decision = account().decide(member(), OPTIONS, till)
    assert isinstance(decision, Approval) and decision.option_id == "1"


# --- redeem ----------------------------------------------------------------------------------


def test_a_cart_redemption_is_deferred_and_names_member_and_email(rsps):
    rsps.post(f"{API}/redemptions", json=REDEMPTION)
    redeemed = account().redeem(member(), approval(), ask(), deferred=True)
    assert redeemed == Redeemed("901", "LOY-000901", REDEMPTION, deferred=True)
    assert json.loads(rsps.calls[0].request.body) == {
        "customer_id": "ct-cust-1",
        "customer_email": "jane@example.com",
        "redemption_option_id": 1,
        "delay_points_deduction": True,
        "currency": "EUR",
    }


def test_the_till_spends_now_with_one_key_and_the_points_of_a_variable_reward(rsps):
    rsps.post(f"{API}/redemptions", json=REDEMPTION)
    till = ask("3", channel=Channel.IN_STORE, currency=None, basket=None)
    account().redeem(member(), approval("3", "variable", 300), till, deferred=False)
    assert json.loads(rsps.calls[0].request.body) == {
        "customer_id": "ct-cust-1",
        "redemption_option_id": 3,
        "delay_points_deduction": False,
        "points_to_redeem": 300,
    }


def test_a_member_found_by_email_redeems_by_email(rsps):
    rsps.post(f"{API}/redemptions", json=REDEMPTION)
    till = ask(channel=Channel.IN_STORE, currency="EUR")
    account().redeem(member(found_by="email"), approval(), till, deferred=False)
    body = json.loads(rsps.calls[0].request.body)
    assert body["customer_email"] == "jane@example.com" and "customer_id" not in body


def test_a_refused_redemption_is_permanent_and_an_answer_without_id_too(rsps, caplog):
    rsps.post(f"{API}/redemptions", status=422, json={"error": "not enough points"})
    with pytest.raises(YotpoPermanentError):
        account().redeem(member(), approval(), ask(), deferred=True)
    rsps.post(f"{API}/redemptions", json={"reward_text": "X"})
    with caplog.at_level("ERROR"), pytest.raises(PermanentError, match="without its id"):
        account().redeem(member(), approval(), ask(), deferred=True)
    # Points may be spent on a redemption nobody can cancel: an operator is told.
    told = [getattr(r, "json_fields", {}) for r in caplog.records]
    assert {"event": "rewards.orphan_redemption", "outcome": "needs_operator"}.items() <= next(
        f for f in told if f.get("event") == "rewards.orphan_redemption"
    ).items()


# --- cancel ----------------------------------------------------------------------------------

REDEEMED = Redeemed("901", "LOY-000901")


def test_cancel_gives_the_points_back_with_the_code(rsps):
    rsps.post(f"{API}/redemptions/901/cancellation_completed", json={"amount": 500})
    assert account().cancel(REDEEMED) == 500
    assert json.loads(rsps.calls[0].request.body) == {"reward_text": "LOY-000901"}


def test_cancel_with_an_undocumented_empty_answer_returns_no_points(rsps):
    rsps.post(
        f"{API}/redemptions/901/cancellation_completed",
        json=fixture("cancel_redemption")["response"]["example"],
    )
    assert account().cancel(REDEEMED) is None


@pytest.mark.parametrize(("status", "error"), [(404, RewardGone), (422, NotReversible)])
def test_cancel_errors(rsps, status, error):
    rsps.post(f"{API}/redemptions/901/cancellation_completed", status=status, json={})
    with pytest.raises(error):
        account().cancel(REDEEMED)


def test_cancel_transient_stays_transient(rsps):
    rsps.post(f"{API}/redemptions/901/cancellation_completed", status=503)
    with pytest.raises(YotpoTransientError):
        account().cancel(REDEEMED)


@pytest.mark.parametrize(("reward_id", "ok"), [("1", True), ("١", False), (None, False)])
def test_the_option_id_shape_is_refused_before_any_call(rsps, reward_id, ok):
    refusal = account().id_refusal(reward_id)
    assert (refusal is None) is ok
    if refusal is not None:
        assert refusal.error is RedemptionError.UNKNOWN_OPTION
    assert len(rsps.calls) == 0
