"""Hostile input to the event app (Pub/Sub push) and the job app (scheduler), OIDC on."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.conftest import GOOGLE, HOSTILE, Apps, oidc_headers
from tests.hostile.strategies import (
    CONTENT_TYPES,
    HOSTILE_AUTH,
    JSON,
    NUMBERS,
    RAW_BODIES,
    TEXT,
    envelope,
    loose_object,
)
from tests.integration.world import PROJECT

NOTIFICATION = loose_object(
    {
        "notificationType": st.sampled_from(["Message", "ResourceCreated"]) | TEXT,
        "projectKey": st.sampled_from([PROJECT, "someone-elses-project"]) | TEXT,
        "type": st.sampled_from(
            [
                "OrderCreated",
                "OrderImported",
                "OrderPaymentStateChanged",
                "PaymentTransactionAdded",
                "PaymentTransactionStateChanged",
                "ReturnInfoAdded",
                "CustomerCreated",
                "OrderStateChanged",
            ]
        )
        | TEXT,
        "resource": loose_object(
            {
                "typeId": st.sampled_from(["order", "payment", "customer"]) | TEXT,
                "id": st.sampled_from(['nope")) or id is defined or (id = "x']) | TEXT,
            }
        ),
        "resourceVersion": NUMBERS,
        "sequenceNumber": NUMBERS,
        "transaction": JSON,
        "order": JSON,
        "customer": JSON,
    }
)
MESSAGE_IDS = st.sampled_from(["m-1", "x\ny", "²", "a" * 70_000, ""]) | TEXT | NUMBERS
ATTRIBUTES = st.one_of(
    st.dictionaries(
        st.sampled_from(["googclient_deliveryattempt", "x"]),
        st.sampled_from(["1", "²", "-1", "99999999999999999999", ""]) | TEXT,
        max_size=2,
    ),
    JSON,
)


@HOSTILE
@given(data=NOTIFICATION, message_id=MESSAGE_IDS, attributes=ATTRIBUTES)
def test_event_structured(
    apps: Apps, probe: Any, data: Any, message_id: Any, attributes: Any
) -> None:
    probe("POST /event").send(
        apps.event,
        "POST",
        "/event",
        json=envelope(data, message_id, attributes),
        headers=oidc_headers(),
    )


@HOSTILE
@given(data=RAW_BODIES)
def test_event_hostile_payload_inside_the_envelope(apps: Apps, probe: Any, data: bytes) -> None:
    probe("POST /event").send(
        apps.event, "POST", "/event", json=envelope(data), headers=oidc_headers()
    )


@HOSTILE
@given(
    body=loose_object(
        {
            "message": loose_object(
                {
                    "data": st.sampled_from(["!!!", "", base64.b64encode(b"[1]").decode()]) | JSON,
                    "messageId": MESSAGE_IDS,
                    "attributes": ATTRIBUTES,
                }
            ),
            "subscription": TEXT,
            "deliveryAttempt": NUMBERS,
        }
    )
)
def test_event_broken_envelopes(apps: Apps, probe: Any, body: Any) -> None:
    probe("POST /event").send(apps.event, "POST", "/event", json=body, headers=oidc_headers())


@HOSTILE
@given(raw=RAW_BODIES, content_type=CONTENT_TYPES)
def test_event_raw(apps: Apps, probe: Any, raw: bytes, content_type: str) -> None:
    probe("POST /event").send(
        apps.event, "POST", "/event", data=raw, content_type=content_type, headers=oidc_headers()
    )


def _tokens() -> st.SearchStrategy[str]:
    import time

    now = int(time.time())
    return st.sampled_from(
        [
            GOOGLE.mint(aud="https://someone-else.run.app"),
            GOOGLE.mint(email="intruder@evil.iam.gserviceaccount.com"),
            GOOGLE.mint(email_verified="true"),
            GOOGLE.mint(iat=now - 7200, exp=now - 3600),
            GOOGLE.mint(exp="soon"),
            GOOGLE.mint(iss="https://evil.example.com"),
        ]
    ).map(lambda t: f"Bearer {t}")


@HOSTILE
@given(auth=HOSTILE_AUTH | _tokens(), data=NOTIFICATION, job=st.booleans())
def test_event_and_job_wrong_credentials(
    apps: Apps, probe: Any, auth: Any, data: Any, job: bool
) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    client, path = (apps.job, "/job") if job else (apps.event, "/event")
    probe(f"POST {path} wrong credentials").send(
        client, "POST", path, json={} if job else envelope(data), headers=headers, authorized=False
    )


DATES = st.sampled_from(["2026-01-01", "2026-13-45", "yesterday", "9999-12-31", "0001-01-01"])
JOB_BODY = loose_object(
    {
        "task": st.sampled_from(["nightly", "backfill", "audit", "drop-tables"]) | JSON,
        "since": DATES | TEXT,
        "until": DATES | TEXT,
        "store": TEXT,
        "dryRun": st.just(True) | JSON,
        "restart": JSON,
    }
)


@HOSTILE
@given(body=JOB_BODY)
def test_job_structured(apps: Apps, probe: Any, body: Any) -> None:
    if isinstance(body, dict) and body.get("task") == "backfill":
        body["dryRun"] = True  # a real backfill of the seeded order is a valid, 2xx run anyway
    probe("POST /job").send(apps.job, "POST", "/job", json=body, headers=oidc_headers())


@HOSTILE
@given(raw=RAW_BODIES, content_type=CONTENT_TYPES)
def test_job_raw(apps: Apps, probe: Any, raw: bytes, content_type: str) -> None:
    probe("POST /job").send(
        apps.job, "POST", "/job", data=raw, content_type=content_type, headers=oidc_headers()
    )
