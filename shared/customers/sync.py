"""Bring a commercetools customer into its loyalty provider: the member upsert, then its birthday.

The I/O half of `shared.domain.customers.customer_sync` (which builds the neutral operations).
One customer is read once, with its groups expanded (they become the member's tags), and sent
to every provider account that serves one of its stores (`Runtime.provider_for_store`), each
account once: stores of one Yotpo account share its client (`build_runtime`), and so one
member. Every account goes through the port (ADR 0080): the provider-neutral member upsert
(`member_upsert`) is rendered by the account's own renderer and the rendered body is what
`LoyaltyProvider.send` sends. For Yotpo that is Create/Update Customer Records; for Voyado the
contact is found, and created only when none is (ADR 0085), so a customer who signs up in a
Voyado store is a contact before their first receipt names them.

A provider that takes the date of birth on a call of its own (kind "birthday", Yotpo's Set
Customer Birthday) gets it after the upsert: Yotpo names the member by the email just sent
(https://loyaltyapi.yotpo.com/reference/set-customer-birthday). Failures are the adapters'
typed errors; the caller decides what a failure means (the event app: retry or dead-letter).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.domain.customers.customer_sync import (
    CustomerSyncConfig,
    member_birthday,
    member_upsert,
)
from shared.domain.providers.port import BIRTHDAY, CUSTOMER, MemberBirthday, MemberUpsert
from shared.errors import NotFoundError
from shared.logs import log_event
from shared.orders.reconciler import CUSTOMER_EXPAND
from shared.runtime import ProviderRoute, Runtime

logger = logging.getLogger(__name__)


class CustomerSync:
    """Upserts one commercetools customer as a member in the provider accounts serving it."""

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
        """What happened, for operators; raises the adapters' errors (transient or permanent).

        `deadline` is on this object's monotonic clock; each provider call gets what is left.
        """
        try:
            customer = self._runtime.commercetools.get_by_id(
                "customers", customer_id, expand=list(CUSTOMER_EXPAND)
            )
        except NotFoundError:
            return f"customer {customer_id} no longer exists"
        upsert = member_upsert(customer, self._config)
        if upsert is None:
            log_event(logger, "customer.skipped", customer_id=customer_id, reason="no_email")
            return f"customer {customer_id} has no email"
        birthday = member_birthday(upsert)
        store_keys = [s.get("key") for s in customer.get("stores") or []]
        accounts = [
            label
            for label, route in self._accounts(store_keys)
            if self._send(route, upsert, birthday, deadline)
        ]
        log_event(
            logger,
            "customer.synced",
            customer_id=customer_id,
            accounts=accounts,
            birthday=birthday is not None,
            outcome="sent" if accounts else "skipped",
        )
        return f"customer {customer_id}: upserted in {len(accounts)} account(s)"

    def _send(
        self,
        route: ProviderRoute,
        upsert: MemberUpsert,
        birthday: MemberBirthday | None,
        deadline: float,
    ) -> bool:
        """The member upsert, then the birthday where the provider takes one; False when the
        provider has no member upsert (nothing sent)."""
        provider = route.provider
        capabilities = provider.capabilities
        if not capabilities.supports(CUSTOMER):
            return False
        # One view for both calls: its deadline is absolute, so the birthday gets what the
        # upsert left of `deadline`.
        bounded = provider.bounded(max(deadline - self._monotonic(), 0.0))
        bounded.send(
            CUSTOMER,
            provider.renderer.render(upsert),
            idempotency_key=f"{CUSTOMER}:{upsert.member_id}",
        )
        if birthday is not None and capabilities.supports(BIRTHDAY):
            bounded.send(
                BIRTHDAY,
                provider.renderer.render(birthday),
                idempotency_key=f"{BIRTHDAY}:{upsert.member_id}",
            )
        return True

    def _accounts(self, store_keys: list[str | None]) -> list[tuple[str, ProviderRoute]]:
        """The accounts serving these stores (a storeless customer: the default), each once, as
        (label for the log, route): Yotpo's first, as its account key, then the other
        providers' as `provider:key`."""
        found: dict[tuple[str, object], tuple[str, ProviderRoute]] = {}
        for key in store_keys or [None]:
            route = self._runtime.provider_for_store(key)
            if route is None:
                continue
            if route.yotpo is not None:
                # Stores of one Yotpo account share one client: one member, told once.
                found[("yotpo", id(route.yotpo.client))] = (route.key, route)
            else:
                label = f"{route.provider.name}:{route.key}"
                found[("other", label)] = (label, route)
        return sorted(found.values(), key=lambda item: (item[1].yotpo is None, item[0]))
