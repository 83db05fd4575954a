"""Voyado reward vouchers at checkout: the pure rules (shared/domain/checkout/vouchers.py),
with vouchers shaped as `GET /api/v3/reward-vouchers/available` lists them
(https://voyado.mintlify.app/docs/loyalty/vouchers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.domain.checkout.redemption import RedemptionError, Rejection
from shared.domain.checkout.vouchers import (
    Voucher,
    decide_voucher,
    is_voucher_id,
    read_voucher,
    still_available,
    voucher_approval,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VID = "3f2b6c1e-9a4d-4e5f-8a7b-0c1d2e3f4a5b"


def listed(
    voucher_id: str = VID,
    amount: object = 50,
    currency: str = "SEK",
    expires: datetime | None = NOW + timedelta(days=30),
    local: list[dict] | None = None,
) -> dict:
    return {
        "id": voucher_id,
        "voucherNumber": "0000012345678",
        "name": "Bonus voucher",
        "value": {"currency": currency, "amount": amount},
        "localValues": local if local is not None else [{"currency": currency, "amount": amount}],
        "expiresOn": expires.isoformat() if expires else None,
        "points": 500,
    }


def decide(requested: str | None = VID, *, available=None, currency="SEK", merchandise=10000):
    return decide_voucher(
        requested,
        available=[listed()] if available is None else available,
        currency=currency,
        merchandise=merchandise,
        now=NOW,
    )


def refused(decision: object) -> RedemptionError:
    assert isinstance(decision, Rejection), decision
    return decision.error


def test_an_available_voucher_in_the_cart_currency_is_accepted_whole():
    decision = decide()
    assert isinstance(decision, Voucher)
    assert decision.id == VID and decision.amount_minor == 5000 and decision.currency == "SEK"
    approval = voucher_approval(decision)
    assert (approval.kind, approval.amount, approval.face, approval.minimum) == (
        "fixed",
        5000,
        5000,
        5000,
    )
    # Never points: a cancelled order gives the voucher back, not its points.
    assert approval.points == 0


@pytest.mark.parametrize(
    ("requested", "error"),
    [
        (None, RedemptionError.UNKNOWN_OPTION),
        ("12", RedemptionError.UNKNOWN_OPTION),  # a Yotpo option id is not a voucher
        (f"{VID},{VID}", RedemptionError.UNKNOWN_OPTION),  # one voucher per cart
        ("0f2b6c1e-9a4d-4e5f-8a7b-0c1d2e3f4a5b", RedemptionError.NOT_ELIGIBLE),  # not listed
    ],
)
def test_what_is_not_one_of_the_contacts_vouchers_is_refused(requested, error):
    assert refused(decide(requested)) is error


def test_an_expired_voucher_is_refused_even_when_listed():
    stale = listed(expires=NOW - timedelta(seconds=1))
    assert refused(decide(available=[stale])) is RedemptionError.NOT_ELIGIBLE


def test_a_voucher_worth_more_than_the_cart_is_refused_not_cut():
    assert refused(decide(merchandise=4999)) is RedemptionError.BELOW_MINIMUM
    assert isinstance(decide(merchandise=5000), Voucher)


def test_the_value_must_be_in_the_cart_currency_value_or_local_value():
    assert refused(decide(currency="EUR")) is RedemptionError.CURRENCY_NOT_SUPPORTED
    both = listed(local=[{"currency": "SEK", "amount": 50}, {"currency": "EUR", "amount": "4.5"}])
    decision = decide(available=[both], currency="EUR")
    assert isinstance(decision, Voucher) and decision.amount_minor == 450


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("50.00"), "SEK", 5000),
        ("1234", "JPY", 1234),
        ("1.234", "KWD", 1234),
        ("0.005", "SEK", None),  # not a whole minor unit
        ("-5", "SEK", None),
        (True, "SEK", None),
        ("NaN", "SEK", None),
        ("1e40", "SEK", None),
    ],
)
def test_amounts_are_decimal_major_units_of_the_currencys_own_digits(amount, currency, minor):
    found = read_voucher(listed(amount=amount, currency=currency), currency)
    assert (found.amount_minor if found else None) == minor


def test_ids_are_guids_and_matched_without_regard_to_case():
    assert is_voucher_id(VID) and is_voucher_id(VID.upper())
    assert not is_voucher_id("") and not is_voucher_id(f"{VID}\n") and not is_voucher_id(None)
    assert still_available(VID.upper(), [listed()])
    assert not still_available(VID, [listed("0f2b6c1e-9a4d-4e5f-8a7b-0c1d2e3f4a5b")])
    assert not still_available(VID, [])
