"""Points and money arithmetic of the Yotpo stand-in: exact rationals (`fractions.Fraction`
built from decimal strings) over integer minor units, floored where Yotpo hands out whole
points or cents; never floats."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from sandbox.yotpo.program import CurrencyConfig


def earned_points(
    amount_minor: int,
    fraction_digits: int,
    points_per_unit: Decimal | Fraction | int,
    multiplier: Decimal | Fraction | int = 1,
) -> int:
    """floor(amount_minor * points_per_unit * multiplier / 10**fraction_digits), exactly."""
    value = Fraction(amount_minor) * Fraction(points_per_unit) * Fraction(multiplier)
    return math.floor(value / 10**fraction_digits)


def to_base_minor(amount_minor: int, currency: CurrencyConfig, base: CurrencyConfig) -> int:
    major = Fraction(amount_minor, 10**currency.fraction_digits) * Fraction(currency.rate_to_base)
    return math.floor(major * 10**base.fraction_digits)


def from_base_minor(base_minor: int, currency: CurrencyConfig, base: CurrencyConfig) -> int:
    major = Fraction(base_minor, 10**base.fraction_digits) / Fraction(currency.rate_to_base)
    return math.floor(major * 10**currency.fraction_digits)


def share(whole: int, part: int, total: int) -> int:
    """floor(whole * part / total): the cumulative proportional share, 0 for an empty total."""
    return whole * part // total if total > 0 else 0
