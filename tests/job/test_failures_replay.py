"""Every failure the job meets can be resent: dead letters from the backfill, stuck orders."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from event.app import create_app as create_event_app
from event.processor import EventProcessor
from event.replay import replay
from event.settings import EventSettings
from job.backfill import Backfill
from job.failures import JOB_SOURCE, job_message_id
from job.nightly import NightlyJob
from job.orders import OrderRange
from shared.deadletters import DEAD_LETTER_CONTAINER
from shared.orders.ledger_store import LEDGER_CONTAINER
from shared.runtime import build_runtime
from shared.settings import load_settings
from tests.integration.world import push

RANGE = OrderRange(since=datetime.now(UTC) - timedelta(days=1))


def paid_order(scene, number: str, email: str, *, currency: str = "EUR") -> dict[str, Any]:
    shop = scene.world.storefront
    customer = shop.sign_up(email, "Pat", "Buyer")
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer, currency=currency)
    order = shop.place_order(cart, order_number=number)
    shop.pay(order)
    return shop.order(order["id"])


def processor(scene) -> EventProcessor:
    settings = load_settings(EventSettings, scene.env)
    return EventProcessor(settings, build_runtime(settings))


def dead_letters(scene) -> list[dict[str, Any]]:
    where = f'container = "{DEAD_LETTER_CONTAINER}"'
    return [o["value"] for o in scene.world.ct.query("custom-objects", where=where)["results"]]


def yotpo_order_ids(scene) -> list[str]:
    return [o["order_id"] for o in scene.world.yotpo_orders()]


def test_an_order_yotpo_refused_in_a_backfill_is_replayed_once_after_the_fix(scene):
    good = paid_order(scene, "DL-OK", "ok@example.com")
    refused = paid_order(scene, "DL-JPY", "yen@example.com", currency="JPY")
    scene.world.set_yotpo_currencies({"EUR": 2})  # the Yotpo account does not take JPY

    summary = Backfill(scene.settings, scene.clients, out=lambda line: None).run(RANGE)
    assert summary.outcome == "complete"
    assert (summary.sent_orders, summary.failed, summary.dead_lettered) == (1, 1, 1)
    (failure,) = summary.failures
    assert failure.order_id == refused["id"] and failure.name == "DL-JPY"
    assert failure.dead_lettered and "422" in failure.error  # Yotpo's reason, in full
    (letter,) = dead_letters(scene)
    assert letter["message_id"] == job_message_id(refused["id"])
    assert letter["reference"]["source"] == JOB_SOURCE and letter["status"] == "dead"
    assert letter["reference"]["resource"] == {"typeId": "order", "id": refused["id"]}
    assert yotpo_order_ids(scene) == ["DL-OK"] and good

    events = processor(scene)
    (listed,) = replay(events, dry_run=True).listed
    assert (listed.source, listed.subject) == ("job", f"order {refused['id']}")

    # Before the fix: still refused, the record stays (with the attempt counted), nothing sent.
    early = replay(events)
    assert early.replayed == [] and [m for m, _ in early.still_failing] == [letter["message_id"]]
    (again,) = dead_letters(scene)
    assert again["attempts"] == 2 and "422" in again["error"]

    scene.world.set_yotpo_currencies({"EUR": 2, "JPY": 0})
    fixed = replay(events)
    assert fixed.replayed == [letter["message_id"]] and fixed.still_failing == []
    assert sorted(yotpo_order_ids(scene)) == ["DL-JPY", "DL-OK"]
    assert dead_letters(scene) == []
    assert replay(events).replayed == []  # nothing left, nothing sent twice
    assert scene.world.duplicates() == {"orders": {}, "refunds": {}}

    # The backfill over the same range finds both orders done: no new dead letter.
    restarted = Backfill(scene.settings, scene.clients, out=lambda line: None).run(
        RANGE, restart=True
    )
    assert restarted.up_to_date == 2 and restarted.dead_lettered == 0
    assert dead_letters(scene) == []


def test_a_refusal_from_the_live_path_without_its_dead_letter_is_dead_lettered_by_backfill(
    scene,
):
    order = paid_order(scene, "DL-LIVE", "live@example.com", currency="JPY")
    scene.world.set_yotpo_currencies({"EUR": 2})
    client = create_event_app(load_settings(EventSettings, scene.env)).test_client()
    for message in scene.world.messages(order["id"]):
        client.post("/event", json=push(message))
    where = f'container = "{DEAD_LETTER_CONTAINER}"'
    for obj in scene.world.ct.query("custom-objects", where=where)["results"]:
        # An operator deleted the live dead letter by hand.
        scene.world.ct.delete_custom_object(DEAD_LETTER_CONTAINER, obj["key"])
    assert dead_letters(scene) == []
    ledger = scene.world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
    assert [op["status"] for op in ledger["ops"].values()] == ["FAILED"]

    summary = Backfill(scene.settings, scene.clients, out=lambda line: None).run(RANGE)
    assert summary.failed == 1 and summary.dead_lettered == 1
    scene.world.set_yotpo_currencies({"EUR": 2, "JPY": 0})
    assert replay(processor(scene)).replayed == [job_message_id(order["id"])]
    assert yotpo_order_ids(scene) == ["DL-LIVE"]


def test_event_replay_prints_tables_on_stdout_and_logs_on_stderr(scene, monkeypatch, capsys):
    from event.__main__ import main

    refused = paid_order(scene, "DL-CLI", "cli@example.com", currency="JPY")
    scene.world.set_yotpo_currencies({"EUR": 2})
    Backfill(scene.settings, scene.clients, out=lambda line: None).run(RANGE)
    for key, value in scene.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOG_LEVEL", "INFO")

    assert main(["replay", "--dry-run"]) == 0
    listed = capsys.readouterr()
    assert f"order {refused['id']}" in listed.out and "1 dead letter(s)" in listed.out
    assert "currency" in listed.out.lower()  # the error column, not cut short
    assert not any(line.startswith("{") for line in listed.out.splitlines())

    assert main(["replay"]) == 1  # not fixed yet
    failing = capsys.readouterr()
    assert "still failing" in failing.out and "0 replayed, 1 still failing" in failing.out
    assert any(json.loads(line).get("severity") for line in failing.err.splitlines() if line)

    scene.world.set_yotpo_currencies({"EUR": 2, "JPY": 0})
    out = io.StringIO()
    assert main(["replay", "--json"], stdout=out) == 0
    assert json.loads(out.getvalue())["replayed"] == [job_message_id(refused["id"])]
    assert yotpo_order_ids(scene) == ["DL-CLI"]


def stranded(scene, number: str) -> dict[str, Any]:
    """An order whose operation is pending and nobody's: Yotpo was down for every try."""
    order = paid_order(scene, number, f"{number.lower()}@example.com")
    scene.world.yotpo.set_faults({"error_next": 100, "error_status": 503, "path_prefix": "/orders"})
    client = create_event_app(load_settings(EventSettings, scene.env)).test_client()
    for message in scene.world.messages(order["id"]):
        client.post("/event", json=push(message))
    scene.world.yotpo.set_faults({})
    ledger = scene.world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])["value"]
    assert [op["status"] for op in ledger["ops"].values()] == ["PENDING"]
    return order


