"""Order lifecycles, each looked at once per state change, and the exact Yotpo calls they make."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.orders.ledger import (
    NOTHING_LEFT_TO_REFUND,
    UNCLAIMED,
    LedgerOp,
    OpStatus,
    OrderLedger,
)
from shared.domain.orders.order_view import order_view
from shared.domain.orders.planner import AccountView, OrderPlan, PlannerConfig, plan_order
from tests.domain.builders import OrderBuilder, high_precision

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
EU = AccountView(key="eu", currencies=frozenset())
EMAIL = "ada.lovelace@example.com"


@dataclass(frozen=True)
class Expect:
    look: int  # index of the snapshot whose look sends it
    kind: str
    key: str
    fields: dict[str, Any]


@dataclass
class Scenario:
    snapshots: list[dict[str, Any]]
    expected: list[Expect]
    ledger: dict[str, Any] = field(default_factory=dict)  # attributes of the final ledger


def run(
    snapshots: list[dict[str, Any]],
    config: PlannerConfig,
    account: AccountView | None = EU,
) -> tuple[list[tuple[int, LedgerOp]], OrderLedger]:
    """One look per snapshot: plan, record, send everything due, mark it done."""
    ledger = OrderLedger(order_id=snapshots[0]["id"])
    sent: list[tuple[int, LedgerOp]] = []
    for look, snapshot in enumerate(snapshots):
        now = T0 + timedelta(minutes=look)
        view = order_view(snapshot)
        plan = plan_order(view, ledger, config, account, now)
        ledger = plan.apply(ledger)
        for op in ledger.due_ops(now, LEASE, claimed=[o.key for o in plan.new_ops]):
            sent.append((look, op))
            ledger = ledger.mark_done(op.key, now)
        again = plan_order(view, ledger, config, account, now)
        assert again.empty and again.apply(ledger) == ledger, "a second look must find nothing"
    return sent, ledger


# --- scenarios ------------------------------------------------------------------------------


def _order(**kwargs: Any) -> tuple[OrderBuilder, str]:
    builder = OrderBuilder(order_number="CT-100", **kwargs)
    line = builder.add_line("SHIRT", 2, 2500)
    builder.with_shipping(500)  # total 55.00
    return builder, line


def _order_fields(total: int, **extra: Any) -> dict[str, Any]:
    return {
        "order_id": "CT-100",
        "customer_email": EMAIL,
        "total_amount_cents": total,
        "currency_code": "EUR",
        "status": "paid",
        **extra,
    }


def _refund_fields(refund_id: str, amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {
        "id": refund_id,
        "order_id": "CT-100",
        "total_amount_cents": amount,
        "currency": currency,
    }


def paid_shipped_two_refunds_and_a_return() -> Scenario:
    order, line = _order()
    snaps = [order.build(), order.pay().build(), order.ship().build()]
    first = order.refund(1000)
    snaps.append(order.build())
    second = order.refund(700)
    snaps.append(order.build())
    order.add_return((line, 1), payment_state="Refunded")
    third = order.refund(2500)
    snaps.append(order.build())
    items = [{"id": "SHIRT", "name": "Product SHIRT", "price_cents": 2500, "quantity": 2}]
    return Scenario(
        snaps,
        [
            Expect(
                1,
                "order",
                "order:CT-100",
                _order_fields(5500, customer_id="customer-ada", items=items),
            ),
            Expect(3, "refund", f"refund:{first}", _refund_fields(first, 1000)),
            Expect(4, "refund", f"refund:{second}", _refund_fields(second, 700)),
            Expect(5, "refund", f"refund:{third}", _refund_fields(third, 2500)),
        ],
    )


def paid_shipped_return_refunded_in_returns_mode() -> Scenario:
    order, line = _order()
    snaps = [order.pay().build(), order.ship().build()]
    (item,) = order.add_return((line, 1))
    snaps.append(order.build())
    order.set_return_payment_state(item, "Refunded")
    snaps.append(order.build())
    key = f"return-{item}"
    return Scenario(
        snaps,
        [
            Expect(0, "order", "order:CT-100", _order_fields(5500)),
            Expect(3, "refund", f"refund:{key}", _refund_fields(key, 2500)),
        ],
    )


def created_then_cancelled_then_paid() -> Scenario:
    order, _ = _order()
    snaps = [order.build(), order.cancel().build(), order.pay().build()]
    return Scenario(snaps, [], {"blocked_reason": "cancelled_before_earning", "ops": {}})


def paid_then_cancelled() -> Scenario:
    order, _ = _order()
    snaps = [order.build(), order.pay().build(), order.cancel().build()]
    return Scenario(
        snaps,
        [
            Expect(1, "order", "order:CT-100", _order_fields(5500)),
            Expect(2, "refund", "refund:CT-100-cancel", _refund_fields("CT-100-cancel", 5500)),
        ],
        {"blocked_reason": None},
    )


def paid_partial_refund_then_cancelled() -> Scenario:
    order, _ = _order()
    snaps = [order.pay().build()]
    refund = order.refund(1200)
    snaps.append(order.build())
    snaps.append(order.cancel().build())
    order.refund(4300)  # the PSP refunds the rest after the cancellation: nothing left
    snaps.append(order.build())
    return Scenario(
        snaps,
        [
            Expect(0, "order", "order:CT-100", _order_fields(5500)),
            Expect(1, "refund", f"refund:{refund}", _refund_fields(refund, 1200)),
            Expect(2, "refund", "refund:CT-100-cancel", _refund_fields("CT-100-cancel", 4300)),
        ],
    )


def refund_visible_before_the_paid_look() -> Scenario:
    order, _ = _order()
    snaps = [order.build()]
    order.pay()
    refund = order.refund(800)
    snaps.append(order.build())
    return Scenario(
        snaps,
        [
            Expect(1, "order", "order:CT-100", _order_fields(5500)),
            Expect(1, "refund", f"refund:{refund}", _refund_fields(refund, 800)),
        ],
    )


def shipped_trigger_waits() -> Scenario:
    order, _ = _order()
    snaps = [order.build(), order.pay().build()]
    refund = order.refund(500)
    snaps.append(order.build())
    snaps.append(order.ship("Delivered").build())
    return Scenario(
        snaps,
        [
            Expect(3, "order", "order:CT-100", _order_fields(5500)),
            Expect(3, "refund", f"refund:{refund}", _refund_fields(refund, 500)),
        ],
    )


def completed_trigger() -> Scenario:
    order, _ = _order()
    snaps = [order.pay().build(), order.ship().build(), order.complete().build()]
    return Scenario(snaps, [Expect(2, "order", "order:CT-100", _order_fields(5500))])


def yen_order() -> Scenario:
    order = OrderBuilder(currency="JPY", order_number="CT-100", tax_rate_bp=1000)
    order.add_line("TEA", 3, 1980, name={"ja": "お茶", "en": "Green tea"})
    order.with_shipping(500)
    snaps = [order.pay().build()]
    refund = order.refund(1980)
    snaps.append(order.build())
    items = [{"id": "TEA", "name": "Green tea", "price_cents": 1980, "quantity": 3}]
    return Scenario(
        snaps,
        [
            Expect(
                0,
                "order",
                "order:CT-100",
                {"total_amount_cents": 6440, "currency_code": "JPY", "items": items},
            ),
            Expect(1, "refund", f"refund:{refund}", _refund_fields(refund, 1980, "JPY")),
        ],
    )


def dinar_order_with_high_precision_price() -> Scenario:
    order = OrderBuilder(currency="KWD", order_number="CT-100")
    order.add_line("OUD", 2, unit_money=high_precision(1234567, 5, "KWD"))  # 12.34567 KWD
    order.with_shipping(1500)
    snaps = [order.pay().build()]
    refund = order.refund(1250)
    snaps.append(order.build())
    items = [{"id": "OUD", "name": "Product OUD", "price_cents": 12346, "quantity": 2}]
    return Scenario(
        snaps,
        [
            # 2 × 12.34567 = 24.69134 → 24.691; + 1.500 shipping
            Expect(
                0,
                "order",
                "order:CT-100",
                {"total_amount_cents": 26191, "currency_code": "KWD", "items": items},
            ),
            Expect(1, "refund", f"refund:{refund}", _refund_fields(refund, 1250, "KWD")),
        ],
    )


def subtotal_base_with_scaled_refunds() -> Scenario:
    order = OrderBuilder(order_number="CT-100")
    order.add_line("LAMP", 2, 5950)  # 119.00 gross = 100.00 net at 19 %
    order.with_shipping(595)  # total 124.95
    snaps = [order.pay().build()]
    refunds = []
    for amount in (2499, 4000, 5996, 100):  # the last one finds nothing left
        refunds.append(order.refund(amount))
        snaps.append(order.build())
    r1, r2, r3, _ = refunds
    return Scenario(
        snaps,
        [
            Expect(0, "order", "order:CT-100", _order_fields(10000)),
            Expect(1, "refund", f"refund:{r1}", _refund_fields(r1, 2000)),  # 10000 × 2499 / 12495
            Expect(2, "refund", f"refund:{r2}", _refund_fields(r2, 3201)),  # 3201.28
            Expect(3, "refund", f"refund:{r3}", _refund_fields(r3, 4799)),  # 4798.72, the rest
        ],
    )


def no_email_then_email_added() -> Scenario:
    order, _ = _order(email=None)
    snaps = [order.pay().build()]
    order.email = EMAIL
    snaps.append(order.build())
    return Scenario(
        snaps, [Expect(1, "order", "order:CT-100", _order_fields(5500))], {"skipped_reason": None}
    )


def guest_order_then_customer_set() -> Scenario:
    order, _ = _order(customer_id=None)
    snaps = [order.pay().build(), order.set_customer("customer-new").build(), order.ship().build()]
    return Scenario(
        snaps,
        [
            Expect(0, "order", "order:CT-100", _order_fields(5500)),
            Expect(1, "customer", "customer:customer-new", {"id": "customer-new", "email": EMAIL}),
        ],
    )


def order_number_changed_after_earning() -> Scenario:
    order, _ = _order()
    snaps = [order.pay().build()]
    order.order_number = "CT-100-RENUMBERED"
    refund = order.refund(1000)
    snaps.append(order.build())
    snaps.append(order.cancel().build())
    return Scenario(
        snaps,
        [
            Expect(0, "order", "order:CT-100", _order_fields(5500)),
            Expect(1, "refund", f"refund:{refund}", _refund_fields(refund, 1000)),
            Expect(2, "refund", "refund:CT-100-cancel", _refund_fields("CT-100-cancel", 4500)),
        ],
        {"yotpo_order_id": "CT-100"},
    )


def three_single_unit_returns_of_an_indivisible_line() -> Scenario:
    order = OrderBuilder(order_number="CT-100")
    # 3 × 33.33333 = 99.99999 → a line total of 100.00, which 3 does not divide
    line = order.add_line("BOWL", 3, unit_money=high_precision(3333333, 5, "EUR"))
    snaps = [order.pay().build()]
    keys = []
    for _ in range(3):
        (item,) = order.add_return((line, 1), payment_state="Refunded")
        keys.append(f"return-{item}")
        snaps.append(order.build())
    return Scenario(
        snaps,
        [
            Expect(0, "order", "order:CT-100", _order_fields(10000)),
            Expect(1, "refund", f"refund:{keys[0]}", _refund_fields(keys[0], 3333)),
            Expect(2, "refund", f"refund:{keys[1]}", _refund_fields(keys[1], 3334)),
            Expect(3, "refund", f"refund:{keys[2]}", _refund_fields(keys[2], 3333)),
        ],
    )


def store_without_account() -> Scenario:
    order, _ = _order()
    return Scenario([order.pay().build()], [], {"skipped_reason": "no_account_for_store"})


def currency_not_enabled() -> Scenario:
    order, _ = _order()
    return Scenario([order.pay().build()], [], {"skipped_reason": "currency_not_enabled"})


PAID = PlannerConfig()
RETURNS = PlannerConfig(refund_source="returns")

CASES = [
    pytest.param(paid_shipped_two_refunds_and_a_return, PAID, EU, id="paid-shipped-refund2-return"),
    pytest.param(paid_shipped_return_refunded_in_returns_mode, RETURNS, EU, id="returns-mode"),
    pytest.param(created_then_cancelled_then_paid, PAID, EU, id="created-cancelled-paid"),
    pytest.param(paid_then_cancelled, PAID, EU, id="paid-cancelled"),
    pytest.param(paid_partial_refund_then_cancelled, PAID, EU, id="paid-refund-cancelled"),
    pytest.param(refund_visible_before_the_paid_look, PAID, EU, id="refund-before-paid-look"),
    pytest.param(shipped_trigger_waits, PlannerConfig(earning_trigger="shipped"), EU, id="shipped"),
    pytest.param(completed_trigger, PlannerConfig(earning_trigger="completed"), EU, id="completed"),
    pytest.param(yen_order, PAID, EU, id="jpy"),
    pytest.param(dinar_order_with_high_precision_price, PAID, EU, id="kwd-high-precision"),
    pytest.param(
        subtotal_base_with_scaled_refunds, PlannerConfig(amount_base="subtotal"), EU, id="subtotal"
    ),
    pytest.param(no_email_then_email_added, PAID, EU, id="no-email-then-email"),
    pytest.param(guest_order_then_customer_set, PAID, EU, id="guest-then-customer-set"),
    pytest.param(order_number_changed_after_earning, PAID, EU, id="order-number-changed"),
    pytest.param(
        three_single_unit_returns_of_an_indivisible_line, RETURNS, EU, id="returns-add-up"
    ),
    pytest.param(store_without_account, PAID, None, id="unknown-store"),
    pytest.param(
        currency_not_enabled,
        PAID,
        AccountView(key="us", currencies=frozenset({"USD"})),
        id="currency-not-enabled",
    ),
]


@pytest.mark.parametrize(("scenario", "config", "account"), CASES)
def test_lifecycle(
    scenario: Callable[[], Scenario], config: PlannerConfig, account: AccountView | None
) -> None:
    case = scenario()
    sent, ledger = run(case.snapshots, config, account)
    got = [(look, op.kind, op.key) for look, op in sent]
    assert got == [(e.look, e.kind, e.key) for e in case.expected]
    for (_, op), expect in zip(sent, case.expected, strict=True):
        assert {k: op.payload.get(k) for k in expect.fields} == expect.fields, op.key
        if op.kind != "customer":
            assert op.amount_cents == op.payload["total_amount_cents"]
    for attribute, value in case.ledger.items():
        assert getattr(ledger, attribute) == value
    assert ledger.refunded_amount() <= ledger.earned_amount()
    assert all(op.status == OpStatus.DONE for op in ledger.ops.values())


def test_returns_mode_refunds_add_up_to_the_line_total() -> None:
    case = three_single_unit_returns_of_an_indivisible_line()
    sent, ledger = run(case.snapshots, RETURNS)
    assert sum(op.amount_cents or 0 for _, op in sent if op.kind == "refund") == 10000
    assert ledger.earned_amount() - ledger.refunded_amount() == 0


# --- payload details --------------------------------------------------------------------------


def _plan(builder: OrderBuilder, config: PlannerConfig = PAID) -> OrderPlan:
    view = order_view(builder.build())
    return plan_order(view, OrderLedger(order_id=view.id), config, EU, T0)


def test_full_order_payload() -> None:
    order = OrderBuilder(
        order_number="CT-7", customer_id="customer-ada", created_at="2024-05-01T10:00:00.000Z"
    )
    order.add_line("SHIRT", 2, 2999, discount_per_unit=500, name={"en": "Shirt", "de": "Hemd"})
    order.add_line("MUG", 1, 1190, name={"fr": "Tasse"})
    order.with_discount_code("SPRING10").with_custom(
        loyaltyRewardCode="YOTPO-REWARD", loyaltyIpAddress="203.0.113.7", loyaltyUserAgent="UA/1"
    )
    plan = _plan(order.pay(), PlannerConfig(yotpo_order_status="complete"))
    (op,) = plan.new_ops
    assert op.payload == {
        "order_id": "CT-7",
        "customer_id": "customer-ada",
        "customer_email": EMAIL,
        "total_amount_cents": 4998 + 1190,
        "discount_amount_cents": 1000,
        "coupon_code": "YOTPO-REWARD,SPRING10",
        "currency_code": "EUR",
        "created_at": "2024-05-01T10:00:00+00:00",
        "status": "complete",
        "items": [
            {"id": "SHIRT", "name": "Shirt", "price_cents": 2999, "quantity": 2},
            {"id": "MUG", "name": "Tasse", "price_cents": 1190, "quantity": 1},
        ],
        "customer": {"has_account": True},
        "channel_type": "online",
        "tags": "eu-store,online",
        "ip_address": "203.0.113.7",
        "user_agent": "UA/1",
    }
    assert op.status == OpStatus.PENDING and op.created_at == op.updated_at == T0
    assert plan.pin_yotpo_order_id == "CT-7"
    assert plan.account == "eu" and plan.currency == "EUR"


def test_coupon_code_falls_back_to_the_first_applied_code_with_text() -> None:
    order = OrderBuilder()
    order.add_line("A", 1, 1000)
    order.with_discount_code("HIDDEN", expanded=False).with_discount_code("NOPE", state="NotActive")
    order.with_discount_code("SPRING10")
    assert _plan(order.pay()).new_ops[0].payload["coupon_code"] == "SPRING10"

    only_ids = OrderBuilder()
    only_ids.add_line("A", 1, 1000)
    only_ids.with_discount_code("HIDDEN", expanded=False)
    assert "coupon_code" not in _plan(only_ids.pay()).new_ops[0].payload


def test_item_ids_and_names_follow_the_config() -> None:
    order = OrderBuilder()
    order.add_line("SHIRT", 1, 1000, name={"de": "Hemd", "en": "Shirt"})
    config = PlannerConfig(item_id_source="productId", locale="de")
    (item,) = _plan(order.pay(), config).new_ops[0].payload["items"]
    assert item["id"] == "product-SHIRT" and item["name"] == "Hemd"


def test_yotpo_order_id_from_id_or_when_there_is_no_order_number() -> None:
    numbered = OrderBuilder(order_number="CT-9")
    numbered.add_line("A", 1, 1000)
    assert (
        _plan(numbered.pay(), PlannerConfig(order_id_source="id")).pin_yotpo_order_id
        == numbered.order_id
    )
    unnumbered = OrderBuilder(order_number=None)
    unnumbered.add_line("A", 1, 1000)
    plan = _plan(unnumbered.pay())
    assert plan.pin_yotpo_order_id == unnumbered.order_id
    assert plan.new_ops[0].key == f"order:{unnumbered.order_id}"


def test_paid_trigger_holds_after_the_payment_state_moved_on() -> None:
    order = OrderBuilder()
    order.add_line("A", 1, 1000)
    order.pay()
    order.payment_state = "CreditOwed"  # e.g. set by the PSP integration after a refund
    assert [op.kind for op in _plan(order).new_ops] == ["order"]


def test_nothing_before_the_trigger() -> None:
    order = OrderBuilder()
    order.add_line("A", 1, 1000)
    plan = _plan(order)
    assert plan.empty and plan.skipped_reason is None


# --- plan application ---------------------------------------------------------------------


def test_apply_records_the_plan_and_is_idempotent_through_replanning() -> None:
    order = OrderBuilder(order_number="CT-5")
    order.add_line("A", 1, 1000)
    view = order_view(order.pay().build())
    ledger = OrderLedger(order_id=view.id)
    plan = plan_order(view, ledger, PAID, EU, T0)
    applied = plan.apply(ledger)
    assert list(applied.ops) == ["order:CT-5"]
    assert (applied.yotpo_order_id, applied.account, applied.currency) == ("CT-5", "eu", "EUR")
    assert applied.updated_at == T0
    # pending ops are not planned again, whoever holds them
    assert plan_order(view, applied, PAID, EU, T0 + timedelta(hours=1)).empty
    with pytest.raises(ValueError, match="already in the ledger"):
        plan.apply(applied)


def test_a_skip_is_recorded_and_cleared_when_it_no_longer_holds() -> None:
    order = OrderBuilder()
    order.add_line("A", 1, 1000)
    view = order_view(order.pay().build())
    ledger = plan_order(view, OrderLedger(order_id=view.id), PAID, None, T0).apply(
        OrderLedger(order_id=view.id)
    )
    assert ledger.skipped_reason == "no_account_for_store" and not ledger.ops
    unchanged = plan_order(view, ledger, PAID, None, T0 + LEASE)
    assert unchanged.apply(ledger) is ledger
    later = plan_order(view, ledger, PAID, EU, T0 + LEASE).apply(ledger)
    assert later.skipped_reason is None and len(later.ops) == 1


def test_refunds_wait_while_the_order_operation_failed_and_follow_its_replay() -> None:
    order = OrderBuilder(order_number="CT-8")
    order.add_line("A", 1, 1000)
    view = order_view(order.pay().build())
    ledger = plan_order(view, OrderLedger(order_id=view.id), PAID, EU, T0).apply(
        OrderLedger(order_id=view.id)
    )
    ledger = ledger.mark_failed("order:CT-8", "YotpoPermanentError: 422", T0)
    refund = order.refund(400)
    view = order_view(order.build())
    assert plan_order(view, ledger, PAID, EU, T0).empty  # nothing earned, nothing to refund
    replayed = ledger.reset_failed(T0 + LEASE)
    plan = plan_order(view, replayed, PAID, EU, T0 + LEASE)
    assert [op.key for op in plan.new_ops] == [f"refund:{refund}"]


# --- the ledger's own helpers ---------------------------------------------------------------


def _op(key: str, kind: str, amount: int | None, at: datetime, **kwargs: Any) -> LedgerOp:
    payload = {"total_amount_cents": amount} if amount is not None else {"id": key}
    return LedgerOp(
        key=key,
        kind=kind,
        payload=payload,
        created_at=at,
        updated_at=at,
        amount_cents=amount,
        **kwargs,
    )


def _ledger(*ops: LedgerOp) -> OrderLedger:
    return OrderLedger(order_id="o-1", yotpo_order_id="CT-1", ops={op.key: op for op in ops})


def test_due_ops_are_the_callers_claims_and_expired_leases() -> None:
    ledger = _ledger(
        _op("order:CT-1", "order", 1000, T0, status=OpStatus.DONE),
        _op("refund:a", "refund", 100, T0),
        _op("refund:b", "refund", 100, T0 + timedelta(seconds=30)),
        _op("refund:c", "refund", 100, UNCLAIMED),
        _op("refund:d", "refund", 100, T0 + timedelta(seconds=59)),
    )
    now = T0 + timedelta(seconds=60)
    assert [op.key for op in ledger.due_ops(now, LEASE)] == ["refund:a", "refund:c"]
    claimed = ledger.due_ops(now, LEASE, claimed={"refund:d"})
    assert [op.key for op in claimed] == ["refund:a", "refund:c", "refund:d"]
    reclaimed = ledger.claim(["refund:a", "refund:c"], now)
    assert [op.key for op in reclaimed.due_ops(now, LEASE)] == []


def test_mark_done_and_failed() -> None:
    ledger = _ledger(_op("order:CT-1", "order", 1000, T0), _op("refund:a", "refund", 300, T0))
    later = T0 + timedelta(seconds=5)
    done = ledger.mark_done("order:CT-1", later)
    assert done.ops["order:CT-1"].status == OpStatus.DONE
    assert done.ops["order:CT-1"].attempts == 1 and done.updated_at == later
    failed = done.mark_failed("refund:a", "YotpoPermanentError: 400", later)
    assert failed.ops["refund:a"].status == OpStatus.FAILED
    assert failed.ops["refund:a"].error == "YotpoPermanentError: 400"
    assert (failed.earned_amount(), failed.refunded_amount()) == (1000, 0)
    assert ledger.ops["order:CT-1"].status == OpStatus.PENDING  # the original is untouched
    with pytest.raises(KeyError):
        ledger.mark_done("refund:zzz", later)


def test_reset_failed_recaps_refunds_to_what_is_left() -> None:
    failed = dict(status=OpStatus.FAILED, error="YotpoPermanentError: 400")
    ledger = _ledger(
        _op("order:CT-1", "order", 1000, T0, status=OpStatus.DONE),
        _op("refund:a", "refund", 600, T0, **failed),
        _op("refund:CT-1-cancel", "refund", 700, T0, status=OpStatus.DONE),  # took a's share
        _op("refund:b", "refund", 500, T0, **failed),
    ).model_copy(update={"failure_count": 4})
    now = T0 + timedelta(hours=1)
    replayed = ledger.reset_failed(now)
    a, b = replayed.ops["refund:a"], replayed.ops["refund:b"]
    assert (a.status, a.amount_cents, a.payload["total_amount_cents"]) == (
        OpStatus.PENDING,
        300,
        300,
    )
    assert a.updated_at == UNCLAIMED
    assert (b.status, b.error) == (OpStatus.FAILED, NOTHING_LEFT_TO_REFUND)
    assert replayed.refunded_amount() == replayed.earned_amount() == 1000
    assert replayed.failure_count == 0
    assert [op.key for op in replayed.due_ops(now, LEASE)] == ["refund:a"]


def test_ledger_survives_a_json_round_trip() -> None:
    case = paid_partial_refund_then_cancelled()
    _, ledger = run(case.snapshots, PAID)
    stored = ledger.model_dump(mode="json")
    assert OrderLedger.model_validate(stored) == ledger
    assert list(OrderLedger.model_validate(stored).ops) == list(ledger.ops)


def test_return_shares_do_not_depend_on_the_order_items_get_refunded() -> None:
    order = OrderBuilder(order_number="CT-100")
    line = order.add_line("BOWL", 3, unit_money=high_precision(3333333, 5, "EUR"))
    order.pay()
    (late,) = order.add_return((line, 1))  # refunded last
    order.add_return((line, 1), payment_state="Refunded")
    order.add_return((line, 1), payment_state="Refunded")
    snaps = [order.build(), order.set_return_payment_state(late, "Refunded").build()]
    step_by_step, _ = run(snaps, RETURNS)
    all_at_once, _ = run(snaps[-1:], RETURNS)
    amounts = {op.key: op.amount_cents for _, op in step_by_step}
    assert amounts == {op.key: op.amount_cents for _, op in all_at_once}
    assert amounts[f"refund:return-{late}"] == 3333  # the first unit's share, though refunded last
    assert sum(amounts.values()) == 10000 * 2


def test_refunds_are_not_due_before_their_order_is_recorded() -> None:
    order_op = _op("order:CT-1", "order", 1000, T0)
    refund = _op("refund:a", "refund", 100, T0 + timedelta(seconds=50))
    customer = _op("customer:c-1", "customer", None, T0 + timedelta(seconds=50))
    ledger = _ledger(order_op, refund, customer)
    now = T0 + timedelta(seconds=59)
    # the order operation is held by another worker: what follows it waits
    assert ledger.due_ops(now, LEASE, claimed={"refund:a", "customer:c-1"}) == []
    # once its lease runs out, it goes first, then the rest
    later = T0 + timedelta(seconds=60)
    due = ledger.due_ops(later, LEASE, claimed={"refund:a", "customer:c-1"})
    assert [op.key for op in due] == ["order:CT-1", "refund:a", "customer:c-1"]
    done = ledger.mark_done("order:CT-1", now)
    assert [op.key for op in done.due_ops(now, LEASE, claimed={"refund:a"})] == ["refund:a"]
    failed = ledger.mark_failed("order:CT-1", "refused", now)
    assert failed.due_ops(later, LEASE, claimed={"refund:a", "customer:c-1"}) == []


@pytest.mark.parametrize(
    ("custom", "codes", "expected"),
    [
        (
            {"loyaltyRewardCode": "RWD", "loyaltyReferralCode": "FRIEND"},
            ["SALE"],
            "RWD,FRIEND,SALE",
        ),
        ({"loyaltyReferralCode": "FRIEND"}, ["SALE", "SPRING"], "FRIEND,SALE,SPRING"),
        ({}, ["SALE"], "SALE"),
        # a reward made a commercetools discount code appears once; a comma cannot travel
        ({"loyaltyRewardCode": "RWD"}, ["RWD", "A,B"], "RWD"),
    ],
)
def test_coupon_code_lists_every_code_reward_then_referral_then_discount_codes(
    custom: dict[str, str], codes: list[str], expected: str
) -> None:
    order = OrderBuilder()
    order.add_line("A", 1, 1000)
    for code in codes:
        order.with_discount_code(code)
    order.with_custom(**custom)
    (op,) = _plan(order.pay()).new_ops
    assert op.payload["coupon_code"] == expected
