"""Backfill and audit end to end: the live path's ledger keeps them from double counting."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from event.app import create_app as create_event_app
from event.settings import EventSettings
from job.__main__ import main
from job.audit import audit, render_table
from job.backfill import Backfill
from job.orders import OrderRange, Progress
from job.state import JOB_CONTAINER
from shared.orders.ledger_store import LEDGER_CONTAINER
from shared.settings import load_settings
from tests.integration.world import push

YESTERDAY = datetime.now(UTC) - timedelta(days=1)
RANGE = OrderRange(since=YESTERDAY)


def paid_order(scene, number: str, email: str, *, currency: str = "EUR") -> dict[str, Any]:
    shop = scene.world.storefront
    customer = scene.world.storefront.sign_up(email, "Pat", "Buyer")
    cart = shop.cart([("SKU-HOODIE", 1), ("SKU-MUG", 1)], customer=customer, currency=currency)
    order = shop.place_order(cart, order_number=number)
    shop.pay(order)
    return shop.order(order["id"])


def deliver_live(scene, *resource_ids: str) -> None:
    """What the event app does with the resources' messages (the live path)."""
    client = create_event_app(load_settings(EventSettings, scene.env)).test_client()
    for resource_id in resource_ids:
        for message in scene.world.messages(resource_id):
            client.post("/event", json=push(message))


def yotpo_posts(scene, since: int = 0) -> list[str]:
    return [
        r["path"].rsplit("/", 1)[-1]
        for r in scene.world.yotpo.requests_since(since)
        if r["method"] == "POST"
    ]


def custom_objects(scene, container: str) -> list[dict[str, Any]]:
    where = f'container = "{container}"'
    return scene.world.ct.query("custom-objects", where=where, limit=500)["results"]


def test_dry_run_plans_and_the_real_backfill_sends_only_what_is_missing(scene):
    live = paid_order(scene, "BF-1", "live@example.com")
    deliver_live(scene, live["id"])  # already told to Yotpo by the event app
    missed = paid_order(scene, "BF-2", "missed@example.com")
    refunded = paid_order(scene, "BF-3", "refunded@example.com")
    scene.world.storefront.refund(refunded, 700)
    scene.world.storefront.place_order(  # never paid: nothing due
        scene.world.storefront.cart([("SKU-MUG", 1)], email="unpaid@example.com"),
        order_number="BF-4",
    )

    lines: list[str] = []
    backfill = Backfill(scene.settings, scene.clients, out=lines.append)
    before = scene.yotpo_seq()
    ledgers_before = custom_objects(scene, LEDGER_CONTAINER)
    planned = backfill.dry_run(RANGE)
    assert planned.outcome == "planned" and planned.orders == 4
    assert (planned.sent_orders, planned.sent_refunds, planned.up_to_date) == (2, 1, 2)
    assert any(line.startswith("BF-2: would send order order:BF-2") for line in lines)
    assert any("BF-3: would send refund" in line and "7.00 EUR" in line for line in lines)
    assert not any(line.startswith(("BF-1", "BF-4")) for line in lines)
    # A dry run sends nothing and writes nothing: no ledger, no cursor, no lock.
    assert yotpo_posts(scene, before) == []
    assert custom_objects(scene, LEDGER_CONTAINER) == ledgers_before
    assert custom_objects(scene, JOB_CONTAINER) == []

    done = backfill.run(RANGE)
    assert done.outcome == "complete"
    assert (done.sent_orders, done.sent_refunds, done.up_to_date) == (2, 1, 2)
    orders = {o["order_id"]: o for o in scene.world.yotpo_orders()}
    assert set(orders) == {"BF-1", "BF-2", "BF-3"}
    assert [r["total_amount_cents"] for r in scene.world.yotpo_refunds()] == [700]
    assert scene.world.duplicates() == {"orders": {}, "refunds": {}}
    assert missed["orderNumber"] in orders

    # Live traffic after the backfill finds nothing left to send either.
    seq = scene.yotpo_seq()
    deliver_live(scene, missed["id"], refunded["id"])
    assert yotpo_posts(scene, seq) == []

    again = backfill.run(RANGE)
    assert again.outcome == "already_complete" and again.orders == 0
    restarted = backfill.run(RANGE, restart=True)
    assert restarted.outcome == "complete" and restarted.up_to_date == 4
    assert restarted.sent_orders == restarted.sent_refunds == 0
    assert scene.world.duplicates() == {"orders": {}, "refunds": {}}


