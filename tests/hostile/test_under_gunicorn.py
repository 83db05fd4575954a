"""The service app under gunicorn, as deployed (deploy/gunicorn.conf.py: gthread, 2 s timeout):
inputs that once cost a worker (a 10^7-digit rescale, deep nesting, huge bodies) must leave
every worker alive. A worker that dies shows in gunicorn's own log as `WORKER TIMEOUT` or a
second `Booting worker`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox.processes import free_port
from tests.hostile.conftest import EXTENSION_SECRET, POS_KEYS, POS_SECRET, TALLY
from tests.integration.world import World, start_world

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _cart(line_money: dict[str, object]) -> dict[str, object]:
    money = {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": 1000,
        "fractionDigits": 2,
    }
    return {
        "action": "Update",
        "resource": {
            "typeId": "cart",
            "obj": {
                "id": "c-1",
                "version": 1,
                "totalPrice": money,
                "lineItems": [{"id": "l-1", "quantity": 1, "totalPrice": line_money}],
                "custom": {
                    "type": {"key": "yotpo-loyalty-order"},
                    "fields": {"loyaltyRedemptionOptionId": "1"},
                },
            },
        },
    }


HOSTILE_BODIES: list[tuple[str, bytes, str]] = [
    (
        "/service",
        json.dumps(
            _cart(
                {
                    "type": "highPrecision",
                    "currencyCode": "EUR",
                    "centAmount": 1,
                    "preciseAmount": 1,
                    "fractionDigits": 10_000_000,
                }
            )
        ).encode(),
        "application/json",
    ),
    ("/service", b"[" * 100_000, "application/json"),
    ("/service", b'{"a":' * 50_000, "application/json"),
    ("/service", b'{"a": "' + b"x" * (6 * 1024 * 1024) + b'"}', "application/json"),
    ("/service", b'{"n": ' + b"9" * 100_000 + b"}", "application/json"),
    ("/loyalty/orders", b'{"lines": [' + b"{}," * 200_000 + b"{}]}", "application/json"),
    ("/loyalty/refunds", b"[" * 100_000, "application/json"),
]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()


def test_no_hostile_input_costs_a_worker(world: World) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        **world.env,
        "APP": "service",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "EXTENSION_SECRET": EXTENSION_SECRET,
        "POS_API_KEYS": json.dumps(POS_KEYS),
        "YOTPO_ACCOUNTS": json.dumps(
            {
                "default": {
                    "guid": world.env["YOTPO_GUID"],
                    "apiKey": world.env["YOTPO_API_KEY"],
                    "apiUrl": world.env["YOTPO_API_URL"],
                }
            }
        ),
        "YOTPO_GUID": "",
        "YOTPO_API_KEY": "",
    }
    process = subprocess.Popen(
        [str(GUNICORN), "--config", "deploy/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    statuses = []
    try:
        for _ in range(200):
            try:
                requests.get(f"{base}/health", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None:
                    break
                time.sleep(0.1)
        for path, body, content_type in HOSTILE_BODIES:
            TALLY.inputs[f"gunicorn POST {path}"] += 1
            headers = {"Content-Type": content_type}
            headers["Authorization"] = (
                f"Bearer {EXTENSION_SECRET}" if path == "/service" else f"Bearer {POS_SECRET}"
            )
            try:
                answer = requests.post(f"{base}{path}", data=body, headers=headers, timeout=10)
                statuses.append((path, answer.status_code))
            except requests.RequestException as exc:
                statuses.append((path, type(exc).__name__))
        assert requests.get(f"{base}/health", timeout=5).status_code == 200
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    died = output.count("WORKER TIMEOUT") + max(0, output.count("Booting worker") - 1)
    if died:
        TALLY.note("workers_died", "gunicorn service", output[-300:])
    assert output.count("Booting worker") >= 1, output[-2000:]
    assert died == 0, output[-2000:]
    failures = [s for s in statuses if not isinstance(s[1], int) or s[1] >= 500]
    assert not failures, statuses
    print("gunicorn statuses:", statuses)
    assert all(400 <= s[1] < 500 for s in statuses), statuses
