"""Write a loyalty provider's member state onto its commercetools customer, whatever the provider.

One write-back for every caller and every provider (ADR 0097): the nightly run
(`job/nightly_customers.py`), Yotpo's points and tier webhooks (`service/webhooks.py`) and
Voyado's balance webhooks (`service/voyado_webhooks.py`). Every provider, Yotpo included, is
asked through the provider port (`LoyaltyProvider.member_state`, ADR 0080), as issue #18
requires of checkout, in-store, webhooks and write-back. The steps, per customer:

1. the customer as it is now (given, or read by id); its version is what the write checks;
2. the provider that serves it: the one the caller names (the nightly run's route, the Voyado
   webhook's verified account), else the account of its first store that has one of its own,
   else `default` (`customer_account` over `Runtime.provider_for_store`);
3. the member as that provider has it now, named by the customer's member id
   (`member_id(customer, identity)`, `MEMBER_ID_SOURCE`, docs/adr/0010-member-identity.md) —
   the same id orders and checkout use, so a member migrated under a legacy id is found — and,
   for a provider that finds members by email, the customer's email
   (`shared.customers.provider_writeback.member_keys`; Yotpo is asked
   `GET /customers?customer_id=…&with_referral_code=true`,
   https://loyaltyapi.yotpo.com/reference/fetch-customer-details);
4. the wanted fields (`provider_writeback.field_state`: what the provider cannot or did not
   give is left as the customer shows it) and the pure diff
   (`shared.domain.customers.writeback_diff.plan_writeback`); nothing to change → no write;
5. the update with the customer's version. A lost race (409) starts again at 1 (the loop is
   `shared.customers.writeback_loop.write_until_settled`): reading the customer before the
   provider means the last writer always holds the freshest answer, so a slow webhook cannot
   overwrite a newer balance with an older one.

A webhook names the member, not the customer: `customer_of_member` finds the commercetools
customer whose member id it is (by id, `externalId` or the member id custom field).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.commercetools import CommercetoolsClient, literal
from shared.customers.provider_writeback import bounded_provider, field_state, member_keys
from shared.customers.writeback_loop import Planned, WritebackTargets, write_until_settled
from shared.domain import values
from shared.domain.customers.member_identity import MemberIdentity, id_text, member_id
from shared.domain.customers.writeback_diff import GroupPolicy, TypeTarget, plan_writeback
from shared.errors import NotFoundError, PermanentError
from shared.logs import log_event
from shared.providers.port import LoyaltyProvider
from shared.runtime import ProviderRoute

logger = logging.getLogger(__name__)

OWN_CUSTOMER_TYPE_KEY = "yotpo-loyalty-customer"
# A group the mapping names but commercetools lacks is looked up again after this long.
_MISSING_GROUP_RETRY_SECONDS = 300.0
# A custom field name as commercetools allows it (FieldDefinition `name`,
# https://docs.commercetools.com/api/projects/types#fielddefinition): also what keeps the
# name safe to place in a query predicate unquoted.
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

Outcome = Literal["updated", "unchanged", "not_a_member", "no_account", "customer_gone"]


class WritebackSettings(BaseSettings):
    """Where the write-back puts things: read by every app that writes back (job, service)."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    customer_custom_type_key: str | None = Field(
        default=None,
        description="The merchant's customer custom type to add the loyalty fields to",
    )
    vip_tier_groups: str | None = Field(
        default=None,
        description='VIP tier to customer group key, JSON: {"Gold": "vip-gold"}',
    )

    @field_validator("vip_tier_groups")
    @classmethod
    def _groups_json(cls, value: str | None) -> str | None:
        if value is not None:
            parse_tier_groups(value)
        return value

    @property
    def customer_type_key(self) -> str:
        return self.customer_custom_type_key or OWN_CUSTOMER_TYPE_KEY

    def tier_groups(self) -> dict[str, str]:
        return parse_tier_groups(self.vip_tier_groups) if self.vip_tier_groups else {}