def test_an_interrupted_backfill_continues_where_it_stopped(scene, clock):
    numbers = [f"BR-{n}" for n in range(5)]
    for number in numbers:
        paid_order(scene, number, f"{number.lower()}@example.com")

    # One order at a time, so the fake clock decides exactly where the budget runs out.
    scene = scene.with_env(JOB_CONCURRENCY="1")
    backfill = Backfill(scene.settings, scene.clients, monotonic=clock, out=lambda line: None)
    original = backfill.reconciler.reconcile

    def timed(order_id: str, *, deadline=None):  # each order costs a second on the fake clock
        outcome = original(order_id, deadline=None)
        clock.advance(1.0)
        return outcome

    backfill.reconciler.reconcile = timed  # type: ignore[method-assign]
    first = backfill.run(RANGE, budget_seconds=2.5)
    assert first.outcome == "budget_exhausted" and first.sent_orders == 2
    (state,) = custom_objects(scene, JOB_CONTAINER)
    assert state["value"].get("lock") is None and state["value"]["cursor"]["done"] == 2
    second = backfill.run(RANGE, budget_seconds=100)
    assert second.outcome == "complete" and second.sent_orders == 3 and second.up_to_date == 0
    assert sorted(o["order_id"] for o in scene.world.yotpo_orders()) == numbers


def test_transient_failures_are_retried_first_by_the_next_run(scene):
    paid_order(scene, "BT-1", "bt1@example.com")
    scene.world.yotpo.set_faults({"error_next": 4, "error_status": 503, "path_prefix": "/orders"})
    backfill = Backfill(scene.settings, scene.clients, out=lambda line: None)
    first = backfill.run(RANGE)
    assert first.outcome == "complete" and first.retry_later == 1 and first.sent_orders == 0
    second = backfill.run(RANGE)
    assert second.outcome == "complete" and second.sent_orders == 1 and second.retry_later == 0
    assert backfill.run(RANGE).outcome == "already_complete"


def test_audit_finds_each_kind_of_mismatch(scene):
    world = scene.world
    clean = paid_order(scene, "AU-CLEAN", "clean@example.com")
    deliver_live(scene, clean["id"])
    never = paid_order(scene, "AU-NEVER", "never@example.com")
    unreversed = paid_order(scene, "AU-REFUND", "refund@example.com")
    deliver_live(scene, unreversed["id"])
    world.storefront.refund(unreversed, 300)  # its message never delivered
    pending = paid_order(scene, "AU-PENDING", "pending@example.com")
    world.yotpo.set_faults({"error_next": 100, "error_status": 503, "path_prefix": "/orders"})
    deliver_live(scene, pending["id"])  # Yotpo down: the order op stays pending
    world.yotpo.set_faults({})
    # Yotpo refuses the order for good: its email belongs to another member there.
    world.yotpo.upsert_customer("sandbox-guid", {"id": "other", "email": "failed@example.com"})
    refused = paid_order(scene, "AU-FAILED", "failed@example.com")
    deliver_live(scene, refused["id"])
    assert never and pending

    report = audit(scene.settings, scene.clients, RANGE, recover=False)
    assert report.orders == 5
    issues = {m.name: m.issues for m in report.mismatches}
    assert set(issues) == {"AU-NEVER", "AU-REFUND", "AU-PENDING", "AU-FAILED"}
    assert issues["AU-NEVER"] == ["paid but never earned"]
    assert issues["AU-REFUND"] == [f"refunded but not reversed ({_refund_id(scene, unreversed)})"]
    # Handed back by the failed delivery and never taken again: stuck, not in flight.
    (stuck_issue,) = issues["AU-PENDING"]
    assert stuck_issue.startswith("stuck: order:AU-PENDING (pending since ")
    assert [(s["order"], s["result"]) for s in report.stuck] == [("AU-PENDING", "listed")]
    (failed,) = issues["AU-FAILED"]
    assert failed.startswith("failed: order:AU-FAILED: YotpoPermanentError")
    assert "another customer id" in failed
    entry = next(m for m in report.mismatches if m.name == "AU-REFUND")
    assert entry.earned_cents == unreversed["taxedPrice"]["totalGross"]["centAmount"]
    assert entry.refunded_cents == 0

    table = render_table(report, width=100)
    for text in ("paid but never earned", "refunded but not reversed", "stuck:", "failed:"):
        assert text in table
    assert "5 order(s) audited, 4 with mismatches" in table
    # The whole of Yotpo's reason is there, however long (wrapped, never cut).
    assert _unwrapped(failed) in _unwrapped(table)

    out = io.StringIO()
    code = main(
        ["audit", "--since", YESTERDAY.date().isoformat(), "--json", "--no-recover"],
        settings=scene.settings,
        clients=scene.clients,
        stdout=out,
    )
    assert code == 1
    data = json.loads(out.getvalue())
    assert data["clean"] is False and len(data["mismatches"]) == 4
    assert "AU-PENDING" not in {o["order_id"] for o in scene.world.yotpo_orders()}

    # Without --no-recover the audit re-sends the stuck order, once, as a redelivery would.
    recovered = audit(scene.settings, scene.clients, RANGE)
    assert [(s["order"], s["result"]) for s in recovered.stuck] == [("AU-PENDING", "recovered")]
    assert {m.name for m in recovered.mismatches} == {"AU-NEVER", "AU-REFUND", "AU-FAILED"}
    assert "AU-PENDING" in {o["order_id"] for o in scene.world.yotpo_orders()}
    assert audit(scene.settings, scene.clients, RANGE).stuck == []
    assert scene.world.duplicates() == {"orders": {}, "refunds": {}}


