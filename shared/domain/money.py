"""Money as integers in a currency's own minor units: fraction digits, rounding, allocation.

Nothing here uses floats. commercetools money arrives as JSON objects; `minor_units` turns one
into an int in the minor units of its currency (JPY yen, EUR cents, KWD fils).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# ISO 4217 minor-unit exponents that differ from the usual 2.
_ZERO_DIGITS: Final = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_THREE_DIGITS: Final = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
_FOUR_DIGITS: Final = frozenset({"CLF", "UYW"})
DEFAULT_DIGITS: Final = 2
# commercetools keeps fractionDigits small (HighPrecisionMoney: more digits than the currency's,
# https://docs.commercetools.com/api/types#highprecisionmoney); anything past 20 is hostile input
# and would make 10**digits a multi-second computation holding the GIL.
MAX_FRACTION_DIGITS: Final = 20
MAX_MINOR_UNITS: Final = 2**63 - 1


def currency_digits(currency: str) -> int:
    """The number of minor-unit digits of an ISO 4217 currency (2 when not listed)."""
    code = currency.upper() if isinstance(currency, str) else ""
    if code in _ZERO_DIGITS:
        return 0
    if code in _THREE_DIGITS:
        return 3
    if code in _FOUR_DIGITS:
        return 4
    return DEFAULT_DIGITS


def divide_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, ties to even, exactly."""
    if denominator == 0:
        raise ZeroDivisionError("division by zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(numerator, denominator)  # floor: 0 <= remainder < denominator
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def _digits(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {_shown(value)}")
    if not 0 <= value <= MAX_FRACTION_DIGITS:
        raise ValueError(f"{name} must be between 0 and {MAX_FRACTION_DIGITS}, got {_shown(value)}")
    return value


def rescale(amount: int, from_digits: int, to_digits: int) -> int:
    """An amount with `from_digits` decimals expressed with `to_digits`, rounded half-even.

    Both digit counts must lie in 0..MAX_FRACTION_DIGITS (ValueError otherwise)."""
    _digits(from_digits, "from_digits")
    _digits(to_digits, "to_digits")
    if from_digits == to_digits:
        return amount
    if to_digits > from_digits:
        return amount * 10 ** (to_digits - from_digits)
    return divide_half_even(amount, 10 ** (from_digits - to_digits))


def _shown(value: Any) -> str:
    """A value for an error message, never longer than a short line."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "<huge int>"
    return text if len(text) <= 40 else text[:37] + "..."


def _integer(value: Any, field: str) -> int:
    # JSON integers only: a float here would already have lost precision upstream.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"money field {field!r} must be an integer, got {_shown(value)}")
    # commercetools stores money as a signed 64-bit count of minor units.
    if abs(value) > MAX_MINOR_UNITS:
        raise ValueError(f"money field {field!r} is out of range")
    return value


def minor_units(money: Any) -> int:
    """A commercetools money object as an int in its currency's minor units.

    `centPrecision` (and money without a `type`, as in drafts): `centAmount` is already in
    minor units of the money's own `fractionDigits`, which commercetools sets from the currency,
    so it is taken as is. `highPrecision`: `preciseAmount` carries the money's `fractionDigits`
    decimals and is rounded half-even to the currency's digits (the same rounding
    commercetools uses for its derived `centAmount`).
    """
    if not isinstance(money, Mapping):
        raise ValueError(f"money must be an object, got {type(money).__name__}")
    kind = money.get("type", "centPrecision")
    if kind == "highPrecision":
        precise = _integer(money.get("preciseAmount"), "preciseAmount")
        digits = _digits(money.get("fractionDigits"), "fractionDigits")
        currency = money.get("currencyCode")
        if not isinstance(currency, str) or not currency:
            raise ValueError("highPrecision money without a currencyCode")
        return rescale(precise, digits, currency_digits(currency))
    if kind != "centPrecision":
        raise ValueError(f"unknown money type {str(kind)[:40]!r}")
    if "fractionDigits" in money:
        _digits(money.get("fractionDigits"), "fractionDigits")
    return _integer(money.get("centAmount"), "centAmount")


def money_currency(money: Mapping[str, Any]) -> str:
    currency = money.get("currencyCode")
    if not isinstance(currency, str) or not currency:
        raise ValueError("money without a currencyCode")
    return currency.upper()


def allocate(total: int, part: int, whole: int) -> int:
    """The share `part / whole` of `total`, rounded half-even to an integer.

    Cumulative use makes shares add up exactly: the share of the slice (a, b] of `whole` is
    `allocate(total, b, whole) - allocate(total, a, whole)`, and those differences telescope
    to `allocate(total, whole, whole) == total`.
    """
    if whole <= 0:
        raise ValueError(f"allocate needs a positive whole, got {whole}")
    return divide_half_even(total * part, whole)


def format_minor(amount: int, currency: str) -> str:
    """For people and logs: `format_minor(123456, "KWD") == "123.456 KWD"`."""
    digits = currency_digits(currency)
    sign = "-" if amount < 0 else ""
    units, fraction = divmod(abs(amount), 10**digits)
    text = f"{units}.{fraction:0{digits}d}" if digits else str(units)
    return f"{sign}{text} {currency.upper()}"


def money_draft(currency: str, cent_amount: int) -> dict[str, Any]:
    """Money as a draft carries it: currency and amount in the currency's own minor units.

    commercetools derives the fraction digits from the currency (Money,
    https://docs.commercetools.com/api/types#money), so `money_draft("KWD", 500)` is 0.500 KWD;
    the SDK types refuse `type`/`fractionDigits` on drafts such as
    `CartDiscountValueAbsoluteDraft.money` and direct discounts.
    """
    return {"currencyCode": currency, "centAmount": cent_amount}


def typed_money(currency: str, cent_amount: int) -> dict[str, Any]:
    """Money as commercetools answers it (`CentPrecisionMoney`): with its type and digits.

    For the places that write a resource's full representation (imported orders' line prices,
    https://docs.commercetools.com/api/types#centprecisionmoney). Same argument order as
    `money_draft`: currency first, as in the API's own objects.
    """
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": cent_amount,
        "fractionDigits": currency_digits(currency),
    }
