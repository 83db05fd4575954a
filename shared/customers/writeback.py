"""Write a Yotpo member's loyalty state onto its commercetools customer.

One path for both callers: the job (nightly run) and the service app (Yotpo's
points and tier webhooks). The steps, per customer:

1. the customer as it is now (given, or read by id) — its version is what the write checks;
2. the member as Yotpo has it now (`GET /customers?customer_id=…&with_referral_code=true`),
   named by the customer's member id (`member_id(customer, identity)`, `MEMBER_ID_SOURCE`,
   docs/adr/0010-member-identity.md) — the same id orders and checkout use, so a member
   migrated under a legacy id is found;
3. the pure diff (`shared.domain.customers.writeback_diff.plan_writeback`); nothing to
   change → no write;
4. the update with the customer's version. A lost race (409) starts again at 1: reading the
   customer before Yotpo means the last writer always holds the freshest Yotpo answer, so a
   slow webhook cannot overwrite a newer balance with an older one.

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
from shared.customers.writeback_loop import Planned, WritebackTargets, write_until_settled
from shared.domain.customers.member_identity import MemberIdentity, id_text, member_id
from shared.domain.customers.writeback_diff import (
    TypeTarget,
    member_state,
    plan_writeback,
)
from shared.errors import (
    NotFoundError,
    PermanentError,
    YotpoTransientError,
)
from shared.logs import log_event
from shared.runtime import YotpoRoute
from shared.yotpo import YotpoClient

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


RouteFor = Callable[[str | None], YotpoRoute | None]


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
    `Runtime.yotpo_for_store` for the Yotpo write-back and `Runtime.provider_for_store` for the
    nightly run, which sends each customer to its store's provider. A customer's `stores`
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
    def __init__(
        self,
        commercetools: CommercetoolsClient,
        yotpo_for_store: RouteFor,
        *,
        type_key: str,
        tier_groups: Mapping[str, str] | None = None,
        identity: MemberIdentity | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ct = commercetools
        self._identity = identity or MemberIdentity()
        self._route_for = yotpo_for_store
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
    def sync(self, customer_id: str, *, deadline: float | None = None) -> WritebackResult:
        """Write back one customer, read by id."""
        try:
            customer = self._ct.get_by_id("customers", customer_id)
        except NotFoundError:
            return WritebackResult(customer_id, "customer_gone")
        return self.sync_customer(customer, deadline=deadline)

    def sync_customer(
        self, customer: Mapping[str, Any], *, deadline: float | None = None
    ) -> WritebackResult:
        """Write back one customer as just read (its version guards the write).

        Raises TransientError (Yotpo or commercetools may answer later) or PermanentError
        (configuration: the custom type or a mapped group is missing).
        """
        customer_id = str(customer["id"])

        def plan_round(customer: Mapping[str, Any]) -> Planned | WritebackResult:
            target = self.target()  # a configuration problem costs no Yotpo call
            route = self._route(customer)
            if route is None:
                log_event(
                    logger, "writeback.no_account", customer_id=customer_id, outcome="skipped"
                )
                return WritebackResult(customer_id, "no_account")
            # Each round: a lost race re-reads the customer, and its member id with it.
            member = member_id(customer, self._identity)
            found = self._client(route, deadline).get_customer(
                customer_id=member, with_referral_code=True
            )
            if found is None:
                log_event(
                    logger, "writeback.not_a_member", customer_id=customer_id, outcome="skipped"
                )
                return WritebackResult(customer_id, "not_a_member")
            state = member_state(found)
            plan = plan_writeback(
                customer, state, target, self._targets.groups(state.vip_tier), self._now()
            )
            return Planned(plan, updated_fields={"account": route.key})

        return write_until_settled(self._ct, logger, customer, plan_round, WritebackResult)

    # --- from a member id (webhooks) ---------------------------------------------------------
    @property
    def identity(self) -> MemberIdentity:
        return self._identity

    def customer_of_member(self, member: str) -> Mapping[str, Any] | None:
        """The one commercetools customer whose Yotpo member id is `member`, or None.

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
    def _route(self, customer: Mapping[str, Any]) -> YotpoRoute | None:
        """The account of the customer's first store that has one, else the default account."""
        return customer_account(customer, self._route_for)

    def _client(self, route: YotpoRoute, deadline: float | None) -> YotpoClient:
        if deadline is None:
            return route.client
        remaining = deadline - self._monotonic()
        if remaining <= 0:
            raise YotpoTransientError("write-back time budget used up")
        return route.client.bounded(remaining)
