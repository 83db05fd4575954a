from __future__ import annotations

from typing import Any

import pytest

from shared.domain.customer_sync import customer_payload, e164


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
    }


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
