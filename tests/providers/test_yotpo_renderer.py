"""Yotpo's renderer on neutral operations (the planner's payload tests pin the same bodies
end to end): what each field becomes, and that a stored intent renders the same body again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from shared.domain.orders.ledger import LedgerOp, OrderLedger
from shared.domain.orders.order_view import order_view
from shared.domain.orders.planner import AccountView, PlannerConfig, plan_order
from shared.domain.providers.port import (
    Line,
    MemberBirthday,
    MemberRef,
    MemberUpsert,
    OrderRecorded,
    PayloadRenderer,
    PointsReturned,
    RedemptionCommitted,
    ReturnedLine,
    Reversal,
    StoreLocation,
    UnsupportedOperation,
)
from shared.domain.providers.yotpo import YOTPO_RENDERER
from tests.domain.builders import OrderBuilder

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _sale(**changes) -> OrderRecorded:
    base = OrderRecorded(
        ct_order_id="o-1",
        order_ref="CT-1",
        amount_minor=5000,
        discount_minor=300,
        currency="EUR",
        created_at=T0,
        status="paid",
        lines=(
            Line(
                line_id="l-1",
                item_id="SHIRT",
                name="Shirt",
                unit_price_minor=2500,
                quantity=2,
                paid_total_minor=4700,
                tax_minor=750,
                tax_rate=Decimal("0.19"),
                collections=("tops", "sale, summer"),
                product_type="shirts",
                vendor="ACME",
            ),
        ),
        coupon_codes=("LOY-1", "SALE"),
        member=MemberRef(
            member_id="m-1",
            email="ada@example.com",
            ct_customer_id="c-1",
            has_account=True,
            tags=("vip", "b2b"),
            opted_in=True,
        ),
        channel="offline",
        store_key="berlin",
        location=StoreLocation(city="Berlin", address="Unter den Linden 1"),
        clerk_employee_id="E-7",
        clerk_name="Grace",
        tags=("berlin", "offline"),
    )
    return base.model_copy(update=changes)


def test_an_order_is_create_orders_body():
    assert YOTPO_RENDERER.render(_sale()) == {
        "order_id": "CT-1",
        "customer_id": "m-1",
        "customer_email": "ada@example.com",
        "total_amount_cents": 5000,
        "discount_amount_cents": 300,
        "coupon_code": "LOY-1,SALE",
        "currency_code": "EUR",
        "created_at": "2026-11-20T09:00:00+00:00",
        "status": "paid",
        "items": [
            {
                "id": "SHIRT",
                "name": "Shirt",
                "price_cents": 2500,
                "quantity": 2,
                "collections": "tops,sale  summer",
                "type": "shirts",
                "vendor": "ACME",
            }
        ],
        "customer": {"has_account": True, "tags": "vip,b2b", "opted_in": True},
        "channel_type": "offline",
        "tags": "berlin,offline",
        "store_address": "Unter den Linden 1",
        "store_city": "Berlin",
        "clerk_employee_id": "E-7",
        "clerk_name": "Grace",
        "ignore_ip_ua": True,
    }


def test_a_guest_order_with_ip_and_user_agent():
    body = YOTPO_RENDERER.render(
        _sale(
            member=MemberRef(email="g@example.com"),
            ip_address="203.0.113.9",
            user_agent="UA/1",
            channel="online",
            location=None,
            clerk_employee_id=None,
            clerk_name=None,
            coupon_codes=(),
        )
    )
    assert "customer_id" not in body and "coupon_code" not in body
    assert body["customer"] == {"has_account": False}
    assert (body["ip_address"], body["user_agent"]) == ("203.0.113.9", "UA/1")
    assert "ignore_ip_ua" not in body and "store_city" not in body


def test_reversals_member_upserts_and_points_returned():
    refund = Reversal(
        refund_ref="return-r1",
        order_ref="CT-1",
        amount_minor=1200,
        currency="EUR",
        reason="return",
        lines=(ReturnedLine(line_id="l-1", item_id="SHIRT", quantity=1, amount_minor=1200),),
    )
    assert YOTPO_RENDERER.render(refund) == {
        "id": "return-r1",
        "order_id": "CT-1",
        "total_amount_cents": 1200,
        "currency": "EUR",
        "items": [{"id": "SHIRT", "quantity": 1}],
    }
    upsert = MemberUpsert(member_id="m-1", email="ada@example.com", ct_customer_id="c-1")
    assert YOTPO_RENDERER.render(upsert) == {"id": "m-1", "email": "ada@example.com"}
    back = PointsReturned(member_id="m-1", points=300, order_ref="CT-1")
    assert YOTPO_RENDERER.render(back) == {
        "customer_id": "m-1",
        "point_adjustment_amount": 300,
        "apply_adjustment_to_points_earned": False,
        "history_title": "Points returned: order CT-1 was cancelled",
        "visible_to_customer": True,
    }


def test_a_customers_whole_profile_is_the_customer_sync_body_in_its_order():
    # What the customer sync sends (Create/Update Customer Records,
    # https://loyaltyapi.yotpo.com/reference/createupdate-customer-records): the same fields,
    # in the same order, as before the sync went through the port.
    upsert = MemberUpsert(
        member_id="m-1",
        email="ada@example.com",
        phone="+447700900123",
        first_name="Ada",
        last_name="Lovelace",
        ct_customer_id="c-1",
        has_account=True,
        account_created_at=datetime(2023, 11, 5, 8, 30, tzinfo=UTC),
        opted_in=False,
        tags=(),
        birthday="1990-07-14",  # not a field of this body: `MemberBirthday`
    )
    body = YOTPO_RENDERER.render(upsert)
    assert list(body.items()) == [
        ("id", "m-1"),
        ("email", "ada@example.com"),
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("phone_number", "+447700900123"),
        ("has_account", True),
        ("platform_account_created_at", "2023-11-05T08:30:00+00:00"),
        ("opted_in", False),  # a withdrawn consent is said
        ("tags", ""),  # no groups: the connector's tags are cleared
    ]
    # Facts the planner's upserts do not carry stay out of their body.
    assert YOTPO_RENDERER.render(MemberUpsert(member_id="m-1", email="a@x.io")) == {
        "id": "m-1",
        "email": "a@x.io",
    }


def test_a_birthday_is_set_customer_birthdays_body():
    # https://loyaltyapi.yotpo.com/reference/set-customer-birthday
    born = MemberBirthday(email="ada@example.com", born=date(2000, 2, 29))
    assert list(YOTPO_RENDERER.render(born).items()) == [
        ("customer_email", "ada@example.com"),
        ("day", 29),
        ("month", 2),
        ("year", 2000),
    ]
    assert YOTPO_RENDERER.capabilities.supports("birthday")


def test_yotpo_has_no_redemption_commit():
    with pytest.raises(UnsupportedOperation):
        YOTPO_RENDERER.render(RedemptionCommitted(redemption_ref="r", order_ref="CT-1"))
    assert isinstance(YOTPO_RENDERER, PayloadRenderer)


def test_a_stored_intent_renders_the_pinned_body_again():
    order = OrderBuilder(order_number="CT-9")
    order.add_line("SHIRT", 2, 2500)
    order.with_discount_code("SALE").pay()
    config = PlannerConfig(refund_source="returns")
    ledger = OrderLedger(order_id=order.order_id)
    plan = plan_order(order_view(order.build()), ledger, config, AccountView(key="eu"), T0)
    for op in plan.new_ops:
        stored = LedgerOp.model_validate(op.model_dump(mode="json"))
        assert stored == op
        assert stored.intent is not None
        assert YOTPO_RENDERER.render(stored.intent) == op.payload
        assert stored.provider == "yotpo"
