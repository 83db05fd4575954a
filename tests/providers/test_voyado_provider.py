"""The Voyado adapter at the HTTP boundary (`responses`): what `send`, `was_applied` and
`member_state` call for each kind, and how Voyado's answers map onto the port."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from pydantic import ValidationError

from shared.domain.providers.port import MemberUpsert, PointsReturned, RedemptionCommitted
from shared.errors import PermanentError
from shared.providers.port import ProviderRateLimited, SendOutcome
from shared.providers.registry import ProviderContext, factory, secret_values
from shared.providers.voyado import VoyadoAccount, VoyadoProvider, build_provider
from shared.voyado import AmbiguousContact, VoyadoPaths, VoyadoPermanentError

BASE = "https://shop.voyado.test"
CONTACT = "2e40b702-2767-4abe-ae99-aa510108e22b"
VOUCHER = "af61c5c8-7ff8-1234-9b67-c75300738cd3"
ACCOUNT = {
    "baseUrl": BASE,
    "apiKey": "voyado-key-never-logged",
    "storeExternalId": "ecom-1",
    "webhookSecret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
}


def make(**overrides) -> VoyadoProvider:
    account = VoyadoAccount.model_validate({**ACCOUNT, **overrides})
    return build_provider("default", account, ProviderContext(lambda r: 1000.0, lambda _: None))


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def provider() -> VoyadoProvider:
    return make()


def error(code: str) -> dict[str, str]:
    return {"errorCode": code, "message": "m"}


UPSERT = MemberUpsert(member_id="cust-1", email="jane@example.com")


def test_a_known_contact_is_not_created_again(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    body = provider.renderer.render(UPSERT)
    assert provider.send("customer", body, idempotency_key="customer:cust-1") == (
        SendOutcome.DUPLICATE
    )


def test_a_missing_contact_is_looked_up_by_every_key_then_created(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=404, json=error("ContactNotFound"))
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=404, json=error("ContactNotFound"))
    rsps.post(BASE + VoyadoPaths.CONTACTS, status=201, json={"id": CONTACT})
    body = provider.renderer.render(UPSERT)
    assert provider.send("customer", body, idempotency_key="k") == SendOutcome.SENT
    lookups = [parse_qs(urlsplit(c.request.url).query) for c in rsps.calls[:2]]
    assert lookups == [{"email": ["jane@example.com"]}, {"customKey": ["cust-1"]}]
    create = rsps.calls[2].request
    assert parse_qs(urlsplit(create.url).query) == {
        "source": ["commercetools"],
        "storeExternalId": ["ecom-1"],
    }
    assert json.loads(create.body)["externalId"] == "cust-1"


def test_a_contact_created_meanwhile_is_a_duplicate(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=404, json=error("ContactNotFound"))
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=404, json=error("ContactNotFound"))
    rsps.post(BASE + VoyadoPaths.CONTACTS, status=409, json=error("ContactAlreadyExists"))
    body = provider.renderer.render(UPSERT)
    assert provider.send("customer", body, idempotency_key="k") == SendOutcome.DUPLICATE


def test_several_contacts_for_one_email_is_permanent(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=409, json=error("MultipleMatches"))
    with pytest.raises(AmbiguousContact) as caught:
        provider.send("customer", provider.renderer.render(UPSERT), idempotency_key="k")
    assert isinstance(caught.value, PermanentError)


def test_receipts_go_to_the_receipts_path(rsps, provider):
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=202)
    body = {"uniqueReceiptId": "ord-1", "totalGrossPrice": "10.00"}
    assert provider.send("order", body, idempotency_key="order:ord-1") == SendOutcome.SENT
    assert b'"totalGrossPrice":10.00' in rsps.calls[0].request.body


def test_points_find_the_contact_and_carry_the_ledger_key(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    rsps.post(BASE + VoyadoPaths.ADD_POINT_TRANSACTIONS, json={"notAccepted": []})
    body = provider.renderer.render(PointsReturned(member_id="cust-1", points=5, order_ref="o"))
    assert provider.send("reward_return", body, idempotency_key="reward_return:o") == (
        SendOutcome.SENT
    )
    sent = rsps.calls[1].request
    assert sent.headers["Idempotency-Key"] == "reward_return:o"
    assert json.loads(sent.body) == [{**body["row"], "contactId": CONTACT}]


def test_a_skipped_points_row_is_permanent(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    rsps.post(
        BASE + VoyadoPaths.ADD_POINT_TRANSACTIONS,
        json={"notAccepted": [{"amount": 5}], "errorMessages": ["definitionId 1 not found"]},
    )
    body = provider.renderer.render(PointsReturned(member_id="cust-1", points=5, order_ref="o"))
    with pytest.raises(PermanentError):
        provider.send("reward_return", body, idempotency_key="k")


def test_points_for_an_unknown_member_are_permanent(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=404, json=error("ContactNotFound"))
    body = provider.renderer.render(PointsReturned(member_id="cust-1", points=5, order_ref="o"))
    with pytest.raises(PermanentError):
        provider.send("reward_return", body, idempotency_key="k")


@pytest.mark.parametrize(
    ("status", "answer", "outcome"),
    [
        (200, {"id": VOUCHER}, SendOutcome.SENT),
        (409, error("RewardVoucherAlreadyRedeemed"), SendOutcome.DUPLICATE),
    ],
)
def test_a_redeem_maps_409_already_redeemed_to_duplicate(rsps, provider, status, answer, outcome):
    rsps.post(
        BASE + VoyadoPaths.REDEEM_VOUCHER.format(voucher_id=VOUCHER), status=status, json=answer
    )
    body = provider.renderer.render(RedemptionCommitted(redemption_ref=VOUCHER, order_ref="o"))
    assert provider.send("redemption", body, idempotency_key="k") == outcome


def test_an_expired_voucher_is_permanent(rsps, provider):
    rsps.post(
        BASE + VoyadoPaths.REDEEM_VOUCHER.format(voucher_id=VOUCHER),
        status=409,
        json=error("RewardVoucherExpired"),
    )
    body = provider.renderer.render(RedemptionCommitted(redemption_ref=VOUCHER, order_ref="o"))
    with pytest.raises(VoyadoPermanentError):
        provider.send("redemption", body, idempotency_key="k")


def test_an_unknown_kind_or_action_is_permanent(provider):
    with pytest.raises(PermanentError):
        provider.send("loyalty_tier", {}, idempotency_key="k")  # type: ignore[arg-type]
    with pytest.raises(PermanentError):
        provider.send("redemption", {"voucherId": VOUCHER, "action": "delete"}, idempotency_key="k")


def test_a_rate_limit_is_the_ports_rate_limited(rsps):
    provider = make().bounded(0.5, max_retries=0)
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=429, headers={"Retry-After": "7"})
    with pytest.raises(ProviderRateLimited) as caught:
        provider.send("order", {"uniqueReceiptId": "o"}, idempotency_key="k")
    assert caught.value.retry_after == 7.0


def test_was_applied_reads_the_point_history_for_the_row(rsps, provider):
    body = provider.renderer.render(PointsReturned(member_id="cust-1", points=5, order_ref="o"))
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    rsps.get(
        BASE + VoyadoPaths.POINT_ACCOUNTS,
        json={"items": [{"id": 9, "definitionId": 1, "balance": 5.0}]},
    )
    rsps.get(
        BASE + VoyadoPaths.POINT_TRANSACTIONS,
        json={
            "totalCount": 2,
            "items": [
                {"amount": 5.0, "description": "something else"},
                {"amount": 5.0, "description": body["row"]["description"]},
            ],
        },
    )
    assert provider.was_applied("reward_return", body) is True
    assert parse_qs(urlsplit(rsps.calls[2].request.url).query)["accountId"] == ["9"]


def test_was_applied_is_false_without_the_row_and_none_for_receipts(rsps, provider):
    body = provider.renderer.render(PointsReturned(member_id="cust-1", points=5, order_ref="o"))
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json={"items": [{"id": 9, "definitionId": 1}]})
    rsps.get(
        BASE + VoyadoPaths.POINT_TRANSACTIONS,
        json={"items": [{"amount": 4, "description": body["row"]["description"]}]},
    )
    assert provider.was_applied("reward_return", body) is False
    assert provider.was_applied("order", {"uniqueReceiptId": "o"}) is None
    assert provider.was_applied("redemption", {"voucherId": VOUCHER}) is None


def test_member_state_reads_the_balance_of_the_tenants_definition(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    rsps.get(
        BASE + VoyadoPaths.POINT_ACCOUNTS,
        json={
            "items": [
                {"id": 2, "definitionId": 2, "balance": 999},
                {"id": 1, "definitionId": 1, "balance": 150.75},
            ]
        },
    )
    state = provider.member_state(email="jane@example.com")
    assert state is not None
    assert state.points_balance == 150 and state.tier is None
    assert state.raw["contactId"] == CONTACT


def test_member_state_of_an_unknown_member_is_none(rsps, provider):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=404, json=error("ContactNotFound"))
    assert provider.member_state(member_id="cust-404") is None
    with pytest.raises(ValueError):
        provider.member_state()


# --- the account and the factory -------------------------------------------------------------


def test_the_registry_builds_voyado_at_this_processs_share_of_the_rate():
    made = factory("voyado")
    account = made.account(ACCOUNT)
    provider = made.build("se", account, ProviderContext(lambda r: r / 4, lambda _: None))
    assert provider.name == "voyado" and provider.account_key == "se"
    assert provider.client.limiter.rate_per_second == 12.5
    assert set(secret_values(account)) == {ACCOUNT["apiKey"], ACCOUNT["webhookSecret"]}
    assert provider.capabilities.provider == "voyado"


@pytest.mark.parametrize(
    "bad",
    [
        {"baseUrl": "http://shop.voyado.com"},
        {"webhookSecret": "not-svix"},
        {"rateLimitPerSecond": 500},
        {"storeExternalId": ""},
        {"unknown": 1},
    ],
)
def test_a_bad_account_entry_is_refused(bad):
    with pytest.raises(ValidationError):
        VoyadoAccount.model_validate({**ACCOUNT, **bad})


def test_currencies_are_upper_case_and_loopback_http_is_allowed_for_the_sandbox():
    account = VoyadoAccount.model_validate(
        {**ACCOUNT, "baseUrl": "http://127.0.0.1:8093/", "currencies": ["sek", "eur"]}
    )
    assert account.currencies == frozenset({"SEK", "EUR"})
    assert account.base_url == "http://127.0.0.1:8093"


def test_a_webhook_without_a_configured_secret_is_refused():
    provider = make(webhookSecret=None)
    with pytest.raises(PermanentError):
        provider.verify_webhook({}, b"{}", 0)
