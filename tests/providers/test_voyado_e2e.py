"""Voyado end to end through real HTTP: neutral operations rendered by the Voyado renderer, sent
by the provider adapter built from its registry factory, against the running stand-in
(`sandbox.voyado`, built independently from Voyado's documentation)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sandbox.voyado import (
    FakeClock,
    SandboxConfig,
    SilentAnswers,
    TenantConfig,
    VoyadoServer,
    sign,
)
from shared.domain.providers.port import (
    Line,
    MemberRef,
    MemberUpsert,
    OrderRecorded,
    PointsReturned,
    RedemptionCommitted,
    ReturnedLine,
    Reversal,
)
from shared.domain.providers.voyado import returned_so_far
from shared.errors import PermanentError
from shared.providers.port import LoyaltyProvider, ProviderRateLimited, SendOutcome
from shared.providers.registry import ProviderContext, factory
from shared.providers.voyado import VoyadoProvider
from shared.voyado import AmbiguousContact, SvixVerificationError, VoyadoTransientError

KEY = "e2e-voyado-key"
SECRET = "whsec_" + "ZTJlLXZveWFkby13ZWJob29rLXNlY3JldC0zMmI="
JANE = MemberRef(member_id="cust-1", email="jane@example.com", ct_customer_id="cust-1")
PAID_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def standin():
    config = SandboxConfig(
        tenants=[
            TenantConfig(
                name="shop",
                api_keys=[KEY],
                stores=["ecom-1", "ecom-se"],
                batch_interval_seconds=None,  # receipts apply when the test says so
                webhook_secret=SECRET,
            )
        ]
    )
    with VoyadoServer(config, clock=FakeClock()) as server:
        yield server


@pytest.fixture
def provider(standin) -> VoyadoProvider:
    made = factory("voyado")
    account = made.account(
        {
            "baseUrl": standin.url,
            "apiKey": KEY,
            "userAgent": "ct-loyalty-e2e/1.0",
            "storeExternalId": "ecom-1",
            "stores": {"se": "ecom-se"},
            "webhookSecret": SECRET,
        }
    )
    built = made.build(
        "se", account, ProviderContext(rate_share=lambda r: r, session=lambda _: None)
    )
    assert isinstance(built, VoyadoProvider) and isinstance(built, LoyaltyProvider)
    return built


def purchase(order_ref: str = "ord-1", *lines: Line) -> OrderRecorded:
    lines = lines or (
        Line(
            line_id="l1",
            item_id="sku-1",
            sku="sku-1",
            name="Wool jacket",
            unit_price_minor=10000,
            quantity=3,
            paid_total_minor=30000,
            tax_minor=6000,
            tax_rate=Decimal("0.25"),
        ),
        Line(
            line_id="l2",
            item_id="sku-2",
            sku="sku-2",
            name="Scarf",
            unit_price_minor=10000,
            quantity=1,
            paid_total_minor=10000,
            tax_minor=2000,
            tax_rate=Decimal("0.25"),
        ),
    )
    return OrderRecorded(
        ct_order_id=order_ref,
        order_ref=order_ref,
        amount_minor=sum(x.paid_total_minor for x in lines),
        currency="SEK",
        created_at=PAID_AT,
        status="paid",
        lines=lines,
        member=JANE,
        store_key="se",
    )


def send(provider: VoyadoProvider, key: str, op: Any, body: dict | None = None) -> SendOutcome:
    payload = body if body is not None else provider.renderer.render(op)
    return provider.send(op.kind, payload, idempotency_key=key)


def balance(standin: VoyadoServer, contact_id: str) -> Decimal:
    standin.process()
    return Decimal(str(standin.contact_state(contact_id)["balance"]))


def member(provider: VoyadoProvider) -> str:
    upsert = MemberUpsert(member_id="cust-1", email="jane@example.com", first_name="Jane")
    assert send(provider, "customer:cust-1", upsert) == SendOutcome.SENT
    contact_id = provider.client.find_contact_id(email="jane@example.com")
    assert contact_id is not None
    return contact_id


def test_member_purchase_partial_return_and_cancellation(standin, provider):
    # Member upsert: created once, found afterwards.
    contact_id = member(provider)
    upsert = MemberUpsert(member_id="cust-1", email="jane@example.com")
    assert send(provider, "customer:cust-1", upsert) == SendOutcome.DUPLICATE
    assert provider.was_applied("customer", provider.renderer.render(upsert)) is True
    assert standin.contact_state(contact_id)["contact"]["attributes"]["externalId"] == "cust-1"

    # Purchase: 400 SEK paid, one point per SEK in the stand-in's model.
    order = purchase()
    assert send(provider, "order:ord-1", order) == SendOutcome.SENT
    assert balance(standin, contact_id) == 400
    state = provider.member_state(member_id="cust-1")
    assert state is not None and state.points_balance == 400 and state.tier is None

    # Partial return: one of the three jackets.
    returned = Reversal(
        refund_ref="ret-1",
        order_ref="ord-1",
        amount_minor=10000,
        currency="SEK",
        reason="return",
        lines=(ReturnedLine(line_id="l1", item_id="sku-1", quantity=1, amount_minor=10000),),
        member=JANE,
    )
    first_return = provider.renderer.render_reversal(returned, purchase=order, at=PAID_AT)
    assert send(provider, "refund:ret-1", returned, first_return) == SendOutcome.SENT
    assert balance(standin, contact_id) == 300

    # Cancellation: whatever the purchase still holds comes back.
    cancel = Reversal(
        refund_ref="ord-1-cancel",
        order_ref="ord-1",
        amount_minor=30000,
        currency="SEK",
        reason="cancel",
        member=JANE,
    )
    body = provider.renderer.render_reversal(
        cancel, purchase=order, returned=returned_so_far([first_return], "SEK"), at=PAID_AT
    )
    assert [(i["sku"], i["quantity"]) for i in body["items"]] == [("sku-1", -2), ("sku-2", -1)]
    assert send(provider, "refund:ord-1-cancel", cancel, body) == SendOutcome.SENT
    assert balance(standin, contact_id) == 0
    stored = standin.contact_state(contact_id)["receipts"]
    assert {r["uniqueReceiptId"] for r in stored} == {"ord-1", "ord-1:refund:ret-1", "ord-1:cancel"}


def refund_by_amount(ref: str, amount: int) -> Reversal:
    """A refund by payment amount (REFUND_SOURCE=payments): no returned lines."""
    return Reversal(
        refund_ref=ref,
        order_ref="ord-1",
        amount_minor=amount,
        currency="SEK",
        reason="refund",
        member=JANE,
    )


def test_two_partial_refunds_by_amount_then_a_cancel_take_back_exactly_the_order(standin, provider):
    """Issue #18: refunds by amount are deltas (points for what was refunded, no whole units
    used up), and the cancellation finds and returns exactly the rest."""
    contact_id = member(provider)
    # Another order's points, which nothing of ord-1 may touch.
    other = Line(
        line_id="l9",
        item_id="sku-9",
        sku="sku-9",
        name="Gloves",
        unit_price_minor=5000,
        quantity=1,
        paid_total_minor=5000,
        tax_minor=1000,
        tax_rate=Decimal("0.25"),
    )
    assert send(provider, "order:ord-0", purchase("ord-0", other)) == SendOutcome.SENT
    order = purchase()
    assert send(provider, "order:ord-1", order) == SendOutcome.SENT
    assert balance(standin, contact_id) == 50 + 400

    sent: list[dict[str, Any]] = []
    # 100 SEK off 300 + 100 leaves 225 + 75 (300 points); 55 more leaves 183.75 + 61.25,
    # floored per line by the points model: 244.
    for ref, amount, after in (("pay-1", 10000, 300), ("pay-2", 5500, 244)):
        op = refund_by_amount(ref, amount)
        body = provider.renderer.render(op, purchase=order, earlier=sent, at=PAID_AT)
        assert Decimal(str(body["totalGrossPrice"])) == -Decimal(amount) / 100
        assert send(provider, f"refund:{ref}", op, body) == SendOutcome.SENT
        # Redelivered: Voyado drops the same uniqueReceiptId, nothing moves twice.
        assert send(provider, f"refund:{ref}", op, body) in (
            SendOutcome.SENT,
            SendOutcome.DUPLICATE,
        )
        sent.append(body)
        assert balance(standin, contact_id) == 50 + after

    cancel = Reversal(
        refund_ref="ord-1-cancel",
        order_ref="ord-1",
        amount_minor=40000 - 15500,
        currency="SEK",
        reason="cancel",
        member=JANE,
    )
    body = provider.renderer.render(cancel, purchase=order, earlier=sent, at=PAID_AT)
    assert [(i["type"], i["sku"], i["quantity"]) for i in body["items"]] == [
        ("RETURN", "sku-1", -3),
        ("RETURN", "sku-2", -1),
    ]
    assert Decimal(str(body["totalGrossPrice"])) == Decimal("-245.00")
    assert send(provider, "refund:ord-1-cancel", cancel, body) == SendOutcome.SENT
    assert balance(standin, contact_id) == 50  # ord-1's points end at 0, never below
    stored = [
        r
        for r in standin.contact_state(contact_id)["receipts"]
        if r["uniqueReceiptId"].startswith("ord-1")
    ]
    assert sum(Decimal(str(r["totalGrossPrice"])) for r in stored) == 0
    # Every returned unit matched a purchased one (none deducted as unmatched), and every
    # purchased unit, bought back ones included, is back.
    matches = [m for r in stored for m in r["returnMatches"]]
    assert matches and not any("unmatched" in m for m in matches)
    purchased = [i for r in stored for i in r["items"] if i["type"] == "PURCHASE"]
    assert all(i["returnedQuantity"] == i["quantity"] for i in purchased)


def test_the_ambiguous_receipt_send_is_resent_and_counts_once(standin, provider):
    contact_id = member(provider)
    # The receipt is stored, then the answer is lost (503): the reconciler sees a failure.
    standin.engine.set_faults({"path_prefix": "/api/v3/receipts", "commit_next": 1})
    once = provider.bounded(30, max_retries=0)
    with pytest.raises(VoyadoTransientError) as caught:
        send(once, "order:ord-1", purchase())
    assert caught.value.maybe_applied is True
    # natural-key: resending is safe; Engage ignores the duplicate uniqueReceiptId.
    assert send(provider, "order:ord-1", purchase()) == SendOutcome.SENT
    assert balance(standin, contact_id) == 400
    assert provider.was_applied("order", provider.renderer.render(purchase())) is None


def test_the_ambiguous_points_send_is_replayed_by_its_key_and_counts_once(standin, provider):
    contact_id = member(provider)
    op = PointsReturned(member_id="cust-1", points=120, order_ref="ord-9")
    body = provider.renderer.render(op)
    assert provider.was_applied("reward_return", body) is False
    standin.engine.set_faults(
        {"path_prefix": "/api/v2/point-accounts/transactions", "commit_next": 1}
    )
    with pytest.raises(VoyadoTransientError):
        send(provider.bounded(30, max_retries=0), "reward_return:ord-9", op, body)
    assert provider.was_applied("reward_return", body) is True
    assert send(provider, "reward_return:ord-9", op, body) == SendOutcome.SENT
    assert balance(standin, contact_id) == 120


def test_a_voucher_is_redeemed_once_and_reactivated_on_cancel(standin, provider):
    contact_id = member(provider)
    big = purchase(
        "ord-2",
        Line(
            line_id="l1",
            item_id="sku-9",
            name="Coat",
            unit_price_minor=60000,
            quantity=1,
            paid_total_minor=60000,
            tax_minor=12000,
            tax_rate=Decimal("0.25"),
        ),
    )
    send(provider, "order:ord-2", big)
    standin.process()
    vouchers = provider.client.available_vouchers(contact_id)
    assert len(vouchers) == 1  # 600 points, 500 of them became a voucher (step model)
    commit = RedemptionCommitted(redemption_ref=vouchers[0]["id"], order_ref="ord-3")
    standin.engine.set_faults({"path_prefix": "/api/v3/reward-vouchers", "commit_next": 1})
    with pytest.raises(VoyadoTransientError):
        send(provider.bounded(30, max_retries=0), "redemption:ord-3", commit)
    # conflict-on-repeat: the resend answers 409 AlreadyRedeemed, which is done.
    assert send(provider, "redemption:ord-3", commit) == SendOutcome.DUPLICATE
    assert provider.client.available_vouchers(contact_id) == []
    undo = provider.renderer.render_reactivation(commit)
    assert send(provider, "redemption-undo:ord-3", commit, undo) == SendOutcome.SENT
    assert send(provider, "redemption-undo:ord-3", commit, undo) == SendOutcome.DUPLICATE
    assert [v["id"] for v in provider.client.available_vouchers(contact_id)] == [
        commit.redemption_ref
    ]


def test_a_429_is_waited_out_or_handed_back_as_rate_limited(standin, provider):
    member(provider)
    standin.engine.set_faults({"rate_limited_next": 1})
    assert provider.member_state(email="jane@example.com") is not None
    standin.engine.set_faults({"rate_limited_next": 1})
    with pytest.raises(ProviderRateLimited):
        send(provider.bounded(30, max_retries=0), "order:ord-1", purchase())
    assert send(provider, "order:ord-1", purchase()) == SendOutcome.SENT


def test_two_contacts_with_one_email_make_the_member_ambiguous(standin, provider):
    standin.seed_contact(email="jane@example.com")
    standin.seed_contact(email="jane@example.com", allow_duplicate=True)
    with pytest.raises(AmbiguousContact):
        send(
            provider, "customer:cust-1", MemberUpsert(member_id="cust-1", email="jane@example.com")
        )


def test_webhooks_verify_with_the_accounts_secret(provider):
    body = b'{"eventType":"point.balance.updated"}'
    now = int(time.time())
    headers = {
        "svix-id": "msg_1",
        "svix-timestamp": str(now),
        "svix-signature": sign(SECRET, "msg_1", now, body),
    }
    assert provider.verify_webhook(headers, body, now) == "msg_1"
    with pytest.raises(SvixVerificationError):
        provider.verify_webhook(headers, body + b" ", now)


# --- where Voyado's documentation is silent, the stand-in plays each answer -------------------

ALTERNATIVES = {
    "receipt_answer": "200-empty",
    "voucher_list": "plain",
    "point_transactions_status": 202,
    "content_type": "all",
    "duplicate_contact": "create",
    "unmatched_return": "ignore",
}


def served(silent: dict[str, Any], **tenant: Any) -> VoyadoServer:
    config = SandboxConfig(
        tenants=[
            TenantConfig(
                name="shop",
                api_keys=[KEY],
                batch_interval_seconds=None,
                silent=SilentAnswers(**silent),
                **tenant,
            )
        ]
    )
    return VoyadoServer(config, clock=FakeClock())


def adapter(server: VoyadoServer) -> VoyadoProvider:
    made = factory("voyado")
    account = made.account({"baseUrl": server.url, "apiKey": KEY, "storeExternalId": "ecom-1"})
    context = ProviderContext(rate_share=lambda r: r, session=lambda _: None)
    built = made.build("default", account, context)
    assert isinstance(built, VoyadoProvider)
    return built


@pytest.mark.parametrize("silent", [{}, ALTERNATIVES], ids=["defaults", "alternatives"])
def test_the_whole_flow_holds_under_either_undocumented_answer(silent):
    with served(silent) as server:
        provider = adapter(server)
        contact_id = member(provider)
        order = purchase(
            "ord-5",
            Line(
                line_id="l1",
                item_id="sku-9",
                name="Coat",
                unit_price_minor=30000,
                quantity=2,
                paid_total_minor=60000,
                tax_minor=12000,
                tax_rate=Decimal("0.25"),
            ),
        )
        assert send(provider, "order:ord-5", order) == SendOutcome.SENT
        assert balance(server, contact_id) == 100  # 600 earned, 500 became a voucher
        (voucher,) = provider.client.available_vouchers(contact_id)
        commit = RedemptionCommitted(redemption_ref=voucher["id"], order_ref="ord-6")
        assert send(provider, "redemption:ord-6", commit) == SendOutcome.SENT
        back = PointsReturned(member_id="cust-1", points=25, order_ref="ord-6")
        assert send(provider, "reward_return:ord-6", back) == SendOutcome.SENT
        assert provider.was_applied("reward_return", provider.renderer.render(back)) is True
        cancel = Reversal(
            refund_ref="c", order_ref="ord-5", amount_minor=60000, currency="SEK", reason="cancel"
        )
        body = provider.renderer.render(cancel, purchase=order, at=PAID_AT)
        assert send(provider, "refund:ord-5-cancel", cancel, body) == SendOutcome.SENT
        assert balance(server, contact_id) == 125 - 600


@pytest.mark.parametrize("references", ["sync", "batch"])
def test_a_receipt_for_an_unknown_contact_fails_now_or_in_the_batch(references):
    with served({"receipt_references": references}) as server:
        provider = adapter(server)
        stranger = purchase().model_copy(update={"member": MemberRef(email="nobody@example.com")})
        if references == "sync":
            with pytest.raises(PermanentError):
                send(provider, "order:ord-1", stranger)
        else:
            # Accepted, then dropped by the batch: nothing the send can see (ADR 0085).
            assert send(provider, "order:ord-1", stranger) == SendOutcome.SENT
            server.process()
            failed = server.engine.state("shop")["tenants"]["shop"]["failedReceipts"]
            assert [f["uniqueReceiptId"] for f in failed] == ["ord-1"]
