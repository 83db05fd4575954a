"""Where a redemption's time goes: a short run of the service bench's redemption scenario.

`python -m bench.redeem_probe [calls] [latency_ms ...]` starts the service app as the bench
does, sends `calls` redemptions one at a time for each Yotpo latency, and splits each call's
time, from the service app's own log lines (joined on the correlation id the bench sends), into:
- the Yotpo calls on the critical path as the app timed them (the slower of the concurrent
  reads, then the redemption);
- the rest of the request inside the app (Flask, parsing, the checkout rules, the log lines);
- what lies outside the app's view (the bench's HTTP client, gunicorn, the loopback).
It is a diagnostic for tuning, lighter than `python -m bench service`; the figures to quote
come from that bench.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests

from bench.service_bench import CONCURRENCY, THREADS, WORKERS, cart, seed_members
from sandbox.stack import EXTENSION_SECRET, SandboxStack, StackOptions
from shared.correlation import HEADER
from shared.domain.loyalty_fields import CartFields as F


def _lines(path: Path) -> list[dict[str, Any]]:
    found = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
    return found


def _ms(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _breakdown(log: Path, client_ms: dict[str, float]) -> list[str]:
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    served: dict[str, float] = {}
    for line in _lines(log):
        cid = line.get("correlation_id")
        if cid not in client_ms:
            continue
        if line.get("event") == "http.call" and line.get("service") == "yotpo":
            calls[cid].append(line)
        elif line.get("event") == "http.request":
            served[cid] = float(line["duration_ms"])
    yotpo, inside, outside = [], [], []
    for cid, total in client_ms.items():
        if cid not in served:
            continue
        made = calls[cid]
        reads = [c["duration_ms"] for c in made if c["method"] == "GET"]
        writes = [c["duration_ms"] for c in made if c["method"] == "POST"]
        critical = (max(reads) if reads else 0.0) + sum(writes)
        yotpo.append(critical)
        inside.append(served[cid] - critical)
        outside.append(total - served[cid])

    def row(name: str, values: list[float]) -> str:
        return (
            f"{name}: p50 {statistics.median(values):.1f} ms, p99 {_ms(values, 99):.1f} ms, "
            f"max {max(values):.1f} ms"
        )

    return [
        row("    Yotpo calls on the critical path (app's timing)", yotpo),
        row("    rest of the request inside the app", inside),
        row("    outside the app (client, gunicorn, loopback)", outside),
    ]


def main(argv: list[str]) -> int:
    calls = int(argv[0]) if argv else 100
    latencies = [int(a) for a in argv[1:]] or [0, 100]
    log_dir = Path("/tmp") / f"redeem-probe-{uuid.uuid4().hex[:8]}"
    options = StackOptions(
        pubsub="direct",
        apps=("service",),
        workers=WORKERS,
        threads=THREADS,
        app_env={"YOTPO_RATE_LIMIT_PER_SECOND": "1000", "REWARD_BASE_CURRENCY": "EUR"},
        yotpo_program={"rate_limit_per_second": 0},
        log_dir=log_dir,
    )
    with SandboxStack(options) as stack:
        url = f"{stack.url('service')}/service"
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))
        members = seed_members(stack)
        headers = {"Authorization": f"Bearer {EXTENSION_SECRET}"}
        for latency in latencies:
            requests.post(
                f"{stack.url('yotpo')}/_sandbox/faults", json={"latency_ms": latency}, timeout=5
            ).raise_for_status()
            client_ms: dict[str, float] = {}
            for n in range(calls):
                body = cart(n, {F.REQUESTED_OPTION: "1"}, customer=members[n % len(members)])
                request = {"action": "Update", "resource": {"typeId": "cart", "id": body["id"], "obj": body}}
                cid = f"probe-{latency}-{n}"
                started = time.perf_counter()
                answer = session.post(url, json=request, headers={**headers, HEADER: cid}, timeout=5)
                client_ms[cid] = (time.perf_counter() - started) * 1000
                if answer.status_code != 200:
                    print(f"  call {n}: {answer.status_code} {answer.text[:200]}")
            values = list(client_ms.values())
            print(
                f"Yotpo at {latency} ms, {calls} redemptions, 1 caller: p50 "
                f"{statistics.median(values):.1f} ms, p99 {_ms(values, 99):.1f} ms",
                flush=True,
            )
            time.sleep(0.5)  # the log lines reach the file
            for line in _breakdown(log_dir / "service.log", client_ms):
                print(line, flush=True)
    print(f"logs: {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
