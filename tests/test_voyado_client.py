"""The Voyado Engage client at the HTTP boundary (`responses`) and against the running stand-in
(`sandbox.voyado`, the independent oracle built from the same documentation)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from sandbox.voyado import (
    DEFAULT_API_KEY,
    DEFAULT_WEBHOOK_SECRET,
    FakeClock,
    SandboxConfig,
    SvixDispatcher,
    TenantConfig,
    VoyadoServer,
    receipt,
    sign,
)
from shared.correlation import correlation_scope
from shared.errors import PermanentError, TransientError
from shared.ratelimit import RateLimiter
from shared.voyado import (
    DEFAULT_RATE_LIMIT_PER_SECOND,
    AmbiguousContact,
    SvixVerificationError,
    VoyadoAuthError,
    VoyadoClient,
    VoyadoPaths,
    VoyadoPermanentError,
    VoyadoRateLimited,
    VoyadoTransientError,
    encode_json,
    receipt_numbers,
    verify_svix,
)
from tests.contracts.voyado_fixtures import fixture

BASE = "https://tenant.voyado.test"
API_KEY = "voyado-api-key-do-not-log"
UA = "ct-loyalty-tests/1.0"
CONTACT = "2e40b702-2767-4abe-ae99-aa510108e22b"
VOUCHER = "af61c5c8-7ff8-1234-9b67-c75300738cd3"


class FakeTime:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def make_client(fake: FakeTime, **overrides: Any) -> VoyadoClient:
    options: dict[str, Any] = {
        "user_agent": UA,
        "rate_limit_per_second": 1000.0,
        "clock": fake.clock,
        "sleep": fake.sleep,
        "jitter": lambda: 0.5,
        **overrides,
    }
    return VoyadoClient(BASE + "/", API_KEY, **options)


@pytest.fixture
def voyado(fake: FakeTime) -> VoyadoClient:
    return make_client(fake)


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def error(code: str, message: str = "details") -> dict[str, str]:
    return {"errorCode": code, "message": message}


# --- request shape ---------------------------------------------------------------------------


def test_every_call_carries_apikey_user_agent_content_type_and_correlation(rsps, voyado):
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json={"items": []})
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=202)
    with correlation_scope("order-42"):
        voyado.point_accounts(CONTACT)
        voyado.post_receipt({"uniqueReceiptId": "o-1", "totalGrossPrice": "1.00"})
    for call in rsps.calls:
        headers = call.request.headers
        assert headers["apikey"] == API_KEY
        assert headers["User-Agent"] == UA
        # "In all request made to the Engage API, it's mandatory" (api-authentication page),
        # GETs included.
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Correlation-ID"] == "order-42"


def test_the_client_refuses_to_run_without_a_user_agent_or_key():
    with pytest.raises(ValueError):
        VoyadoClient(BASE, API_KEY, user_agent=" ")
    with pytest.raises(ValueError):
        VoyadoClient(BASE, "", user_agent=UA)


def test_the_default_rate_is_voyados_advised_fifty_per_second(fake):
    client = VoyadoClient(BASE, API_KEY, user_agent=UA, clock=fake.clock, sleep=fake.sleep)
    assert DEFAULT_RATE_LIMIT_PER_SECOND == 50.0
    assert client.limiter.rate_per_second == 50.0


def test_every_call_draws_from_the_keys_limiter(rsps, fake):
    limiter = RateLimiter(2.0, clock=fake.clock, sleep=fake.sleep)
    client = make_client(fake, limiter=limiter)
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json={"items": []})
    for _ in range(3):
        client.point_accounts(CONTACT)
    # Two grants per second: the third call waited for the window.
    assert sum(fake.sleeps) == pytest.approx(1.0)


# --- contacts --------------------------------------------------------------------------------


def test_find_contact_by_email_answers_the_id(rsps, voyado):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    assert voyado.find_contact_id(email="jane@example.com") == CONTACT
    assert query(rsps.calls[0]) == {"email": ["jane@example.com"]}


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"mobile_phone": "+46701234567"}, "mobilePhone"), ({"custom_key": "ct-1"}, "customKey")],
)
def test_find_contact_by_phone_or_custom_key(rsps, voyado, kwargs, param):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, json=CONTACT)
    assert voyado.find_contact_id(**kwargs, contact_type="Member") == CONTACT
    found = query(rsps.calls[0])
    assert found[param] == [next(iter(kwargs.values()))]
    assert found["contactType"] == ["Member"]


def test_an_unknown_contact_is_none(rsps, voyado):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=404, json=error("ContactNotFound"))
    assert voyado.find_contact_id(email="nobody@example.com") is None


def test_multiple_matches_is_a_typed_permanent_error(rsps, voyado, fake):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=409, json=error("MultipleMatches"))
    with pytest.raises(AmbiguousContact) as caught:
        voyado.find_contact_id(email="twice@example.com")
    assert isinstance(caught.value, PermanentError)
    assert caught.value.error_code == "MultipleMatches"
    assert len(rsps.calls) == 1 and fake.sleeps == []


def test_find_contact_needs_exactly_one_key(voyado):
    with pytest.raises(ValueError):
        voyado.find_contact_id()
    with pytest.raises(ValueError):
        voyado.find_contact_id(email="a@example.com", custom_key="x")


def test_lookups_never_log_the_email_or_phone(rsps, voyado, caplog):
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=404, json=error("ContactNotFound"))
    rsps.get(BASE + VoyadoPaths.CONTACT_ID, status=400, json=error("InvalidPhoneNumber"))
    caplog.set_level(logging.INFO, logger="shared.voyado")
    voyado.find_contact_id(email="jane.doe@example.com")
    with pytest.raises(VoyadoPermanentError) as caught:
        voyado.find_contact_id(mobile_phone="0701234567")
    logged = json.dumps([r.__dict__.get("json_fields") for r in caplog.records])
    assert "jane" not in logged and "example.com" not in logged
    assert "0701234567" not in logged and "0701234567" not in str(caught.value)
    assert len(caplog.records) == 2  # one line per call


def test_create_contact_sends_source_and_store_in_the_query(rsps, voyado):
    rsps.post(BASE + VoyadoPaths.CONTACTS, status=201, json={"id": CONTACT})
    made = voyado.create_contact(
        {"email": "new@example.com", "contactType": "Member"},
        source="commercetools",
        store_external_id="ecom-1",
    )
    assert made["id"] == CONTACT
    assert query(rsps.calls[0]) == {"source": ["commercetools"], "storeExternalId": ["ecom-1"]}
    assert json.loads(rsps.calls[0].request.body) == {
        "email": "new@example.com",
        "contactType": "Member",
    }


def test_a_lost_contact_creation_is_not_resent_blindly(rsps, voyado, fake):
    # The retry policy page: "retrying a POST request without knowing if the first one went
    # through can be very dangerous".
    rsps.post(BASE + VoyadoPaths.CONTACTS, status=503)
    with pytest.raises(VoyadoTransientError) as caught:
        voyado.create_contact({"email": "new@example.com"})
    assert caught.value.maybe_applied is True
    assert len(rsps.calls) == 1


def test_a_rate_limited_contact_creation_is_retried(rsps, voyado):
    rsps.post(BASE + VoyadoPaths.CONTACTS, status=429, json=error("TooManyRequests"))
    rsps.post(BASE + VoyadoPaths.CONTACTS, status=201, json={"id": CONTACT})
    assert voyado.create_contact({"email": "new@example.com"})["id"] == CONTACT


def test_get_contact_and_its_absence(rsps, voyado):
    rsps.get(f"{BASE}/api/v3/contacts/{CONTACT}", json={"id": CONTACT})
    rsps.get(f"{BASE}/api/v3/contacts/{VOUCHER}", status=404, json=error("ContactNotFound"))
    assert voyado.get_contact(CONTACT) == {"id": CONTACT}
    assert voyado.get_contact(VOUCHER) is None


# --- receipts --------------------------------------------------------------------------------


def test_receipt_amounts_go_out_as_exact_json_numbers(rsps, voyado):
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=202)
    body = {
        "uniqueReceiptId": "o-1",
        "totalGrossPrice": "199.95",
        "paymentMethods": [{"type": "card", "value": "199.95"}],
        "items": [
            {
                "type": "PURCHASE",
                "quantity": "3",
                "grossPaidPrice": "199.95",
                "taxAmount": "39.99",
                "taxPercent": "25",
                "discounts": [{"value": "-10.05"}],
            }
        ],
    }
    assert voyado.post_receipt(body) is None
    raw = rsps.calls[0].request.body.decode()
    assert '"totalGrossPrice":199.95' in raw
    assert '"quantity":3,' in raw and '"taxPercent":25' in raw
    assert '"value":-10.05' in raw
    assert urlsplit(rsps.calls[0].request.url).path == "/api/v3/receipts"
    assert body["totalGrossPrice"] == "199.95"  # the caller's (pinned) payload is untouched


def test_a_receipt_is_resent_after_a_5xx_because_its_id_deduplicates(rsps, voyado):
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=503)
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=202)
    voyado.post_receipt({"uniqueReceiptId": "o-1"})
    assert len(rsps.calls) == 2
    assert rsps.calls[0].request.body == rsps.calls[1].request.body


def test_a_receipt_timeout_retries_then_ends_transient_and_maybe_applied(rsps, voyado):
    for _ in range(3):
        rsps.post(BASE + VoyadoPaths.RECEIPTS, body=requests.ReadTimeout())
    with pytest.raises(VoyadoTransientError) as caught:
        voyado.post_receipt({"uniqueReceiptId": "o-1"})
    assert caught.value.maybe_applied is True
    assert len(rsps.calls) == 3  # one attempt and max_retries=2


def test_a_receipt_without_its_id_is_refused_before_sending(voyado):
    with pytest.raises(ValueError):
        voyado.post_receipt({"totalGrossPrice": "1.00"})


def test_a_refused_receipt_is_permanent_with_the_code_not_the_body(rsps, voyado):
    rsps.post(
        BASE + VoyadoPaths.RECEIPTS,
        status=400,
        json=error("InvalidModel", f"bad receipt for jane@example.com {API_KEY}"),
    )
    with pytest.raises(VoyadoPermanentError) as caught:
        voyado.post_receipt({"uniqueReceiptId": "o-1"})
    assert caught.value.error_code == "InvalidModel"
    assert "jane" not in str(caught.value) and API_KEY not in str(caught.value)
    assert len(rsps.calls) == 1


def test_bad_credentials_raise_an_auth_error(rsps, voyado):
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, status=401, json=error("Unauthorized"))
    with pytest.raises(VoyadoAuthError):
        voyado.point_accounts(CONTACT)


def test_contract_fixture_receipt_encodes_to_the_same_numbers():
    # The fixture loader reads floats; the ledger pins decimal text, so read it that way.
    body = json.loads(json.dumps(fixture("receipts_create")["request"]["body"]), parse_float=str)
    sent = json.loads(encode_json(receipt_numbers(body)), parse_float=Decimal)
    assert sent["totalGrossPrice"] == Decimal("200.0")
    assert sent["items"][0]["quantity"] == 2


def test_floats_are_never_encoded():
    with pytest.raises(TypeError):
        encode_json({"amount": 0.1})
    assert encode_json({"a": Decimal("0.10"), "b": [1, "x", None, True]}) == (
        b'{"a":0.10,"b":[1,"x",null,true]}'
    )


# --- rate limits and retries -----------------------------------------------------------------


def test_429_honours_retry_after_and_pauses_the_key(rsps, voyado, fake):
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, status=429, headers={"Retry-After": "3"})
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json={"items": [{"balance": 10}]})
    assert voyado.point_accounts(CONTACT) == [{"balance": 10}]
    assert fake.sleeps[0] == 3.0


def test_429_without_retry_after_backs_off(rsps, voyado, fake):
    # Voyado documents no Retry-After header (api-rate-limit page).
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, status=429)
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json={"items": []})
    voyado.point_accounts(CONTACT)
    assert 0 < fake.sleeps[0] < 1


def test_a_lasting_429_ends_as_rate_limited(rsps, voyado):
    for _ in range(3):
        rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, status=429, headers={"Retry-After": "2"})
    with pytest.raises(VoyadoRateLimited) as caught:
        voyado.point_accounts(CONTACT)
    assert caught.value.retry_after == 2.0 and caught.value.maybe_applied is False
    assert isinstance(caught.value, TransientError)


def test_a_bounded_view_never_waits_past_its_budget(rsps, voyado, fake):
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, status=429, headers={"Retry-After": "5"})
    with pytest.raises(VoyadoRateLimited):
        voyado.bounded(1.0).point_accounts(CONTACT)
    assert fake.sleeps == []


def test_get_timeouts_are_retried(rsps, voyado):
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, body=requests.ConnectionError())
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json={"items": []})
    assert voyado.point_accounts(CONTACT) == []


# --- points ----------------------------------------------------------------------------------


def test_point_transactions_carry_the_idempotency_key_on_every_attempt(rsps, voyado):
    rsps.post(BASE + VoyadoPaths.ADD_POINT_TRANSACTIONS, status=502)
    rsps.post(
        BASE + VoyadoPaths.ADD_POINT_TRANSACTIONS,
        json={"notAccepted": [], "errorMessages": [], "missingContactIds": []},
    )
    result = voyado.add_point_transactions(
        [
            {
                "contactId": CONTACT,
                "amount": 100,
                "definitionId": 1,
                "source": "s",
                "description": "d",
            }
        ],
        idempotency_key="reward_return:r-1",
    )
    assert result.all_accepted
    assert [c.request.headers["Idempotency-Key"] for c in rsps.calls] == ["reward_return:r-1"] * 2


def test_point_transactions_report_rows_voyado_skipped(rsps, voyado):
    rsps.post(
        BASE + VoyadoPaths.ADD_POINT_TRANSACTIONS,
        json=fixture("point_transactions_add")["response"]["body"],
    )
    result = voyado.add_point_transactions(
        [{"contactId": CONTACT, "amount": 5, "definitionId": 1}], idempotency_key="k"
    )
    assert not result.all_accepted
    assert result.error_messages == ("description must be provided",)


def test_point_transactions_need_a_key_and_at_most_1000_rows(voyado):
    with pytest.raises(ValueError):
        voyado.add_point_transactions([{"amount": 1}], idempotency_key="")
    with pytest.raises(ValueError):
        voyado.add_point_transactions([{"amount": 1}] * 1001, idempotency_key="k")


def test_point_transactions_are_read_page_by_page(rsps, voyado):
    rows = [{"id": n, "description": f"row {n}"} for n in range(5)]
    rsps.get(
        BASE + VoyadoPaths.POINT_TRANSACTIONS,
        json={"count": 2, "offset": 0, "totalCount": 5, "items": rows[:2]},
    )
    rsps.get(
        BASE + VoyadoPaths.POINT_TRANSACTIONS,
        json={"count": 2, "offset": 2, "totalCount": 5, "items": rows[2:4]},
    )
    rsps.get(
        BASE + VoyadoPaths.POINT_TRANSACTIONS,
        json={"count": 1, "offset": 4, "totalCount": 5, "items": rows[4:]},
    )
    assert voyado.point_transactions(account_id=7, page_size=2) == rows
    assert [query(c)["offset"] for c in rsps.calls] == [["0"], ["2"], ["4"]]
    assert query(rsps.calls[0])["accountId"] == ["7"]


def test_point_accounts_read_the_documented_page(rsps, voyado):
    rsps.get(BASE + VoyadoPaths.POINT_ACCOUNTS, json=fixture("point_accounts")["response"]["body"])
    accounts = voyado.point_accounts(CONTACT)
    assert accounts[0]["balance"] == Decimal("150.0")


# --- vouchers --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["paged", "plain"])
def test_available_vouchers_read_a_page_or_a_bare_array(rsps, voyado, shape):
    items = fixture("reward_vouchers_available")["response"]["body"]["items"]
    rsps.get(
        BASE + VoyadoPaths.AVAILABLE_VOUCHERS,
        json={"count": 1, "offset": 0, "items": items} if shape == "paged" else items,
    )
    assert [v["id"] for v in voyado.available_vouchers(CONTACT)] == [VOUCHER]


def test_redeem_then_redeem_again_is_already_done(rsps, voyado):
    path = BASE + VoyadoPaths.REDEEM_VOUCHER.format(voucher_id=VOUCHER)
    rsps.post(path, json={"id": VOUCHER})
    rsps.post(path, status=409, json=error("RewardVoucherAlreadyRedeemed"))
    assert voyado.redeem_voucher(VOUCHER).outcome == "done"
    assert voyado.redeem_voucher(VOUCHER).outcome == "already"


@pytest.mark.parametrize("code", ["RewardVoucherExpired", "RewardVoucherNotFound"])
def test_an_expired_or_unknown_voucher_is_permanent(rsps, voyado, code):
    path = BASE + VoyadoPaths.REDEEM_VOUCHER.format(voucher_id=VOUCHER)
    rsps.post(path, status=409 if code.endswith("Expired") else 404, json=error(code))
    with pytest.raises(VoyadoPermanentError) as caught:
        voyado.redeem_voucher(VOUCHER)
    assert caught.value.error_code == code


def test_reactivate_an_active_voucher_is_already_done_and_the_limit_is_permanent(rsps, voyado):
    path = BASE + VoyadoPaths.REACTIVATE_VOUCHER.format(voucher_id=VOUCHER)
    rsps.post(path, status=409, json=error("RewardVoucherAlreadyActivated"))
    rsps.post(path, status=409, json=error("ReactivationLimitExceeded"))
    assert voyado.reactivate_voucher(VOUCHER).outcome == "already"
    with pytest.raises(VoyadoPermanentError) as caught:
        voyado.reactivate_voucher(VOUCHER)
    assert caught.value.error_code == "ReactivationLimitExceeded"


def test_a_redeem_whose_answer_was_lost_is_retried_and_reads_already(rsps, voyado):
    path = BASE + VoyadoPaths.REDEEM_VOUCHER.format(voucher_id=VOUCHER)
    rsps.post(path, status=504)
    rsps.post(path, status=409, json=error("RewardVoucherAlreadyRedeemed"))
    assert voyado.redeem_voucher(VOUCHER).outcome == "already"


# --- Svix ------------------------------------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"a-test-webhook-signing-key-32byt").decode()
BODY = b'{"eventType":"point.balance.updated","payload":{"balance":150.0}}'
NOW = 1_764_580_000


def signature(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def svix_headers(ts: int = NOW, sig: str | None = None, msg_id: str = "msg_1") -> dict[str, str]:
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": sig if sig is not None else signature(SECRET, msg_id, ts, BODY),
    }


def test_a_signed_webhook_verifies_and_answers_its_message_id():
    assert verify_svix(SECRET, svix_headers(), BODY, NOW) == "msg_1"
    assert verify_svix(SECRET, svix_headers(), BODY.decode(), float(NOW + 299)) == "msg_1"


def test_any_of_several_v1_signatures_may_match():
    good = signature(SECRET, "msg_1", NOW, BODY)
    headers = svix_headers(sig=f"v1,AAAA v1a,ignored {good}")
    assert verify_svix(SECRET, headers, BODY, NOW) == "msg_1"


def test_white_labelled_headers_and_a_rotated_secret_verify():
    old = "whsec_" + base64.b64encode(b"the-previous-signing-key-32byte!").decode()
    headers = {f"Webhook-{k[5:].title()}": v for k, v in svix_headers().items()}
    assert verify_svix([old, SECRET], headers, BODY, NOW) == "msg_1"


@pytest.mark.parametrize(
    ("headers", "body", "now"),
    [
        (svix_headers(), BODY + b" ", NOW),  # a changed body
        (svix_headers(sig="v1," + base64.b64encode(b"x" * 32).decode()), BODY, NOW),
        (svix_headers(sig=signature(SECRET, "msg_1", NOW, BODY).replace("v1,", "v2,")), BODY, NOW),
        (svix_headers(), BODY, NOW + 301),  # too old
        (svix_headers(), BODY, NOW - 301),  # from the future
        ({"svix-id": "msg_1", "svix-timestamp": str(NOW)}, BODY, NOW),
        (svix_headers(ts=0) | {"svix-timestamp": "12a"}, BODY, NOW),
    ],
)
def test_a_bad_signature_or_timestamp_is_refused(headers, body, now):
    with pytest.raises(SvixVerificationError):
        verify_svix(SECRET, headers, body, now)


def test_another_secret_does_not_verify():
    other = "whsec_" + base64.b64encode(b"someone-else-s-signing-key-32by!").decode()
    with pytest.raises(SvixVerificationError):
        verify_svix(other, svix_headers(), BODY, NOW)


def test_the_verifier_agrees_with_the_standins_signer():
    # The stand-in signs from the same Svix page with its own code.
    header = sign(SECRET, "msg_9", NOW, BODY)
    assert verify_svix(SECRET, svix_headers(sig=header, msg_id="msg_9"), BODY, NOW) == "msg_9"


# --- against the running stand-in ------------------------------------------------------------


@pytest.fixture
def standin():
    clock = FakeClock()
    with VoyadoServer(clock=clock) as server:
        yield server


@pytest.fixture
def live(standin) -> VoyadoClient:
    return VoyadoClient(standin.url, DEFAULT_API_KEY, user_agent=UA, max_retries=2)


def test_standin_contacts_find_create_get_and_multiple_matches(standin, live):
    assert live.find_contact_id(email="jane@example.com") is None
    made = live.create_contact(
        {"email": "jane@example.com", "firstName": "Jane"},
        source="commercetools",
        store_external_id="ecom-1",
    )
    assert live.find_contact_id(email="JANE@example.com") == made["id"]
    assert live.get_contact(made["id"])["attributes"]["firstName"] == "Jane"
    standin.seed_contact(email="jane@example.com", allow_duplicate=True)
    with pytest.raises(AmbiguousContact):
        live.find_contact_id(email="jane@example.com")
    with pytest.raises(VoyadoPermanentError) as caught:
        live.find_contact_id(email="not-an-email")
    assert caught.value.error_code == "InvalidEmailAddress"


def test_standin_receipt_points_vouchers_round_trip(standin, live):
    contact = standin.seed_contact(email="buyer@example.com")["id"]
    body = receipt(contact, "order-1", [("sku-1", 2, "600.00")])
    live.post_receipt(body)
    live.post_receipt(body)  # a duplicate uniqueReceiptId is ignored
    standin.process()
    # 600 points, 500 of which the step model turned into one voucher.
    accounts = live.point_accounts(contact)
    assert accounts[0]["balance"] == 100
    history = live.point_transactions(account_id=accounts[0]["id"])
    assert [row["source"] for row in history] == ["RewardVoucher", "Purchase"]
    vouchers = live.available_vouchers(contact)
    assert len(vouchers) == 1
    assert live.redeem_voucher(vouchers[0]["id"]).outcome == "done"
    assert live.redeem_voucher(vouchers[0]["id"]).outcome == "already"
    assert live.available_vouchers(contact) == []
    assert live.reactivate_voucher(vouchers[0]["id"]).outcome == "done"
    assert live.reactivate_voucher(vouchers[0]["id"]).outcome == "already"


def test_standin_point_transactions_apply_once_per_idempotency_key(standin, live):
    contact = standin.seed_contact(email="points@example.com")["id"]
    row = {
        "contactId": contact,
        "amount": 40,
        "definitionId": 1,
        "source": "commercetools",
        "description": "reward_return:r-1",
    }
    first = live.add_point_transactions([row], idempotency_key="reward_return:r-1")
    again = live.add_point_transactions([row], idempotency_key="reward_return:r-1")
    assert first.all_accepted and again == first
    assert standin.contact_state(contact)["balance"] == 40


def test_standin_rate_limit_is_retried(standin, live):
    standin.engine.set_faults({"rate_limited_next": 1})
    contact = standin.seed_contact(email="limit@example.com")["id"]
    assert live.find_contact_id(email="limit@example.com") == contact


def test_standin_lost_receipt_answer_is_resent_and_counted_once(standin, live):
    contact = standin.seed_contact(email="lost@example.com")["id"]
    standin.engine.set_faults({"path_prefix": "/api/v3/receipts", "commit_next": 1})
    live.post_receipt(receipt(contact, "order-2", [("sku-1", 1, "100.00")]))
    standin.process()
    assert standin.contact_state(contact)["balance"] == 100


def test_standin_webhooks_verify(standin):
    captured: list[tuple[bytes, dict[str, str]]] = []
    done = threading.Event()

    def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        captured.append((body, headers))
        done.set()
        return 200

    clock = FakeClock()
    config = SandboxConfig(
        tenants=[TenantConfig(name="t", api_keys=["k-hooks"], webhook_url="http://receiver.test/")]
    )
    dispatcher = SvixDispatcher(retry_delays=[], post=post)
    with VoyadoServer(config, clock=clock, dispatcher=dispatcher) as server:
        contact = server.seed_contact(email="hooks@example.com")["id"]
        client = VoyadoClient(server.url, "k-hooks", user_agent=UA)
        client.post_receipt(receipt(contact, "order-3", [("sku-1", 1, "10.00")]))
        server.process()
        assert done.wait(5)
        server.wait_webhooks()
    body, headers = captured[0]
    assert verify_svix(DEFAULT_WEBHOOK_SECRET, headers, body, time.time()).startswith("msg_")
    assert json.loads(body)["eventType"] == "point.balance.updated"


def test_a_write_that_may_have_landed_stays_maybe_applied_after_a_later_429(rsps, voyado):
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=503)
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=429)
    rsps.post(BASE + VoyadoPaths.RECEIPTS, status=429)
    with pytest.raises(VoyadoRateLimited) as caught:
        voyado.post_receipt({"uniqueReceiptId": "o-1"})
    assert caught.value.maybe_applied is True


# --- the contract fixtures: the client's paths, methods and readings -------------------------

CALLS = {
    "contacts_find_id": lambda c: c.find_contact_id(email="jane@example.com"),
    "contacts_create": lambda c: c.create_contact(
        {"email": "new@example.com"}, source="e-com", store_external_id="ecom-1"
    ),
    "contacts_get": lambda c: c.get_contact(CONTACT),
    "receipts_create_v3": lambda c: c.post_receipt({"uniqueReceiptId": "o-1"}),
    "point_accounts": lambda c: c.point_accounts(CONTACT),
    "point_transactions": lambda c: c.point_transactions(account_id=1),
    "point_transactions_add": lambda c: c.add_point_transactions(
        [{"contactId": CONTACT, "amount": 1}], idempotency_key="k-1"
    ),
    "reward_vouchers_available": lambda c: c.available_vouchers(CONTACT),
    "reward_voucher_redeem": lambda c: c.redeem_voucher(VOUCHER),
    "reward_voucher_reactivate": lambda c: c.reactivate_voucher(VOUCHER),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_call_uses_the_fixtures_method_path_and_query(rsps, voyado, name):
    f = fixture(name)
    path = f["path"].replace("{contactId}", CONTACT).replace("{voucherId}", VOUCHER)
    answer = f["response"]
    body = answer.get("body")
    rsps.add(
        f["method"],
        BASE + path,
        status=answer["status"],
        body=json.dumps(body) if body is not None else "",
        content_type="application/json",
    )
    CALLS[name](voyado)
    sent = rsps.calls[0].request
    assert sent.method == f["method"] and urlsplit(sent.url).path == path
    wanted = set(f["request"].get("query") or {})
    assert wanted <= set(query(rsps.calls[0]))
    for header in f["request"].get("headers") or {}:
        assert header in sent.headers


@pytest.mark.parametrize(
    ("name", "code", "expected"),
    [
        ("contacts_find_id", "ContactNotFound", None),
        ("contacts_find_id", "MultipleMatches", AmbiguousContact),
        ("contacts_get", "ContactNotFound", None),
        ("reward_voucher_redeem", "RewardVoucherAlreadyRedeemed", "already"),
        ("reward_voucher_redeem", "RewardVoucherExpired", VoyadoPermanentError),
        ("reward_voucher_reactivate", "RewardVoucherAlreadyActivated", "already"),
        ("reward_voucher_reactivate", "ReactivationLimitExceeded", VoyadoPermanentError),
        ("contacts_create", "ContactAlreadyExists", VoyadoPermanentError),
    ],
)
def test_each_documented_error_reads_as_the_client_says(rsps, voyado, name, code, expected):
    f = fixture(name)
    documented = next(e for e in f["errors"] if e["errorCode"] == code)
    path = f["path"].replace("{contactId}", CONTACT).replace("{voucherId}", VOUCHER)
    rsps.add(f["method"], BASE + path, status=documented["status"], json=error(code))
    if isinstance(expected, type):
        with pytest.raises(expected) as caught:
            CALLS[name](voyado)
        assert caught.value.error_code == code
    elif expected is None:
        assert CALLS[name](voyado) is None
    else:
        assert CALLS[name](voyado).outcome == expected
