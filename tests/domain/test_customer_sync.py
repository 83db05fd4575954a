from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.domain.customers.customer_sync import (
    CustomerSyncConfig,
    birthday_payload,
    customer_member,
    customer_payload,
    e164,
    member_birthday,
    member_upsert,
)
from shared.domain.customers.member_identity import MemberIdentity


def _customer(**overrides: Any) -> dict[str, Any]:
    customer: dict[str, Any] = {
        "id": "customer-ada",
        "version": 3,
        "email": "ada.lovelace@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "createdAt": "2023-11-05T08:30:00.000Z",
        "lastModifiedAt": "2024-01-01T00:00:00.000Z",
        "addresses": [
            {"id": "addr-home", "country": "GB", "phone": "020 7946 0000"},
            {"id": "addr-work", "country": "GB", "mobile": "+44 7700 900123"},
        ],
        "defaultShippingAddressId": "addr-home",
        "isEmailVerified": True,
        "authenticationMode": "Password",
    }
    customer.update(overrides)
    return customer


def test_full_payload() -> None:
    assert customer_payload(_customer()) == {
        "id": "customer-ada",
        "email": "ada.lovelace@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone_number": "+447700900123",
        "has_account": True,
        "platform_account_created_at": "2023-11-05T08:30:00+00:00",
        "tags": "",  # the connector owns the member's tags: no groups, no tags
    }


@pytest.mark.parametrize("email", [None, "", "  "])
def test_no_email_no_payload(email: str | None) -> None:
    assert customer_payload(_customer(email=email)) is None


def test_optional_fields_are_left_out_when_absent() -> None:
    bare = {"id": "customer-bare", "email": "bare@example.com"}
    assert customer_payload(bare) == {
        "id": "customer-bare",
        "email": "bare@example.com",
        "has_account": True,
        "tags": "",
    }
    untagged = CustomerSyncConfig(tags_from_groups=False)
    assert "tags" not in customer_payload(bare, untagged)


def test_custom_field_phone_wins() -> None:
    fields = {"loyaltyPhoneNumber": "+1 (415) 555-0100"}
    customer = _customer(custom={"type": {"typeId": "type", "id": "t"}, "fields": fields})
    assert customer_payload(customer)["phone_number"] == "+14155550100"


def test_default_billing_address_comes_before_other_addresses() -> None:
    customer = _customer(
        addresses=[
            {"id": "a1", "mobile": "+33 6 12 34 56 78"},
            {"id": "a2", "phone": "+49 30 1234567"},
        ],
        defaultBillingAddressId="a2",
    )
    assert customer_payload(customer)["phone_number"] == "+49301234567"


def test_numbers_without_country_code_are_not_guessed() -> None:
    customer = _customer(addresses=[{"id": "a1", "phone": "0612345678", "mobile": "call me"}])
    assert "phone_number" not in customer_payload(customer)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 7700 900123", "+447700900123"),
        ("+1-415-555-0100", "+14155550100"),
        ("+81.3.1234.5678", "+81312345678"),
        ("+0 123", None),
        ("+1234567890123456", None),  # 16 digits: too long for E.164
        ("447700900123", None),
        ("", None),
        (None, None),
        (44, None),
    ],
)
def test_e164(raw: Any, expected: str | None) -> None:
    assert e164(raw) == expected


LEGACY = {"externalId": "LEGACY-42", "custom": {"type": {}, "fields": {"legacyId": "OLD-7"}}}


