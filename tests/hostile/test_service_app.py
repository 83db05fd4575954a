"""Hostile input to the service app: the cart extension, Yotpo's webhooks, the in-store API."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.conftest import (
    EXTENSION_SECRET,
    HOSTILE,
    OTHER_POS_SECRET,
    POS_SECRET,
    WEBHOOK_SECRET,
    Apps,
)
from tests.hostile.strategies import (
    CONTENT_TYPES,
    HOSTILE_AUTH,
    JSON,
    MONEY,
    NUMBERS,
    RAW_BODIES,
    TEXT,
    loose_object,
    maybe,
)

EXTENSION = {"Authorization": f"Bearer {EXTENSION_SECRET}"}
WEBHOOK = {"X-Yotpo-Webhook-Secret": WEBHOOK_SECRET}
POS = {"Authorization": f"Bearer {POS_SECRET}"}

LINE = loose_object(
    {
        "id": TEXT,
        "quantity": NUMBERS,
        "price": loose_object({"value": MONEY}),
        "totalPrice": MONEY,
        "variant": loose_object({"sku": TEXT}),
    }
)
CART = loose_object(
    {
        "id": st.sampled_from(["cart-1", ""]) | TEXT,
        "version": NUMBERS,
        "customerId": TEXT,
        "anonymousId": TEXT,
        "totalPrice": MONEY,
        "lineItems": st.lists(LINE, max_size=3),
        "customLineItems": st.lists(JSON, max_size=2),
        "directDiscounts": st.lists(JSON, max_size=2) | TEXT,
        "store": loose_object({"key": TEXT}),
        "custom": loose_object(
            {
                "type": loose_object({"key": TEXT}),
                "fields": st.dictionaries(
                    st.sampled_from(
                        [
                            "loyaltyRedemptionOptionId",
                            "loyaltyRedemptionPoints",
                            "loyaltyRewardCode",
                            "loyaltyRewardAmount",
                            "loyaltyRewardKind",
                            "loyaltyRewardPercentBp",
                            "loyaltyRedemptionId",
                            "loyaltyReferralCode",
                        ]
                    ),
                    JSON,
                    max_size=5,
                ),
            }
        ),
    }
)
EXTENSION_BODY = loose_object(
    {
        "action": st.sampled_from(["Create", "Update"]) | JSON,
        "resource": loose_object({"typeId": st.just("cart") | TEXT, "obj": CART}),
    }
)


@HOSTILE
@given(body=EXTENSION_BODY)
def test_cart_extension_structured(apps: Apps, probe: Any, body: Any) -> None:
    probe("POST /service").send(apps.service, "POST", "/service", json=body, headers=EXTENSION)


@HOSTILE
@given(raw=RAW_BODIES, content_type=CONTENT_TYPES)
def test_cart_extension_raw(apps: Apps, probe: Any, raw: bytes, content_type: str) -> None:
    probe("POST /service").send(
        apps.service, "POST", "/service", data=raw, content_type=content_type, headers=EXTENSION
    )


@HOSTILE
@given(auth=HOSTILE_AUTH, body=EXTENSION_BODY)
def test_cart_extension_wrong_credentials(apps: Apps, probe: Any, auth: Any, body: Any) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    probe("POST /service").send(
        apps.service, "POST", "/service", json=body, headers=headers, authorized=False
    )


WEBHOOK_BODY = loose_object(
    {
        "topic": st.sampled_from(
            [
                "swell/point_redemption/cancellation_request",
                "swell/points/changed",
                "swell/tier/earned",
                "swell/tier/lost",
                "swell/tier/status/changed",
                "unknown/topic",
            ]
        ),
        "customer": loose_object({"email": TEXT, "third_party_id": TEXT, "id": JSON}),
        "data": JSON,
        "redemption": loose_object({"reward_text": TEXT, "id": JSON}),
        "reward_text": TEXT,
    }
)


@HOSTILE
@given(body=WEBHOOK_BODY)
def test_yotpo_webhook_structured(apps: Apps, probe: Any, body: Any) -> None:
    probe("POST /yotpo/webhooks").send(
        apps.service, "POST", "/yotpo/webhooks", json=body, headers=WEBHOOK
    )


@HOSTILE
@given(raw=RAW_BODIES, content_type=CONTENT_TYPES)
def test_yotpo_webhook_raw(apps: Apps, probe: Any, raw: bytes, content_type: str) -> None:
    probe("POST /yotpo/webhooks").send(
        apps.service,
        "POST",
        "/yotpo/webhooks",
        data=raw,
        content_type=content_type,
        headers=WEBHOOK,
    )


@HOSTILE
@given(secret=st.one_of(st.none(), TEXT), body=WEBHOOK_BODY)
def test_yotpo_webhook_wrong_secret(apps: Apps, probe: Any, secret: Any, body: Any) -> None:
    headers = {} if secret is None else {"X-Yotpo-Webhook-Secret": secret}
    if secret == WEBHOOK_SECRET:
        return
    if not all(v.isascii() and v.isprintable() for v in headers.values()):
        return  # not sendable as an HTTP header at all (gunicorn refuses it with a 400)
    probe("POST /yotpo/webhooks").send(
        apps.service, "POST", "/yotpo/webhooks", json=body, headers=headers, authorized=False
    )


# --- the in-store API ------------------------------------------------------------------------
def _real_or(apps: Apps, value: Any) -> Any:
    return apps.customer_id if value == "<customer>" else value


CUSTOMER_IDS = st.sampled_from(["<customer>", "nobody"]) | TEXT


@HOSTILE
@given(
    query=st.dictionaries(st.sampled_from(["email", "phone", "x"]), TEXT, max_size=2),
)
def test_pos_customer_lookup(apps: Apps, probe: Any, query: dict[str, str]) -> None:
    probe("GET /loyalty/customers").send(
        apps.service, "GET", "/loyalty/customers", query_string=query, headers=POS
    )


@HOSTILE
@given(customer=CUSTOMER_IDS, offline=TEXT, rewards=st.booleans())
def test_pos_customer_and_rewards(
    apps: Apps, probe: Any, customer: str, offline: str, rewards: bool
) -> None:
    from urllib.parse import quote

    path = f"/loyalty/customers/{quote(_real_or(apps, customer), safe='')}"
    if rewards:
        path += "/rewards"
    name = "GET /loyalty/customers/<id>" + ("/rewards" if rewards else "")
    probe(name).send(apps.service, "GET", path, query_string={"offline": offline}, headers=POS)


@HOSTILE
@given(
    body=loose_object(
        {
            "request_id": st.sampled_from(["r-1", "r-2"]) | TEXT,
            "customer_id": CUSTOMER_IDS,
            "option_id": st.sampled_from(["1", "2", "3", "4", "99"]) | NUMBERS | TEXT,
            "points": NUMBERS,
            "currency": st.sampled_from(["EUR", "eur", "GBP"]) | TEXT,
        }
    )
)
def test_pos_redemptions(apps: Apps, probe: Any, body: Any) -> None:
    if isinstance(body, dict):
        body = {k: _real_or(apps, v) for k, v in body.items()}
    probe("POST /loyalty/redemptions").send(
        apps.service, "POST", "/loyalty/redemptions", json=body, headers=POS
    )


@HOSTILE
@given(redemption=TEXT | st.sampled_from(["1", "2", "0"]), body=maybe(st.just({"request_id": "v"})))
def test_pos_reversals(apps: Apps, probe: Any, redemption: str, body: Any) -> None:
    from urllib.parse import quote

    path = f"/loyalty/redemptions/{quote(redemption, safe='') or 'x'}/reversal"
    probe("POST /loyalty/redemptions/<id>/reversal").send(
        apps.service, "POST", path, json=body, headers=POS
    )


SALE_LINE = loose_object(
    {"sku": TEXT, "name": TEXT, "quantity": NUMBERS, "unit_price_minor": NUMBERS}
)


@HOSTILE
@given(
    body=loose_object(
        {
            "request_id": st.sampled_from(["s-1"]) | TEXT,
            "order_number": st.sampled_from(["POS-1", "H-1"]) | TEXT,
            "customer_id": CUSTOMER_IDS,
            "email": TEXT,
            "currency": st.sampled_from(["EUR", "JPY"]) | TEXT,
            "lines": st.lists(SALE_LINE, max_size=3),
            "total_minor": NUMBERS,
            "tax_minor": NUMBERS,
            "reward_code": TEXT,
        }
    )
)
def test_pos_orders(apps: Apps, probe: Any, body: Any) -> None:
    if isinstance(body, dict):
        body = {k: _real_or(apps, v) for k, v in body.items()}
    probe("POST /loyalty/orders").send(
        apps.service, "POST", "/loyalty/orders", json=body, headers=POS
    )


@HOSTILE
@given(
    body=loose_object(
        {
            "request_id": st.sampled_from(["f-1"]) | TEXT,
            "order_number": st.sampled_from(["H-1", "nope"]) | TEXT,
            "amount_minor": NUMBERS,
        }
    ),
    other_store=st.booleans(),
)
def test_pos_refunds(apps: Apps, probe: Any, body: Any, other_store: bool) -> None:
    headers = {"Authorization": f"Bearer {OTHER_POS_SECRET}"} if other_store else POS
    probe("POST /loyalty/refunds").send(
        apps.service, "POST", "/loyalty/refunds", json=body, headers=headers
    )


@HOSTILE
@given(number=st.sampled_from(["H-1", "nope"]) | TEXT)
def test_pos_order_summary(apps: Apps, probe: Any, number: str) -> None:
    from urllib.parse import quote

    path = f"/loyalty/orders/{quote(number, safe='') or 'x'}"
    probe("GET /loyalty/orders/<n>").send(apps.service, "GET", path, headers=POS)


@HOSTILE
@given(
    raw=RAW_BODIES,
    content_type=CONTENT_TYPES,
    path=st.sampled_from(
        [
            "/loyalty/redemptions",
            "/loyalty/orders",
            "/loyalty/refunds",
            "/loyalty/redemptions/x/reversal",
        ]
    ),
)
def test_pos_raw_bodies(apps: Apps, probe: Any, raw: bytes, content_type: str, path: str) -> None:
    probe("POST /loyalty/* raw").send(
        apps.service, "POST", path, data=raw, content_type=content_type, headers=POS
    )


@HOSTILE
@given(
    auth=HOSTILE_AUTH,
    path=st.sampled_from(
        [
            ("GET", "/loyalty/customers?email=ada.hostile%40example.com"),
            ("GET", "/loyalty/orders/H-1"),
            ("POST", "/loyalty/refunds"),
            ("POST", "/loyalty/redemptions"),
            ("POST", "/loyalty/orders"),
        ]
    ),
)
def test_pos_wrong_credentials(apps: Apps, probe: Any, auth: Any, path: Any) -> None:
    method, url = path
    headers = {} if auth is None else {"Authorization": auth}
    if auth and auth.removeprefix("Bearer ").strip() in (POS_SECRET, OTHER_POS_SECRET):
        return
    body = {"request_id": "w", "order_number": "H-1", "amount_minor": 1}
    probe("/loyalty wrong credentials").send(
        apps.service,
        method,
        url,
        json=body if method == "POST" else None,
        headers=headers,
        authorized=False,
    )


def test_pos_public_pages_and_misc(apps: Apps, probe: Any) -> None:
    p = probe("misc")
    for method, path in (
        ("GET", "/loyalty/associate"),
        ("GET", "/loyalty/openapi.json"),
        ("GET", "/health"),
        ("GET", "/nowhere"),
        ("DELETE", "/service"),
        ("GET", "//service"),
        ("GET", "/%2e%2e/service"),
        ("GET", "/loyalty/" + "a" * 5000),
    ):
        p.send(apps.service, method, path)
