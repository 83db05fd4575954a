"""Voyado's pure renderer, with plain data: receipts in decimal major units, return receipts
matched to the purchase, the contact draft, point rows and voucher redeems."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.providers.port import (
    DedupMode,
    Line,
    MemberRef,
    MemberUpsert,
    OrderRecorded,
    PayloadRenderer,
    PointsReturned,
    RedemptionCommitted,
    ReturnedLine,
    Reversal,
    UnsupportedOperation,
)
from shared.domain.providers.voyado import (
    ORDER_TOTAL_SKU,
    VOYADO_CAPABILITIES,
    PurchaseLine,
    Returned,
    VoyadoRenderConfig,
    VoyadoRenderer,
    allocate_reversal,
    major,
    purchase_lines,
    returned_so_far,
    reversal_receipt_id,
    spread_discount,
)

CONFIG = VoyadoRenderConfig(default_store_external_id="ecom-1", stores={"se": "store-se"})
RENDERER = VoyadoRenderer(CONFIG)
JANE = MemberRef(member_id="cust-1", email="jane@example.com", ct_customer_id="cust-1")
CREATED = datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))


def line(
    line_id: str,
    sku: str,
    quantity: int,
    paid: int,
    *,
    tax: int | None = None,
    rate: str | None = "0.25",
) -> Line:
    return Line(
        line_id=line_id,
        item_id=sku,
        sku=sku,
        name=f"Article {sku}",
        unit_price_minor=paid // quantity,
        quantity=quantity,
        paid_total_minor=paid,
        tax_minor=tax if tax is not None else paid // 5,
        tax_rate=Decimal(rate) if rate is not None else None,
    )


def order(*lines: Line, currency: str = "SEK", **extra) -> OrderRecorded:
    values = {
        "ct_order_id": "ord-1",
        "order_ref": "ord-1",
        "amount_minor": sum(x.paid_total_minor for x in lines),
        "currency": currency,
        "created_at": CREATED,
        "status": "paid",
        "lines": lines,
        "member": JANE,
        "store_key": "se",
        **extra,
    }
    return OrderRecorded(**values)


PURCHASE = order(line("l1", "sku-1", 3, 30000), line("l2", "sku-2", 1, 10000))


def reversal(reason: str = "refund", *lines: ReturnedLine, amount: int = 0, ref: str = "r-1"):
    return Reversal(
        refund_ref=ref,
        order_ref="ord-1",
        amount_minor=amount,
        currency="SEK",
        reason=reason,
        lines=lines,
        ct_order_id="ord-1",
        member=JANE,
    )


# --- capabilities ----------------------------------------------------------------------------


def test_capabilities_declare_voyados_dedup_units_and_limits():
    caps = RENDERER.capabilities
    assert caps is VOYADO_CAPABILITIES
    assert caps.dedup_mode("order") == caps.dedup_mode("refund") == DedupMode.NATURAL_KEY
    assert caps.dedup_mode("reward_return") == DedupMode.IDEMPOTENCY_KEY
    assert caps.idempotency_ttl_seconds == 24 * 3600
    assert caps.dedup_mode("redemption") == DedupMode.CONFLICT_ON_REPEAT
    assert caps.dedup_mode("customer") == DedupMode.NONE
    assert caps.amount_unit == "major-decimal"
    assert caps.tiers is False and caps.refund_lines_required is True
    assert "created" not in caps.earning_triggers
    assert caps.rate_limit_per_second == 50.0
    assert isinstance(RENDERER, PayloadRenderer)


# --- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (12345, "SEK", "123.45"),
        (5, "EUR", "0.05"),
        (-100, "EUR", "-1.00"),
        (1234, "JPY", "1234"),
        (1234, "KWD", "1.234"),
        (0, "SEK", "0.00"),
    ],
)
def test_minor_units_become_decimal_text_with_the_currencys_digits(minor, currency, text):
    assert major(minor, currency) == text


# --- purchase --------------------------------------------------------------------------------


def test_an_order_is_a_purchase_receipt_under_its_pinned_reference():
    body = RENDERER.render(PURCHASE)
    assert body["uniqueReceiptId"] == "ord-1"
    assert body["contact"] == {
        "matchKey": "jane@example.com",
        "matchKeyType": "email",
        "contactType": "Member",
    }
    assert body["createdDate"] == "2026-12-01T10:00:00+01:00"
    assert body["storeExternalId"] == "store-se"
    assert body["currency"] == "SEK"
    assert body["totalGrossPrice"] == "400.00"
    assert body["paymentMethods"] == [
        {"type": "card", "description": "commercetools", "value": "400.00"}
    ]
    first = body["items"][0]
    assert first == {
        "type": "PURCHASE",
        "sku": "sku-1",
        "articleNumber": "sku-1",
        "articleName": "Article sku-1",
        "quantity": 3,
        "grossPaidPrice": "300.00",  # the line total, as in the field definitions' example
        "taxAmount": "60.00",
        "taxPercent": "25",
        "awardsBonus": True,
    }
    # Plain JSON: no float anywhere, so the ledger pins it exactly.
    assert json.loads(json.dumps(body)) == body


def test_an_unknown_store_files_under_the_default_and_a_naive_date_is_utc():
    body = RENDERER.render(
        order(line("l1", "a", 1, 100), store_key="nope").model_copy(
            update={"created_at": datetime(2026, 12, 1, 9, 0)}
        )
    )
    assert body["storeExternalId"] == "ecom-1"
    assert body["createdDate"] == "2026-12-01T09:00:00+00:00"


def test_an_order_level_discount_is_spread_over_the_lines():
    body = RENDERER.render_purchase(PURCHASE, order_discount_minor=4000)
    assert [i["grossPaidPrice"] for i in body["items"]] == ["270.00", "90.00"]
    assert [i["taxAmount"] for i in body["items"]] == ["54.00", "18.00"]
    assert body["totalGrossPrice"] == "360.00"


def test_spread_shares_add_up_exactly_and_never_go_below_zero():
    assert spread_discount([333, 333, 334], 100) == [300, 299, 301]  # cumulative, exact
    assert sum(spread_discount([1, 2, 3], 5)) == 1
    assert spread_discount([100, 200], 1000) == [0, 0]
    assert spread_discount([100, 200], 0) == [100, 200]


def test_an_order_without_lines_is_one_order_total_item():
    body = RENDERER.render(order(amount_minor=5000))
    assert [(i["sku"], i["quantity"], i["grossPaidPrice"]) for i in body["items"]] == [
        (ORDER_TOTAL_SKU, 1, "50.00")
    ]


def test_the_match_key_follows_the_configuration_then_falls_back():
    by_id = VoyadoRenderer(CONFIG.model_copy(update={"match_key": "externalId"}))
    assert by_id.render(PURCHASE)["contact"]["matchKey"] == "cust-1"
    phone_only = PURCHASE.model_copy(update={"member": MemberRef(phone="+46701234567")})
    assert RENDERER.render(phone_only)["contact"]["matchKeyType"] == "mobilePhone"
    with pytest.raises(UnsupportedOperation):
        RENDERER.render(PURCHASE.model_copy(update={"member": MemberRef()}))


def test_zero_digit_and_three_digit_currencies_are_exact():
    jpy = RENDERER.render(order(line("l1", "a", 2, 1999, tax=181), currency="JPY"))
    assert jpy["items"][0]["grossPaidPrice"] == "1999" and jpy["totalGrossPrice"] == "1999"
    kwd = RENDERER.render(order(line("l1", "a", 1, 12345, tax=0, rate=None), currency="KWD"))
    assert kwd["totalGrossPrice"] == "12.345" and kwd["items"][0]["taxPercent"] == "0"


# --- returns ---------------------------------------------------------------------------------


def test_a_returned_line_is_a_return_receipt_matched_to_the_purchase():
    body = RENDERER.render_reversal(
        reversal("return", ReturnedLine(line_id="l1", item_id="sku-1", quantity=1)),
        purchase=PURCHASE,
        at=datetime(2026, 12, 5, 12, 0, tzinfo=UTC),
    )
    assert body["uniqueReceiptId"] == "ord-1:refund:r-1"
    assert body["createdDate"] == "2026-12-05T12:00:00+00:00"
    assert body["items"] == [
        {
            "type": "RETURN",
            "sku": "sku-1",
            "articleNumber": "sku-1",
            "articleName": "Article sku-1",
            "quantity": -1,
            "grossPaidPrice": "100.00",
            "taxAmount": "20.00",
            "taxPercent": "25",
        }
    ]
    assert body["totalGrossPrice"] == "-100.00"
    assert body["paymentMethods"][0]["value"] == "-100.00"
    assert body["storeExternalId"] == "store-se"


def test_unit_shares_are_cumulative_so_every_unit_of_a_line_adds_up():
    lines = purchase_lines(order(line("l1", "sku-1", 3, 10000)))
    first = allocate_reversal(reversal("return", ReturnedLine(item_id="sku-1", quantity=1)), lines)
    assert first[0].paid_minor == 3333
    later = allocate_reversal(
        reversal("return", ReturnedLine(item_id="sku-1", quantity=5)),
        lines,
        {"sku-1": Returned(1, 3333)},
    )
    assert (later[0].quantity, later[0].paid_minor) == (2, 6667)


def test_a_cancel_returns_what_the_purchase_still_holds():
    earlier = RENDERER.render_reversal(
        reversal("return", ReturnedLine(line_id="l1", item_id="sku-1", quantity=1)),
        purchase=PURCHASE,
    )
    cancel = RENDERER.render_reversal(
        reversal("cancel", ref="ord-1-cancel"),
        purchase=PURCHASE,
        returned=returned_so_far([earlier], "SEK"),
    )
    assert cancel["uniqueReceiptId"] == "ord-1:cancel"
    assert [(i["sku"], i["quantity"], i["grossPaidPrice"]) for i in cancel["items"]] == [
        ("sku-1", -2, "200.00"),
        ("sku-2", -1, "100.00"),
    ]
    assert cancel["totalGrossPrice"] == "-300.00"
    moved = reversal("moved", ref="ord-1-moved")
    assert reversal_receipt_id(moved) == "ord-1:moved"


def test_a_refund_by_amount_is_spread_over_the_lines_never_more_than_each_holds():
    lines = purchase_lines(PURCHASE)
    items = allocate_reversal(reversal("refund", amount=10000), lines)
    assert [(i.line.sku, i.quantity, i.paid_minor) for i in items] == [
        ("sku-1", 1, 7500),
        ("sku-2", 1, 2500),
    ]
    everything = allocate_reversal(reversal("refund", amount=10**9), lines)
    assert [(i.quantity, i.paid_minor) for i in everything] == [(3, 30000), (1, 10000)]


def test_a_return_without_its_purchase_needs_amounts_and_a_date():
    with_amounts = reversal("return", ReturnedLine(item_id="sku-1", quantity=2, amount_minor=5000))
    body = RENDERER.render_reversal(with_amounts, at=CREATED)
    assert body["items"][0]["quantity"] == -2 and body["totalGrossPrice"] == "-50.00"
    with pytest.raises(UnsupportedOperation):
        RENDERER.render(with_amounts)  # no date: the receipt's createdDate is mandatory
    with pytest.raises(UnsupportedOperation):
        RENDERER.render_reversal(reversal("cancel"), at=CREATED)
    with pytest.raises(UnsupportedOperation):
        RENDERER.render_reversal(
            reversal("return", ReturnedLine(item_id="sku-1", quantity=1)), at=CREATED
        )


def test_nothing_left_to_return_is_refused_rather_than_an_empty_receipt():
    everything_back = {"sku-1": Returned(3, 30000), "sku-2": Returned(1, 10000)}
    with pytest.raises(UnsupportedOperation):
        RENDERER.render_reversal(reversal("cancel"), purchase=PURCHASE, returned=everything_back)


def test_returned_so_far_reads_pinned_return_bodies():
    body = RENDERER.render_reversal(reversal("refund", amount=10000), purchase=PURCHASE, at=CREATED)
    assert returned_so_far([body, RENDERER.render(PURCHASE)], "SEK") == {
        "sku-1": Returned(1, 7500),
        "sku-2": Returned(1, 2500),
    }


@given(
    paid=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=6),
    quantities=st.lists(st.integers(min_value=1, max_value=9), min_size=6, max_size=6),
    amount=st.integers(min_value=1, max_value=10**8),
)
def test_an_amount_refund_never_takes_more_than_a_line_holds(paid, quantities, amount):
    lines = [
        PurchaseLine(f"s{n}", f"l{n}", f"s{n}", "x", quantities[n], p, 0, "0")
        for n, p in enumerate(paid)
    ]
    items = allocate_reversal(reversal("refund", amount=amount), lines)
    assert sum(i.paid_minor for i in items) == min(amount, sum(paid))
    for entry in items:
        assert 0 < entry.paid_minor <= entry.line.paid_minor
        assert 1 <= entry.quantity <= entry.line.quantity


# --- member, points, vouchers ----------------------------------------------------------------


def test_a_member_upsert_is_a_contact_draft_with_its_lookup_keys():
    body = RENDERER.render(
        MemberUpsert(
            member_id="cust-1",
            email="jane@example.com",
            phone="+46701234567",
            first_name="Jane",
            last_name="Doe",
            opted_in=True,
            birthday="1990-04-01",
        )
    )
    assert body == {
        "contact": {
            "contactType": "Member",
            "email": "jane@example.com",
            "mobilePhone": "+46701234567",
            "externalId": "cust-1",
            "firstName": "Jane",
            "lastName": "Doe",
            "birthDay": "1990-04-01",
            "preferences": {"acceptsEmail": True},
        },
        "lookup": {
            "email": "jane@example.com",
            "customKey": "cust-1",
            "mobilePhone": "+46701234567",
        },
        "source": "commercetools",
        "storeExternalId": "ecom-1",
    }


def test_points_returned_is_one_point_transaction_row():
    body = RENDERER.render(PointsReturned(member_id="cust-1", points=250, order_ref="ord-1"))
    assert body == {
        "lookup": {"customKey": "cust-1"},
        "row": {
            "amount": 250,
            "definitionId": 1,
            "source": "commercetools",
            "description": "Points returned: order ord-1 was cancelled",
        },
    }
    no_custom_key = VoyadoRenderer(CONFIG.model_copy(update={"custom_key_is_external_id": False}))
    with pytest.raises(UnsupportedOperation):
        no_custom_key.render(PointsReturned(member_id="cust-1", points=1, order_ref="o"))


def test_a_committed_redemption_redeems_the_voucher_and_its_undo_reactivates_it():
    op = RedemptionCommitted(redemption_ref="voucher-guid", order_ref="ord-1")
    assert RENDERER.render(op) == {
        "action": "redeem",
        "voucherId": "voucher-guid",
        "orderRef": "ord-1",
    }
    assert RENDERER.render_reactivation(op)["action"] == "reactivate"


def test_rendering_is_deterministic():
    assert RENDERER.render(PURCHASE) == VoyadoRenderer(CONFIG).render(PURCHASE)


def test_render_takes_a_reversals_context_the_planner_has():
    first = RENDERER.render(
        reversal("return", ReturnedLine(line_id="l1", item_id="sku-1", quantity=2)),
        purchase=PURCHASE,
        at=CREATED,
    )
    cancel = RENDERER.render(reversal("cancel"), purchase=PURCHASE, earlier=[first], at=CREATED)
    assert [(i["sku"], i["quantity"], i["grossPaidPrice"]) for i in cancel["items"]] == [
        ("sku-1", -1, "100.00"),
        ("sku-2", -1, "100.00"),
    ]
