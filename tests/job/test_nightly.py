"""The nightly run against both stand-ins: candidates, budget, resume, lock."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from job.nightly import NIGHTLY_TASK, NightlyJob
from job.state import JOB_CONTAINER, TaskCheckpoint
from shared.customers.writeback import CustomerWriteback
from shared.domain.customers.writeback_diff import format_datetime
from shared.domain.loyalty_fields import CustomerFields as F


class SlowWriteback(CustomerWriteback):
    """Each customer costs `seconds` on the (fake or real) clock; optionally crashes."""

    def __init__(self, scene, *, advance=None, sleep: float = 0.0, crash_after=None) -> None:
        super().__init__(
            scene.clients.commercetools,
            scene.clients.runtime.provider_for_store,
            type_key=scene.settings.customer_type_key,
            monotonic=advance or time.monotonic,
        )
        self._advance = advance
        self._sleep = sleep
        self._crash_after = crash_after
        self.done: list[str] = []

    def sync_customer(self, customer, provider=None, *, deadline=None, provider_name=None):
        if self._crash_after is not None and len(self.done) >= self._crash_after:
            raise SystemExit("the instance died")
        result = super().sync_customer(
            customer, provider, deadline=deadline, provider_name=provider_name
        )
        self.done.append(str(customer["id"]))
        if self._advance is not None:
            self._advance.advance(1.0)
        if self._sleep:
            time.sleep(self._sleep)
        return result


class WallClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def members(scene, count: int, prefix: str = "m") -> list[dict[str, Any]]:
    return [scene.member(f"{prefix}{n}@example.com", 10 * (n + 1)) for n in range(count)]


def nightly_job(scene, **kwargs) -> NightlyJob:
    return NightlyJob(scene.settings, scene.clients, **kwargs)


def cursor(scene) -> dict[str, Any]:
    stored = scene.world.ct.get_custom_object(JOB_CONTAINER, NIGHTLY_TASK)
    return stored["value"] if stored else {}


def test_candidates_are_recent_orders_expired_tiers_and_a_rolling_slice(scene):
    nightly = scene.with_env(NIGHTLY_COVERAGE_NIGHTS="4")
    nightly.install()
    shopper = nightly.member("shopper@example.com", 5)
    expired = nightly.member("expired@example.com", 7)
    others = members(nightly, 6)
    everyone = [shopper, expired, *others]
    shop = nightly.world.storefront
    shop.place_order(shop.cart([("SKU-MUG", 1)], customer=shopper), order_number="REC-1")
    type_id = nightly.world.ct.get_by_key("types", "yotpo-loyalty-customer")["id"]
    past = format_datetime(datetime.now(UTC) - timedelta(days=2))
    nightly.world.ct.update(
        "customers",
        expired["id"],
        expired["version"],
        [
            {
                "action": "setCustomType",
                "type": {"typeId": "type", "id": type_id},
                "fields": {F.VIP_TIER: "Gold", F.TIER_ENDS_AT: past},
            }
        ],
    )

    seq = nightly.yotpo_seq()
    first = nightly_job(nightly).run()
    looked = nightly.looked_up(seq)
    assert first.outcome == "complete"
    # Phase order: the order's customer, the expired tier, then the slice (8 customers / 4
    # nights = 2 by id order; a customer already done this run still counts for the slice).
    assert looked[:2] == [shopper["id"], expired["id"]]
    by_id = sorted(c["id"] for c in everyone)
    # Within the slice the pool's threads may call Yotpo in either order.
    assert sorted(looked[2:]) == [i for i in by_id[:2] if i not in looked[:2]]
    assert first.checked == len(looked) and first.failed == 0
    assert nightly.fields(expired)[F.VIP_TIER] == "Bronze"  # Yotpo's truth replaced the stale one
    assert first.changed == first.checked  # everyone looked at had nothing written before

    # Three more nights cover everyone; orders and tiers are no longer candidates.
    covered = set(looked)
    for night in range(3):
        seq = nightly.yotpo_seq()
        summary = nightly_job(nightly).run()
        assert summary.outcome == "complete"
        tonight = nightly.looked_up(seq)
        # the slice, nothing else (looked at concurrently: in any order)
        assert sorted(tonight) == by_id[2 * (night + 1) : 2 * (night + 2)]
        covered |= set(tonight)
    assert covered == set(by_id)
    state = cursor(nightly)
    assert state.get("lock") is None and state["cursor"]["passes_completed"] == 4


def test_a_run_stopped_by_its_budget_continues_where_it_stopped(scene, clock):
    # One at a time: the fake clock decides exactly where the budget runs out.
    nightly = scene.with_env(NIGHTLY_COVERAGE_NIGHTS="1", JOB_CONCURRENCY="1")
    nightly.install()
    everyone = members(nightly, 6)
    slow = SlowWriteback(nightly, advance=clock)
    job = nightly_job(nightly, writeback=slow, monotonic=clock)

    first = job.run(budget_seconds=3.0)
    assert first.outcome == "budget_exhausted" and first.checked == 3
    assert first.phase == "slice"
    assert cursor(nightly).get("lock") is None  # a budget stop releases the lock
    second = nightly_job(nightly, writeback=slow, monotonic=clock).run(budget_seconds=30.0)
    assert second.outcome == "complete" and second.checked == 3
    assert sorted(slow.done) == sorted(c["id"] for c in everyone)  # each exactly once
    assert len(set(slow.done)) == len(slow.done)


def test_a_crashed_run_is_continued_after_its_lock_expires(scene):
    nightly = scene.with_env(NIGHTLY_COVERAGE_NIGHTS="1", JOB_CONCURRENCY="1")
    nightly.install()
    everyone = members(nightly, 5)
    wall = WallClock()
    crashing = SlowWriteback(nightly, crash_after=2)
    dead = nightly_job(
        nightly, writeback=crashing, now=wall, lock_lease_seconds=60, checkpoint_every=1
    )
    with contextlib.suppress(SystemExit):
        dead.run()
    assert cursor(nightly).get("lock") is not None  # the instance died holding it

    survivor = SlowWriteback(nightly)
    blocked = nightly_job(nightly, writeback=survivor, now=wall, lock_lease_seconds=60).run()
    assert blocked.outcome == "already_running" and survivor.done == []

    wall.now += timedelta(seconds=61)
    resumed = nightly_job(nightly, writeback=survivor, now=wall, lock_lease_seconds=60).run()
    assert resumed.outcome == "complete"
    assert crashing.done + survivor.done == sorted(c["id"] for c in everyone)


def test_two_runners_at_once_one_runs_the_other_leaves(scene):
    nightly = scene.with_env(NIGHTLY_COVERAGE_NIGHTS="1")
    nightly.install()
    members(nightly, 3)
    start = threading.Barrier(2)
    outcomes: list[str] = []
    writebacks = [SlowWriteback(nightly, sleep=0.2) for _ in range(2)]

    def runner(index: int) -> None:
        job = nightly_job(nightly, writeback=writebacks[index])
        start.wait()
        outcomes.append(job.run().outcome)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_running", "complete"]
    assert sorted(len(w.done) for w in writebacks) == [0, 3]


def test_a_held_lock_makes_the_http_tick_answer_already_running(scene):
    from job.app import create_app

    scene.install()
    held = TaskCheckpoint(scene.world.ct, NIGHTLY_TASK)
    held.acquire()
    client = create_app(scene.settings, clients=scene.clients).test_client()
    answer = client.post("/job", json={"task": "nightly"})
    assert answer.status_code == 200
    assert answer.get_json()["outcome"] == "already_running"
    held.release({})
    answer = client.post("/job", json={})
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "complete"


def test_failures_are_counted_and_the_run_goes_on(scene, caplog):
    # One at a time, so the injected faults hit the first customer's lookup only.
    nightly = scene.with_env(NIGHTLY_COVERAGE_NIGHTS="1", JOB_CONCURRENCY="1")
    nightly.install()
    everyone = members(nightly, 3)
    stranger = nightly.world.storefront.sign_up("nobody@example.com", "Not", "Member")
    first = min([*everyone, stranger], key=lambda c: c["id"])  # the slice goes by id
    # The first customer's lookup fails every attempt; the stand-in then recovers.
    nightly.world.yotpo.set_faults({"error_next": 4, "error_status": 503})
    with caplog.at_level(logging.INFO):
        summary = nightly_job(nightly).run()
    assert summary.outcome == "complete"
    assert summary.failed == 1 and summary.checked == 3
    assert summary.not_members == (0 if first is stranger else 1)
    assert summary.changed == 3 - summary.not_members
    written = {c["id"] for c in everyone if F.POINTS_BALANCE in nightly.fields(c)}
    assert written == {c["id"] for c in everyone} - {first["id"]}
    (line,) = [
        r.json_fields
        for r in caplog.records
        if getattr(r, "json_fields", {}).get("event") == "job.nightly.summary"
    ]
    assert line["outcome"] == "complete" and line["failed"] == 1
    assert line["yotpo_calls"] == summary.yotpo_calls == 4 + 3
    assert line["ct_calls"] == summary.ct_calls > 0
    assert "duration_seconds" in line


def test_without_install_the_run_stops_at_once(scene):
    members(scene, 2)
    seq = scene.yotpo_seq()
    summary = nightly_job(scene).run()
    assert summary.outcome == "misconfigured" and "job.install" in (summary.error or "")
    assert scene.looked_up(seq) == []


def test_a_second_night_writes_nothing_when_nothing_changed(scene):
    nightly = scene.with_env(NIGHTLY_COVERAGE_NIGHTS="1")
    nightly.install()
    everyone = members(nightly, 3)
    assert nightly_job(nightly).run().changed == 3
    versions = [nightly.customer(c)["version"] for c in everyone]
    again = nightly_job(nightly).run()
    assert again.checked == 3 and again.changed == 0
    assert [nightly.customer(c)["version"] for c in everyone] == versions