@pytest.mark.parametrize(
    ("identity", "overrides", "expected"),
    [
        (MemberIdentity(), LEGACY, "customer-ada"),
        (MemberIdentity(source="externalId"), LEGACY, "LEGACY-42"),
        (MemberIdentity(source="externalId"), {"externalId": "  "}, "customer-ada"),
        (MemberIdentity(source="customField", custom_field="legacyId"), LEGACY, "OLD-7"),
        (MemberIdentity(source="customField", custom_field="legacyId"), {}, "customer-ada"),
    ],
)
def test_member_id_follows_the_configured_source(
    identity: MemberIdentity, overrides: dict[str, Any], expected: str
) -> None:
    config = CustomerSyncConfig(identity=identity)
    customer = _customer(**overrides)
    assert customer_payload(customer, config)["id"] == expected
    member = customer_member(customer, config)
    assert (member.customer_id, member.member_id) == ("customer-ada", expected)
    assert member.email == "ada.lovelace@example.com"


def _consent(value: Any) -> dict[str, Any]:
    return {"custom": {"type": {}, "fields": {"marketingConsent": value}}}


@pytest.mark.parametrize(
    ("policy", "fields", "expected"),
    [
        ("account", _consent(True), None),  # left to Yotpo's account setting
        ("always", {}, True),
        ("customer_field", _consent(True), True),
        ("customer_field", _consent(False), False),  # a withdrawn consent opts out
        ("customer_field", _consent("yes"), None),  # not a boolean: not believed
        ("customer_field", {}, None),
    ],
)
def test_opt_in_policy(policy: Any, fields: dict[str, Any], expected: bool | None) -> None:
    config = CustomerSyncConfig(opt_in_policy=policy, opt_in_field="marketingConsent")
    payload = customer_payload(_customer(**fields), config)
    assert payload.get("opted_in") == expected
    assert customer_member(_customer(**fields), config).opted_in == expected


def test_customer_groups_become_tags() -> None:
    customer = _customer(
        customerGroup={"typeId": "customer-group", "id": "g-1", "obj": {"key": "wholesale"}},
        customerGroupAssignments=[
            {"customerGroup": {"typeId": "customer-group", "id": "g-1"}},
            {"customerGroup": {"typeId": "customer-group", "key": "vip-gold"}},
            {"customerGroup": {"typeId": "customer-group", "id": "g-9"}},
        ],
    )
    assert customer_payload(customer)["tags"] == "wholesale,g-1,vip-gold,g-9"
    member = customer_member(customer, CustomerSyncConfig())
    assert member.tags == ("wholesale", "g-1", "vip-gold", "g-9") and member.tags_known


@pytest.mark.parametrize(
    ("born", "expected"),
    [
        ("1990-07-14", {"day": 14, "month": 7, "year": 1990}),
        ("2000-02-29", {"day": 29, "month": 2, "year": 2000}),
        ("1990-13-01", None),
        ("", None),
        (None, None),
        (19900714, None),
    ],
)
def test_birthday_from_date_of_birth(born: Any, expected: dict[str, int] | None) -> None:
    payload = birthday_payload(_customer(dateOfBirth=born))
    if expected is None:
        assert payload is None
    else:
        assert payload == {"customer_email": "ada.lovelace@example.com", **expected}
    assert birthday_payload(_customer(email=None, dateOfBirth="1990-07-14")) is None


def test_the_member_upsert_holds_the_whole_profile_neutrally() -> None:
    upsert = member_upsert(_customer(dateOfBirth="1990-07-14"))
    assert upsert is not None
    assert upsert.has_account is True
    assert upsert.account_created_at == datetime(2023, 11, 5, 8, 30, tzinfo=UTC)
    assert (upsert.phone, upsert.birthday, upsert.tags) == ("+447700900123", "1990-07-14", ())
    assert upsert.ct_customer_id == "customer-ada"
    # An unreadable account date is left out, not guessed.
    assert member_upsert(_customer(createdAt="yesterday")).account_created_at is None


def test_the_birthday_operation_names_the_member_by_the_upserts_email() -> None:
    upsert = member_upsert(_customer(dateOfBirth="2000-02-29"))
    born = member_birthday(upsert)
    assert born is not None
    assert (born.email, born.born) == ("ada.lovelace@example.com", date(2000, 2, 29))
    undated = member_upsert(_customer())
    assert undated is not None and member_birthday(undated) is None
