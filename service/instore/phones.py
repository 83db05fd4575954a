"""Phone numbers as shoppers and shops store them, matched to the E.164 number a till asks for.

commercetools' query predicates compare stored strings exactly, and addresses hold phones as
typed: "+49 171 765 4321", "0171 7654321", "01717654321". A lookup therefore asks for the
common spellings of the number (international and national, with and without the usual
groupings) and then keeps only the customers one of whose numbers, normalised with its
address's country, is the number asked for. Pure.

National numbers are completed with the country calling code of the address's `country`
(ITU-T E.164 assigned codes, https://www.itu.int/pub/T-SP-E.164D) and, where the country dials
a trunk "0" before national numbers (most of Europe, https://en.wikipedia.org/wiki/Trunk_prefix),
with that "0" dropped. A number whose country is unknown is only matched in international form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Country (ISO 3166-1 alpha-2) -> calling code, and whether national numbers start with "0".
_COUNTRIES: dict[str, tuple[str, bool]] = {
    "AT": ("43", True),
    "AU": ("61", True),
    "BE": ("32", True),
    "BG": ("359", True),
    "BR": ("55", True),
    "CA": ("1", False),
    "CH": ("41", True),
    "CY": ("357", False),
    "CZ": ("420", False),
    "DE": ("49", True),
    "DK": ("45", False),
    "EE": ("372", False),
    "ES": ("34", False),
    "FI": ("358", True),
    "FR": ("33", True),
    "GB": ("44", True),
    "GR": ("30", False),
    "HR": ("385", True),
    "HU": ("36", False),
    "IE": ("353", True),
    "IL": ("972", True),
    "IN": ("91", True),
    "IS": ("354", False),
    "IT": ("39", False),
    "JP": ("81", True),
    "KW": ("965", False),
    "LI": ("423", False),
    "LT": ("370", False),
    "LU": ("352", False),
    "LV": ("371", False),
    "MT": ("356", False),
    "MX": ("52", False),
    "NL": ("31", True),
    "NO": ("47", False),
    "NZ": ("64", True),
    "PL": ("48", False),
    "PT": ("351", False),
    "RO": ("40", True),
    "SE": ("46", True),
    "SG": ("65", False),
    "SI": ("386", True),
    "SK": ("421", True),
    "TR": ("90", True),
    "UA": ("380", True),
    "US": ("1", False),
    "ZA": ("27", True),
}
_CODES = {code: trunk for code, trunk in _COUNTRIES.values()}
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Separators people type, and the "(0)" some write between code and number: +49 (0)171 ...
_NOISE = re.compile(r"\(0\)|[\s\-./()]")
_MAX_SPELLINGS = 60


def split(number: str) -> tuple[str, str] | None:
    """`+491717654321` -> (`49`, `1717654321`) for the calling codes this module knows."""
    if not _E164.fullmatch(number):
        return None
    digits = number[1:]
    for length in (3, 2, 1):
        if digits[:length] in _CODES:
            return digits[:length], digits[length:]
    return None


def normalise(value: Any, country: str | None = None) -> str | None:
    """A stored phone as E.164, completed with `country`'s code when written nationally."""
    if not isinstance(value, str):
        return None
    text = _NOISE.sub("", value.strip())
    if not text:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        return text if _E164.fullmatch(text) else None
    if not text.isascii() or not text.isdigit():
        return None
    known = _COUNTRIES.get((country or "").upper())
    if known is None:
        return None
    code, trunk = known
    if trunk and text.startswith("0"):
        text = text[1:]
    elif not trunk and text.startswith(code) and len(text) > 10:
        text = text[len(code) :]  # "14155550100" for a US number: the code without "+"
    candidate = f"+{code}{text}"
    return candidate if _E164.fullmatch(candidate) else None


def _pairs(digits: str) -> str:
    """ "612345678" -> "6 12 34 56 78": pairs from the end, as France and others write."""
    head = len(digits) % 2
    groups = ([digits[:head]] if head else []) + [
        digits[i : i + 2] for i in range(head, len(digits), 2)
    ]
    return " ".join(groups)


def _groupings(national: str) -> Iterable[tuple[str, str]]:
    """(grouped national number, the separator it uses)."""
    n = len(national)
    yield national, ""
    for first in (2, 3, 4, 5):
        if n - first >= 3:
            yield f"{national[:first]} {national[first:]}", " "
    for first in (3, 4):
        if n - first >= 3:
            yield f"{national[:first]}-{national[first:]}", "-"
            yield f"{national[:first]}/{national[first:]}", "/"
    if n >= 9:
        yield f"{national[:3]} {national[3:6]} {national[6:]}", " "
        yield f"{national[:3]}-{national[3:6]}-{national[6:]}", "-"
        yield f"{national[:3]} {national[3:7]} {national[7:]}", " "
    if n >= 6:
        yield _pairs(national), " "


def spellings(number: str) -> list[str]:
    """The ways `number` (E.164) is commonly stored, for an exact-match `in (...)` predicate.

    A prefilter only: `normalise` decides which stored numbers really are this one.
    """
    parts = split(number)
    if parts is None:
        return [number]
    code, national = parts
    found: dict[str, None] = {number: None, f"00{code}{national}": None}
    trunk = "0" if _CODES[code] else ""
    for grouped, separator in _groupings(national):
        found[f"+{code} {grouped}"] = None
        if separator in ("-", ""):
            found[f"+{code}-{grouped}"] = None
        found[f"{trunk}{grouped}"] = None
    if not trunk and len(national) == 10:
        found[f"({national[:3]}) {national[3:6]}-{national[6:]}"] = None
    return list(found)[:_MAX_SPELLINGS]


def customer_numbers(customer: Mapping[str, Any], custom_field: str) -> set[str]:
    """Every number of the customer as E.164: the loyalty field and each address's phone and
    mobile, national ones completed with that address's country."""
    numbers: set[str] = set()
    addresses = [a for a in customer.get("addresses") or [] if isinstance(a, Mapping)]
    custom = customer.get("custom")
    fields = custom.get("fields") if isinstance(custom, Mapping) else None
    if isinstance(fields, Mapping):
        first_country = next((a.get("country") for a in addresses if a.get("country")), None)
        number = normalise(fields.get(custom_field), first_country)
        if number:
            numbers.add(number)
    for address in addresses:
        country = address.get("country") if isinstance(address.get("country"), str) else None
        for name in ("phone", "mobile"):
            number = normalise(address.get(name), country)
            if number:
                numbers.add(number)
    return numbers