def _unwrapped(text: str) -> str:
    return " ".join(text.split())


def _refund_id(scene, order: dict[str, Any]) -> str:
    current = scene.world.storefront.order(order["id"])
    payment = current["paymentInfo"]["payments"][0]["obj"]
    refund = next(t for t in payment["transactions"] if t["type"] == "Refund")
    return refund["id"]


def test_a_clean_range_audits_to_exit_code_0(scene):
    order = paid_order(scene, "OK-1", "ok@example.com")
    deliver_live(scene, order["id"])
    out = io.StringIO()
    code = main(
        ["audit", "--since", YESTERDAY.date().isoformat()],
        settings=scene.settings,
        clients=scene.clients,
        stdout=out,
    )
    assert code == 0
    assert out.getvalue().startswith("no mismatches")


def test_backfill_cli_dry_run_and_store_filter(scene):
    paid_order(scene, "CLI-1", "cli@example.com")
    out = io.StringIO()
    since = YESTERDAY.isoformat()
    assert main(["backfill", "--since", since, "--dry-run"], **_wired(scene, out)) == 0
    text = out.getvalue()
    assert "CLI-1: would send order order:CLI-1" in text
    assert "backfill (dry run): planned" in text and "would send: 1 order, 0 refunds" in text
    assert scene.world.yotpo_orders() == []
    out = io.StringIO()
    assert main(["backfill", "--since", since, "--dry-run", "--json"], **_wired(scene, out)) == 0
    assert json.loads(out.getvalue())["outcome"] == "planned"  # --json: the summary alone

    out = io.StringIO()
    args = ["backfill", "--since", since, "--store", "elsewhere", "--json"]
    assert main(args, **_wired(scene, out)) == 0
    assert json.loads(out.getvalue())["orders"] == 0
    out = io.StringIO()
    assert main(["backfill", "--since", since], **_wired(scene, out)) == 0
    assert [o["order_id"] for o in scene.world.yotpo_orders()] == ["CLI-1"]


def _wired(scene, out: io.StringIO) -> dict[str, Any]:
    return {"settings": scene.settings, "clients": scene.clients, "stdout": out}


def test_progress_is_shown_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    ticks = iter(range(100))
    terminal = Terminal()
    progress = Progress(10, stream=terminal, clock=lambda: float(next(ticks)), every_seconds=0)
    for _ in range(4):
        progress.step()
    progress.finish()
    shown = terminal.getvalue()
    assert "\r" in shown and "/10 orders" in shown and "ETA" in shown
    quiet = io.StringIO()
    silent = Progress(10, stream=quiet)
    silent.step()
    silent.finish()
    assert quiet.getvalue() == ""


@pytest.mark.parametrize(
    "body",
    [
        {"task": "backfill"},
        {"task": "backfill", "since": "yesterday"},
        {"task": "audit", "since": "2026-01-02", "until": "2026-01-01"},
        {"task": "explode"},
        {"task": "nightly", "extra": 1},
        {"task": "audit", "since": "2026-01-01", "recover": "no"},
    ],
)
def test_bad_job_requests_are_400(scene, body):
    from job.app import create_app

    client = create_app(scene.settings, clients=scene.clients).test_client()
    answer = client.post("/job", json=body)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_job_request"


def test_backfill_and_audit_over_http(scene):
    from job.app import create_app

    paid_order(scene, "HTTP-1", "http@example.com")
    client = create_app(scene.settings, clients=scene.clients).test_client()
    since = YESTERDAY.date().isoformat()
    dry = client.post("/job", json={"task": "backfill", "since": since, "dryRun": True})
    assert dry.status_code == 200 and dry.get_json()["sent_orders"] == 1
    assert scene.world.yotpo_orders() == []
    before = client.post("/job", json={"task": "audit", "since": since}).get_json()
    assert before["outcome"] == "mismatches"
    done = client.post("/job", json={"task": "backfill", "since": since})
    assert done.status_code == 200 and done.get_json()["outcome"] == "complete"
    after = client.post("/job", json={"task": "audit", "since": since}).get_json()
    assert after["outcome"] == "clean"
    # A scheduler's POST without any body is the nightly run (which, the job's
    # install not having run here, stops at once naming the missing type).
    tick = client.post("/job", data=b"")
    assert tick.status_code == 500 and tick.get_json()["outcome"] == "misconfigured"
