"""The till's member lookup names the member by `member_id(customer, identity)`
(docs/adr/0010-member-identity.md), with the customer record's email as the fallback it always
had — through the store's rewards account, at the HTTP boundary (`responses`)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from service.instore.members import customer_summary, find_member
from service.instore.problems import Problem
from shared.domain.customers.member_identity import MemberIdentity
from shared.providers.rewards import RewardsAccount, rewards_account
from shared.providers.yotpo import YotpoProvider
from shared.yotpo import YotpoClient

API = "https://loyalty.test/api/v2"
CUSTOMER = {
    "id": "ct-1",
    "email": "ada@example.com",
    "externalId": "legacy-1",
    "custom": {"fields": {"loyaltyMemberId": "field-1"}},
}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def rewards() -> RewardsAccount:
    client = YotpoClient(
        guid="guid-1", api_key="key-1", api_url=API, rate_limit_per_second=1000.0, max_retries=0
    )
    found = rewards_account(YotpoProvider("default", client), full_member=True)
    assert found is not None
    return found


def asked(rsps) -> list[dict[str, str]]:
    keys = ("customer_id", "customer_email")
    return [
        {k: v[0] for k, v in parse_qs(urlsplit(c.request.url).query).items() if k in keys}
        for c in rsps.calls
    ]


def unknown(rsps) -> None:
    rsps.get(f"{API}/customers", status=404, json={"error": "not found"})


@pytest.mark.parametrize(
    ("identity", "member_id"),
    [
        (MemberIdentity(), "ct-1"),
        (MemberIdentity(source="externalId"), "legacy-1"),
        (MemberIdentity(source="customField"), "field-1"),
    ],
)
def test_the_member_is_looked_up_and_named_by_its_member_id(rsps, identity, member_id):
    rsps.get(f"{API}/customers", json={"points_balance": 70, "vip_tier_name": "Gold"})
    account = rewards()
    member = find_member(account, CUSTOMER, identity)
    assert asked(rsps) == [{"customer_id": member_id}]
    assert (member.customer_id, member.member_id, member.found_by) == (
        "ct-1",
        member_id,
        "member_id",
    )
    # The till keeps showing the commercetools customer id: it is what it sends back.
    summary = customer_summary(CUSTOMER, member, account.state(member))
    assert summary["customer_id"] == "ct-1"
    assert (summary["points_balance"], summary["vip_tier"]) == (70, "Gold")
    assert summary["email"] != CUSTOMER["email"]  # masked


def test_a_member_known_only_by_email_is_still_found_by_email(rsps):
    unknown(rsps)
    rsps.get(f"{API}/customers", json={"points_balance": 5})
    member = find_member(rewards(), CUSTOMER, MemberIdentity(source="externalId"))
    assert asked(rsps) == [{"customer_id": "legacy-1"}, {"customer_email": "ada@example.com"}]
    assert member.found_by == "email"


def test_a_member_under_the_commercetools_id_only_is_not_the_legacy_customers(rsps):
    unknown(rsps)
    with pytest.raises(Problem) as missing:
        find_member(rewards(), {**CUSTOMER, "email": None}, MemberIdentity(source="externalId"))
    assert missing.value.status == 404
    assert asked(rsps) == [{"customer_id": "legacy-1"}]
