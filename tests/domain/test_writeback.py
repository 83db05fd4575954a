"""The pure write-back diff, with plain data: what changes, and — above all — what does not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.customers.writeback_diff import (
    FOREIGN_CUSTOM_TYPE,
    GROUP_NOT_OWNED,
    GroupPolicy,
    MemberState,
    TypeTarget,
    format_datetime,
    member_state,
    parse_datetime,
    plan_writeback,
    same_value,
)
from shared.domain.loyalty_fields import CustomerFields as F

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TARGET = TypeTarget(type_id="type-loyalty", type_key="yotpo-loyalty-customer")
GOLD, SILVER, MERCHANT = "group-gold", "group-silver", "group-wholesale"
GROUPS = GroupPolicy({"Gold": GOLD, "Silver": SILVER})

YOTPO_MEMBER = {
    "id": "c-1",
    "third_party_id": "c-1",
    "email": "sam@example.com",
    "points_balance": 420,
    "vip_tier_name": "Silver",
    "vip_tier_ends_at": "2027-11-23T10:00:00Z",
    "referral_code": {"code": "REF000042"},
}


def member(**changes) -> MemberState:
    return member_state({**YOTPO_MEMBER, **changes})


def customer(fields=None, *, type_id="type-loyalty", group=None, custom=True) -> dict:
    result: dict = {"id": "c-1", "version": 7, "email": "sam@example.com"}
    if custom:
        result["custom"] = {"type": {"typeId": "type", "id": type_id}, "fields": fields or {}}
    if group:
        result["customerGroup"] = {"typeId": "customer-group", "id": group}
    return result


SYNCED = {
    F.POINTS_BALANCE: 420,
    F.VIP_TIER: "Silver",
    F.TIER_ENDS_AT: "2027-11-23T10:00:00.000Z",
    F.REFERRAL_CODE: "REF000042",
    F.SYNCED_AT: "2026-11-22T02:00:00.000Z",
}


def test_member_state_reads_yotpo_answers():
    state = member()
    assert state == MemberState(
        points_balance=420,
        vip_tier="Silver",
        tier_ends_at=datetime(2027, 11, 23, 10, tzinfo=UTC),
        referral_code="REF000042",
    )
    bare = member_state({"points_balance": "15", "referral_code": "CODE", "vip_tier_name": " "})
    assert bare == MemberState(15, None, None, "CODE")


def test_equal_state_plans_nothing_not_even_synced_at():
    plan = plan_writeback(customer(SYNCED), member(), TARGET, GroupPolicy(), NOW)
    assert plan.empty and plan.actions == () and plan.changed == ()


def test_equal_state_spelt_differently_plans_nothing():
    # commercetools hands numbers back as floats and instants with milliseconds or offsets.
    fields = {**SYNCED, F.POINTS_BALANCE: 420.0, F.TIER_ENDS_AT: "2027-11-23T11:00:00+01:00"}
    assert plan_writeback(customer(fields), member(), TARGET, GroupPolicy(), NOW).empty


def test_only_changed_fields_are_written_and_synced_at_with_them():
    plan = plan_writeback(customer(SYNCED), member(points_balance=500), TARGET, GroupPolicy(), NOW)
    assert plan.changed == (F.POINTS_BALANCE,)
    assert list(plan.actions) == [
        {"action": "setCustomField", "name": F.POINTS_BALANCE, "value": 500},
        {"action": "setCustomField", "name": F.SYNCED_AT, "value": "2026-11-23T02:00:00.000Z"},
    ]


def test_a_lost_tier_removes_the_tier_fields():
    lost = member(vip_tier_name=None, vip_tier_ends_at=None)
    plan = plan_writeback(customer(SYNCED), lost, TARGET, GroupPolicy(), NOW)
    assert plan.changed == (F.VIP_TIER, F.TIER_ENDS_AT)
    assert {"action": "setCustomField", "name": F.VIP_TIER} in plan.actions
    assert {"action": "setCustomField", "name": F.TIER_ENDS_AT} in plan.actions


def test_a_customer_without_custom_type_gets_the_type_with_all_fields():
    plan = plan_writeback(customer(custom=False), member(), TARGET, GroupPolicy(), NOW)
    (action,) = plan.actions
    assert action == {
        "action": "setCustomType",
        "type": {"typeId": "type", "id": "type-loyalty"},
        "fields": {**SYNCED, F.SYNCED_AT: "2026-11-23T02:00:00.000Z"},
    }
    assert set(plan.changed) == set(SYNCED) - {F.SYNCED_AT}


def test_a_customer_of_another_custom_type_keeps_it():
    plan = plan_writeback(
        customer({"shoeSize": 44}, type_id="merchant-type"), member(), TARGET, GroupPolicy(), NOW
    )
    assert plan.empty and plan.skipped == (FOREIGN_CUSTOM_TYPE,)


def test_tier_gained_sets_the_mapped_group():
    plan = plan_writeback(customer(SYNCED), member(vip_tier_name="Gold"), TARGET, GROUPS, NOW)
    assert {
        "action": "setCustomerGroup",
        "customerGroup": {"typeId": "customer-group", "id": GOLD},
    } in plan.actions
    assert plan.changed == (F.VIP_TIER, "customerGroup")


def test_tier_lost_removes_only_an_owned_group():
    lost = member(vip_tier_name=None, vip_tier_ends_at=None)
    plan = plan_writeback(customer(SYNCED, group=SILVER), lost, TARGET, GROUPS, NOW)
    assert {"action": "setCustomerGroup"} in plan.actions
    kept = plan_writeback(customer(SYNCED, group=MERCHANT), lost, TARGET, GROUPS, NOW)
    assert not any(a["action"] == "setCustomerGroup" for a in kept.actions)


def test_a_merchant_group_is_never_replaced_by_a_tier_group():
    plan = plan_writeback(customer(SYNCED, group=MERCHANT), member(), TARGET, GROUPS, NOW)
    assert plan.empty and plan.skipped == (GROUP_NOT_OWNED,)


def test_a_group_already_right_plans_nothing_and_tier_names_ignore_case():
    assert plan_writeback(customer(SYNCED, group=SILVER), member(), TARGET, GROUPS, NOW).empty
    shouted = member(vip_tier_name="SILVER")
    plan = plan_writeback(customer(SYNCED, group=SILVER), shouted, TARGET, GROUPS, NOW)
    assert plan.changed == (F.VIP_TIER,)  # the field follows Yotpo's spelling; the group stays


def test_the_group_rule_applies_even_when_fields_are_skipped():
    plan = plan_writeback(
        customer({}, type_id="merchant-type"), member(vip_tier_name="Gold"), TARGET, GROUPS, NOW
    )
    assert [a["action"] for a in plan.actions] == ["setCustomerGroup"]
    assert plan.skipped == (FOREIGN_CUSTOM_TYPE,)


def test_moving_between_owned_groups():
    plan = plan_writeback(
        customer(SYNCED, group=SILVER), member(vip_tier_name="Gold"), TARGET, GROUPS, NOW
    )
    assert plan.actions[-2]["customerGroup"]["id"] == GOLD


@pytest.mark.parametrize(
    ("name", "current", "wanted", "same"),
    [
        (F.POINTS_BALANCE, 0, 0, True),
        (F.POINTS_BALANCE, None, 0, False),
        (F.POINTS_BALANCE, True, 1, False),
        (F.VIP_TIER, None, None, True),
        (F.VIP_TIER, "Gold", None, False),
        (F.TIER_ENDS_AT, "garbage", "2027-01-01T00:00:00.000Z", False),
        (F.TIER_ENDS_AT, "2027-01-01T00:00:00Z", "2027-01-01T00:00:00.000Z", True),
    ],
)
def test_same_value(name, current, wanted, same):
    assert same_value(name, current, wanted) is same


def test_datetime_round_trip():
    moment = datetime(2027, 1, 31, 10, 0, 0, 123456, tzinfo=UTC)
    assert format_datetime(moment) == "2027-01-31T10:00:00.123Z"
    assert parse_datetime("2027-01-31T10:00:00.123Z") == moment.replace(microsecond=123000)
    assert parse_datetime("2027-01-31T10:00:00") == datetime(2027, 1, 31, 10, tzinfo=UTC)
    assert parse_datetime("") is None and parse_datetime(None) is None
