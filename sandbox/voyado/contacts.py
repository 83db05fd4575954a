"""Contacts: look up by key, create, read.

Find contact: https://developer.voyado.com/en/contacts/identify-contact/find-contact.html
("400: InvalidEmailAddress, InvalidPhoneNumber, ... 404: ContactNotFound, 409: MultipleMatches";
`any` is scanned "in the following order: email, socialSecurityNumber, mobilePhone and then
customKey" and "the scanning of attributes will halt as soon as the given value passes
validation for an attribute", https://voyado.mintlify.app/docs/contacts/identify-contact/find-contact).
Create contact: https://developer.voyado.com/en/contacts/create-contact.html (key is one of
mobilePhone, email, externalId, socialSecurityNumber; `source`, `storeExternalId`,
`createAsUnapproved` in the v3 query string; contactType defaults to "Member").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sandbox.voyado.state import ApiError, Contact, TenantState, new_guid

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{7,15}$")
_SSN = re.compile(r"^[0-9]{10,12}$|^[0-9]{6,8}[-+][0-9]{4}$")
KEY_FIELDS = ("email", "mobilePhone", "externalId", "socialSecurityNumber")
LOOKUP_PARAMS = ("email", "mobilePhone", "socialSecurityNumber", "customKey", "any")
_CONTACT_FIELDS = frozenset(
    {
        *KEY_FIELDS,
        "firstName",
        "lastName",
        "countryCode",
        "zipCode",
        "city",
        "street",
        "birthDay",
        "gender",
        "contactType",
        "preferences",
        "consents",
    }
)


def normal_email(value: str) -> str:
    return value.strip().lower()


def normal_phone(value: str) -> str:
    return re.sub(r"[\s\-()]", "", value)


def _matches(state: TenantState, field: str, value: str) -> list[Contact]:
    if field == "customKey":
        field = state.config.custom_key
    if field == "email":
        value = normal_email(value)
    elif field == "mobilePhone":
        value = normal_phone(value)
    found = []
    for contact in state.contacts.values():
        held = contact.key(field)
        if held is None:
            continue
        if field == "email":
            held = normal_email(held)
        elif field == "mobilePhone":
            held = normal_phone(held)
        if held == value:
            found.append(contact)
    return found


def _validate(field: str, value: str) -> None:
    if field == "email" and not _EMAIL.match(value.strip()):
        raise ApiError(400, "InvalidEmailAddress", "not a valid email address")
    if field == "mobilePhone" and not _PHONE.match(normal_phone(value)):
        raise ApiError(400, "InvalidPhoneNumber", "not a valid phone number")
    if field == "socialSecurityNumber" and not _SSN.match(value):
        raise ApiError(400, "InvalidSocialSecurityNumber", "not a valid personal identity number")


def _any_field(value: str) -> str:
    """The first attribute in the documented scan order the value validates as."""
    if _EMAIL.match(value.strip()):
        return "email"
    if _SSN.match(value):
        return "socialSecurityNumber"
    if _PHONE.match(normal_phone(value)):
        return "mobilePhone"
    return "customKey"


def find_matches(state: TenantState, field: str, value: str) -> list[Contact]:
    """Contacts whose `field` (email, mobilePhone, ..., customKey, any) equals `value`."""
    if field == "any":
        field = _any_field(value)
    else:
        _validate(field, value)
    return _matches(state, field, value)


def find_contact_id(state: TenantState, query: Mapping[str, str]) -> str:
    given = [(name, query[name]) for name in LOOKUP_PARAMS if query.get(name)]
    if not given:
        raise ApiError(400, "InvalidSearchQuery", "give email, mobilePhone, customKey or any")
    contact_type = query.get("contactType")
    if contact_type is not None and contact_type not in state.config.contact_types:
        raise ApiError(400, "InvalidContactType", f"unknown contactType {contact_type}")
    found: dict[str, Contact] = {}
    for name, value in given:
        for contact in find_matches(state, name, value):
            if contact_type is None or contact.contact_type == contact_type:
                found[contact.id] = contact
    if not found:
        raise ApiError(404, "ContactNotFound", "no contact matches")
    if len(found) > 1:
        raise ApiError(409, "MultipleMatches", "more than one contact matches")
    return next(iter(found))


def create_contact(
    state: TenantState,
    body: Mapping[str, Any],
    query: Mapping[str, str],
    now: datetime,
    *,
    allow_duplicate: bool | None = None,
) -> Contact:
    unknown = set(body) - _CONTACT_FIELDS
    if unknown:
        raise ApiError(400, "InvalidModel", f"unknown contact fields: {sorted(unknown)}")
    contact_type = body.get("contactType") or "Member"
    if contact_type not in state.config.contact_types:
        raise ApiError(400, "InvalidContactType", f"unknown contactType {contact_type}")
    keys = {k: body[k] for k in KEY_FIELDS if body.get(k) not in (None, "")}
    if not keys:
        raise ApiError(400, "MissingKey", f"one of {', '.join(KEY_FIELDS)} is required")
    for name, value in keys.items():
        if not isinstance(value, str):
            raise ApiError(400, "InvalidModel", f"{name} must be a string")
        _validate(name, value)
    store = query.get("storeExternalId")
    if store is not None and store not in state.config.stores:
        raise ApiError(400, "InvalidStoreExternalId", f"unknown store {store}")
    duplicate_ok = (
        state.config.silent.duplicate_contact == "create"
        if allow_duplicate is None
        else allow_duplicate
    )
    if not duplicate_ok:
        for name, value in keys.items():
            if _matches(state, name, value):
                raise ApiError(409, "ContactAlreadyExists", f"a contact with this {name} exists")
    attributes = {k: v for k, v in body.items() if k != "contactType" and v is not None}
    if "email" in attributes:
        attributes["email"] = attributes["email"].strip()
    contact = Contact(
        id=new_guid(),
        contact_type=contact_type,
        attributes=attributes,
        source=query.get("source"),
        store_external_id=store,
        created_on=now,
        member_number=str(state.next_member_number),
    )
    state.next_member_number += 1
    state.contacts[contact.id] = contact
    return contact


def get_contact(state: TenantState, contact_id: str) -> Contact:
    contact = state.contacts.get(contact_id.lower())
    if contact is None:
        raise ApiError(404, "ContactNotFound", "no contact with this id")
    return contact


def resolve_match_key(state: TenantState, key_type: str, key: str) -> Contact:
    """A receipt's `contact.matchKey`/`matchKeyType` to one contact (404 / 409 otherwise)."""
    normal = key_type[:1].lower() + key_type[1:]
    if normal == "contactId":
        return get_contact(state, key)
    try:
        found = _matches(state, normal, key)
    except ApiError:
        found = []
    if not found:
        raise ApiError(404, "ContactNotFound", "no contact matches the receipt's matchKey")
    if len(found) > 1:
        raise ApiError(409, "MultipleMatches", "the receipt's matchKey matches several contacts")
    return found[0]
