"""The loyalty member of a commercetools Customer: its provider-neutral upsert and birthday
(`MemberUpsert`, `MemberBirthday`, ADR 0080), which each provider's renderer turns into its own
bodies. Pure.

For Yotpo (`shared/domain/providers/yotpo.py` renders them) the member upsert is
`POST /customers` (https://loyaltyapi.yotpo.com/reference/createupdate-customer-records):
`id` (the member id, see `member_identity`), `email`, `first_name`, `last_name`,
`phone_number` (E.164), `has_account`, `platform_account_created_at`, and, per configuration:
- `opted_in`: "Customers must be opted-in to earn points, enter VIP
  Tiers, or redeem rewards", and a program whose opt-in strategy is "API/SDK only" opts in nobody
  else (https://support.yotpo.com/docs/settings-section-guide). Policy `account` sends nothing
  ("If null, will rely on the account settings"); `always` sends true; `customer_field` sends the
  customer's boolean custom field `OPT_IN_FIELD` (a loyalty opt-in or the shop's marketing
  consent) when it is set, true or false — a withdrawn consent opts the member out.
- `tags`: the customer's groups, so Yotpo's customer include/exclude rules (e.g. "exclude
  wholesale") apply. Yotpo's `tags` "overwrites existing tags", so the connector owns them and
  sends them (possibly empty) on every upsert: a customer who left a group loses its tag.
Birthday: Yotpo's `POST /customer_birthdays` with `customer_email`, `day`, `month`, `year`
(https://loyaltyapi.yotpo.com/reference/set-customer-birthday) from commercetools'
`dateOfBirth` ("YYYY-MM-DD"), so Yotpo's birthday campaigns fire; a provider whose member
carries the date (Voyado's `birthDay`) reads `MemberUpsert.birthday` instead.

Phone number: the customer's custom field `loyaltyPhoneNumber` first, then the default billing
address, the default shipping address and the other addresses (`mobile` before `phone` in
each), keeping the first that is E.164-shaped once spaces, dashes, dots and parentheses are
removed. Yotpo wants E.164; a number without its country code cannot be completed safely, so
it is left out rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.domain import values
from shared.domain.customers.member_identity import (
    MemberIdentity,
    MemberView,
    custom_fields,
    customer_group_tags,
    member_id,
)
from shared.domain.providers.port import MemberBirthday, MemberUpsert
from shared.domain.providers.yotpo import YOTPO_RENDERER

FIELD_PHONE_NUMBER = "loyaltyPhoneNumber"
DEFAULT_OPT_IN_FIELD = "loyaltyOptIn"

OptInPolicy = Literal["account", "always", "customer_field"]


class CustomerSyncConfig(BaseModel):
    """How customers become Yotpo members (settings MEMBER_ID_*, OPT_IN_*, CUSTOMER_TAGS_*)."""

    model_config = ConfigDict(frozen=True)

    identity: MemberIdentity = MemberIdentity()
    opt_in_policy: OptInPolicy = "account"
    opt_in_field: str = DEFAULT_OPT_IN_FIELD
    tags_from_groups: bool = True


_E164 = re.compile(r"\+[1-9]\d{1,14}")
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")


def e164(value: Any) -> str | None:
    """`value` as an E.164 number, or None when it is not shaped like one."""
    text = values.text(value)
    if text is None:
        return None
    compact = _PHONE_SEPARATORS.sub("", text)
    return compact if _E164.fullmatch(compact) else None


def _addresses_by_preference(customer: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    addresses = [a for a in customer.get("addresses") or [] if isinstance(a, Mapping)]
    for id_field in ("defaultBillingAddressId", "defaultShippingAddressId"):
        address_id = customer.get(id_field)
        if address_id:
            yield from (a for a in addresses if a.get("id") == address_id)
    yield from addresses


def _phone_number(customer: Mapping[str, Any]) -> str | None:
    number = e164(custom_fields(customer).get(FIELD_PHONE_NUMBER))
    if number:
        return number
    for address in _addresses_by_preference(customer):
        for field in ("mobile", "phone"):
            number = e164(address.get(field))
            if number:
                return number
    return None


def _timestamp(value: Any) -> datetime | None:
    text = values.text(value)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def opted_in(customer: Mapping[str, Any], config: CustomerSyncConfig) -> bool | None:
    """The customer's opt-in under the policy; None leaves it to Yotpo's account settings."""
    if config.opt_in_policy == "always":
        return True
    if config.opt_in_policy == "customer_field":
        value = custom_fields(customer).get(config.opt_in_field)
        return value if isinstance(value, bool) else None
    return None


def customer_member(customer: Mapping[str, Any], config: CustomerSyncConfig) -> MemberView:
    """The planner's view of this customer's Yotpo member."""
    email = values.text(customer.get("email"))
    return MemberView(
        customer_id=str(customer["id"]),
        member_id=member_id(customer, config.identity),
        email=email,
        tags=customer_group_tags(customer) if config.tags_from_groups else (),
        tags_known=config.tags_from_groups,
        opted_in=opted_in(customer, config),
    )


def _date(value: Any) -> date | None:
    text = values.text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def member_upsert(
    customer: Mapping[str, Any], config: CustomerSyncConfig | None = None
) -> MemberUpsert | None:
    """The provider-neutral member upsert of this registered customer (ADR 0080); None without
    email."""
    config = config or CustomerSyncConfig()
    email = values.text(customer.get("email"))
    if email is None:
        return None
    born = _date(customer.get("dateOfBirth"))
    return MemberUpsert(
        member_id=member_id(customer, config.identity),
        email=email,
        phone=_phone_number(customer),
        first_name=values.text(customer.get("firstName")),
        last_name=values.text(customer.get("lastName")),
        ct_customer_id=values.text(customer.get("id")),
        has_account=True,
        account_created_at=_timestamp(customer.get("createdAt")),
        opted_in=opted_in(customer, config),
        tags=tuple(customer_group_tags(customer)) if config.tags_from_groups else None,
        birthday=born.isoformat() if born is not None else None,
    )


def member_birthday(upsert: MemberUpsert) -> MemberBirthday | None:
    """The birthday of the member `upsert` makes, for a provider that takes it on its own call;
    None without email or date of birth."""
    if upsert.email is None or upsert.birthday is None:
        return None
    return MemberBirthday(email=upsert.email, born=date.fromisoformat(upsert.birthday))


# Yotpo's bodies for a customer, as its renderer makes them (the one builder of each), for
# callers that hold a commercetools customer rather than the neutral operations.


def customer_payload(
    customer: Mapping[str, Any], config: CustomerSyncConfig | None = None
) -> dict[str, Any] | None:
    """Yotpo's create-or-update body for this customer; None when it has no email."""
    upsert = member_upsert(customer, config)
    return YOTPO_RENDERER.render(upsert) if upsert is not None else None


def birthday_payload(customer: Mapping[str, Any]) -> dict[str, Any] | None:
    """Yotpo's Set Customer Birthday body from `dateOfBirth`; None without email or date."""
    upsert = member_upsert(customer)
    birthday = member_birthday(upsert) if upsert is not None else None
    return YOTPO_RENDERER.render(birthday) if birthday is not None else None
