"""The pure write-back diff: what to change on a commercetools customer so it shows the loyalty
state Yotpo holds for it, and nothing more.

`plan_writeback(customer, member, target, groups, now)` compares the customer's custom fields
(and customer group, when a VIP tier → group mapping is configured) with the Yotpo member and
returns the update actions. Equal state gives no actions at all: no write, no new version, no
message. `loyaltySyncedAt` is only written together with a real change, otherwise every
nightly look would make a write.

Rules:
- A customer without a custom type gets `setCustomType` with the connector's fields.
- A customer whose custom type is another type keeps it (a resource has one custom type):
  its fields are skipped (`FOREIGN_CUSTOM_TYPE`); the group rule still applies.
- Groups: only groups the mapping owns are ever set or removed. A customer in a group the
  mapping does not own keeps it, whatever its tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.domain import values
from shared.domain.loyalty_fields import CustomerFields

FOREIGN_CUSTOM_TYPE = "foreign_custom_type"
GROUP_NOT_OWNED = "group_not_owned"

# The loyalty fields in the order actions are emitted (synced-at comes last, only with a change).
LOYALTY_FIELDS = (
    CustomerFields.POINTS_BALANCE,
    CustomerFields.VIP_TIER,
    CustomerFields.TIER_ENDS_AT,
    CustomerFields.REFERRAL_CODE,
)
CUSTOMER_GROUP = "customerGroup"
# A points balance Yotpo sent as text: an optional minus and at most 18 ASCII digits (int64).


@dataclass(frozen=True)
class MemberState:
    """What Yotpo says about one member, reduced to what the customer record shows."""

    points_balance: int | None
    vip_tier: str | None
    tier_ends_at: datetime | None
    referral_code: str | None

    def field_values(self) -> dict[str, Any]:
        """The wanted value of each loyalty field (None: the field must be absent)."""
        return {
            CustomerFields.POINTS_BALANCE: self.points_balance,
            CustomerFields.VIP_TIER: self.vip_tier,
            CustomerFields.TIER_ENDS_AT: (
                format_datetime(self.tier_ends_at) if self.tier_ends_at else None
            ),
            CustomerFields.REFERRAL_CODE: self.referral_code,
        }


@dataclass(frozen=True)
class TypeTarget:
    """The custom type that carries the loyalty fields (the merchant's or the connector's)."""

    type_id: str
    type_key: str


@dataclass(frozen=True)
class GroupPolicy:
    """VIP tier name → customer group id, for the groups of the mapping that exist."""

    by_tier: Mapping[str, str] = field(default_factory=dict)

    @property
    def owned(self) -> frozenset[str]:
        return frozenset(self.by_tier.values())

    def group_for(self, tier: str | None) -> str | None:
        if not tier:
            return None
        if tier in self.by_tier:
            return self.by_tier[tier]
        # Tier names are typed by people in two admin tools: forgive the case.
        folded = tier.casefold()
        return next((g for t, g in self.by_tier.items() if t.casefold() == folded), None)


@dataclass(frozen=True)
class WritebackPlan:
    actions: tuple[dict[str, Any], ...] = ()
    changed: tuple[str, ...] = ()  # field names (and "customerGroup") that change
    skipped: tuple[str, ...] = ()  # why a part was left alone (FOREIGN_CUSTOM_TYPE, ...)

    @property
    def empty(self) -> bool:
        return not self.actions


# --- reading both sides ------------------------------------------------------------------------
def member_state(member: Mapping[str, Any]) -> MemberState:
    """The member as Yotpo's `GET /customers?with_referral_code=true` (or a webhook) shows it."""
    return MemberState(
        points_balance=_int_or_none(member.get("points_balance")),
        vip_tier=_text(member.get("vip_tier_name")),
        tier_ends_at=parse_datetime(member.get("vip_tier_ends_at")),
        referral_code=_referral_code(member.get("referral_code")),
    )


def current_fields(customer: Mapping[str, Any]) -> dict[str, Any]:
    custom = customer.get("custom") or {}
    return dict(custom.get("fields") or {})


