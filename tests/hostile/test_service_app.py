"""Hostile input to the service app: the cart extension, Yotpo's and Voyado's webhooks, the
in-store API."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from sandbox.voyado import SandboxConfig, TenantConfig, VoyadoServer, receipt
from sandbox.voyado import sign as svix_sign
from sandbox.voyado.webhooks import encode as svix_encode
from service.app import create_app as create_service_app
from service.settings import ServiceSettings
from shared.runtime import build_runtime
from shared.settings import load_settings
from tests.hostile.conftest import (
    EXTENSION_SECRET,
    HOSTILE,
    OTHER_POS_SECRET,
    POS_SECRET,
    SEEDED_EMAIL,
    WEBHOOK_SECRET,
    Apps,
    Probe,
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


# --- Voyado's Svix-signed webhooks ------------------------------------------------------------
# The service app of the session answers 404 (no Voyado account has a webhookSecret); the probes
# below run a second service app over the same world whose LOYALTY_PROVIDERS names a Voyado
# account (the stand-in, started here) with a webhookSecret. A delivery is signed as Svix signs
# one (https://docs.svix.com/receiving/verifying-payloads/how-manual).
VOYADO_PATH = "/voyado/webhooks"
VOYADO_STORE = "voyado-hostile"
VOYADO_KEY = "hostile-voyado-api-key-0123"
VOYADO_SECRET = "whsec_" + base64.b64encode(b"hostile-voyado-webhook-secret-01").decode()
EARNED = "250.00"  # SEK paid on the seeded contact's receipt: 250 points (1 per unit)


@dataclass
class VoyadoApps(Apps):
    voyado: VoyadoServer | None = None
    contact_id: str = ""

    def snapshot(self) -> Any:
        # The tenants' data only: the dump's "now" moves with the clock.
        assert self.voyado is not None
        tenants = self.voyado.engine.state()["tenants"]
        return super().snapshot() + json.dumps(tenants, sort_keys=True, default=str)


@pytest.fixture(scope="module")
def voyado_apps(apps: Apps) -> Iterator[VoyadoApps]:
    config = SandboxConfig(
        tenants=[
            TenantConfig(
                name="hostile",
                api_keys=[VOYADO_KEY],
                stores=["ecom-1"],
                batch_interval_seconds=None,
            )
        ]
    )
    with VoyadoServer(config) as voyado:
        contact = voyado.seed_contact(email=SEEDED_EMAIL)
        # A balance to read back: one purchase receipt, applied by the batch.
        body = receipt(str(contact["id"]), "hostile-receipt-1", [("sku-1", 1, EARNED)])
        answer = requests.post(
            f"{voyado.url}/api/v3/receipts",
            data=svix_encode(body),
            headers=voyado.headers(VOYADO_KEY),
            timeout=5,
        )
        assert answer.status_code in (200, 202), answer.text
        assert voyado.process("hostile") == 1
        entry = {
            "provider": "voyado",
            "baseUrl": voyado.url,
            "apiKey": VOYADO_KEY,
            "storeExternalId": "ecom-1",
            "webhookSecret": VOYADO_SECRET,
        }
        env = {
            **apps.world.env,
            "EXTENSION_SECRET": EXTENSION_SECRET,
            "YOTPO_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LOYALTY_PROVIDERS": json.dumps({VOYADO_STORE: entry}),
            "OIDC_VERIFICATION": "off",
        }
        settings = load_settings(ServiceSettings, env)
        service = create_service_app(settings, build_runtime(settings)).test_client()
        yield VoyadoApps(
            apps.world,
            service,
            apps.event,
            apps.job,
            [*apps.secrets, VOYADO_KEY, VOYADO_SECRET],
            apps.customer_id,
            apps.order_number,
            voyado=voyado,
            contact_id=str(contact["id"]),
        )


def svix_headers(raw: bytes, *, secret: str = VOYADO_SECRET, msg_id: str = "msg_hostile") -> Any:
    timestamp = int(time.time())
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": svix_sign(secret, msg_id, timestamp, raw),
    }


def _contact(apps: VoyadoApps, value: Any) -> Any:
    return apps.contact_id if value == "<contact>" else value


CONTACT_IDS = st.sampled_from(["<contact>", "00000000-0000-0000-0000-000000000000"]) | TEXT
VOYADO_BODY = loose_object(
    {
        "id": TEXT,
        "eventId": TEXT,
        "eventType": st.sampled_from(
            ["point.balance.updated", "reward.voucher.created", "contact.created"]
        )
        | TEXT,
        "isEncrypted": st.booleans() | JSON,
        "payload": loose_object(
            {
                "contactId": CONTACT_IDS,
                "ContactId": CONTACT_IDS,
                "Id": TEXT,
                "balance": NUMBERS,
                "definitionId": NUMBERS,
            }
        ),
    }
)


def _real_contacts(apps: VoyadoApps, body: Any) -> Any:
    payload = body.get("payload") if isinstance(body, dict) else None
    if isinstance(payload, dict):
        payload = {k: _contact(apps, v) for k, v in payload.items()}
        body = {**body, "payload": payload}
    return body


def test_voyado_webhook_without_an_account_is_not_found(apps: Apps, probe: Any) -> None:
    raw = json.dumps({"eventType": "point.balance.updated", "payload": {}}).encode()
    answer = probe("POST /voyado/webhooks unconfigured").send(
        apps.service,
        "POST",
        VOYADO_PATH,
        data=raw,
        content_type="application/json",
        headers=svix_headers(raw),
    )
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_configured"


@HOSTILE
@given(body=VOYADO_BODY)
def test_voyado_webhook_signed_structured(voyado_apps: VoyadoApps, body: Any) -> None:
    raw = json.dumps(_real_contacts(voyado_apps, body)).encode()
    Probe(voyado_apps, "POST /voyado/webhooks").send(
        voyado_apps.service,
        "POST",
        VOYADO_PATH,
        data=raw,
        content_type="application/json",
        headers=svix_headers(raw),
    )


@HOSTILE
@given(raw=RAW_BODIES, content_type=CONTENT_TYPES)
def test_voyado_webhook_signed_raw(voyado_apps: VoyadoApps, raw: bytes, content_type: str) -> None:
    answer = Probe(voyado_apps, "POST /voyado/webhooks").send(
        voyado_apps.service,
        "POST",
        VOYADO_PATH,
        data=raw,
        content_type=content_type,
        headers=svix_headers(raw),
    )
    # Whatever a verified body is, it is never an outcome that retries (nothing is upstream).
    assert answer.status_code in (200, 400)


SVIX_HEADER_NAMES = ("svix-id", "svix-timestamp", "svix-signature")


@HOSTILE
@given(
    body=VOYADO_BODY,
    headers=st.dictionaries(st.sampled_from(SVIX_HEADER_NAMES), HOSTILE_AUTH | TEXT, max_size=3),
    tamper=st.sampled_from(["none", "other-secret", "old", "body-changed"]),
)
def test_voyado_webhook_unsigned_or_wrongly_signed(
    voyado_apps: VoyadoApps, body: Any, headers: dict[str, Any], tamper: str
) -> None:
    raw = json.dumps(_real_contacts(voyado_apps, body)).encode()
    if tamper == "other-secret":
        other = "whsec_" + base64.b64encode(b"not-the-hostile-tenant-secret-02").decode()
        headers = svix_headers(raw, secret=other)
    elif tamper == "old":
        stamp = int(time.time()) - 3600  # Svix refuses timestamps older than five minutes
        headers = {
            "svix-id": "msg_old",
            "svix-timestamp": str(stamp),
            "svix-signature": svix_sign(VOYADO_SECRET, "msg_old", stamp, raw),
        }
    elif tamper == "body-changed":
        headers = svix_headers(raw)
        raw = raw + b" "
    sendable = {k: v for k, v in headers.items() if v is not None}
    if not all(str(v).isascii() and str(v).isprintable() for v in sendable.values()):
        return  # not sendable as an HTTP header at all
    answer = Probe(voyado_apps, "POST /voyado/webhooks unsigned").send(
        voyado_apps.service,
        "POST",
        VOYADO_PATH,
        data=raw,
        content_type="application/json",
        headers=sendable,
        authorized=False,
    )
    assert answer.status_code == 401


def test_voyado_webhook_oversized_body(voyado_apps: VoyadoApps) -> None:
    raw = b'{"eventType": "point.balance.updated", "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    for headers in (svix_headers(raw), {}):
        answer = Probe(voyado_apps, "POST /voyado/webhooks oversized").send(
            voyado_apps.service,
            "POST",
            VOYADO_PATH,
            data=raw,
            content_type="application/json",
            headers=headers,
            authorized=False,
        )
        assert answer.status_code == 413


def test_voyado_webhook_signed_balance_writes_the_seeded_customer(
    voyado_apps: VoyadoApps,
) -> None:
    """The probes above reach the write-back: a verified balance event for the seeded contact is
    written (not only refused), so the hostile inputs were tried against a live path."""
    body = {
        "id": "evt-hostile-1",
        "eventType": "point.balance.updated",
        "isEncrypted": False,
        "payload": {"contactId": voyado_apps.contact_id, "balance": 999_999},
    }
    raw = json.dumps(body).encode()
    answer = Probe(voyado_apps, "POST /voyado/webhooks").send(
        voyado_apps.service,
        "POST",
        VOYADO_PATH,
        data=raw,
        content_type="application/json",
        headers=svix_headers(raw),
    )
    assert answer.status_code == 200
    # The webhook names its tenant (the account whose secret verified it): the contact's
    # balance as Voyado holds it now is what lands, never the body's.
    assert answer.get_json()["outcome"] in ("updated", "unchanged")
    fields = (
        voyado_apps.world.ct.get_by_id("customers", voyado_apps.customer_id).get("custom") or {}
    ).get("fields") or {}
    assert fields.get("loyaltyPointsBalance") == 250