def parse_tier_groups(raw: str) -> dict[str, str]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError('expected a JSON object of tier name to group key: {"Gold": "vip-gold"}')
    bad = [str(k) for k, v in data.items() if not str(k).strip() or not isinstance(v, str) or not v]
    if bad:
        raise ValueError(f"tier names and group keys must be non-empty strings: {bad}")
    keys = list(data.values())
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        # Two tiers sharing a group would make "tier lost" remove a group the other still earns.
        raise ValueError(f"each tier needs its own group; repeated: {repeated}")
    return {str(k).strip(): v for k, v in data.items()}


@dataclass(frozen=True)
class WritebackResult:
    customer_id: str
    outcome: Outcome
    changed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def wrote(self) -> bool:
        return self.outcome == "updated"


# `Runtime.provider_for_store`: the provider account serving a store (None: no account).
ProviderFor = Callable[[str | None], ProviderRoute | None]


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


AccountT = TypeVar("AccountT", bound=_Keyed)


def customer_account(
    customer: Mapping[str, Any], account_for: Callable[[str | None], AccountT | None]
) -> AccountT | None:
    """The account serving a customer: that of its first store that has one of its own, else
    the default account (`account_for(None)`), else None.

    One rule for every caller, whatever the provider: `account_for` is
    `Runtime.provider_for_store` (the write-back and the nightly run, which sends each customer
    to its store's provider), or a narrowing of it to one provider's accounts (a Yotpo webhook
    speaks for Yotpo's members only). A customer's `stores`
    (https://docs.commercetools.com/api/projects/customers#customer) are KeyReferences; a store
    without its own account is served by `default`, so only an account whose key is the store's
    own counts as that store's.
    """
    for store in customer.get("stores") or []:
        key = store.get("key") if isinstance(store, Mapping) else None
        if not isinstance(key, str) or not key:
            continue
        found = account_for(key)
        if found is not None and found.key == key:
            return found
    return account_for(None)


