"""Bring a commercetools customer into its loyalty provider: the member upsert, then its birthday.

The I/O half of `shared.domain.customers.customer_sync` (which builds the bodies). One
customer is read once, with its groups expanded (they become the member's tags), and sent to
every Yotpo account that serves one of its stores — an account serving several of them gets
it once. The birthday goes after the upsert: Yotpo names the member by the email just sent
(https://loyaltyapi.yotpo.com/reference/set-customer-birthday). Failures are the clients'
typed errors; the caller decides what a failure means (the event app: retry or dead-letter).

A store served by another provider (LOYALTY_PROVIDERS) gets the provider-neutral member upsert
(`member_upsert`) rendered by its provider and sent through the port (ADR 0080): for Voyado the
contact is found, and created only when none is (ADR 0085), so a customer who signs up in a
Voyado store is a contact before their first receipt names them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.domain.customers.customer_sync import (
    CustomerSyncConfig,
    birthday_payload,
    customer_payload,
    member_upsert,
)
from shared.errors import NotFoundError
from shared.logs import log_event
from shared.orders.reconciler import CUSTOMER_EXPAND
from shared.runtime import ProviderRoute, Runtime, YotpoRoute

logger = logging.getLogger(__name__)


class CustomerSync:
    """Upserts one commercetools customer as a Yotpo member in the accounts serving it."""

    def __init__(
        self,
        runtime: Runtime,
        config: CustomerSyncConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = runtime
        self._config = config
        self._monotonic = monotonic

    def sync(self, customer_id: str, *, deadline: float) -> str:
        """What happened, for operators; raises the clients' errors (transient or permanent).

        `deadline` is on this object's monotonic clock; each Yotpo call gets what is left.
        """
        try:
            customer = self._runtime.commercetools.get_by_id(
                "customers", customer_id, expand=list(CUSTOMER_EXPAND)
            )
        except NotFoundError:
            return f"customer {customer_id} no longer exists"
        payload = customer_payload(customer, self._config)
        if payload is None:
            log_event(logger, "customer.skipped", customer_id=customer_id, reason="no_email")
            return f"customer {customer_id} has no email"
        store_keys = [s.get("key") for s in customer.get("stores") or []]
        routes = self._routes(store_keys)
        others = self._other_providers(store_keys)
        birthday = birthday_payload(customer)
        for found in routes:
            client = found.client.bounded(max(deadline - self._monotonic(), 0.0))
            client.upsert_customer(payload)
            if birthday is not None:
                client.set_customer_birthday(birthday)
        intent = member_upsert(customer, self._config) if others else None
        for other in others:
            if intent is None or not other.provider.capabilities.supports("customer"):
                continue
            provider = other.provider.bounded(max(deadline - self._monotonic(), 0.0))
            body = other.provider.renderer.render(intent)
            provider.send("customer", body, idempotency_key=f"customer:{intent.member_id}")
        accounts = sorted(r.key for r in routes) + sorted(
            f"{o.provider.name}:{o.key}" for o in others
        )
        log_event(
            logger,
            "customer.synced",
            customer_id=customer_id,
            accounts=accounts,
            birthday=birthday is not None,
            outcome="sent" if accounts else "skipped",
        )
        return f"customer {customer_id}: upserted in {len(accounts)} account(s)"

    def _routes(self, store_keys: list[str | None]) -> list[YotpoRoute]:
        """The Yotpo accounts serving these stores (a storeless customer: the default), each
        once."""
        routes: dict[int, YotpoRoute] = {}
        for key in store_keys or [None]:
            found = self._runtime.yotpo_for_store(key)
            if found is not None:
                routes[id(found.client)] = found
        return list(routes.values())

    def _other_providers(self, store_keys: list[str | None]) -> list[ProviderRoute]:
        """The accounts of other providers serving these stores, each once."""
        found: dict[str, ProviderRoute] = {}
        for key in store_keys or [None]:
            route = self._runtime.provider_for_store(key)
            if route is not None and route.yotpo is None:
                found[f"{route.provider.name}:{route.key}"] = route
        return list(found.values())
