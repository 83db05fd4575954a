"""The write-back's round machinery, apart from how the member's state is learnt.

`shared.customers.writeback.CustomerWriteback` (every provider, through the provider port)
plans each round; this module:

- finds the custom type and the VIP_TIER_GROUPS customer groups (`WritebackTargets`, looked up
  once and kept; install creates them);
- runs the optimistic-concurrency loop (`write_until_settled`): plan against the customer as
  read, write with its version, and on a lost race (409 ConcurrentModification,
  https://docs.commercetools.com/api/errors#concurrentmodification) read it again and plan
  again, so the last writer always holds the provider's freshest answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.commercetools import CommercetoolsClient
from shared.domain.customers.writeback_diff import (
    FOREIGN_CUSTOM_TYPE,
    GroupPolicy,
    TypeTarget,
    WritebackPlan,
)
from shared.errors import ConcurrentModificationError, NotFoundError, PermanentError
from shared.logs import log_event

# Each caller passes its own logger: the events keep the names of the modules they come from.
ROUNDS = 4

ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Planned:
    """One round's plan, and what the `writeback.unchanged` / `writeback.updated` lines add."""

    plan: WritebackPlan
    unchanged_fields: Mapping[str, Any] = field(default_factory=dict)
    updated_fields: Mapping[str, Any] = field(default_factory=dict)


class WritebackTargets:
    """The custom type and the tier groups a write-back writes to, resolved to ids.

    `missing_retry_seconds`: a group the mapping names but commercetools lacks is not asked for
    again until this long has passed (0: asked for every time).
    """

    def __init__(
        self,
        commercetools: CommercetoolsClient,
        *,
        type_key: str,
        tier_groups: Mapping[str, str] | None,
        monotonic: Callable[[], float],
        missing_retry_seconds: float = 0.0,
    ) -> None:
        self._ct = commercetools
        self._type_key = type_key
        self._tier_groups = dict(tier_groups or {})
        self._monotonic = monotonic
        self._missing_retry = missing_retry_seconds
        self._target: TypeTarget | None = None
        self._group_ids: dict[str, str] = {}
        self._missing_groups: dict[str, float] = {}

    def target(self) -> TypeTarget:
        """The custom type that carries the fields (looked up once; install creates it)."""
        if self._target is None:
            try:
                found = self._ct.get_by_key("types", self._type_key)
            except NotFoundError:
                raise PermanentError(
                    f"custom type {self._type_key} does not exist: run "
                    "`python -m job.install post-deploy`"
                ) from None
            if "customer" not in (found.get("resourceTypeIds") or []):
                raise PermanentError(f"custom type {self._type_key} is not a customer type")
            self._target = TypeTarget(type_id=str(found["id"]), type_key=self._type_key)
        return self._target

    def groups(self, tier: str | None) -> GroupPolicy:
        """VIP_TIER_GROUPS resolved to ids."""
        if not self._tier_groups:
            return GroupPolicy()
        by_tier: dict[str, str] = {}
        for tier_name, group_key in self._tier_groups.items():
            group_id = self._group_id(group_key)
            if group_id is not None:
                by_tier[tier_name] = group_id
        policy = GroupPolicy(by_tier)
        wanted_key = GroupPolicy(self._tier_groups).group_for(tier)
        if wanted_key is not None and policy.group_for(tier) is None:
            # Without the group, "no group wanted" would wrongly remove the one it has.
            raise PermanentError(
                f"customer group {wanted_key} (VIP_TIER_GROUPS) does not exist: run "
                "`python -m job.install post-deploy`"
            )
        return policy

    def _group_id(self, key: str) -> str | None:
        if key in self._group_ids:
            return self._group_ids[key]
        missing_since = self._missing_groups.get(key)
        if missing_since is not None and self._monotonic() - missing_since < self._missing_retry:
            return None
        try:
            found = self._ct.get_by_key("customer-groups", key)
        except NotFoundError:
            self._missing_groups[key] = self._monotonic()
            return None
        self._missing_groups.pop(key, None)
        self._group_ids[key] = str(found["id"])
        return self._group_ids[key]


def note_skips(logger: logging.Logger, customer_id: str, plan: WritebackPlan) -> None:
    if FOREIGN_CUSTOM_TYPE in plan.skipped:
        log_event(
            logger,
            "writeback.foreign_custom_type",
            level=logging.WARNING,
            customer_id=customer_id,
            outcome="fields_skipped",
            detail="the customer has another custom type; configure CUSTOMER_CUSTOM_TYPE_KEY",
        )


def write_until_settled(
    commercetools: CommercetoolsClient,
    logger: logging.Logger,
    customer: Mapping[str, Any],
    plan_round: Callable[[Mapping[str, Any]], Planned | ResultT],
    result: Callable[..., ResultT],
) -> ResultT:
    """Plan against `customer`, write with its version, re-read and plan again on a lost race.

    `plan_round(customer)` gives a `Planned`, or a finished result (not a member, no account);
    `result(customer_id, outcome, changed=(), skipped=())` builds the caller's result.
    """
    customer_id = str(customer["id"])
    for _ in range(ROUNDS):
        step = plan_round(customer)
        if not isinstance(step, Planned):
            return step
        plan = step.plan
        note_skips(logger, customer_id, plan)
        if plan.empty:
            log_event(
                logger,
                "writeback.unchanged",
                level=logging.DEBUG,
                customer_id=customer_id,
                **step.unchanged_fields,
                outcome="unchanged",
            )
            return result(customer_id, "unchanged", skipped=plan.skipped)
        try:
            commercetools.update("customers", customer_id, int(customer["version"]), plan.actions)
        except ConcurrentModificationError:
            try:
                customer = commercetools.get_by_id("customers", customer_id)
            except NotFoundError:
                return result(customer_id, "customer_gone")
            continue
        log_event(
            logger,
            "writeback.updated",
            customer_id=customer_id,
            changed=list(plan.changed),
            **step.updated_fields,
            outcome="updated",
        )
        return result(customer_id, "updated", plan.changed, plan.skipped)
    raise ConcurrentModificationError(
        f"customer {customer_id}: kept changing under the write-back", current_version=None
    )