class CustomerWriteback:
    """The write-back of every provider. The provider is given per call, or found from the
    customer's stores through `provider_for_store` (`Runtime.provider_for_store`)."""

    def __init__(
        self,
        commercetools: CommercetoolsClient,
        provider_for_store: ProviderFor | None = None,
        *,
        type_key: str,
        tier_groups: Mapping[str, str] | None = None,
        identity: MemberIdentity | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ct = commercetools
        self._identity = identity or MemberIdentity()
        self._provider_for = provider_for_store
        self._now = now
        self._monotonic = monotonic
        self._targets = WritebackTargets(
            commercetools,
            type_key=type_key,
            tier_groups=tier_groups,
            monotonic=monotonic,
            missing_retry_seconds=_MISSING_GROUP_RETRY_SECONDS,
        )

    # --- entry points --------------------------------------------------------------------------
    def sync(
        self,
        customer_id: str,
        provider: LoyaltyProvider | None = None,
        *,
        deadline: float | None = None,
        provider_name: str | None = None,
    ) -> WritebackResult:
        """Write back one customer, read by id (see `sync_customer`)."""
        try:
            customer = self._ct.get_by_id("customers", customer_id)
        except NotFoundError:
            return WritebackResult(customer_id, "customer_gone")
        return self.sync_customer(
            customer, provider, deadline=deadline, provider_name=provider_name
        )

    def sync_customer(
        self,
        customer: Mapping[str, Any],
        provider: LoyaltyProvider | None = None,
        *,
        deadline: float | None = None,
        provider_name: str | None = None,
    ) -> WritebackResult:
        """Write back one customer as just read (its version guards the write).

        `provider`: the provider account to ask; None: the customer's own, found from its
        stores each round (a lost race re-reads the customer, its stores with it). With
        `provider_name`, only that provider's accounts count as the customer's own (a customer
        served by none of them is `no_account`). `deadline`: a `monotonic` time by which every
        provider call ends.

        Raises TransientError (the provider or commercetools may answer later; a deadline
        already passed is `ProviderWritebackTimeout`) or PermanentError (configuration: the
        custom type or a mapped group is missing; or a provider that cannot tell who the
        member is, e.g. Voyado's MultipleMatches).
        """
        customer_id = str(customer["id"])

        def plan_round(customer: Mapping[str, Any]) -> Planned | WritebackResult:
            target = self.target()  # a configuration problem costs no provider call
            asked = provider if provider is not None else self._provider_of(customer, provider_name)
            if asked is None:
                log_event(
                    logger, "writeback.no_account", customer_id=customer_id, outcome="skipped"
                )
                return WritebackResult(customer_id, "no_account")
            # Each round: a lost race re-reads the customer, and its member id with it.
            member = member_id(customer, self._identity)
            keys = member_keys(asked, member, values.text(customer.get("email")))
            state = bounded_provider(asked, deadline, self._monotonic).member_state(**keys)
            if state is None:
                log_event(
                    logger,
                    "writeback.not_a_member",
                    customer_id=customer_id,
                    provider=asked.name,
                    account=asked.account_key,
                    outcome="skipped",
                )
                return WritebackResult(customer_id, "not_a_member")
            wanted = field_state(customer, state, asked)
            # A provider without tiers leaves the groups as they are (no tier says nothing).
            tiers = asked.capabilities.tiers
            groups = self._targets.groups(wanted.vip_tier) if tiers else GroupPolicy()
            plan = plan_writeback(customer, wanted, target, groups, self._now())
            return Planned(
                plan,
                unchanged_fields={"provider": asked.name},
                updated_fields={"provider": asked.name, "account": asked.account_key},
            )

        return write_until_settled(self._ct, logger, customer, plan_round, WritebackResult)

    # --- from a member id (webhooks) ---------------------------------------------------------
    @property
    def identity(self) -> MemberIdentity:
        return self._identity

    def customer_of_member(self, member: str) -> Mapping[str, Any] | None:
        """The one commercetools customer whose member id is `member`, or None.

        With `MEMBER_ID_SOURCE=id` that is the customer with this id. Otherwise the customer
        whose `externalId` (or member id custom field) holds it; customers without one are
        members under their own id (`member_id` falls back to it), so the id is tried next,
        but only a customer whose member id it really is counts. Two customers holding the
        same value (commercetools does not make `externalId` unique) name nobody.
        """
        # The reading `member_id` gives a stored id: no customer holds a longer one.
        found_id = id_text(member)
        if found_id is None:
            return None
        member = found_id
        if self._identity.source != "id":
            found = self._ct.query("customers", where=self._member_predicate(member), limit=2)
            results = found.get("results") or []
            if len(results) > 1:
                log_event(
                    logger,
                    "writeback.member_id_ambiguous",
                    level=logging.WARNING,
                    member_id_source=self._identity.source,
                    customers=[str(r.get("id")) for r in results],
                    outcome="skipped",
                )
                return None
            if results:
                return results[0]
        try:
            customer = self._ct.get_by_id("customers", member)
        except NotFoundError:
            return None
        return customer if member_id(customer, self._identity) == member else None

    def _member_predicate(self, member: str) -> str:
        if self._identity.source == "externalId":
            return f"externalId = {literal(member)}"
        field = self._identity.custom_field
        if not _FIELD_NAME.match(field):
            raise PermanentError(f"MEMBER_ID_FIELD {field!r} is not a custom field name")
        return f"custom(fields({field} = {literal(member)}))"

    # --- configuration lookups -----------------------------------------------------------------
    def target(self) -> TypeTarget:
        """The custom type that carries the fields (looked up once; install creates it)."""
        return self._targets.target()

    # --- helpers ---------------------------------------------------------------------------------
    def _provider_of(
        self, customer: Mapping[str, Any], provider_name: str | None
    ) -> LoyaltyProvider | None:
        """The provider account of the customer's first store that has one, else `default`;
        with `provider_name`, only that provider's accounts count."""
        provider_for = self._provider_for
        if provider_for is None:
            return None

        def account_for(store_key: str | None) -> ProviderRoute | None:
            route = provider_for(store_key)
            if route is None or (provider_name and route.provider.name != provider_name):
                return None
            return route

        route = customer_account(customer, account_for)
        return route.provider if route is not None else None
