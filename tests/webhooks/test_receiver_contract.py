"""The webhook receiver takes the contract fixtures' payloads (the examples of Yotpo's pages)."""

from __future__ import annotations

from typing import Any

import pytest

from service.webhooks import WRITEBACK_TOPICS, YotpoWebhooks
from shared.customers.writeback import WritebackResult
from shared.domain.customers.member_identity import MemberIdentity
from tests.contracts.yotpo_fixtures import fixture, webhook_names


class FakeWriteback:
    def __init__(self, identity: MemberIdentity | None = None) -> None:
        self.identity = identity or MemberIdentity()
        self.synced: list[str] = []
        self.members: list[str] = []

    def sync(
        self, customer_id: str, *, deadline: float | None = None, provider_name: str | None = None
    ) -> WritebackResult:
        assert provider_name == "yotpo"  # a Yotpo webhook speaks for Yotpo's members only
        self.synced.append(customer_id)
        return WritebackResult(customer_id, "updated", ("points_balance",))

    def customer_of_member(self, member: str) -> dict[str, Any]:
        self.members.append(member)
        return {"id": "ct-found-by-member", "version": 1}

    def sync_customer(
        self, customer: Any, *, deadline: float | None = None, provider_name: str | None = None
    ) -> WritebackResult:
        assert provider_name == "yotpo"
        self.synced.append(str(customer["id"]))
        return WritebackResult(str(customer["id"]), "updated", ("points_balance",))


class Unused:
    def record(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("not a cancellation")


WRITEBACK = [n for n in webhook_names() if fixture(n)["topic"] in WRITEBACK_TOPICS]


def test_every_writeback_topic_has_a_fixture():
    assert {fixture(n)["topic"] for n in WRITEBACK} == set(WRITEBACK_TOPICS)


@pytest.mark.parametrize("name", WRITEBACK)
def test_writeback_webhooks_look_the_member_up_by_the_id_the_fixture_carries(name):
    writeback = FakeWriteback()
    webhooks = YotpoWebhooks(Unused(), writeback)  # type: ignore[arg-type]

    outcome = webhooks.handle(fixture(name)["payload"])

    # points-changed spells it `thirty_party_id` in Yotpo's example; the rest `third_party_id`.
    assert outcome == "updated" and writeback.synced == ["ct-cust-1"]


@pytest.mark.parametrize("name", WRITEBACK)
def test_with_a_legacy_member_id_source_the_fixtures_id_names_the_member(name):
    """MEMBER_ID_SOURCE=externalId: the payload's id is the member id, not a customer id."""
    writeback = FakeWriteback(MemberIdentity(source="externalId"))
    webhooks = YotpoWebhooks(Unused(), writeback)  # type: ignore[arg-type]

    assert webhooks.handle(fixture(name)["payload"]) == "updated"
    assert writeback.members == ["ct-cust-1"]
    assert writeback.synced == ["ct-found-by-member"]
