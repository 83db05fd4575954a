"""API Extension latency and throughput on this machine (issue 5's figures).

The service app runs as `make run` starts it (gunicorn, 2 workers × 4 threads) and receives
extension calls straight from this process, 8 at a time: the no-loyalty fast path with a
realistic 30-line cart (no network I/O at all), an applied reward kept consistent (one
commercetools read), and a new redemption with 100 ms of latency on every Yotpo call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from bench.load import run_load
from sandbox.stack import EXTENSION_SECRET, YOTPO_API_KEY, YOTPO_GUID, SandboxStack, StackOptions
from shared.domain.loyalty_fields import CartFields as F
from shared.yotpo import YotpoClient

CONCURRENCY = 8
FAST_CALLS = 3000
MAINTAIN_CALLS = 1000
REDEEM_CALLS = 200
YOTPO_LATENCY_MS = 100


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


def run() -> list[str]:
    options = StackOptions(
        pubsub="direct",
        apps=("service",),
        app_env={"YOTPO_RATE_LIMIT_PER_SECOND": "1000"},
        yotpo_program={"rate_limit_per_second": 0},
    )
    lines: list[str] = []
    with SandboxStack(options) as stack:
        url = f"{stack.url('service')}/service"
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))
        fast = run_load(
            [_caller(session, url, cart(n), 200) for n in range(FAST_CALLS)], CONCURRENCY
        )
        lines.append("no-loyalty fast path, 30-line cart: " + fast.summary())

        applied = {
            F.REQUESTED_OPTION: "1",
            F.REWARD_CODE: "LOY-BENCH",
            F.REWARD_AMOUNT: 500,
            F.REWARD_OPTION: "1",
            F.REWARD_KIND: "fixed",
            F.REWARD_CUSTOMER: "member-0",
        }
        maintained = []
        for n in range(MAINTAIN_CALLS):
            body = cart(n, applied, customer="member-0")
            body["directDiscounts"] = [
                {
                    "value": {"type": "absolute", "money": [_money(500)]},
                    "target": {"type": "totalPrice"},
                }
            ]
            maintained.append(_caller(session, url, body, 200))
        kept = run_load(maintained, CONCURRENCY)
        lines.append("applied reward kept consistent (1 commercetools read): " + kept.summary())

        yotpo = YotpoClient(
            guid=YOTPO_GUID,
            api_key=YOTPO_API_KEY,
            api_url=stack.yotpo_api_url,
            rate_limit_per_second=1000,
        )
        members = [f"member-{i}" for i in range(20)]
        for member in members:
            yotpo.upsert_customer({"id": member, "email": f"{member}@example.com"})
            yotpo.adjust_points({"customer_id": member, "point_adjustment_amount": 1_000_000})
        requests.post(
            f"{stack.url('yotpo')}/_sandbox/faults",
            json={"latency_ms": YOTPO_LATENCY_MS},
            timeout=5,
        ).raise_for_status()
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
            CONCURRENCY,
        )
        lines.append(
            f"redemption with {YOTPO_LATENCY_MS} ms Yotpo latency (3 Yotpo calls): "
            + redeem.summary()
        )
    lines.append(f"{CONCURRENCY} concurrent callers; one instance: 2 gunicorn workers × 4 threads")
    return lines
