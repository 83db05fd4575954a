"""What the loyalty API reads from commercetools: customers and orders a POS key may see.

A POS key acts for one store. It sees customers that belong to no store or to its store, and
orders of its store or of none (online orders, which customers may return in any shop) — and
orders of other stores served by the same Yotpo account, since their points are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.instore.access import Principal
from service.instore.problems import not_found
from shared.commercetools import CommercetoolsClient
from shared.domain.customer_sync import FIELD_PHONE_NUMBER, e164
from shared.errors import NotFoundError
from shared.runtime import Runtime

ORDER_EXPAND = ("paymentInfo.payments[*]",)
# A phone number is not unique; more than this many matches is a data problem to show, not page.
_MAX_CANDIDATES = 20


def literal(value: str) -> str:
    """`value` as a string literal of commercetools' query predicate language."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _store_keys(resource: Mapping[str, Any]) -> list[str]:
    return [str(s.get("key")) for s in resource.get("stores") or [] if isinstance(s, Mapping)]


def customer_visible(customer: Mapping[str, Any], principal: Principal) -> bool:
    stores = _store_keys(customer)
    return not stores or principal.store in stores


def _phones(customer: Mapping[str, Any]) -> set[str]:
    numbers = set()
    fields = (customer.get("custom") or {}).get("fields") or {}
    for value in [fields.get(FIELD_PHONE_NUMBER)] + [
        a.get(name)
        for a in customer.get("addresses") or []
        if isinstance(a, Mapping)
        for name in ("phone", "mobile")
    ]:
        number = e164(value)
        if number:
            numbers.add(number)
    return numbers


class CustomerDirectory:
    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def by_email(self, principal: Principal, email: str) -> list[dict[str, Any]]:
        # Stored emails keep the case the customer typed; `lowercaseEmail` is commercetools'
        # normalised copy. Either matching is the same customer.
        where = f"lowercaseEmail = {literal(email.lower())} or email = {literal(email)}"
        return self._visible(principal, where)

    def by_phone(self, principal: Principal, phone: str) -> list[dict[str, Any]]:
        """Customers whose loyalty phone field or an address phone/mobile is `phone` (E.164).

        The query matches stored values exactly, so numbers stored with spaces or dashes are
        not found; the connector's own field holds E.164 (see shared.domain.customer_sync).
        """
        number = literal(phone)
        where = (
            f"addresses(phone = {number} or mobile = {number}) or "
            f"custom(fields({FIELD_PHONE_NUMBER} = {number}))"
        )
        return [c for c in self._visible(principal, where) if phone in _phones(c)]

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


def order_visible(order: Mapping[str, Any], principal: Principal, runtime: Runtime) -> bool:
    store = (order.get("store") or {}).get("key")
    if store is None or store == principal.store:
        return True
    theirs = runtime.yotpo_for_store(store)
    ours = runtime.yotpo_for_store(principal.store)
    return theirs is not None and ours is not None and theirs.account.guid == ours.account.guid


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
) -> dict[str, Any]:
    """The order with this number, payments expanded; 404 when absent or not this key's."""
    order = find_order(commercetools, order_number, expand=ORDER_EXPAND)
    if order is None or not order_visible(order, principal, runtime):
        raise not_found("unknown_order", "no order with this order number")
    return order