def custom_type_id(customer: Mapping[str, Any]) -> str | None:
    custom = customer.get("custom") or {}
    return (custom.get("type") or {}).get("id")


# --- the plan ----------------------------------------------------------------------------------
def plan_writeback(
    customer: Mapping[str, Any],
    member: MemberState,
    target: TypeTarget,
    groups: GroupPolicy,
    now: datetime,
) -> WritebackPlan:
    """The update actions that make `customer` show `member` (none when it already does)."""
    actions: list[dict[str, Any]] = []
    changed: list[str] = []
    skipped: list[str] = []
    wanted = member.field_values()
    type_id = custom_type_id(customer)
    fields_writable = True

    if type_id is None:
        fields = {name: value for name, value in wanted.items() if value is not None}
        changed.extend(fields)
        fields[CustomerFields.SYNCED_AT] = format_datetime(now)
        actions.append(
            {
                "action": "setCustomType",
                "type": {"typeId": "type", "id": target.type_id},
                "fields": fields,
            }
        )
        fields_writable = False  # already written, synced-at included
    elif type_id != target.type_id:
        skipped.append(FOREIGN_CUSTOM_TYPE)
        fields_writable = False
    else:
        current = current_fields(customer)
        for name in LOYALTY_FIELDS:
            if not same_value(name, current.get(name), wanted[name]):
                changed.append(name)
                actions.append(_set_field(name, wanted[name]))

    group_action, group_skip = _group_action(customer, member.vip_tier, groups)
    if group_action is not None:
        changed.append(CUSTOMER_GROUP)
        actions.append(group_action)
    if group_skip:
        skipped.append(group_skip)

    if changed and fields_writable:
        actions.append(_set_field(CustomerFields.SYNCED_AT, format_datetime(now)))
    return WritebackPlan(actions=tuple(actions), changed=tuple(changed), skipped=tuple(skipped))


def _set_field(name: str, value: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"action": "setCustomField", "name": name}
    if value is not None:  # no value removes the field
        action["value"] = value
    return action


def _group_action(
    customer: Mapping[str, Any], tier: str | None, groups: GroupPolicy
) -> tuple[dict[str, Any] | None, str | None]:
    if not groups.by_tier:
        return None, None
    current = (customer.get("customerGroup") or {}).get("id")
    wanted = groups.group_for(tier)
    if current is not None and current not in groups.owned:
        # The merchant put this customer in a group of their own: not ours to change.
        return None, GROUP_NOT_OWNED if wanted is not None else None
    if wanted == current:
        return None, None
    if wanted is None:
        return {"action": "setCustomerGroup"}, None
    return {
        "action": "setCustomerGroup",
        "customerGroup": {"typeId": "customer-group", "id": wanted},
    }, None


def same_value(name: str, current: Any, wanted: Any) -> bool:
    """Whether a stored field already shows the wanted value (None: absent)."""
    if wanted is None or current is None:
        return wanted is None and current is None
    if name == CustomerFields.POINTS_BALANCE:
        # commercetools may hand a Number back as 120.0.
        return (
            isinstance(current, int | float)
            and not isinstance(current, bool)
            and (current == wanted)
        )
    if name in (CustomerFields.TIER_ENDS_AT, CustomerFields.SYNCED_AT):
        # The same instant may be spelt with or without milliseconds or with an offset.
        stored, target = parse_datetime(current), parse_datetime(wanted)
        return stored is not None and stored == target
    return str(current) == str(wanted)


# --- small parsers -----------------------------------------------------------------------------
def parse_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string (None when absent or unreadable)."""
    if isinstance(value, datetime):
        moment = value
    elif (text := values.text(value)) is not None:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """commercetools' DateTime spelling: UTC with milliseconds, `2027-01-31T10:00:00.000Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _int_or_none(value: Any) -> int | None:
    return values.integer(value, strings=True)  # Yotpo sends balances as numbers or text


def _text(value: Any) -> str | None:
    # Yotpo documents these as strings; an integer (a numeric tier name) still reads as text.
    return values.text(value, numbers=True)


def _referral_code(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return _text(value.get("code"))
    return _text(value)
