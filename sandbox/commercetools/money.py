"""Money in a currency's own minor units, and the one rounding rule (half to even).

Amounts are integers of minor units; rates and ratios are exact `Fraction`s, so nothing here
ever goes through a float.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from sandbox.commercetools.errors import invalid_input

# ISO 4217 minor units of the currencies a sandbox shop plausibly prices in.
FRACTION_DIGITS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "MXN": 2,
    "BRL": 2,
    "INR": 2,
    "CNY": 2,
    "SGD": 2,
    "HKD": 2,
    "ZAR": 2,
    "AED": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "HUF": 2,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}


def fraction_digits(currency: str) -> int:
    try:
        return FRACTION_DIGITS[currency]
    except KeyError:
        raise invalid_input(f"'{currency}' is not a supported currency code.") from None


def money(currency: str, cent_amount: int) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": int(cent_amount),
        "fractionDigits": fraction_digits(currency),
    }


def round_half_even(value: Fraction) -> int:
    # Python rounds Fractions half to even, exactly: no float on the way.
    return round(value)


def exact_rate(value: Any) -> Fraction:
    """A tax rate or ratio given as JSON number or decimal string, taken exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid_input(f"'{value}' is not a valid rate.")
    try:
        rate = Fraction(str(value))
    except ValueError:
        raise invalid_input(f"'{value}' is not a valid rate.") from None
    if not 0 <= rate <= 1:
        raise invalid_input(f"Rate '{value}' must be between 0 and 1.")
    return rate


def parse_money(value: Any, field: str = "money") -> tuple[str, int]:
    """(currency, minor units) of a Money draft; highPrecision amounts round half to even."""
    if not isinstance(value, dict):
        raise invalid_input(f"'{field}' must be a money object.")
    currency = value.get("currencyCode")
    if not isinstance(currency, str):
        raise invalid_input(f"'{field}.currencyCode' is missing.")
    digits = fraction_digits(currency)
    if value.get("type") == "highPrecision":
        precise, given_digits = value.get("preciseAmount"), value.get("fractionDigits")
        if (
            not isinstance(precise, int)
            or not isinstance(given_digits, int)
            or given_digits < digits
        ):
            raise invalid_input(f"'{field}' is not a valid high-precision money value.")
        return currency, round_half_even(Fraction(precise, 10 ** (given_digits - digits)))
    cents = value.get("centAmount")
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise invalid_input(f"'{field}.centAmount' must be an integer.")
    return currency, cents


def share(amount: int, ratio: Fraction) -> int:
    return round_half_even(amount * ratio)


def split_proportionally(total: int, weights: list[int]) -> list[int]:
    """`total` split over non-negative `weights`, summing exactly (largest remainder first)."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0 for _ in weights]
    exact = [Fraction(total * w, weight_sum) for w in weights]
    parts = [int(e.__floor__()) for e in exact]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: exact[i] - parts[i], reverse=True)
    for i in order[:left]:
        parts[i] += 1
    return parts
