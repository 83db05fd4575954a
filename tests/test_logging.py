from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.correlation import correlation_scope
from shared.logs import configure_logging, log_event, mask_email
from shared.webapp import create_base_app


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    configure_logging("test-app", secrets=["super-secret-api-key"], stream=stream)
    yield stream
    configure_logging("test-app")  # back to stdout for the rest of the session


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_one_json_line_per_event_with_app_and_correlation(log_stream):
    with correlation_scope("corr-42"):
        log_event(logging.getLogger("x"), "order.sent", outcome="sent", attempt=1, retry=False)
    (line,) = lines(log_stream)
    assert line["event"] == "order.sent"
    assert line["severity"] == "INFO"
    assert line["app"] == "test-app"
    assert line["correlation_id"] == "corr-42"
    assert line["outcome"] == "sent" and line["attempt"] == 1 and line["retry"] is False


def test_emails_are_masked_in_messages_and_fields(log_stream):
    log_event(logging.getLogger("x"), "customer.synced", email="jane.doe@example.com")
    logging.getLogger("x").warning("could not reach bob.smith@shop.co.uk")
    text = log_stream.getvalue()
    assert "jane.doe@example.com" not in text and "bob.smith@shop.co.uk" not in text
    first, second = lines(log_stream)
    assert first["email"] == "j***@example.com"
    assert second["message"] == "could not reach b***@shop.co.uk"


def test_field_names_made_of_personal_data_are_masked_too(log_stream):
    log_event(
        logging.getLogger("x"),
        "member.balances",
        **{"jane.doe@example.com": 5},
        per_member={"bob.smith@shop.co.uk": 7, "+49 151 2345 6789": 1},
    )
    text = log_stream.getvalue()
    for leak in ("jane.doe@example.com", "bob.smith@shop.co.uk", "+49 151 2345 6789"):
        assert leak not in text
    (line,) = lines(log_stream)
    assert line["j***@example.com"] == 5
    assert line["per_member"]["b***@shop.co.uk"] == 7


def test_secrets_never_reach_the_log(log_stream):
    log_event(
        logging.getLogger("x"),
        "http.call",
        api_key="whatever-it-is",
        headers={"X-API-KEY": "abc123456", "Authorization": "Bearer t0ken-value"},
        note="called with super-secret-api-key",
    )
    text = log_stream.getvalue()
    for secret in ("whatever-it-is", "abc123456", "t0ken-value", "super-secret-api-key"):
        assert secret not in text


def test_a_requests_log_lines_share_its_correlation_id(log_stream):
    app = create_base_app("test-app")

    @app.post("/work")
    def work():
        log_event(logging.getLogger("view"), "work.started")
        log_event(logging.getLogger("view"), "work.done", outcome="ok")
        return {"ok": True}

    response = app.test_client().post("/work", json={}, headers={"X-Correlation-ID": "from-ct-1"})
    assert response.headers["X-Correlation-ID"] == "from-ct-1"
    records = lines(log_stream)
    assert [r["event"] for r in records] == ["work.started", "work.done", "http.request"]
    assert {r["correlation_id"] for r in records} == {"from-ct-1"}

    app.test_client().post("/work", json={})
    generated = {r["correlation_id"] for r in lines(log_stream)[3:]}
    assert len(generated) == 1 and generated != {"from-ct-1"}


def test_exceptions_stay_on_one_line(log_stream):
    try:
        raise ValueError("broken for x@y.org")
    except ValueError:
        logging.getLogger("x").exception("failed")
    (line,) = lines(log_stream)
    assert "Traceback" in line["message"] and "x@y.org" not in line["message"]


def test_mask_email_keeps_domain_only():
    assert mask_email("a@b.io and ZED@Example.COM") == "a***@b.io and Z***@Example.COM"


def test_the_http_request_block_keeps_the_path_only(log_stream):
    app = create_base_app("test-app")

    @app.get("/loyalty/customers")
    def find():
        log_event(logging.getLogger("view"), "lookup.done", outcome="ok")
        return {"ok": True}

    query = "email=ada.lovelace%40example.com&phone=%2B4915111111111&secret=super-secret-api-key"
    app.test_client().get(f"/loyalty/customers?{query}", headers={"User-Agent": "till/1"})
    text = log_stream.getvalue()
    for leak in ("ada.lovelace", "4915111111111", "super-secret-api-key", "email=", "phone="):
        assert leak not in text, leak
    records = lines(log_stream)
    assert records and all(
        r["httpRequest"]["requestUrl"] == "http://localhost/loyalty/customers" for r in records
    )


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("call +49 151 1111 1111 now", "1111 1111"),
        ("where phone = %2B4915111111111", "4915111111111"),
        ("mobile +1 (415) 555-0100", "555-0100"),
        ("zoe.lookup@exämple.com wrote", "zoe.lookup"),
        ("jöhn.doe@example.com wrote", "öhn.doe"),
        ("encoded ada%40example.com", "ada%40"),
    ],
)
def test_phones_and_unicode_emails_are_masked(log_stream, text, leak):
    log_event(logging.getLogger("x"), "note", detail=text)
    logging.getLogger("x").info(text)
    assert leak not in log_stream.getvalue()


def test_ordinary_numbers_are_left_alone(log_stream):
    log_event(logging.getLogger("x"), "order", total="1234567", at="2026-12-01T10:00:00Z")
    (line,) = lines(log_stream)
    assert line["total"] == "1234567" and line["at"] == "2026-12-01T10:00:00Z"


def test_outgoing_call_paths_mask_phones_in_predicates():
    from shared.http import loggable_path

    where = 'addresses(phone in ("+4915111111111", "0151 11111111")) or email = "ada@example.com"'
    shown = loggable_path("/proj/customers", {"where": where})
    for leak in ("4915111111111", "0151 11111111", "11111111", "ada@"):
        assert leak not in shown, shown
    assert 'orderNumber+=+"ORDER-1234567"' in loggable_path(
        "/p/orders", {"where": 'orderNumber = "ORDER-1234567"'}
    )


_MASKING_ALPHABET = "ab.z@%+-()/ 0123456789B4\u00e9"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_MASKING_ALPHABET, max_size=40))
def test_masking_shortcuts_give_what_the_full_patterns_give(text):
    """mask_email/mask_phone skip their regex when a value lacks "@"/"%40" or "+"/"%2":
    the answer must be the one the regex alone gives, for any text."""
    from shared.logs import _EMAIL, _PHONE, PHONE_MASK, mask_phone

    assert mask_email(text) == _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    assert mask_phone(text) == _PHONE.sub(PHONE_MASK, text)
