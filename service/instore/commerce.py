"""What the loyalty API reads from commercetools: customers and orders a POS key may see.

A POS key acts for one store. It sees customers that belong to no store or to its store, and
orders of its store or of none (online orders, which customers may return in any shop) — and
orders of other stores served by the same loyalty account, since their points are the same.

It may refund less than it may see (docs/adr/0063-pos-keys-stay-in-their-store.md): orders of
its own store, and online (storeless) orders whose loyalty account is the key's own. A leaked
key cannot take points back from another store's sales, nor from another account's members.

Which account serves a store is `runtime.provider_for_store` (Yotpo or another provider);
`account_identity` names the account itself, so two stores sharing one account are told apart
from two stores with accounts of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.instore.access import Principal
from service.instore.phones import customer_numbers, spellings
from service.instore.problems import not_found
from shared.commercetools import CommercetoolsClient, literal, literal_list
from shared.domain.customers.customer_sync import FIELD_PHONE_NUMBER
from shared.errors import NotFoundError
from shared.runtime import ProviderRoute, Runtime

# What a refund's position is read from: the order's payments and their transactions. Not the
# reconciler's ORDER_EXPAND (that one also expands codes and product types for the planner).
PAYMENTS_EXPAND = ("paymentInfo.payments[*]",)
# A phone number is not unique; more than this many matches is a data problem to show, not page.
_MAX_CANDIDATES = 20


__all__ = ["CustomerDirectory", "literal", "order_refundable", "order_visible", "visible_order"]


def _store_keys(resource: Mapping[str, Any]) -> list[str]:
    return [str(s.get("key")) for s in resource.get("stores") or [] if isinstance(s, Mapping)]


def customer_visible(customer: Mapping[str, Any], principal: Principal) -> bool:
    stores = _store_keys(customer)
    return not stores or principal.store in stores


class CustomerDirectory:
    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def by_email(self, principal: Principal, email: str) -> list[dict[str, Any]]:
        # Stored emails keep the case the customer typed; `lowercaseEmail` is commercetools'
        # normalised copy. Either matching is the same customer.
        where = f"lowercaseEmail = {literal(email.lower())} or email = {literal(email)}"
        return self._visible(principal, where)

    def by_phone(self, principal: Principal, phone: str) -> list[dict[str, Any]]:
        """Customers whose loyalty phone field or an address phone/mobile is `phone` (E.164),
        however it is stored: with spaces or dashes, or nationally without the country code
        (completed with the address's country; see service.instore.phones)."""
        numbers = literal_list(spellings(phone))
        where = (
            f"addresses(phone in {numbers} or mobile in {numbers}) or "
            f"custom(fields({FIELD_PHONE_NUMBER} in {numbers}))"
        )
        return [
            c
            for c in self._visible(principal, where)
            if phone in customer_numbers(c, FIELD_PHONE_NUMBER)
        ]

    def by_id(self, principal: Principal, customer_id: str) -> dict[str, Any]:
        try:
            customer = self._ct.get_by_id("customers", customer_id)
        except NotFoundError:
            customer = None
        if customer is None or not customer_visible(customer, principal):
            raise not_found("unknown_customer", "no customer with this id")
        return customer

    def _visible(self, principal: Principal, where: str) -> list[dict[str, Any]]:
        page = self._ct.query("customers", where=where, limit=_MAX_CANDIDATES)
        return [c for c in page.get("results") or [] if customer_visible(c, principal)]


def account_identity(route: ProviderRoute) -> str:
    """The provider account a route talks to. A Yotpo account is its GUID (stores sharing an
    account share it; POS redemption records have always stored it as `accountGuid`); another
    provider's is its name and account key (each configured key has a client of its own)."""
    if route.yotpo is not None:
        return route.yotpo.account.guid
    return f"{route.provider.name}:{route.key}"


def _account(runtime: Runtime, store: str | None) -> str | None:
    route = runtime.provider_for_store(store)
    return account_identity(route) if route is not None else None


def order_visible(order: Mapping[str, Any], principal: Principal, runtime: Runtime) -> bool:
    store = (order.get("store") or {}).get("key")
    if store is None or store == principal.store:
        return True
    theirs = _account(runtime, store)
    return theirs is not None and theirs == _account(runtime, principal.store)


def order_refundable(order: Mapping[str, Any], principal: Principal, runtime: Runtime) -> bool:
    """Orders of the key's store, or online orders whose loyalty account is the key's."""
    store = (order.get("store") or {}).get("key")
    if store == principal.store:
        return True
    if store is not None:
        return False
    ours = _account(runtime, principal.store)
    return ours is not None and _account(runtime, None) == ours


def find_order(
    commercetools: CommercetoolsClient, order_number: str, *, expand: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    page = commercetools.query(
        "orders", where=f"orderNumber = {literal(order_number)}", limit=1, expand=list(expand)
    )
    results = page.get("results") or []
    return results[0] if results else None


def visible_order(
    commercetools: CommercetoolsClient,
    runtime: Runtime,
    principal: Principal,
    order_number: str,
    *,
    to_refund: bool = False,
) -> dict[str, Any]:
    """The order with this number, payments expanded; 404 when absent or not this key's
    (`to_refund`: not one this key may refund — the same answer, so nothing is confirmed)."""
    order = find_order(commercetools, order_number, expand=PAYMENTS_EXPAND)
    allowed = order_refundable if to_refund else order_visible
    if order is None or not allowed(order, principal, runtime):
        raise not_found("unknown_order", "no order with this order number")
    return order
