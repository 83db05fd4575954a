from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.money import (
    MAX_FRACTION_DIGITS,
    allocate,
    currency_digits,
    divide_half_even,
    format_minor,
    minor_units,
    rescale,
)
from tests.domain.builders import high_precision, money


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        *[(c, 0) for c in ("JPY", "KRW", "CLP", "ISK", "VND", "UGX", "XAF", "XOF", "BIF", "PYG")],
        *[(c, 3) for c in ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")],
        *[(c, 2) for c in ("EUR", "USD", "GBP", "CHF", "SEK")],
        ("CLF", 4),
        ("jpy", 0),
        ("kwd", 3),
        ("XYZ", 2),  # not listed: the usual two digits
    ],
)
def test_currency_digits_follow_iso_4217(currency: str, digits: int) -> None:
    assert currency_digits(currency) == digits


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (money(1999, "EUR"), 1999),
        (money(1980, "JPY"), 1980),
        (money(12345, "KWD"), 12345),
        (money(-500, "EUR"), -500),
        ({"currencyCode": "EUR", "centAmount": 42}, 42),  # draft money has no type
    ],
)
def test_cent_precision_money_is_its_cent_amount(value: dict, expected: int) -> None:
    assert minor_units(value) == expected


def test_cent_precision_trusts_the_moneys_own_fraction_digits() -> None:
    # centAmount is expressed in the money's fractionDigits; the table is not consulted.
    odd = {"type": "centPrecision", "currencyCode": "XYZ", "centAmount": 1234, "fractionDigits": 3}
    assert minor_units(odd) == 1234


@pytest.mark.parametrize(
    ("precise", "digits", "currency", "expected"),
    [
        (12345, 3, "EUR", 1234),  # 12.345 → tie, 4 is even
        (12355, 3, "EUR", 1236),  # 12.355 → tie, 6 is even
        (12351, 3, "EUR", 1235),
        (12349, 3, "EUR", 1235),
        (-12345, 3, "EUR", -1234),
        (-12355, 3, "EUR", -1236),
        (15, 1, "JPY", 2),  # ¥1.5 → 2
        (25, 1, "JPY", 2),  # ¥2.5 → 2
        (198049, 2, "JPY", 1980),
        (1234550, 5, "KWD", 12346),  # 12.34550 KWD → tie, 12346 is even
        (1234650, 5, "KWD", 12346),  # 12.34650 KWD → tie, 12346 is even
        (1234567, 5, "KWD", 12346),
        (1234, 2, "KWD", 12340),  # fewer digits than the currency: exact scaling up
    ],
)
def test_high_precision_rounds_half_even_to_the_currency(
    precise: int, digits: int, currency: str, expected: int
) -> None:
    assert minor_units(high_precision(precise, digits, currency)) == expected


@settings(deadline=None, derandomize=True)
@given(
    precise=st.integers(min_value=-(10**15), max_value=10**15),
    digits=st.integers(min_value=0, max_value=12),
    currency=st.sampled_from(["EUR", "JPY", "KWD", "CLF"]),
)
def test_high_precision_agrees_with_decimal_half_even(
    precise: int, digits: int, currency: str
) -> None:
    target = currency_digits(currency)
    exact = Decimal(precise).scaleb(-digits)
    rounded = exact.quantize(Decimal(1).scaleb(-target), rounding=ROUND_HALF_EVEN)
    expected = int(rounded.scaleb(target))
    assert minor_units(high_precision(precise, digits, currency)) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "centPrecision", "currencyCode": "EUR", "centAmount": 12.5},
        {"type": "centPrecision", "currencyCode": "EUR", "centAmount": True},
        {"type": "centPrecision", "currencyCode": "EUR"},
        {"type": "highPrecision", "currencyCode": "EUR", "preciseAmount": 1.5, "fractionDigits": 3},
        {"type": "highPrecision", "preciseAmount": 15, "fractionDigits": 3},
        {"type": "somethingElse", "currencyCode": "EUR", "centAmount": 1},
    ],
)
def test_money_that_is_not_integral_or_known_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        minor_units(bad)


