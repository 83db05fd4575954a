"""One write-back for every provider (ADR 0097): which provider account `CustomerWriteback`
asks, by which identifiers, and within which budget, against the running commercetools
stand-in. The providers here are port-level stand-ins that record what they are asked; the
real adapters are exercised in tests/job/test_writeback.py (Yotpo) and
tests/writeback/test_provider_writeback.py (Voyado)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.customers.provider_writeback import ProviderWritebackTimeout, member_keys
from shared.customers.writeback import OWN_CUSTOMER_TYPE_KEY, CustomerWriteback
from shared.domain.loyalty_fields import CustomerFields
from shared.domain.providers.port import Capabilities
from shared.domain.providers.yotpo import YOTPO_CAPABILITIES
from shared.providers.port import MemberState
from shared.runtime import ProviderRoute
from tests.writeback.test_provider_writeback import Commercetools, start_commercetools

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
NORDIC = "nordic"


class Recording:
    """A provider account that answers a fixed state and records each look-up's keys."""

    def __init__(self, name: str, key: str, capabilities: Capabilities, points: int) -> None:
        self.name = name
        self.account_key = key
        self.capabilities = capabilities
        self.asked: list[dict[str, Any]] = []
        self.budgets: list[float] = []
        self._points = points

    def member_state(self, **keys: Any) -> MemberState | None:
        self.asked.append(keys)
        return MemberState(points_balance=self._points)

    def bounded(self, budget_seconds: float, **_: Any) -> Recording:
        self.budgets.append(budget_seconds)
        return self


@pytest.fixture
def ct() -> Iterator[Commercetools]:
    started = start_commercetools()
    try:
        started.install()
        yield started
    finally:
        started.close()


@pytest.fixture
def yotpo() -> Recording:
    return Recording("yotpo", "default", YOTPO_CAPABILITIES, points=100)


@pytest.fixture
def voyado() -> Recording:
    return Recording("voyado", NORDIC, Capabilities(provider="voyado", dedup={}), points=250)


def routes(*accounts: Recording) -> Any:
    """Like `Runtime.provider_for_store`: a store's own account, else `default`, else None."""
    by_key = {a.account_key: ProviderRoute(key=a.account_key, provider=a) for a in accounts}

    def provider_for_store(store: str | None) -> ProviderRoute | None:
        return by_key.get(store or "") or by_key.get("default")

    return provider_for_store


def writeback(ct: Commercetools, *accounts: Recording, **kwargs: Any) -> CustomerWriteback:
    provider_for = routes(*accounts) if accounts else None
    return CustomerWriteback(
        ct.client, provider_for, type_key=OWN_CUSTOMER_TYPE_KEY, now=lambda: NOW, **kwargs
    )


def nordic_customer(ct: Commercetools, email: str = "nils@example.com") -> dict[str, Any]:
    return ct.customer(email, stores=[{"typeId": "store", "key": NORDIC}])


def test_the_provider_of_the_customers_store_is_asked(
    ct: Commercetools, yotpo: Recording, voyado: Recording
) -> None:
    nils = nordic_customer(ct)
    result = writeback(ct, yotpo, voyado).sync(nils["id"])
    assert result.outcome == "updated"
    assert voyado.asked == [{"member_id": nils["id"], "email": "nils@example.com"}]
    assert yotpo.asked == []
    assert ct.fields(nils["id"])[CustomerFields.POINTS_BALANCE] == 250


def test_a_customer_without_a_store_of_its_own_gets_the_default_account(
    ct: Commercetools, yotpo: Recording, voyado: Recording
) -> None:
    ada = ct.customer("ada@example.com")
    assert writeback(ct, yotpo, voyado).sync(ada["id"]).outcome == "updated"
    # Yotpo's look-up takes one identifier: the member id alone.
    assert yotpo.asked == [{"member_id": ada["id"]}] and voyado.asked == []
    assert ct.fields(ada["id"])[CustomerFields.POINTS_BALANCE] == 100


def test_a_named_provider_counts_only_its_own_accounts(
    ct: Commercetools, yotpo: Recording, voyado: Recording
) -> None:
    """A Yotpo webhook for a customer of the Voyado store: as before the port, the Yotpo
    account serving the customer is `default` (its store's own account is not Yotpo's)."""
    nils = nordic_customer(ct)
    result = writeback(ct, yotpo, voyado).sync(nils["id"], provider_name="yotpo")
    assert result.outcome == "updated"
    assert yotpo.asked == [{"member_id": nils["id"]}] and voyado.asked == []


def test_no_account_serving_the_customer_writes_nothing(
    ct: Commercetools, voyado: Recording
) -> None:
    ada = ct.customer("ada@example.com")  # no store of Voyado's, and no default account
    only_nordic = writeback(ct, voyado)
    assert only_nordic.sync(ada["id"]).outcome == "no_account"
    assert writeback(ct).sync(ada["id"]).outcome == "no_account"  # no routing at all
    nils = nordic_customer(ct)
    assert only_nordic.sync(nils["id"], provider_name="yotpo").outcome == "no_account"
    assert voyado.asked == []
    assert ct.read(ada["id"])["version"] == ada["version"]


def test_a_given_provider_is_asked_whatever_the_stores(
    ct: Commercetools, yotpo: Recording, voyado: Recording
) -> None:
    nils = nordic_customer(ct)
    assert writeback(ct, yotpo, voyado).sync(nils["id"], yotpo).outcome == "updated"
    assert yotpo.asked == [{"member_id": nils["id"]}] and voyado.asked == []


def test_the_deadline_bounds_the_provider_and_a_passed_one_asks_nothing(
    ct: Commercetools, voyado: Recording
) -> None:
    nils = nordic_customer(ct)
    bounded = writeback(ct, voyado, monotonic=lambda: 100.0)
    assert bounded.sync(nils["id"], deadline=103.0).outcome == "updated"
    assert voyado.budgets == [3.0]

    late = writeback(ct, voyado, monotonic=lambda: 200.0)
    with pytest.raises(ProviderWritebackTimeout):
        late.sync(nils["id"], deadline=150.0)
    assert len(voyado.asked) == 1


def test_member_keys_give_yotpo_one_identifier_and_others_the_email_too(
    yotpo: Recording, voyado: Recording
) -> None:
    assert member_keys(yotpo, "m-1", "a@example.com") == {"member_id": "m-1"}
    assert member_keys(voyado, "m-1", "a@example.com") == {
        "member_id": "m-1",
        "email": "a@example.com",
    }
    assert member_keys(voyado, "m-1", None) == {"member_id": "m-1", "email": None}
