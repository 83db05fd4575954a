"""Voyado's reward vouchers behind the rewards port, at the HTTP boundary (`responses`),
answering with the contract fixtures (`tests/contracts/voyado/`): the contact look-up rule,
the vouchers, the decision, redeem (deferred: no call; the till: redeem now) and reactivation."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from shared.domain.checkout.redemption import Approval, Channel, RedemptionError, Rejection
from shared.domain.customers.member_identity import MemberIdentity
from shared.errors import PermanentError, TransientError
from shared.providers.registry import ProviderContext
from shared.providers.rewards import (
    AmbiguousMember,
    CodedApproval,
    NotReversible,
    Redeemed,
    RewardAsk,
    RewardGone,
    RewardMember,
    RewardsAccount,
    rewards_account,
)
from shared.providers.voyado import VoyadoAccount, VoyadoProvider, build_provider
from shared.providers.voyado_rewards import VoyadoRewards
from shared.voyado import AmbiguousContact, VoyadoPaths
from tests.contracts.voyado_fixtures import fixture

BASE = "https://shop.voyado.test"
CONTACT = fixture("contacts_find_id")["response"]["body"]
VOUCHERS = fixture("reward_vouchers_available")["response"]["body"]
VOUCHER = VOUCHERS["items"][0]  # 50.00 SEK, number 2511233093766, expires 2027-03-01
VOUCHER_ID = VOUCHER["id"]
POINTS = fixture("point_accounts")["response"]["body"]  # balance 150.0, definition 1
CUSTOMER = {"id": "ct-cust-1", "email": "jane@example.com", "externalId": "legacy-7"}
NOW = datetime(2026, 12, 2, tzinfo=UTC)
ACCOUNT = {"baseUrl": BASE, "apiKey": "voyado-key-never-logged", "storeExternalId": "ecom-1"}


def provider(**overrides) -> VoyadoProvider:
    account = VoyadoAccount.model_validate({**ACCOUNT, **overrides})
    built = build_provider("nordics", account, ProviderContext(lambda r: 1000.0, lambda _: None))
    return built.bounded(5.0, max_retries=0)


def rewards(provider_overrides: dict | None = None, **setup) -> RewardsAccount:
    found = rewards_account(provider(**(provider_overrides or {})), **setup)
    assert isinstance(found, VoyadoRewards)
    return found


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def not_found() -> dict:
    return {"status": 404, "json": {"errorCode": "ContactNotFound", "message": "m"}}


def member(**overrides) -> RewardMember:
    values = {
        "customer_id": "ct-cust-1",
        "member_id": CONTACT,
        "email": "jane@example.com",
        "balance": None,
    }
    return RewardMember(**{**values, **overrides})


def ask(**overrides) -> RewardAsk:
    values = {
        "reward_id": VOUCHER_ID,
        "channel": Channel.ONLINE,
        "currency": "SEK",
        "basket": 10_000,
        "now": NOW,
    }
    return RewardAsk(**{**values, **overrides})


# --- dispatch --------------------------------------------------------------------------------


def test_the_factory_dispatches_by_provider_name():
    found = rewards()
    assert isinstance(found, RewardsAccount)
    assert (found.provider, found.account_key) == ("voyado", "nordics")
    assert found.capabilities.redemption_commit_after_payment
    assert isinstance(found.bounded(1.0), VoyadoRewards)


# --- the member ------------------------------------------------------------------------------


def test_the_contact_is_found_by_custom_key_first(rsps):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    found = rewards().find_member(CUSTOMER, MemberIdentity(source="externalId"))
    # Found by customKey: the record's email is not needed, so not waited for.
    assert found == RewardMember(
        "ct-cust-1", CONTACT, None, None, {"contactId": CONTACT}, "member_id"
    )
    (call,) = rsps.calls
    assert query(call) == {"customKey": ["legacy-7"]}


def test_then_by_the_customer_records_email(rsps):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, **not_found())
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    found = rewards().find_member(CUSTOMER, MemberIdentity())
    assert found is not None and (found.member_id, found.found_by) == (CONTACT, "email")
    assert query(rsps.calls[0]) == {"customKey": ["ct-cust-1"]}
    assert query(rsps.calls[1]) == {"email": ["jane@example.com"]}


def test_a_tenant_whose_custom_key_is_not_the_external_id_is_asked_by_email_only(rsps):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    found = rewards({"customKeyIsExternalId": False}).find_member(CUSTOMER, MemberIdentity())
    assert found is not None and found.member_id == CONTACT
    assert [query(c) for c in rsps.calls] == [{"email": ["jane@example.com"]}]


def test_no_contact_is_none(rsps):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, **not_found())
    assert rewards().find_member({"id": "ct-cust-1"}, MemberIdentity()) is None
    assert len(rsps.calls) == 1  # no email on the record: nothing else to ask by


def test_two_contacts_on_one_key_stay_a_permanent_error(rsps):
    rsps.get(
        BASE + VoyadoPaths.CONTACT_ID,
        status=409,
        json={"errorCode": "MultipleMatches", "message": "m"},
    )
    with pytest.raises(AmbiguousContact) as raised:
        rewards().find_member(CUSTOMER, MemberIdentity())
    assert isinstance(raised.value, PermanentError)
    assert isinstance(raised.value, AmbiguousMember)  # the port's name for it
    assert raised.value.status == 409


def test_the_till_reads_the_points_balance(rsps):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json=POINTS)
    found = rewards(full_member=True).find_member(CUSTOMER, MemberIdentity())
    assert found is not None and found.balance == 150
    assert found.profile["pointAccount"]["definitionId"] == 1
    assert query(rsps.calls[1]) == {"contactId": [CONTACT]}


def test_a_contact_without_the_point_account_has_no_balance(rsps):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json={"items": []})
    found = rewards(full_member=True).find_member(CUSTOMER, MemberIdentity())
    assert found is not None and found.balance is None


def test_no_member_can_be_presumed_without_a_look_up():
    assert rewards().presumed(CUSTOMER, MemberIdentity()) is None


def test_a_failing_tenant_is_transient(rsps):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=503)
    with pytest.raises(TransientError):
        rewards().find_member(CUSTOMER, MemberIdentity())


# --- the rewards and the decision -----------------------------------------------------------


@pytest.mark.parametrize("channel", [Channel.ONLINE, Channel.IN_STORE])
def test_the_offers_are_the_available_vouchers_on_every_channel(rsps, channel):
    rsps.get(BASE + VoyadoPaths.AVAILABLE_VOUCHERS, json=VOUCHERS)
    offers = rewards().offers(member(), channel=channel)
    assert [o["id"] for o in offers] == [VOUCHER_ID]
    assert query(rsps.calls[0]) == {"contactId": [CONTACT]}


def test_an_available_voucher_is_approved_with_its_number():
    decision = rewards().decide(member(), [VOUCHER], ask())
    assert isinstance(decision, CodedApproval) and isinstance(decision, Approval)
    assert (decision.option_id, decision.amount, decision.points, decision.code) == (
        VOUCHER_ID,
        5000,
        0,
        "2511233093766",
    )


def test_the_till_has_no_basket_and_values_it_in_the_programs_currency():
    till = ask(channel=Channel.IN_STORE, currency=None, basket=None)
    decision = rewards(base_currency="sek").decide(member(), [VOUCHER], till)
    assert isinstance(decision, Approval) and decision.amount == 5000
    refused = rewards().decide(member(), [VOUCHER], till)
    assert isinstance(refused, Rejection)
    assert refused.error is RedemptionError.CURRENCY_NOT_SUPPORTED


@pytest.mark.parametrize(
    ("offers", "asked", "error"),
    [
        ([], ask(), RedemptionError.NOT_ELIGIBLE),  # not among the available
        ([VOUCHER], ask(reward_id="1"), RedemptionError.UNKNOWN_OPTION),  # not a voucher id
        ([VOUCHER], ask(currency="EUR"), RedemptionError.CURRENCY_NOT_SUPPORTED),
        ([VOUCHER], ask(basket=4999), RedemptionError.BELOW_MINIMUM),
        ([VOUCHER], ask(now=datetime(2027, 6, 1, tzinfo=UTC)), RedemptionError.NOT_ELIGIBLE),
        # No points-spend rewards at Voyado: the till may not ask to spend points on one.
        ([VOUCHER], ask(channel=Channel.IN_STORE, points=500), RedemptionError.INVALID_POINTS),
    ],
)
def test_refusals(offers, asked, error):
    """Each refusal, decided without a call."""
    decision = rewards().decide(member(), offers, asked)
    assert isinstance(decision, Rejection) and decision.error is error


# --- redeem and give back --------------------------------------------------------------------


def approved() -> Approval:
    decision = rewards().decide(member(), [VOUCHER], ask())
    assert isinstance(decision, Approval)
    return decision


def test_a_deferred_redemption_makes_no_call(rsps):
    redeemed = rewards().redeem(member(), approved(), ask(), deferred=True)
    assert redeemed == Redeemed(VOUCHER_ID, "2511233093766", deferred=True)
    assert len(rsps.calls) == 0
    assert rewards().cancel(redeemed) is None  # nothing was redeemed: nothing to give back
    assert len(rsps.calls) == 0


def test_the_till_redeems_the_voucher_now(rsps):
    path = VoyadoPaths.REDEEM_VOUCHER.format(voucher_id=VOUCHER_ID)
    rsps.post(BASE + path, json=fixture("reward_voucher_redeem")["response"]["body"])
    till = ask(channel=Channel.IN_STORE, basket=None)
    redeemed = rewards().redeem(member(), approved(), till, deferred=False)
    assert (redeemed.redemption_id, redeemed.code, redeemed.deferred) == (
        VOUCHER_ID,
        "2511233093766",
        False,
    )
    assert redeemed.answer["voucherNumber"] == "2511233093766"


def test_a_voucher_redeemed_elsewhere_meanwhile_is_refused(rsps):
    path = VoyadoPaths.REDEEM_VOUCHER.format(voucher_id=VOUCHER_ID)
    rsps.post(
        BASE + path,
        status=409,
        json={"errorCode": "RewardVoucherAlreadyRedeemed", "message": "m"},
    )
    with pytest.raises(PermanentError, match="already redeemed"):
        rewards().redeem(member(), approved(), ask(), deferred=False)


def test_an_approval_of_no_voucher_is_refused_before_any_call(rsps):
    wrong = Approval("1", "fixed", 500, 0, None, 0, 500)
    with pytest.raises(PermanentError):
        rewards().redeem(member(), wrong, ask(), deferred=False)
    assert len(rsps.calls) == 0


REACTIVATE = VoyadoPaths.REACTIVATE_VOUCHER.format(voucher_id=VOUCHER_ID)


def test_a_redeemed_voucher_is_reactivated(rsps):
    rsps.post(BASE + REACTIVATE, json=fixture("reward_voucher_reactivate")["response"]["body"])
    assert rewards().cancel(Redeemed(VOUCHER_ID, "2511233093766")) is None
    assert len(rsps.calls) == 1


def test_a_voucher_already_active_again_is_done(rsps):
    rsps.post(
        BASE + REACTIVATE,
        status=409,
        json={"errorCode": "RewardVoucherAlreadyActivated", "message": "m"},
    )
    assert rewards().cancel(Redeemed(VOUCHER_ID, "2511233093766")) is None


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, "RewardVoucherNotFound", RewardGone),
        (409, "ReactivationLimitExceeded", NotReversible),
        (409, "RewardVoucherExpired", NotReversible),
    ],
)
def test_reactivation_refusals(rsps, status, code, error):
    rsps.post(BASE + REACTIVATE, status=status, json={"errorCode": code, "message": "m"})
    with pytest.raises(error):
        rewards().cancel(Redeemed(VOUCHER_ID, "2511233093766"))


@pytest.mark.parametrize(("reward_id", "ok"), [(VOUCHER_ID, True), ("1", False), (None, False)])
def test_the_voucher_id_shape_is_refused_before_any_call(rsps, reward_id, ok):
    refusal = rewards().id_refusal(reward_id)
    assert (refusal is None) is ok
    if refusal is not None:
        assert refusal.error is RedemptionError.UNKNOWN_OPTION
    assert len(rsps.calls) == 0


class LateEmail(dict):
    """A customer record whose email is still being read: notes when it is first asked."""

    def __init__(self, calls, **values) -> None:
        super().__init__(**values)
        self.calls = calls
        self.asked_after: int | None = None

    def get(self, key, default=None):
        if key == "email" and self.asked_after is None:
            self.asked_after = len(self.calls)
        return super().get(key, default)


def test_the_email_is_read_only_after_the_custom_key_look_up_and_only_when_needed(rsps):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, **not_found())
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    customer = LateEmail(rsps.calls, **CUSTOMER)
    found = rewards().find_member(customer, MemberIdentity())
    assert found is not None and found.email == "jane@example.com"
    assert customer.asked_after == 1  # the customKey call had gone out first

    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    by_key = LateEmail(rsps.calls, **CUSTOMER)
    found = rewards().find_member(by_key, MemberIdentity())
    assert found is not None and found.found_by == "member_id"
    assert by_key.asked_after is None  # found by customKey: the email was never waited for
