"""The query predicate language subset of the commercetools stand-in."""

from __future__ import annotations

import pytest

from sandbox.commercetools.predicates import PredicateError, matches, parse

ORDER = {
    "id": "b-2",
    "orderNumber": "1001",
    "version": 3,
    "orderState": "Open",
    "isImported": False,
    "totalPrice": {"currencyCode": "EUR", "centAmount": 2599},
    "store": {"typeId": "store", "key": "eu"},
    "paymentInfo": {
        "payments": [{"typeId": "payment", "id": "p-1"}, {"typeId": "payment", "id": "p-2"}]
    },
    "custom": {"fields": {"loyaltyRedemptionOptionId": "opt-7", "points": 40}},
    "lineItems": [
        {"quantity": 1, "variant": {"sku": "A"}},
        {"quantity": 3, "variant": {"sku": "B"}},
    ],
    "tags": ["vip", "eu"],
}


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ('id > "b-1"', True),
        ('id > "b-2"', False),
        ('id >= "b-2"', True),
        ('id < "c"', True),
        ("version = 3", True),
        ("version != 3", False),
        ("version <> 2", True),
        ("version <= 2.5", False),
        ('orderNumber = "1001" and orderState = "Open"', True),
        ('orderNumber = "1002" or orderState = "Open"', True),
        ('orderNumber = "1002" or orderState = "Cancelled"', False),
        ('orderState in ("Open", "Confirmed")', True),
        ('orderState not in ("Open", "Confirmed")', False),
        ("isImported = false", True),
        ("isImported = true", False),
        ("paymentState is defined", False),
        ("paymentState is not defined", True),
        ('not(orderState = "Open")', False),
        ('not(orderState = "Open") or (version > 2 and orderNumber = "1001")', True),
        ('paymentInfo(payments(id = "p-2"))', True),
        ('paymentInfo(payments(id = "p-3"))', False),
        ("custom(fields(loyaltyRedemptionOptionId is defined))", True),
        ("custom(fields(other is not defined))", True),
        ("custom(fields(points >= 40 and points < 41))", True),
        ('store(key = "eu")', True),
        ('store(key = "us")', False),
        ("lineItems(quantity > 2)", True),
        ('lineItems(variant(sku = "C"))', False),
        ("totalPrice.centAmount = 2599", True),
        ('tags contains "vip"', True),
        ('tags contains all ("vip", "eu")', True),
        ('tags contains any ("us", "ca")', False),
        ("lineItems is not empty", True),
        # A missing object has no fields: its nested predicates see an empty object.
        ("shippingInfo(price is not defined)", True),
        ("shippingInfo(price is defined)", False),
        # Types do not mix: a string field never equals a number.
        ('version = "3"', False),
    ],
)
def test_predicates_evaluate_like_commercetools(predicate: str, expected: bool) -> None:
    assert matches(predicate, ORDER) is expected


def test_string_literals_handle_escaped_quotes() -> None:
    assert matches(r'name = "say \"hi\""', {"name": 'say "hi"'})


@pytest.mark.parametrize(
    "broken",
    [
        "",
        "id >",
        'id = "x" and',
        "(id = 1",
        'id ~ "x"',
        "id in ()",
        'custom(fields(x = "y")',
        "= 3",
    ],
)
def test_malformed_predicates_are_rejected(broken: str) -> None:
    with pytest.raises(PredicateError):
        parse(broken)


def test_booleans_only_compare_for_equality() -> None:
    with pytest.raises(PredicateError):
        parse("isImported > true")
