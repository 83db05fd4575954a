"""API Extension latency and throughput on this machine.

The service app runs as `make run` starts it (gunicorn, 2 workers × 4 threads) and receives
extension calls straight from this process, 8 at a time:
- the no-loyalty fast path with a realistic 30-line cart (no network I/O at all), side by side
  with a do-nothing Flask extension under the same gunicorn settings (`bench/baseline_app.py`),
  rounds interleaved so both see the same machine; the ratio is the figure (goal ≥ 0.9);
- an applied (sealed) reward kept consistent (one commercetools read);
- a new redemption with Yotpo answering at 0 ms and at 100 ms, one caller at a time (the
  critical path: two Yotpo round trips, customer + offered options at once, then the
  redemption; goal p99 ≤ that Yotpo time + 30 ms) and 8 at a time (adds queueing for the
  machine's CPUs, which the stand-ins and this load generator share with the app).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import requests

from bench.load import LoadResult, run_load
from sandbox.processes import ManagedProcess, free_port
from sandbox.stack import EXTENSION_SECRET, YOTPO_API_KEY, YOTPO_GUID, SandboxStack, StackOptions
from shared.domain.checkout.reward_state import AppliedReward, seal, seal_key
from shared.domain.loyalty_fields import CartFields as F
from shared.yotpo import YotpoClient

CONCURRENCY = 8
FAST_CALLS = 1500  # per round
FAST_ROUNDS = 3
MAINTAIN_CALLS = 1000
REDEEM_CALLS = 200
YOTPO_LATENCIES_MS = (0, 100)
# Sequential Yotpo round trips on a redemption's critical path.
YOTPO_ROUND_TRIPS = 2
WORKERS = 2
THREADS = 4


def _money(amount: int) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": amount,
        "fractionDigits": 2,
    }


def cart(
    n: int, fields: dict[str, Any] | None = None, customer: str | None = None
) -> dict[str, Any]:
    """A cart shaped like commercetools sends it to an extension, with 30 line items."""
    lines = [
        {
            "id": f"li-{n}-{i}",
            "productId": f"p-{i}",
            "name": {"en": f"Product {i}", "de": f"Produkt {i}"},
            "variant": {
                "id": 1,
                "sku": f"SKU-{i:04d}",
                "prices": [],
                "images": [],
                "attributes": [],
            },
            "price": {"id": f"price-{i}", "value": _money(1000 + i * 37)},
            "quantity": 1 + i % 3,
            "totalPrice": _money((1000 + i * 37) * (1 + i % 3)),
            "discountedPricePerQuantity": [],
            "taxRate": {"name": "19%", "amount": 0.19, "includedInPrice": False, "country": "DE"},
            "lineItemMode": "Standard",
            "priceMode": "Platform",
        }
        for i in range(30)
    ]
    total = sum(li["totalPrice"]["centAmount"] for li in lines)
    body: dict[str, Any] = {
        "id": f"cart-{n}",
        "version": 7,
        "cartState": "Active",
        "currency": "EUR",
        "lineItems": lines,
        "customLineItems": [],
        "totalPrice": _money(total),
        "taxMode": "Platform",
        "directDiscounts": [],
        "shippingAddress": {"country": "DE"},
        "custom": {"type": {"typeId": "type", "id": "t"}, "fields": fields or {}},
    }
    if customer:
        body |= {"customerId": customer, "customerEmail": f"{customer}@example.com"}
    return body


def _caller(
    session: requests.Session, url: str, body: dict[str, Any], expect: int
) -> Callable[[], bool]:
    request = {"action": "Update", "resource": {"typeId": "cart", "id": body["id"], "obj": body}}
    headers = {"Authorization": f"Bearer {EXTENSION_SECRET}"}

    def call() -> bool:
        return session.post(url, json=request, headers=headers, timeout=5).status_code == expect

    return call


def _baseline(stack: SandboxStack, log_dir: Any) -> tuple[ManagedProcess, str]:
    """The do-nothing extension under the very gunicorn command line the stack uses."""
    import sys
    from pathlib import Path

    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    argv = [
        gunicorn,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--threads",
        str(THREADS),
        "--timeout",
        "30",
        "--no-control-socket",
        "bench.baseline_app:app",
    ]
    process = ManagedProcess(
        "baseline", argv, env={"EXTENSION_SECRET": EXTENSION_SECRET}, log_dir=log_dir
    ).start()
    url = f"http://127.0.0.1:{port}"
    process.wait_http(f"{url}/health", timeout=60)
    return process, f"{url}/service"


def _merged(results: list[LoadResult]) -> LoadResult:
    return LoadResult(
        latencies=[x for r in results for x in r.latencies],
        seconds=sum(r.seconds for r in results),
        errors=sum(r.errors for r in results),
    )


def _sealed_fields(cart_id: str, customer: str) -> dict[str, Any]:
    reward = AppliedReward(
        code="LOY-BENCH",
        amount=500,
        option_id="1",
        kind="fixed",
        customer_id=customer,
        points=500,
        redemption_id="1",
        currency="EUR",
        face=500,
    )
    return {
        F.REQUESTED_OPTION: "1",
        F.REWARD_CODE: reward.code,
        F.REWARD_AMOUNT: reward.amount,
        F.REWARD_OPTION: reward.option_id,
        F.REWARD_KIND: reward.kind,
        F.REWARD_CUSTOMER: customer,
        F.REWARD_POINTS: reward.points,
        F.REDEMPTION_ID: reward.redemption_id,
        F.REWARD_SEAL: seal(reward, cart_id, seal_key(EXTENSION_SECRET)),
    }


def seed_members(stack: SandboxStack, count: int = 40) -> list[str]:
    """Members with points enough for every redemption the bench makes."""
    yotpo = YotpoClient(
        guid=YOTPO_GUID,
        api_key=YOTPO_API_KEY,
        api_url=stack.yotpo_api_url,
        rate_limit_per_second=1000,
    )
    members = [f"member-{i}" for i in range(count)]
    for member in members:
        yotpo.upsert_customer({"id": member, "email": f"{member}@example.com"})
        yotpo.adjust_points({"customer_id": member, "point_adjustment_amount": 1_000_000})
    return members


def run() -> list[str]:
    options = StackOptions(
        pubsub="direct",
        apps=("service",),
        workers=WORKERS,
        threads=THREADS,
        app_env={"YOTPO_RATE_LIMIT_PER_SECOND": "1000", "REWARD_BASE_CURRENCY": "EUR"},
        yotpo_program={"rate_limit_per_second": 0},
    )
    lines: list[str] = []
    with SandboxStack(options) as stack:
        url = f"{stack.url('service')}/service"
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))
        baseline, baseline_url = _baseline(stack, options.log_dir)
        try:
            ours: list[LoadResult] = []
            theirs: list[LoadResult] = []
            for _ in range(FAST_ROUNDS):
                bodies = [cart(n) for n in range(FAST_CALLS)]
                theirs.append(
                    run_load([_caller(session, baseline_url, b, 200) for b in bodies], CONCURRENCY)
                )
                ours.append(run_load([_caller(session, url, b, 200) for b in bodies], CONCURRENCY))
        finally:
            baseline.stop()
        fast, base = _merged(ours), _merged(theirs)
        lines.append("no-loyalty fast path, 30-line cart: " + fast.summary())
        lines.append("do-nothing Flask extension, same gunicorn: " + base.summary())
        # Pair by pair (each round runs the two back to back), so load drift on this shared
        # machine lands on both sides of a ratio; the median is the figure to quote.
        ratios = sorted(o.rate / t.rate for o, t in zip(ours, theirs, strict=True))
        lines.append(
            f"fast path / do-nothing throughput: {fast.rate / base.rate:.2f} overall, "
            f"median of {len(ratios)} paired rounds {statistics.median(ratios):.2f} "
            f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f}; goal >= 0.90)"
        )

        maintained = []
        for n in range(MAINTAIN_CALLS):
            body = cart(n, _sealed_fields(f"cart-{n}", "member-0"), customer="member-0")
            body["directDiscounts"] = [
                {
                    "value": {"type": "absolute", "money": [_money(500)]},
                    "target": {"type": "totalPrice"},
                }
            ]
            body["totalPrice"] = _money(body["totalPrice"]["centAmount"] - 500)
            maintained.append(_caller(session, url, body, 200))
        kept = run_load(maintained, CONCURRENCY)
        lines.append("sealed reward kept consistent (1 commercetools read): " + kept.summary())

        members = seed_members(stack)
        for latency in YOTPO_LATENCIES_MS:
            requests.post(
                f"{stack.url('yotpo')}/_sandbox/faults",
                json={"latency_ms": latency},
                timeout=5,
            ).raise_for_status()
            own = YOTPO_ROUND_TRIPS * latency
            for callers in (1, CONCURRENCY):
                redeem = run_load(
                    [
                        _caller(
                            session,
                            url,
                            cart(n, {F.REQUESTED_OPTION: "1"}, customer=members[n % len(members)]),
                            200,
                        )
                        for n in range(REDEEM_CALLS)
                    ],
                    callers,
                )
                lines.append(
                    f"redemption, Yotpo at {latency} ms ({YOTPO_ROUND_TRIPS} sequential Yotpo "
                    f"round trips = {own} ms), {callers} caller(s): " + redeem.summary()
                )
                lines.append(
                    f"  p99 above Yotpo's own time: {redeem.percentile(99) * 1000 - own:.1f} ms "
                    "(goal <= 30 ms)"
                )
    lines.append(
        f"{CONCURRENCY} concurrent callers; one instance: {WORKERS} gunicorn workers × "
        f"{THREADS} threads"
    )
    return lines
