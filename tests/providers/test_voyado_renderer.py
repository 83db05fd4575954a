"""Voyado's pure renderer, with plain data: receipts in decimal major units, return receipts
matched to the purchase, the contact draft, point rows and voucher redeems."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.orders.order_facts import order_discount_gross
from shared.domain.orders.order_view import order_view
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
from tests.domain.builders import OrderBuilder

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


def test_the_operations_own_order_discount_is_spread_and_its_returns_follow_it():
    discounted = order(
        line("l1", "sku-1", 3, 30000), line("l2", "sku-2", 1, 10000), order_discount_minor=4000
    )
    body = RENDERER.render(discounted)
    assert [i["grossPaidPrice"] for i in body["items"]] == ["270.00", "90.00"]
    assert body["totalGrossPrice"] == "360.00"
    # A return prices the units as the purchase receipt did, after the spread.
    cancel = RENDERER.render(reversal("cancel"), purchase=discounted, at=CREATED)
    assert [i["grossPaidPrice"] for i in cancel["items"]] == ["270.00", "90.00"]


def test_the_planner_fills_the_gross_share_of_a_discount_on_the_total():
    built = OrderBuilder(currency="EUR", order_number="CT-2001")
    built.add_line("SHIRT", 2, 2999, discount_per_unit=500, line_id="line-shirt")
    built.add_line("MUG", 1, 1190, line_id="line-mug")
    built.with_shipping(595).with_total_discount(1000)
    view = order_view(built.build())
    # 10.00 off the total; the lines (61.88 of 67.83 gross) bear 9.12 of it, as the net
    # subtotal already does (7.66 net of 52.00), turned gross at the lines' own ratio.
    assert order_discount_gross(view) == 912
    plain = OrderBuilder()
    plain.add_line("A", 1, 1000)
    assert order_discount_gross(order_view(plain.build())) == 0


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


def test_a_refund_by_amount_reprices_the_lines_instead_of_using_up_units():
    lines = purchase_lines(PURCHASE)
    items = allocate_reversal(reversal("refund", amount=10000), lines)
    # 7500 of the jackets' 30000, 2500 of the scarf's 10000: every unit is returned at what it
    # holds and bought back at what is left, so no unit is used up by a part of its price.
    assert [(i.type, i.line.sku, i.quantity, i.paid_minor) for i in items] == [
        ("RETURN", "sku-1", 3, 30000),
        ("PURCHASE", "sku-1", 3, 22500),
        ("RETURN", "sku-2", 1, 10000),
        ("PURCHASE", "sku-2", 1, 7500),
    ]
    assert sum(i.signed_minor for i in items) == 10000
    everything = allocate_reversal(reversal("refund", amount=10**9), lines)
    assert [(i.type, i.quantity, i.paid_minor) for i in everything] == [
        ("RETURN", 3, 30000),
        ("RETURN", 1, 10000),
    ]


def test_a_refund_by_amount_renders_returns_and_the_units_bought_back():
    body = RENDERER.render_reversal(reversal("refund", amount=10000), purchase=PURCHASE, at=CREATED)
    assert [(i["type"], i["sku"], i["quantity"], i["grossPaidPrice"]) for i in body["items"]] == [
        ("RETURN", "sku-1", -3, "300.00"),
        ("PURCHASE", "sku-1", 3, "225.00"),
        ("RETURN", "sku-2", -1, "100.00"),
        ("PURCHASE", "sku-2", 1, "75.00"),
    ]
    assert body["totalGrossPrice"] == "-100.00"
    assert body["paymentMethods"][0]["value"] == "-100.00"
    assert all(i["awardsBonus"] for i in body["items"] if i["type"] == "PURCHASE")
    cancel = RENDERER.render(reversal("cancel"), purchase=PURCHASE, earlier=[body], at=CREATED)
    assert [(i["type"], i["quantity"], i["grossPaidPrice"]) for i in cancel["items"]] == [
        ("RETURN", -3, "225.00"),
        ("RETURN", -1, "75.00"),
    ]
    assert cancel["totalGrossPrice"] == "-300.00"


def test_a_single_unit_survives_two_partial_refunds_and_the_cancel_returns_the_rest():
    single = order(line("l1", "sku-1", 1, 30800))
    first = RENDERER.render(reversal("refund", amount=10000), purchase=single, at=CREATED)
    second = RENDERER.render(
        reversal("refund", amount=5500, ref="r-2"), purchase=single, earlier=[first], at=CREATED
    )
    assert returned_so_far([first, second], "SEK") == {"sku-1": Returned(0, 15500)}
    cancel = RENDERER.render(
        reversal("cancel"), purchase=single, earlier=[first, second], at=CREATED
    )
    assert [(i["type"], i["quantity"], i["grossPaidPrice"]) for i in cancel["items"]] == [
        ("RETURN", -1, "153.00")
    ]


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


def test_returned_so_far_reads_pinned_return_bodies_net_of_units_bought_back():
    body = RENDERER.render_reversal(reversal("refund", amount=10000), purchase=PURCHASE, at=CREATED)
    returned = RENDERER.render_reversal(
        reversal("return", ReturnedLine(line_id="l1", item_id="sku-1", quantity=1), ref="r-2"),
        purchase=PURCHASE,
        earlier=[body],
        at=CREATED,
    )
    # The purchase's own body (no RETURN item) is not a reversal: ignored.
    assert returned_so_far([body, returned, RENDERER.render(PURCHASE)], "SEK") == {
        "sku-1": Returned(1, 7500 + 7500),
        "sku-2": Returned(0, 2500),
    }


def minor(text: str) -> int:
    return int(Decimal(text).scaleb(2))


def engage_points(receipts: list[dict], by: str) -> list[int]:
    """The contact's balance after each receipt, as Engage's return matching could weigh it
    (register-a-return names the matching, not its arithmetic): a PURCHASE item earns
    floor(paid) points (one per SEK); a RETURN item is matched to the oldest purchase lines of
    its sku that it has not used up and takes back their points cumulatively, floored, by
    matched units (`by="units"`) or by matched money (`by="value"`)."""
    lines: list[dict] = []  # sku, units, money, points, units back, money back
    balance, history = 0, []
    for receipt in receipts:
        for row in receipt["items"]:
            quantity, paid = int(row["quantity"]), minor(row["grossPaidPrice"])
            if row["type"] == "PURCHASE":
                points = paid // 100
                lines.append(
                    {"sku": row["sku"], "q": quantity, "m": paid, "p": points, "qb": 0, "mb": 0}
                )
                balance += points
                continue
            units, money = -quantity, paid
            for held in (x for x in lines if x["sku"] == row["sku"]):
                if by == "units" and units and held["qb"] < held["q"]:
                    take = min(units, held["q"] - held["qb"])
                    before = held["p"] * held["qb"] // held["q"]
                    held["qb"] += take
                    balance -= held["p"] * held["qb"] // held["q"] - before
                    units -= take
                elif by == "value" and money and held["mb"] < held["m"]:
                    take = min(money, held["m"] - held["mb"])
                    before = held["p"] * held["mb"] // held["m"]
                    held["mb"] += take
                    balance -= held["p"] * held["mb"] // held["m"] - before
                    money -= take
        history.append(balance)
    return history


@st.composite
def purchases(draw) -> OrderRecorded:
    count = draw(st.integers(min_value=1, max_value=4))
    lines = [
        line(
            f"l{n}",
            f"sku-{n}",
            draw(st.integers(min_value=1, max_value=5)),
            draw(st.integers(min_value=0, max_value=10**6)),
        )
        for n in range(count)
    ]
    whole = sum(x.paid_total_minor for x in lines)
    discount = draw(st.integers(min_value=0, max_value=whole)) if draw(st.booleans()) else 0
    return order(*lines, order_discount_minor=discount)


STEP = st.one_of(
    st.tuples(st.just("amount"), st.integers(min_value=1, max_value=10**6)),
    st.tuples(
        st.just("lines"),
        st.integers(min_value=0, max_value=3),
        st.integers(min_value=1, max_value=6),
    ),
)


@given(purchase=purchases(), steps=st.lists(STEP, max_size=6))
def test_partial_refunds_never_take_more_than_the_purchase_and_the_cancel_takes_the_rest(
    purchase, steps
):
    """Any sequence of partial refunds (by amount, by returned lines), then a cancel: per line,
    the units and money all the reversal receipts take back (net of units bought back) stay
    within what the purchase gave, a refund by amount takes exactly its amount (capped at what
    is left), and the cancel returns exactly the rest, so the order's points end at 0, never
    below, however Engage weighs a return."""
    bought_body = RENDERER.render(purchase)
    bought = {i["sku"]: (i["quantity"], minor(i["grossPaidPrice"])) for i in bought_body["items"]}
    bodies: list[dict] = []

    def held_money() -> int:
        net = returned_so_far(bodies, "SEK")
        return sum(m - net.get(sku, Returned()).paid_minor for sku, (_, m) in bought.items())

    for n, step in enumerate(steps):
        if step[0] == "amount":
            op = reversal("refund", amount=step[1], ref=f"r-{n}")
        else:
            sku = f"sku-{step[1]}"
            op = reversal("return", ReturnedLine(item_id=sku, quantity=step[2]), ref=f"r-{n}")
        left = held_money()
        try:
            body = RENDERER.render(op, purchase=purchase, earlier=bodies, at=CREATED)
        except UnsupportedOperation:
            assert step[0] == "lines" or left == 0
            continue
        if step[0] == "amount":
            assert -minor(body["totalGrossPrice"]) == min(step[1], left)
        for row in body["items"]:
            assert minor(row["grossPaidPrice"]) >= 0
            assert (row["quantity"] < 0) == (row["type"] == "RETURN") and row["quantity"] != 0
        bodies.append(body)
        for sku, net in returned_so_far(bodies, "SEK").items():
            units, money = bought[sku]
            assert 0 <= net.quantity <= units
            assert 0 <= net.paid_minor <= money
    try:
        cancel = RENDERER.render(reversal("cancel"), purchase=purchase, earlier=bodies, at=CREATED)
        receipts = [*bodies, cancel]
    except UnsupportedOperation:
        receipts = bodies  # everything was already back
    net = returned_so_far(receipts, "SEK")
    assert {sku: (r.quantity, r.paid_minor) for sku, r in net.items() if r != Returned()} == {
        sku: v for sku, v in bought.items() if v != (0, 0)
    }
    assert sum(minor(r["totalGrossPrice"]) for r in [bought_body, *receipts]) == 0
    for by in ("units", "value"):
        history = engage_points([bought_body, *receipts], by)
        assert min(history) >= 0 and history[-1] == 0, (by, history)


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
