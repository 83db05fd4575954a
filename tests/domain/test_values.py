"""The one value-reading rule (`shared/domain/values.py`), with plain data."""

from __future__ import annotations

import pytest

from shared.domain.money import money_draft, typed_money
from shared.domain.values import text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("  a b ", "a b"), ("", None), ("   ", None), (None, None), (7, None), (True, None),
     ({"a": 1}, None), (["x"], None), (1.5, None)],
)  # fmt: skip
def test_text_is_a_non_blank_string_stripped(value, expected):
    assert text(value) == expected


def test_numbers_are_read_only_when_asked_and_never_booleans():
    assert text(42, numbers=True) == "42"
    assert text(False, numbers=True) is None
    assert text(1.5, numbers=True) is None


def test_too_long_is_cut_or_refused_as_the_caller_says():
    assert text("abcdef", limit=3) == "abc"
    assert text("abcdef", limit=3, too_long="refuse") is None
    assert text(" abc ", limit=3, too_long="refuse") == "abc"


def test_money_helpers_take_currency_first_in_the_currencys_own_digits():
    assert money_draft("KWD", 500) == {"currencyCode": "KWD", "centAmount": 500}
    assert typed_money("JPY", 1200) == {
        "type": "centPrecision",
        "currencyCode": "JPY",
        "centAmount": 1200,
        "fractionDigits": 0,
    }
    assert typed_money("KWD", 500)["fractionDigits"] == 3


@pytest.mark.parametrize(
    ("value", "strings", "expected"),
    [(5, False, 5), (5.0, False, 5), (5.5, False, None), (True, False, None), ("5", False, None),
     ("5", True, 5), (" -7 ", True, -7), ("²", True, None), ("--5", True, None),
     ("9" * 5000, True, None), (None, True, None), ([], True, None)],
)  # fmt: skip
def test_integer_reads_whole_numbers_and_short_digit_strings_only_when_asked(
    value, strings, expected
):
    from shared.domain.values import integer

    assert integer(value, strings=strings) == expected