@settings(deadline=None, derandomize=True)
@given(
    numerator=st.integers(min_value=-(10**20), max_value=10**20),
    denominator=st.integers(min_value=-(10**9), max_value=10**9).filter(bool),
)
def test_divide_half_even_agrees_with_decimal(numerator: int, denominator: int) -> None:
    with localcontext() as context:
        context.prec = 60  # exact for these magnitudes
        exact = Decimal(numerator) / Decimal(denominator)
        expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert divide_half_even(numerator, denominator) == expected


def test_allocate_examples() -> None:
    assert allocate(10000, 1, 3) == 3333
    assert allocate(10000, 2, 3) == 6667
    assert allocate(10000, 3, 3) == 10000
    assert allocate(10000, 0, 3) == 0
    assert allocate(5, 1, 2) == 2  # 2.5 → 2 (even)
    assert allocate(7, 1, 2) == 4  # 3.5 → 4 (even)


def test_allocate_needs_a_positive_whole() -> None:
    with pytest.raises(ValueError):
        allocate(100, 1, 0)


@settings(deadline=None, derandomize=True)
@given(
    total=st.integers(min_value=-(10**12), max_value=10**12),
    parts=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12),
)
def test_cumulative_allocation_adds_up_exactly(total: int, parts: list[int]) -> None:
    whole = sum(parts)
    if whole == 0:
        parts, whole = [*parts, 1], whole + 1
    shares = []
    cumulative = 0
    for part in parts:
        before, cumulative = cumulative, cumulative + part
        shares.append(allocate(total, cumulative, whole) - allocate(total, before, whole))
    assert sum(shares) == total
    # every share is within one minor unit of its exact proportion
    for part, share in zip(parts, shares, strict=True):
        assert abs(share * whole - total * part) <= whole


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123456, "KWD", "123.456 KWD"),
        (1980, "JPY", "1980 JPY"),
        (5, "EUR", "0.05 EUR"),
        (-5, "EUR", "-0.05 EUR"),
        (0, "EUR", "0.00 EUR"),
        (-1001, "KWD", "-1.001 KWD"),
        (100000, "eur", "1000.00 EUR"),
    ],
)
def test_format_minor(amount: int, currency: str, text: str) -> None:
    assert format_minor(amount, currency) == text


@pytest.mark.parametrize(
    "money_object",
    [
        # 10**(10**7) would hold the GIL for seconds and kill the worker (fractionDigits is
        # bounded to 0–20, ADR 0023).
        {
            "type": "highPrecision",
            "currencyCode": "EUR",
            "preciseAmount": 1,
            "fractionDigits": 10**7,
        },
        {"type": "highPrecision", "currencyCode": "EUR", "preciseAmount": 1, "fractionDigits": 21},
        {"type": "highPrecision", "currencyCode": "EUR", "preciseAmount": 1, "fractionDigits": -1},
        {"type": "highPrecision", "currencyCode": "EUR", "preciseAmount": 1, "fractionDigits": 2.0},
        {"type": "centPrecision", "currencyCode": "EUR", "centAmount": 1, "fractionDigits": 99},
        {"type": "centPrecision", "currencyCode": "EUR", "centAmount": 2**63},
        {"type": "centPrecision", "currencyCode": "EUR", "centAmount": True},
        {"type": "somethingElse", "currencyCode": "EUR", "centAmount": 1},
        "not an object",
        None,
    ],
)
def test_money_outside_commercetools_bounds_is_refused(money_object) -> None:
    with pytest.raises(ValueError):
        minor_units(money_object)


def test_twenty_fraction_digits_are_still_money() -> None:
    precise = {
        "type": "highPrecision",
        "currencyCode": "KWD",
        "preciseAmount": 1_234_500_000_000_000_000,  # an int64, as commercetools keeps it
        "fractionDigits": MAX_FRACTION_DIGITS,
    }
    assert minor_units(precise) == 12  # 0.012345 KWD, half-even to fils
    with pytest.raises(ValueError):
        rescale(1, 0, MAX_FRACTION_DIGITS + 1)
