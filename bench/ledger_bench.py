"""Order lifecycles against a Yotpo that enforces 10 requests/s (issue 19's load case).

Every lifecycle's messages are queued at once and pushed to one event-app instance as deployed
(gunicorn, 2 workers × 8 threads, the client-side rate limit at its default: each worker runs
at its share of the account, shared/ratelimit.py), 16 at a time.
The Yotpo stand-in enforces the documented 10 requests/s per account (429 above it, with
`ratelimit-*` headers). Delivery is Pub/Sub-style: any non-2xx is delivered again after an
exponential backoff (0.1 s doubling to 10 s, as a push subscription's retry policy), with the
delivery attempt counted up, until acknowledged. Reported: lifecycles, Yotpo calls served, the
fraction of the 10/s bound used while the work lasted, 429s received, deferred answers, dead
letters (must be 0) and orders that ended exact in Yotpo (must be all).
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from bench.load import run_load
from sandbox.stack import YOTPO_GUID, SandboxStack, StackOptions
from sandbox.storefront import Storefront
from shared.deadletters import DEAD_LETTER_CONTAINER

LIFECYCLES = 150
CONCURRENCY = 16
WORKERS = 2
YOTPO_RATE = 10  # requests per second per account (Yotpo's documented limit)
GIVE_UP_SECONDS = 150.0  # a message still unacknowledged after this counts as stranded


def _envelope(notification: dict[str, Any], attempt: int) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    return {
        "message": {
            "data": data,
            "attributes": {},
            "messageId": notification["id"],
            "publishTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "subscription": "projects/sandbox/subscriptions/bench",
        "deliveryAttempt": attempt,
    }


class Redelivery:
    """What a push subscription does with one message: deliver until 2xx, backing off."""

    def __init__(self, session: requests.Session, url: str, started: float) -> None:
        self.session = session
        self.url = url
        self.started = started
        self.answers: Counter[str] = Counter()
        self._lock = threading.Lock()

    def caller(self, notification: dict[str, Any]) -> Callable[[], bool]:
        def deliver() -> bool:
            attempt, backoff = 1, 0.1
            while time.monotonic() - self.started < GIVE_UP_SECONDS:
                response = self.session.post(
                    self.url, json=_envelope(notification, attempt), timeout=15
                )
                answer = str(response.status_code)
                if response.status_code >= 300 and response.content:
                    answer += " " + str(response.json().get("code"))
                with self._lock:
                    self.answers[answer] += 1
                if response.status_code < 300:
                    return True
                time.sleep(backoff * random.uniform(0.8, 1.2))
                attempt, backoff = attempt + 1, min(backoff * 2, 10.0)
            return False

        return deliver


def _seed(shop: Storefront) -> list[tuple[dict[str, Any], list[int], bool]]:
    lifecycles = []
    customer: dict[str, Any] = {}
    for n in range(LIFECYCLES):
        if n % 4 == 0:
            customer = shop.sign_up(f"throttle{n}@example.com", "Rate", f"Limited{n}")
        cart = shop.cart([("SKU-HOODIE", 1 + n % 3), ("SKU-MUG", 1)], customer=customer)
        order = shop.place_order(cart, order_number=f"T-{n:05d}")
        shop.pay(order)
        # Two partial refunds on every other lifecycle: one delivery then claims both.
        refunds = [400 + n, 700] if n % 2 == 0 else [500 + n]
        for amount in refunds:
            shop.refund(order, amount)
        cancelled = n % 10 == 0
        if cancelled:
            shop.cancel(order)
        lifecycles.append((shop.order(order["id"]), refunds, cancelled))
    return lifecycles


def _exact(account: dict[str, Any], order: dict[str, Any], refunds: list[int], cancelled: bool):
    """Yotpo holds exactly what the lifecycle should have told it, once.

    Every message is queued after the whole lifecycle happened, so a cancelled order may be
    seen cancelled at its first look: it is then never earned (`cancelled_before_earning`),
    and Yotpo must hold nothing of it. Seen earlier, it holds the order, its refunds and the
    cancellation's remainder.
    """
    number = order["orderNumber"]
    total = order["taxedPrice"]["totalGross"]["centAmount"]
    sent = sorted(r["total_amount_cents"] for r in account["refunds"] if r["order_id"] == number)
    orders = [o for o in account["orders"] if o["order_id"] == number]
    expected = list(refunds)
    if cancelled:
        if total > sum(refunds):
            expected.append(total - sum(refunds))
        if not orders and not sent:
            return True
    return len(orders) == 1 and sent == sorted(expected)


def _busy(served: list[dict[str, Any]]) -> float:
    """Seconds from the first served call to the last, plus one call's slot."""
    moments = sorted(datetime.fromisoformat(c["at"].replace("Z", "+00:00")) for c in served)
    if not moments:
        return 0.0
    return (moments[-1] - moments[0]).total_seconds() + 1.0 / YOTPO_RATE


