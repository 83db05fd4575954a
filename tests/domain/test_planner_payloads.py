"""What Yotpo receives: documented Create Order / Refund / points-adjust fields, one member per
person, and points given back when an order that used a reward is cancelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.checkout.reward_state import AppliedReward, seal, seal_key
from shared.domain.customers.customer_sync import CustomerSyncConfig, customer_member
from shared.domain.customers.member_identity import MemberIdentity, MemberView
from shared.domain.orders.ledger import LedgerOp, OpStatus, OrderLedger
from shared.domain.orders.order_view import RewardUsed, order_view
from shared.domain.orders.planner import (
    MEMBER_UNKNOWN,
    AccountView,
    OrderPlan,
    PlannerConfig,
    StoreLocation,
    plan_order,
)
from tests.domain.builders import OrderBuilder

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
EU = AccountView(key="eu")
PAID = PlannerConfig()
EMAIL = "ada.lovelace@example.com"
SECRET = "extension-secret-for-tests"


def _order(**kwargs: Any) -> OrderBuilder:
    order = OrderBuilder(order_number="CT-1", **kwargs)
    order.add_line("SHIRT", 2, 2500)
    return order


def _plan(
    order: OrderBuilder, config: PlannerConfig = PAID, **view_kwargs: Any
) -> tuple[OrderPlan, dict[str, Any]]:
    view = order_view(order.build(), **view_kwargs)
    plan = plan_order(view, OrderLedger(order_id=view.id), config, EU, T0)
    return plan, plan.new_ops[0].payload if plan.new_ops else {}


def _look(
    snapshot: dict[str, Any],
    ledger: OrderLedger,
    config: PlannerConfig,
    at: datetime,
    **view_kwargs: Any,
) -> tuple[OrderLedger, list[LedgerOp]]:
    """Plan, record, send everything due and mark it done."""
    view = order_view(snapshot, **view_kwargs)
    plan = plan_order(view, ledger, config, EU, at)
    ledger = plan.apply(ledger)
    due = ledger.due_ops(at, LEASE, claimed=[op.key for op in plan.new_ops])
    for op in due:
        ledger = ledger.mark_done(op.key, at)
    again = plan_order(view, ledger, config, EU, at)
    assert again.empty, "a second look must find nothing"
    return ledger, due


# --- IP / user agent, channel, store and clerk -------------------------------------------------


def test_ignore_ip_ua_when_the_checkout_captured_no_ip_or_user_agent() -> None:
    _, bare = _plan(_order().pay())
    assert bare["ignore_ip_ua"] is True
    assert "ip_address" not in bare and "user_agent" not in bare
    _, half = _plan(_order().with_custom(loyaltyIpAddress="203.0.113.9").pay())
    assert half["ip_address"] == "203.0.113.9" and half["ignore_ip_ua"] is True
    captured = _order().with_custom(loyaltyIpAddress="203.0.113.9", loyaltyUserAgent="UA/2")
    _, full = _plan(captured.pay())
    assert (full["ip_address"], full["user_agent"]) == ("203.0.113.9", "UA/2")
    assert "ignore_ip_ua" not in full


BERLIN = PlannerConfig(
    instore_stores={
        "berlin-mitte": StoreLocation(address="Rosenthaler Str. 1", city="Berlin", state="BE")
    }
)


def _instore_sale(**kwargs: Any) -> OrderBuilder:
    order = _order(store_key="berlin-mitte", from_cart=False, origin="Merchant", **kwargs)
    return order.with_custom(
        loyaltyClerkEmployeeId="E-17", loyaltyClerkName="Grace", loyaltyRewardCode="LOY-9"
    )


def test_an_imported_sale_of_a_physical_store_is_offline_with_store_and_clerk() -> None:
    _, payload = _plan(_instore_sale().pay(), BERLIN)
    assert payload["channel_type"] == "offline"
    assert (payload["store_address"], payload["store_city"], payload["store_state"]) == (
        "Rosenthaler Str. 1",
        "Berlin",
        "BE",
    )
    assert (payload["clerk_employee_id"], payload["clerk_name"]) == ("E-17", "Grace")
    assert payload["ignore_ip_ua"] is True
    assert payload["tags"] == "berlin-mitte,offline"
    assert payload["coupon_code"] == "LOY-9"


def test_store_fields_need_an_imported_order_of_a_configured_store() -> None:
    # imported, but the store is not a configured physical store: no channel claimed
    _, other = _plan(_instore_sale().pay(), PAID)
    assert "channel_type" not in other and "store_city" not in other
    assert other["clerk_employee_id"] == "E-17"  # imported: the merchant wrote the clerk
    # made from a cart: online, and clerk fields the shopper could have written are ignored
    online = _order(store_key="berlin-mitte").with_custom(loyaltyClerkEmployeeId="E-17")
    _, from_cart = _plan(online.pay(), BERLIN)
    assert from_cart["channel_type"] == "online"
    assert "clerk_employee_id" not in from_cart and "store_address" not in from_cart


def test_items_carry_collections_type_and_vendor() -> None:
    order = OrderBuilder(order_number="CT-1")
    order.add_line(
        "CARD",
        1,
        5000,
        attributes={"brand": {"key": "acme", "label": "ACME"}, "weight": 3},
        product_type="gift-card",
    )
    order.add_line("PLAIN", 1, 1000)
    config = PlannerConfig(item_vendor_attribute="brand")
    collections = {"product-CARD": ("gift-cards", "sale")}
    _, payload = _plan(order.pay(), config, collections=collections)
    card, plain = payload["items"]
    assert card["collections"] == "gift-cards,sale"
    assert card["type"] == "gift-card"
    assert card["vendor"] == "ACME"
    assert set(plain) == {"id", "name", "price_cents", "quantity"}


def test_refunds_in_returns_mode_name_their_items() -> None:
    order = _order()
    line = order.lines[0].id
    order.pay()
    order.add_return((line, 1), payment_state="Refunded")
    plan, _ = _plan(order, PlannerConfig(refund_source="returns"))
    refund = plan.new_ops[1].payload
    assert refund["items"] == [{"id": "SHIRT", "quantity": 1}]
    payments = _order().pay()
    payments.refund(500)
    plan, _ = _plan(payments)
    assert "items" not in plan.new_ops[1].payload  # a payment refund names no items


# --- members -----------------------------------------------------------------------------------


def _member(
    customer_id: str = "customer-ada",
    member_id: str = "customer-ada",
    email: str = EMAIL,
    **kwargs: Any,
) -> MemberView:
    return MemberView(customer_id=customer_id, member_id=member_id, email=email, **kwargs)


def test_the_order_goes_to_the_customers_member_with_tags_and_opt_in() -> None:
    member = _member(member_id="LEGACY-42", tags=("wholesale",), tags_known=True, opted_in=True)
    order = _order()
    order.email = "typed.at.checkout@example.com"
    _, payload = _plan(order.pay(), member=member)
    assert payload["customer_id"] == "LEGACY-42"
    assert payload["customer_email"] == EMAIL  # the member's own email, not the typed one
    assert payload["customer"] == {"has_account": True, "tags": "wholesale", "opted_in": True}


def test_guests_get_the_always_policy_and_no_tags() -> None:
    config = PlannerConfig(members=CustomerSyncConfig(opt_in_policy="always"))
    _, payload = _plan(_order(customer_id=None).pay(), config)
    assert "customer_id" not in payload
    assert payload["customer"] == {"has_account": False, "opted_in": True}


def test_a_member_id_from_the_customer_waits_for_the_customer() -> None:
    config = PlannerConfig(members=CustomerSyncConfig(identity=MemberIdentity(source="externalId")))
    plan, _ = _plan(_order().pay(), config)
    assert plan.empty and plan.skipped_reason == MEMBER_UNKNOWN
    member = customer_member(
        {"id": "customer-ada", "email": EMAIL, "externalId": "LEGACY-42"}, config.members
    )
    plan, payload = _plan(_order().pay(), config, member=member)
    assert payload["customer_id"] == "LEGACY-42"


def test_a_member_read_for_another_customer_is_not_used() -> None:
    stale = _member(customer_id="customer-bob", member_id="bob", email="bob@example.com")
    _, payload = _plan(_order().pay(), member=stale)
    assert payload["customer_id"] == "customer-ada" and payload["customer_email"] == EMAIL


def test_guest_linked_to_a_customer_with_the_same_email_attaches_the_id() -> None:
    order = _order(customer_id=None)
    ledger = OrderLedger(order_id=order.order_id)
    ledger, sent = _look(order.pay().build(), ledger, PAID, T0)
    order.set_customer("customer-ada")
    ledger, sent = _look(order.build(), ledger, PAID, T0 + LEASE, member=_member())
    assert [(op.kind, op.payload) for op in sent] == [
        ("customer", {"id": "customer-ada", "email": EMAIL})
    ]


def _holdings(ledger: OrderLedger) -> dict[str, int]:
    """What each Yotpo member holds of this order: its orders minus their refunds."""
    owner: dict[str, str] = {}
    held: dict[str, int] = {}
    for op in ledger.ops.values():
        if op.status == OpStatus.FAILED:
            continue
        if op.kind == "order":
            who = op.payload.get("customer_id") or op.payload["customer_email"]
            owner[op.payload["order_id"]] = who
            held[who] = held.get(who, 0) + (op.amount_cents or 0)
        elif op.kind == "refund":
            who = owner[op.payload["order_id"]]
            held[who] = held.get(who, 0) - (op.amount_cents or 0)
    return held


def test_guest_linked_to_a_customer_under_another_email_ends_on_the_customers_member() -> None:
    order = _order(customer_id=None, email="carol.guest@example.com")
    ledger = OrderLedger(order_id=order.order_id)
    ledger, _ = _look(order.pay().build(), ledger, PAID, T0)
    first = order.refund(1000)
    ledger, _ = _look(order.build(), ledger, PAID, T0 + LEASE)
    carol = _member(customer_id="customer-carol", member_id="customer-carol", email="carol@x.io")
    order.set_customer("customer-carol")
    ledger, sent = _look(order.build(), ledger, PAID, T0 + 2 * LEASE, member=carol)
    assert [op.key for op in sent] == ["refund:CT-1-moved", "order:CT-1-2"]
    moved, rehomed = sent
    assert moved.payload == {
        "id": "CT-1-moved",
        "order_id": "CT-1",
        "total_amount_cents": 4000,
        "currency": "EUR",
    }
    assert rehomed.payload["customer_id"] == "customer-carol"
    assert rehomed.payload["customer_email"] == "carol@x.io"
    assert rehomed.payload["total_amount_cents"] == rehomed.amount_cents == 4000
    assert "coupon_code" not in rehomed.payload  # the first order consumed the codes
    assert not any(op.kind == "customer" for op in ledger.ops.values())  # no 422 upsert
    # later refunds follow the new Yotpo order; cancellation takes back the rest from it
    second = order.refund(1500)
    ledger, sent = _look(order.build(), ledger, PAID, T0 + 3 * LEASE, member=carol)
    assert [(op.key, op.payload["order_id"]) for op in sent] == [(f"refund:{second}", "CT-1-2")]
    assert _holdings(ledger) == {"carol.guest@example.com": 0, "customer-carol": 2500}
    ledger, sent = _look(order.cancel().build(), ledger, PAID, T0 + 4 * LEASE, member=carol)
    assert [(op.key, op.payload["order_id"]) for op in sent] == [("refund:CT-1-cancel", "CT-1-2")]
    assert set(_holdings(ledger).values()) == {0}
    assert f"refund:{first}" in ledger.ops


def test_an_order_reassigned_to_another_customer_moves_once() -> None:
    order = _order()
    ledger = OrderLedger(order_id=order.order_id)
    ledger, _ = _look(order.pay().build(), ledger, PAID, T0, member=_member())
    bob = _member(customer_id="customer-bob", member_id="customer-bob", email="bob@x.io")
    order.set_customer("customer-bob")
    ledger, sent = _look(order.build(), ledger, PAID, T0 + LEASE, member=bob)
    assert [op.key for op in sent] == ["refund:CT-1-moved", "order:CT-1-2"]
    ledger, sent = _look(order.ship().build(), ledger, PAID, T0 + 2 * LEASE, member=bob)
    assert sent == []
    assert _holdings(ledger) == {"customer-ada": 0, "customer-bob": 5000}


def test_changing_the_member_id_source_moves_no_order_already_told() -> None:
    order = _order()
    ledger = OrderLedger(order_id=order.order_id)
    ledger, _ = _look(order.pay().build(), ledger, PAID, T0, member=_member())
    legacy = _member(member_id="LEGACY-42")  # the same customer, now known by a legacy id
    order.refund(500)
    ledger, sent = _look(order.build(), ledger, PAID, T0 + LEASE, member=legacy)
    assert [op.kind for op in sent] == ["refund"]


def test_a_pending_order_moves_too_and_nothing_moves_when_nothing_remains() -> None:
    order = _order(customer_id=None, email="guest@x.io")
    view = order_view(order.pay().build())
    ledger = plan_order(view, OrderLedger(order_id=view.id), PAID, EU, T0).apply(
        OrderLedger(order_id=view.id)
    )  # the order operation is still pending (another worker holds it)
    order.set_customer("customer-ada")
    view = order_view(order.build(), member=_member())
    pending = plan_order(view, ledger, PAID, EU, T0)
    # planned now, sent after the pending order in ledger order: the same plan as once it is done
    assert [op.key for op in pending.new_ops] == ["refund:CT-1-moved", "order:CT-1-2"]
    done = ledger.mark_done("order:CT-1", T0)
    assert [op.key for op in plan_order(view, done, PAID, EU, T0).new_ops] == [
        "refund:CT-1-moved",
        "order:CT-1-2",
    ]
    refused = ledger.mark_failed("order:CT-1", "YotpoPermanentError: 422", T0)
    assert plan_order(view, refused, PAID, EU, T0).empty  # nothing was earned: nothing to move
    order.refund(5000)  # everything refunded: nothing to move
    view = order_view(order.build(), member=_member())
    assert [op.key for op in plan_order(view, done, PAID, EU, T0).new_ops] == [
        f"refund:{order.transactions[-1]['id']}"
    ]


def test_a_failed_move_is_replayed_and_refunds_follow_it() -> None:
    order = _order(customer_id=None, email="carol.guest@example.com")
    ledger = OrderLedger(order_id=order.order_id)
    ledger, _ = _look(order.pay().build(), ledger, PAID, T0)
    carol = _member(customer_id="customer-carol", member_id="customer-carol", email="carol@x.io")
    order.set_customer("customer-carol")
    view = order_view(order.build(), member=carol)
    plan = plan_order(view, ledger, PAID, EU, T0 + LEASE)
    ledger = plan.apply(ledger).mark_done("refund:CT-1-moved", T0 + LEASE)
    ledger = ledger.mark_failed("order:CT-1-2", "YotpoPermanentError: 422", T0 + LEASE)
    refund = order.refund(1000)
    view = order_view(order.build(), member=carol)
    # Yotpo holds nothing of the order now: no refund to send, no second move
    assert plan_order(view, ledger, PAID, EU, T0 + 2 * LEASE).empty
    replayed = ledger.reset_failed(T0 + 3 * LEASE)
    plan = plan_order(view, replayed, PAID, EU, T0 + 3 * LEASE)
    assert [(op.key, op.payload["order_id"]) for op in plan.new_ops] == [
        (f"refund:{refund}", "CT-1-2")
    ]


# --- points back when an order that used a reward is cancelled -----------------------------------


def _reward_order(
    points: int = 500, customer: str = "customer-ada", *, delayed: bool = True
) -> OrderBuilder:
    order = _order()
    reward = AppliedReward(
        delayed=delayed,
        code="LOY-1",
        amount=500,
        option_id="7",
        kind="fixed",
        customer_id=customer,
        points=points,
        redemption_id="r-1",
        currency="EUR",
    )
    fields = {
        "loyaltyRewardCode": "LOY-1",
        "loyaltyRewardPoints": points,
        "loyaltyRewardSeal": seal(reward, order.cart_id, seal_key(SECRET)),
    }
    return order.with_custom(**fields)


KEY = seal_key(SECRET)


def _cancel_story(
    order: OrderBuilder, config: PlannerConfig = PAID, **kwargs: Any
) -> tuple[OrderLedger, list[LedgerOp]]:
    ledger = OrderLedger(order_id=order.order_id)
    ledger, _ = _look(order.pay().build(), ledger, config, T0, **kwargs)
    return _look(order.cancel().build(), ledger, config, T0 + LEASE, **kwargs)


def test_cancelling_an_order_that_used_a_sealed_reward_returns_its_points_once() -> None:
    order = _reward_order()
    ledger, sent = _cancel_story(order, seal_key=KEY)
    assert [op.kind for op in sent] == ["refund", "reward_return"]
    assert sent[1].key == "reward_return:CT-1"
    assert sent[1].payload == {
        "customer_id": "customer-ada",
        "point_adjustment_amount": 500,
        "apply_adjustment_to_points_earned": False,
        "history_title": "Points returned: order CT-1 was cancelled",
        "visible_to_customer": True,
    }
    # a later refund, a redelivery: never again
    order.refund(100)
    _, again = _look(order.build(), ledger, PAID, T0 + 2 * LEASE, seal_key=KEY)
    assert again == []
    assert LedgerOp.model_validate(sent[1].model_dump(mode="json")) == sent[1]


@pytest.mark.parametrize(
    ("order", "config", "kwargs", "why"),
    [
        (
            _reward_order,
            PlannerConfig(return_reward_points_on_cancel=False),
            {"seal_key": KEY},
            "off",
        ),
        (_reward_order, PAID, {}, "no key: the fields alone are not believed"),
        (_reward_order, PAID, {"seal_key": seal_key("another")}, "seal does not open"),
        (lambda: _reward_order(customer="customer-eve"), PAID, {"seal_key": KEY}, "other customer"),
        (lambda: _reward_order(points=0), PAID, {"seal_key": KEY}, "no points"),
    ],
)
def test_no_points_back_without_every_fact(
    order: Any, config: PlannerConfig, kwargs: dict[str, Any], why: str
) -> None:
    _, sent = _cancel_story(order(), config, **kwargs)
    assert [op.kind for op in sent] == ["refund"], why


def test_forged_reward_fields_give_nothing_back() -> None:
    order = _reward_order()
    order.custom_fields["loyaltyRewardPoints"] = 100_000  # the readable fields are not the seal
    _, sent = _cancel_story(order, seal_key=KEY)
    assert sent[-1].payload["point_adjustment_amount"] == 500
    copied = _reward_order()
    copied.cart_id = "another-cart"  # a seal copied onto another cart's order does not open
    _, sent = _cancel_story(copied, seal_key=KEY)
    assert [op.kind for op in sent] == ["refund"]


def test_no_points_back_when_the_order_never_reached_yotpo() -> None:
    # cancelled before earning: Yotpo never saw the code, so it deducted nothing (delayed)
    order = _reward_order()
    ledger = OrderLedger(order_id=order.order_id)
    ledger, sent = _look(order.cancel().build(), ledger, PAID, T0, seal_key=KEY)
    assert sent == [] and ledger.blocked_reason == "cancelled_before_earning"
    # earned, but Yotpo refused the order: no code was consumed
    order = _reward_order()
    view = order_view(order.pay().build(), seal_key=KEY)
    ledger = plan_order(view, OrderLedger(order_id=view.id), PAID, EU, T0).apply(
        OrderLedger(order_id=view.id)
    )
    ledger = ledger.mark_failed("order:CT-1", "YotpoPermanentError: 422", T0)
    view = order_view(order.cancel().build(), seal_key=KEY)
    assert plan_order(view, ledger, PAID, EU, T0).empty


def test_a_consumed_reward_comes_back_when_its_order_is_cancelled_before_earning() -> None:
    # consumed at placement (immediate deduction): the points left although Yotpo never saw the
    # order, so cancelling it gives them back, once, and nothing else is sent
    order = _reward_order(delayed=False)
    ledger = OrderLedger(order_id=order.order_id)
    ledger, sent = _look(order.cancel().build(), ledger, PAID, T0, seal_key=KEY)
    assert [op.kind for op in sent] == ["reward_return"]
    assert sent[0].payload["point_adjustment_amount"] == 500
    assert sent[0].payload["customer_id"] == "customer-ada"
    assert ledger.blocked_reason == "cancelled_before_earning"
    _, again = _look(order.build(), ledger, PAID, T0 + LEASE, seal_key=KEY)
    assert again == []
    # forged: the readable fields alone, or another customer's seal, give nothing back
    _, sent = _look(
        _reward_order(delayed=False).cancel().build(), OrderLedger(order_id="CT-1"), PAID, T0
    )
    assert sent == []
    other = _reward_order(customer="customer-eve", delayed=False).cancel().build()
    _, sent = _look(other, OrderLedger(order_id="CT-1"), PAID, T0, seal_key=KEY)
    assert sent == []


def test_a_reward_record_handed_over_by_the_caller_counts_as_verified() -> None:
    record = RewardUsed(code="LOY-1", points=300, customer_id="customer-ada", verified=True)
    order = _order().with_custom(loyaltyRewardCode="LOY-1")
    _, sent = _cancel_story(order, reward=record)
    assert sent[-1].payload["point_adjustment_amount"] == 300


def test_ledgers_written_before_these_changes_still_validate() -> None:
    old = {
        "order_id": "o-1",
        "account": "eu",
        "yotpo_order_id": "CT-1",
        "currency": "EUR",
        "ops": {
            "order:CT-1": {
                "key": "order:CT-1",
                "kind": "order",
                "payload": {
                    "order_id": "CT-1",
                    "customer_id": "customer-ada",
                    "coupon_code": "LOY-1",
                    "total_amount_cents": 10,
                },
                "status": "DONE",
                "attempts": 1,
                "created_at": "2024-05-01T12:00:00Z",
                "updated_at": "2024-05-01T12:00:00Z",
                "amount_cents": 10,
            }
        },
        "updated_at": "2024-05-01T12:00:00Z",
    }
    ledger = OrderLedger.model_validate(old)
    order = _reward_order()
    order.order_id = "o-1"
    view = order_view(order.pay().cancel().build(), seal_key=KEY)
    plan = plan_order(view, ledger, PAID, EU, T0)
    assert [op.kind for op in plan.new_ops] == ["refund", "reward_return"]


# --- no invented fields: every field is one the contract fixtures list as documented ----------

# Nested fields of Create Order, from https://loyaltyapi.yotpo.com/reference/create-order.
ORDER_ITEM_FIELDS = {"id", "name", "quantity", "price_cents", "collections", "type", "vendor"}
ORDER_CUSTOMER_FIELDS = {"tags", "has_account", "opted_in", "opted_in_at"}
REFUND_ITEM_FIELDS = {"id", "quantity"}  # https://loyaltyapi.yotpo.com/reference/create-refund


def _documented(name: str) -> set[str]:
    from tests.contracts.yotpo_fixtures import fixture

    return set(fixture(name)["request"]["documented"])


def test_every_field_the_planner_sends_is_documented() -> None:
    config = BERLIN.model_copy(
        update={"item_vendor_attribute": "brand", "refund_source": "returns"}
    )
    order = _instore_sale()
    order.lines[0].attributes = [{"name": "brand", "value": "ACME"}]
    order.lines[0].product_type = "shirts"
    order.with_discount_code("SALE").with_custom(loyaltyReferralCode="FRIEND")
    member = _member(tags=("vip",), tags_known=True, opted_in=True)
    record = RewardUsed(code="LOY-9", points=200, customer_id="customer-ada", verified=True)
    kwargs = {"member": member, "collections": {"product-SHIRT": ("tops",)}, "reward": record}
    ledger = OrderLedger(order_id=order.order_id)
    ledger, sent = _look(order.pay().build(), ledger, config, T0, **kwargs)
    order.add_return((order.lines[0].id, 1), payment_state="Refunded")
    ledger, more = _look(order.cancel().build(), ledger, config, T0 + LEASE, **kwargs)
    sent += more
    assert {op.kind for op in sent} == {"order", "refund", "reward_return"}
    for op in sent:
        if op.kind == "order":
            assert set(op.payload) <= _documented("create_order")
            assert {"channel_type", "store_city", "clerk_name", "tags", "ignore_ip_ua"} <= set(
                op.payload
            )
            for item in op.payload["items"]:
                assert set(item) <= ORDER_ITEM_FIELDS
            assert set(op.payload["customer"]) <= ORDER_CUSTOMER_FIELDS
        elif op.kind == "refund":
            assert set(op.payload) <= _documented("create_refund")
            for item in op.payload.get("items", []):
                assert set(item) <= REFUND_ITEM_FIELDS
        else:
            assert set(op.payload) <= _documented("adjust_points")


def test_customer_and_birthday_fields_are_documented() -> None:
    customer = {
        "id": "customer-ada",
        "email": EMAIL,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "createdAt": "2023-11-05T08:30:00.000Z",
        "dateOfBirth": "1990-07-14",
        "addresses": [{"id": "a", "mobile": "+447700900123"}],
        "custom": {"type": {}, "fields": {"loyaltyOptIn": True}},
    }
    config = CustomerSyncConfig(opt_in_policy="customer_field")
    from shared.domain.customers.customer_sync import birthday_payload, customer_payload

    assert set(customer_payload(customer, config) or {}) <= _documented("upsert_customer")
    # Set Customer Birthday (https://loyaltyapi.yotpo.com/reference/set-customer-birthday)
    assert set(birthday_payload(customer) or {}) == {"customer_email", "day", "month", "year"}
