"""`python -m job …` as an operator runs it: results on stdout, JSON log lines on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.job.test_backfill_audit import paid_order

ROOT = Path(__file__).resolve().parents[2]


def run(scene, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **scene.env}
    return subprocess.run(
        [sys.executable, "-m", "job", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backfill_prints_for_people_and_logs_to_stderr(scene):
    paid_order(scene, "CLI-S1", "s1@example.com")
    refused = paid_order(scene, "CLI-S2", "s2@example.com", currency="JPY")
    scene.world.set_yotpo_currencies({"EUR": 2})
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

    done = run(scene, "backfill", "--since", since)
    assert done.returncode == 1, done.stderr  # one order failed
    out = done.stdout
    assert not [line for line in out.splitlines() if _log_line(line)]
    assert "backfill: complete" in out and "sent: 1 order" in out
    assert "CLI-S2" in out and "422" in out  # the failed order, with Yotpo's reason
    assert "python -m event replay" in out
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    events = {line.get("event") for line in logged}
    assert {"job.backfill.summary", "job.order_dead_lettered"} <= events
    assert refused

    as_json = run(scene, "audit", "--since", since, "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)  # stdout is the report and nothing else
    assert [m["order_number"] for m in report["mismatches"]] == ["CLI-S2"]


def _log_line(line: str) -> bool:
    try:
        parsed = json.loads(line)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "severity" in parsed


def test_coupon_batch_is_reachable_from_the_job_command():
    found = subprocess.run(
        [sys.executable, "-m", "job", "coupon-batch", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0 and "--batch-id" in found.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "job", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert "coupon-batch" in listed.stdout
