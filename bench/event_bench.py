"""Event app throughput and call counts against the sandbox (issue 4's figures).

One event-app instance (gunicorn, 2 workers × 8 threads, as `make run` starts it) receives Pub/Sub
push envelopes straight from this process, 8 at a time, with 20 ms of latency injected into
every Yotpo call. Reported: messages/s, Yotpo calls per order lifecycle, commercetools calls per
message, and the duplicates a replay storm leaves in Yotpo (must be 0).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any

import requests

from bench.load import run_load
from sandbox.stack import YOTPO_GUID, SandboxStack, StackOptions
from sandbox.storefront import Storefront

ORDERS = 120
CONCURRENCY = 8
YOTPO_LATENCY_MS = 20


def _envelope(notification: dict[str, Any], message_id: str) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    return {
        "message": {"data": data, "attributes": {}, "messageId": message_id},
        "subscription": "projects/sandbox/subscriptions/bench",
    }


def _deliverer(session: requests.Session, url: str, body: dict[str, Any]) -> Callable[[], bool]:
    def deliver() -> bool:
        # As Pub/Sub does: anything but 2xx is delivered again (bounded here).
        return any(session.post(url, json=body, timeout=15).status_code < 300 for _ in range(20))

    return deliver


def _seed(shop: Storefront) -> list[str]:
    resource_ids: list[str] = []
    customer: dict[str, Any] = {}
    for n in range(ORDERS):
        if n % 4 == 0:
            customer = shop.sign_up(f"bench{n}@example.com", "Bench", f"Shopper{n}")
            resource_ids.append(customer["id"])
        cart = shop.cart([("SKU-HOODIE", 1 + n % 3), ("SKU-MUG", 1)], customer=customer)
        order = shop.place_order(cart, order_number=f"B-{n:05d}")
        shop.pay(order)
        shop.refund(order, 500 + n)  # one partial refund per lifecycle
        if n % 10 == 0:
            shop.cancel(order)
        paid = shop.order(order["id"])
        resource_ids += [order["id"], paid["paymentInfo"]["payments"][0]["id"]]
    return resource_ids


def _notifications(stack: SandboxStack) -> list[dict[str, Any]]:
    ct = stack.commercetools()
    return [
        {**message, "notificationType": "Message", "projectKey": "sandbox"}
        for message in ct.iterate("messages", page_size=500)
    ]


def _ct_requests(stack: SandboxStack) -> int:
    return int(
        requests.get(f"{stack.ct_url}/_sandbox/requests?since=999999999", timeout=5).json()["next"]
    )


def run() -> list[str]:
    options = StackOptions(
        pubsub="direct",
        apps=("event",),
        wire_events=False,
        threads=8,
        app_env={"YOTPO_RATE_LIMIT_PER_SECOND": "1000", "OIDC_VERIFICATION": "off"},
        yotpo_program={"rate_limit_per_second": 0},
    )
    with SandboxStack(options) as stack:
        shop = Storefront(stack.commercetools())
        _seed(shop)
        notifications = _notifications(stack)
        requests.post(
            f"{stack.url('yotpo')}/_sandbox/faults",
            json={"latency_ms": YOTPO_LATENCY_MS},
            timeout=5,
        ).raise_for_status()
        url = f"{stack.url('event')}/event"
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))

        yotpo_before = len(stack.yotpo_requests())
        ct_before = _ct_requests(stack)
        calls = [_deliverer(session, url, _envelope(n, n["id"])) for n in notifications]
        live = run_load(calls, CONCURRENCY)
        yotpo_calls = len(stack.yotpo_requests()) - yotpo_before
        ct_calls = _ct_requests(stack) - ct_before
        state = stack.yotpo_state()
        account = state["accounts"][YOTPO_GUID]

        storm = [n for n in notifications for _ in range(3)]
        random.Random(42).shuffle(storm)
        yotpo_before_storm = len(stack.yotpo_requests())
        replay = run_load(
            [_deliverer(session, url, _envelope(n, f"{n['id']}-{i}")) for i, n in enumerate(storm)],
            CONCURRENCY,
        )
        storm_posts = [
            r["path"].rsplit("/", 1)[-1]
            for r in stack.yotpo_requests(yotpo_before_storm)
            if r["method"] == "POST"
        ]
        after = stack.yotpo_state()
    duplicates = sum(after["duplicates"]["orders"].values()) + sum(
        after["duplicates"]["refunds"].values()
    )
    types = sorted({n["type"] for n in notifications})
    return [
        f"{ORDERS} order lifecycles (paid, partial refund; every 10th cancelled), "
        f"{len(notifications)} messages ({', '.join(types)}), Yotpo latency {YOTPO_LATENCY_MS} ms",
        f"one instance (2 workers × 8 threads), {CONCURRENCY} concurrent pushes: "
        + live.summary("msg"),
        f"Yotpo calls per order lifecycle: {yotpo_calls / ORDERS:.2f} "
        f"({len(account['orders'])} orders, {len(account['refunds'])} refunds in Yotpo)",
        f"commercetools calls per message: {ct_calls / len(notifications):.2f} "
        "(ignored types cost 0; a reconcile reads ledger + order and writes the ledger)",
        "replay storm (every message ×3, shuffled): " + replay.summary("msg"),
        f"  Yotpo orders/refunds sent during the storm: "
        f"{sum(p in ('orders', 'refunds') for p in storm_posts)}; idempotent customer upserts: "
        f"{storm_posts.count('customers')}; duplicate Yotpo operations: {duplicates} (must be 0)",
    ]