def test_the_nightly_run_resends_stuck_orders_without_another_message(scene):
    scene.install()
    stranded(scene, "ST-1")
    assert yotpo_order_ids(scene) == []

    summary = NightlyJob(scene.settings, scene.clients).run()
    assert summary.outcome == "complete"
    assert (summary.stuck_found, summary.stuck_recovered) == (1, 1)
    assert yotpo_order_ids(scene) == ["ST-1"]
    again = NightlyJob(scene.settings, scene.clients).run()
    assert again.stuck_found == 0 and yotpo_order_ids(scene) == ["ST-1"]
    assert scene.world.duplicates() == {"orders": {}, "refunds": {}}


def test_a_live_claim_is_left_to_its_worker(scene):
    scene.install()
    order = stranded(scene, "ST-LIVE")
    # A worker claims it now (fresh `updated_at`): within its lease, nobody else may send it.
    ledger = scene.world.ct.get_custom_object(LEDGER_CONTAINER, order["id"])
    value = ledger["value"]
    for op in value["ops"].values():
        op["updated_at"] = datetime.now(UTC).isoformat()
    scene.world.ct.put_custom_object(
        LEDGER_CONTAINER, order["id"], value, version=ledger["version"]
    )
    summary = NightlyJob(scene.settings, scene.clients).run()
    assert summary.stuck_found == 0 and yotpo_order_ids(scene) == []


@pytest.mark.parametrize("recover", [False, True])
def test_audit_lists_stuck_orders_and_resends_them_unless_told_not_to(scene, recover):
    from job.__main__ import main

    stranded(scene, "ST-AUDIT")
    out = io.StringIO()
    args = ["audit", "--since", RANGE.since.isoformat()] + ([] if recover else ["--no-recover"])
    code = main(args, settings=scene.settings, clients=scene.clients, stdout=out)
    text = out.getvalue()
    assert "stuck orders (operations pending past their lease):" in text
    assert "ST-AUDIT" in text
    if recover:
        assert "recovered" in text and yotpo_order_ids(scene) == ["ST-AUDIT"]
        assert code == 0  # the order is now exact: nothing left to flag
    else:
        assert "listed" in text and yotpo_order_ids(scene) == []
        assert code == 1


def test_the_http_audit_task_recovers_unless_told_not_to(scene):
    from job.app import create_app

    stranded(scene, "ST-HTTP")
    client = create_app(scene.settings, clients=scene.clients).test_client()
    body = {"task": "audit", "since": RANGE.since.isoformat()}
    looked = client.post("/job", json={**body, "recover": False}).get_json()
    assert [(s["order"], s["result"]) for s in looked["stuck"]] == [("ST-HTTP", "listed")]
    assert looked["outcome"] == "mismatches" and yotpo_order_ids(scene) == []
    fixed = client.post("/job", json=body).get_json()
    assert [(s["order"], s["result"]) for s in fixed["stuck"]] == [("ST-HTTP", "recovered")]
    assert fixed["outcome"] == "clean" and yotpo_order_ids(scene) == ["ST-HTTP"]
