"""Who a commercetools customer is in Yotpo: one member per person. Pure.

Yotpo keys a member on the `id` the platform sends ("The identifier used to uniquely identify
the customer in your system", https://loyaltyapi.yotpo.com/reference/createupdate-customer-records)
and on the email. A merchant migrating from another platform already has members under that
platform's ids; sending the commercetools id for them makes Yotpo answer 422 ("email belongs
to another customer id") on every order. So the member id is configurable:

- `id` (default): the commercetools customer id;
- `externalId`: the customer's `externalId` (commercetools' field for an id in another system),
  else the commercetools id (customers created after the migration have none);
- `customField`: a customer custom field (`MEMBER_ID_FIELD`) holding the legacy id, else the
  commercetools id.

Every place that names a Yotpo member by id (orders, customer upserts, points adjustments,
lookups) uses `member_id(customer, identity)`, so the choice is made once.

The member's email is the customer's own email, not the email typed on an order: one person
has one member, whatever address a guest checkout used (ADR 0010).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.domain import values

MemberIdSource = Literal["id", "externalId", "customField"]
DEFAULT_MEMBER_ID_FIELD = "loyaltyMemberId"
# Yotpo takes the id as a string; anything longer than this is not an id a merchant typed.
_MAX_ID_LENGTH = 256


class MemberIdentity(BaseModel):
    """How a customer's Yotpo member id is chosen (settings MEMBER_ID_SOURCE, MEMBER_ID_FIELD)."""

    model_config = ConfigDict(frozen=True)

    source: MemberIdSource = "id"
    custom_field: str = DEFAULT_MEMBER_ID_FIELD

    @property
    def needs_customer(self) -> bool:
        """Whether the member id can differ from the order's `customerId` (read the customer)."""
        return self.source != "id"


class MemberView(BaseModel):
    """The Yotpo member of one commercetools customer, as the planner needs it."""

    model_config = ConfigDict(frozen=True)

    customer_id: str  # the commercetools customer id
    member_id: str  # the id Yotpo knows the member by
    email: str | None = None  # the customer's own email
    tags: tuple[str, ...] = ()  # customer group keys (ids when the reference is not expanded)
    tags_known: bool = False  # False: tags are not the connector's to send
    opted_in: bool | None = None  # per the opt-in policy; None: leave it to Yotpo's settings


def id_text(value: Any) -> str | None:
    """An id read from a customer or a message: its text, or None (refused, never cut: a
    cut id would name another member)."""
    return values.text(value, limit=_MAX_ID_LENGTH, too_long="refuse")


def custom_fields(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    custom = resource.get("custom")
    fields = custom.get("fields") if isinstance(custom, Mapping) else None
    return fields if isinstance(fields, Mapping) else {}


def member_id(customer: Mapping[str, Any], identity: MemberIdentity) -> str:
    """The Yotpo member id of this commercetools customer."""
    own = str(customer["id"])
    if identity.source == "externalId":
        return id_text(customer.get("externalId")) or own
    if identity.source == "customField":
        return id_text(custom_fields(customer).get(identity.custom_field)) or own
    return own


def _group_key(reference: Any) -> str | None:
    if not isinstance(reference, Mapping):
        return None
    obj = reference.get("obj")
    if isinstance(obj, Mapping) and id_text(obj.get("key")):
        return id_text(obj.get("key"))
    return id_text(reference.get("key")) or id_text(reference.get("id"))


def customer_group_tags(customer: Mapping[str, Any]) -> tuple[str, ...]:
    """The customer's groups as Yotpo customer tags, in a stable order, without duplicates.

    commercetools has `customerGroup` (one group) and `customerGroupAssignments` (several,
    https://docs.commercetools.com/api/projects/customers#customer). A group's key is what a
    merchant recognises in Yotpo's include/exclude rules; an unexpanded reference only gives
    its id, which is still stable.
    """
    tags: list[str] = []
    primary = _group_key(customer.get("customerGroup"))
    if primary:
        tags.append(primary)
    for assignment in customer.get("customerGroupAssignments") or []:
        if isinstance(assignment, Mapping):
            key = _group_key(assignment.get("customerGroup"))
            if key and key not in tags:
                tags.append(key)
    # Yotpo's tags are one comma-separated string: a comma inside a tag would split it.
    return tuple(t.replace(",", " ") for t in tags)