def run() -> list[str]:
    options = StackOptions(
        pubsub="direct",
        apps=("event",),
        wire_events=False,
        workers=WORKERS,
        threads=8,
        # As deployed, except OIDC (local run): the client-side limit stays at its default,
        # and WEB_CONCURRENCY is what deploy/gunicorn.conf.py exports to its workers (the
        # stand-in stack starts gunicorn with --workers instead of that config file).
        app_env={"OIDC_VERIFICATION": "off", "WEB_CONCURRENCY": str(WORKERS)},
        yotpo_program={"rate_limit_per_second": YOTPO_RATE},
    )
    with SandboxStack(options) as stack:
        shop = Storefront(stack.commercetools())
        lifecycles = _seed(shop)
        ct = stack.commercetools()
        notifications = [
            {**m, "notificationType": "Message", "projectKey": "sandbox"}
            for m in ct.iterate("messages", page_size=500)
        ]
        random.Random(19).shuffle(notifications)  # all queued at once, in no useful order
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))
        before = len(stack.yotpo_requests())
        started = time.monotonic()
        redelivery = Redelivery(session, f"{stack.url('event')}/event", started)
        load = run_load([redelivery.caller(n) for n in notifications], CONCURRENCY)
        calls = stack.yotpo_requests(before)
        account = stack.yotpo_state()["accounts"][YOTPO_GUID]
        dead = [
            o
            for o in ct.iterate(f"custom-objects/{DEAD_LETTER_CONTAINER}")
            if o["value"].get("status") == "dead"
        ]
    served = [c for c in calls if 200 <= c["status"] < 300]
    throttled = sum(1 for c in calls if c["status"] == 429)
    if served:
        # The bound over the whole load: first push to the last message acknowledged.
        window = max(load.seconds, 1.0)
        used = len(served) / (YOTPO_RATE * window)
    else:
        used = 0.0
    busy_seconds = _busy(served)
    busy_used = len(served) / (YOTPO_RATE * busy_seconds) if busy_seconds else 0.0
    exact = sum(_exact(account, *lifecycle) for lifecycle in lifecycles)
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(redelivery.answers.items()))
    return [
        f"{LIFECYCLES} order lifecycles (paid; 1 or 2 partial refunds; every 10th cancelled), "
        f"{len(notifications)} messages queued at once, {CONCURRENCY} concurrent pushes, "
        f"one instance ({WORKERS} workers × 8 threads), Yotpo limit "
        f"{YOTPO_RATE} req/s",
        "deliveries until every message was acknowledged: " + load.summary("msg"),
        f"  answers: {answers}",
        f"Yotpo calls served: {len(served)} in {load.seconds:.1f}s = "
        f"{used:.0%} of the {YOTPO_RATE}/s bound; 429s received: {throttled}",
        f"  while Yotpo calls were being made (first to last served, {busy_seconds:.1f}s): "
        f"{busy_used:.0%} of the bound",
        f"orders exact in Yotpo: {exact}/{LIFECYCLES} (must be all); dead letters: {len(dead)} "
        f"(must be 0); messages never acknowledged: {load.errors} (must be 0)",
    ]
