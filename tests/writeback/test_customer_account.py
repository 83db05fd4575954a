"""`customer_account`: the one rule that names the account serving a customer, for the
write-back and the nightly run (over `Runtime.provider_for_store`, ADR 0097)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.customers.writeback import customer_account


@dataclass(frozen=True)
class Account:
    key: str


def accounts(*own: str, default: bool = True) -> Any:
    """Like `Runtime.*_for_store`: a store's own account, else `default`, else None."""

    def account_for(store: str | None) -> Account | None:
        if store in own:
            return Account(store)
        return Account("default") if default else None

    return account_for


def customer(*stores: Any) -> dict[str, Any]:
    return {"id": "c-1", "stores": [{"typeId": "store", "key": s} for s in stores]}


def test_the_first_store_with_an_account_of_its_own_serves_the_customer() -> None:
    found = customer_account(customer("plain", "nordic", "outlet"), accounts("nordic", "outlet"))
    assert found == Account("nordic")


def test_a_customer_without_stores_or_without_own_accounts_gets_the_default() -> None:
    assert customer_account(customer(), accounts("nordic")) == Account("default")
    assert customer_account(customer("plain"), accounts("nordic")) == Account("default")
    assert customer_account({"id": "c-2"}, accounts()) == Account("default")


def test_no_default_and_no_own_account_is_no_account() -> None:
    assert customer_account(customer("plain"), accounts("nordic", default=False)) is None


def test_store_entries_of_the_wrong_shape_are_skipped() -> None:
    odd = {"id": "c-3", "stores": [None, "nordic", {"key": 7}, {"key": ""}, {"key": "nordic"}]}
    assert customer_account(odd, accounts("nordic")) == Account("nordic")
