from __future__ import annotations

import io
import json
import logging

import pytest

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
