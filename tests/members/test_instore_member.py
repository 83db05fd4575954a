"""The till's member lookup names the Yotpo member by `member_id(customer, identity)`
(docs/adr/0010-member-identity.md), with the email as the fallback it always had."""

from __future__ import annotations

from typing import Any

import pytest

from service.instore.members import customer_summary, find_member
from service.instore.problems import Problem
from shared.domain.customers.member_identity import MemberIdentity

CUSTOMER = {
    "id": "ct-1",
    "email": "ada@example.com",
    "externalId": "legacy-1",
    "custom": {"fields": {"loyaltyMemberId": "field-1"}},
}


class FakeClient:
    """YotpoClient.get_customer over members keyed by id and by email."""

    def __init__(self, by_id: dict[str, int], by_email: dict[str, int] | None = None) -> None:
        self.by_id = by_id
        self.by_email = by_email or {}
        self.asked: list[dict[str, str]] = []

    def get_customer(self, **kwargs: Any) -> dict[str, Any] | None:
        key = {k: v for k, v in kwargs.items() if k in ("customer_id", "email")}
        self.asked.append(key)
        if "customer_id" in key:
            points = self.by_id.get(key["customer_id"])
        else:
            points = self.by_email.get(key["email"])
        return None if points is None else {"points_balance": points}


@pytest.mark.parametrize(
    ("identity", "member_id"),
    [
        (MemberIdentity(), "ct-1"),
        (MemberIdentity(source="externalId"), "legacy-1"),
        (MemberIdentity(source="customField"), "field-1"),
    ],
)
def test_the_member_is_looked_up_and_named_by_its_member_id(identity, member_id):
    client = FakeClient({member_id: 70})
    member = find_member(client, CUSTOMER, identity)  # type: ignore[arg-type]
    assert client.asked == [{"customer_id": member_id}]
    assert (member.customer_id, member.member_id, member.by_member_id) == ("ct-1", member_id, True)
    # Every later call (options, redemption) names the member, never the commercetools id.
    assert member.identifier == {"customer_id": member_id}
    assert member.payload_identifier == {"customer_id": member_id}
    # The till keeps showing the commercetools customer id: it is what it sends back.
    assert customer_summary(CUSTOMER, member)["customer_id"] == "ct-1"
    assert customer_summary(CUSTOMER, member)["points_balance"] == 70


def test_a_member_known_only_by_email_is_still_found_by_email():
    client = FakeClient({}, {"ada@example.com": 5})
    member = find_member(client, CUSTOMER, MemberIdentity(source="externalId"))  # type: ignore[arg-type]
    assert client.asked == [{"customer_id": "legacy-1"}, {"email": "ada@example.com"}]
    assert member.identifier == {"email": "ada@example.com"}


def test_a_member_under_the_commercetools_id_only_is_not_the_legacy_customers():
    client = FakeClient({"ct-1": 5})
    with pytest.raises(Problem) as missing:
        find_member(client, {**CUSTOMER, "email": None}, MemberIdentity(source="externalId"))  # type: ignore[arg-type]
    assert missing.value.status == 404
