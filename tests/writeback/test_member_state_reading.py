"""Reading Yotpo's member answer: text Yotpo sends for a number never raises, it reads or not."""

from __future__ import annotations

import pytest

from shared.domain.customers.writeback_diff import member_state


@pytest.mark.parametrize(
    ("sent", "read"),
    [(1200, 1200), (1200.0, 1200), (" 1200 ", 1200), ("-5", -5), (True, None), ("1.5", None)],
)
def test_a_points_balance_reads_as_an_integer(sent, read):
    assert member_state({"points_balance": sent}).points_balance == read


@pytest.mark.parametrize("sent", ["²", "--5", "9" * 5000, "12 34"])
def test_digits_int_refuses_read_as_no_balance(sent):
    # `str.isdigit` takes "²" and "--5" stripped of its minus signs, which `int` refuses, and
    # `int` refuses digit strings past 4,300 characters.
    assert member_state({"points_balance": sent}).points_balance is None


@pytest.mark.parametrize(
    ("sent", "read"),
    [("Gold", "Gold"), (" Gold ", "Gold"), (3, "3"), ("", None), ({"name": "Gold"}, None)],
)
def test_a_tier_name_is_text(sent, read):
    assert member_state({"vip_tier_name": sent}).vip_tier == read


def test_a_referral_code_may_come_as_an_object():
    assert member_state({"referral_code": {"code": " REF1 "}}).referral_code == "REF1"
