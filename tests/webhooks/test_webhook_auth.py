"""Webhook authentication: a configurable header, or a token in the URL; constant-time
compares; a verify mode that logs names, never values."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr, ValidationError

from service.webhooks import (
    DEFAULT_SECRET_HEADER,
    WebhookAuth,
    WebhookAuthSettings,
    WebhookError,
    register_webhook_route,
)
from shared.errors import YotpoTransientError
from shared.logs import configure_logging
from shared.webapp import create_base_app

SECRET = "webhook-secret-value-123"
TOKEN = "url-token-value-456"
BODY = {"topic": "swell/points/changed", "customer": {"third_party_id": "c-1"}}


class Recorder:
    """Stands in for YotpoWebhooks: records what reached it."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[dict[str, Any], str]] = []
        self.fail = fail

    def handle(self, body: dict[str, Any], *, account: str = "default") -> str:
        self.calls.append((body, account))
        if self.fail is not None:
            raise self.fail
        return "updated"


def _client(auth: WebhookAuth, handler: Recorder) -> FlaskClient:
    app = create_base_app("service")
    register_webhook_route(app, handler, auth)  # type: ignore[arg-type]
    return app.test_client()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("service", secrets=[SECRET, TOKEN], stream=stream)
    yield stream
    configure_logging("service", stream=io.StringIO())


def _events(stream: io.StringIO, name: str) -> list[dict[str, Any]]:
    found = []
    for line in stream.getvalue().splitlines():
        record = json.loads(line)
        if record.get("event") == name:
            found.append(record)
    return found


def test_the_secret_in_the_default_header_is_accepted():
    handler = Recorder()
    client = _client(WebhookAuth(secret=SECRET), handler)

    answer = client.post("/yotpo/webhooks", json=BODY, headers={DEFAULT_SECRET_HEADER: SECRET})

    assert answer.status_code == 200 and answer.get_json() == {"outcome": "updated"}
    assert handler.calls == [(BODY, "default")]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {DEFAULT_SECRET_HEADER: "wrong"},
        {DEFAULT_SECRET_HEADER: SECRET[:-1]},
        {"X-Other": SECRET},
    ],
)
def test_a_missing_or_wrong_secret_is_401_and_reaches_nothing(headers):
    handler = Recorder()
    client = _client(WebhookAuth(secret=SECRET), handler)

    assert client.post("/yotpo/webhooks", json=BODY, headers=headers).status_code == 401
    assert handler.calls == []


def test_the_header_name_is_configurable():
    settings = WebhookAuthSettings(yotpo_webhook_secret_header="X-Auth-Token")
    auth = settings.webhook_auth(SecretStr(SECRET))
    handler = Recorder()
    client = _client(auth, handler)

    assert (
        client.post("/yotpo/webhooks", json=BODY, headers={"x-auth-token": SECRET}).status_code
        == 200
    )
    default = {DEFAULT_SECRET_HEADER: SECRET}
    assert client.post("/yotpo/webhooks", json=BODY, headers=default).status_code == 401


@pytest.mark.parametrize("bad", ["", "  ", "X Bad", "X:Bad"])
def test_a_header_name_that_is_not_one_is_refused_at_start_up(bad):
    with pytest.raises(ValidationError):
        WebhookAuthSettings(yotpo_webhook_secret_header=bad)


def test_a_token_in_the_url_is_accepted_and_picks_the_account():
    auth = WebhookAuthSettings(yotpo_webhook_url_token=SecretStr(TOKEN)).webhook_auth(None)
    handler = Recorder()
    client = _client(auth, handler)

    ok = client.post(f"/yotpo/webhooks?token={TOKEN}&account=eu", json=BODY)
    assert ok.status_code == 200
    assert handler.calls == [(BODY, "eu")]
    assert client.post("/yotpo/webhooks?token=nope", json=BODY).status_code == 401
    assert client.post("/yotpo/webhooks", json=BODY).status_code == 401


def test_the_shared_secret_also_works_as_the_url_token():
    handler = Recorder()
    client = _client(WebhookAuth(secret=SECRET), handler)

    assert client.post(f"/yotpo/webhooks?token={SECRET}", json=BODY).status_code == 200


def test_without_any_secret_the_route_is_not_configured():
    handler = Recorder()
    client = _client(WebhookAuth(secret=None), handler)

    answer = client.post("/yotpo/webhooks", json=BODY)
    assert answer.status_code == 404 and answer.get_json()["error"] == "not_configured"


def test_bad_bodies_are_400_and_transient_failures_503():
    assert (
        _client(WebhookAuth(secret=SECRET), Recorder(WebhookError("no topic")))
        .post("/yotpo/webhooks", json={}, headers={DEFAULT_SECRET_HEADER: SECRET})
        .status_code
        == 400
    )
    answer = _client(WebhookAuth(secret=SECRET), Recorder(YotpoTransientError("down"))).post(
        "/yotpo/webhooks", json=BODY, headers={DEFAULT_SECRET_HEADER: SECRET}
    )
    assert answer.status_code == 503 and answer.get_json()["error"] == "retry_later"
    not_json = _client(WebhookAuth(secret=SECRET), Recorder()).post(
        "/yotpo/webhooks", data="topic=x", headers={DEFAULT_SECRET_HEADER: SECRET}
    )
    assert 400 <= not_json.status_code < 500


def test_verify_mode_logs_names_and_where_the_secret_was_never_values(logs):
    auth = WebhookAuth(secret=SECRET, header="X-Nope", url_token=TOKEN, verify=True)
    client = _client(auth, Recorder())

    answer = client.post(
        f"/yotpo/webhooks?token={TOKEN}&account=default",
        json={**BODY, "secret": SECRET},
        headers={"X-Yotpo-Auth": SECRET, "X-Request-Id": "r-1"},
    )

    assert answer.status_code == 200
    text = logs.getvalue()
    assert SECRET not in text and TOKEN not in text
    (seen,) = _events(logs, "webhook.delivery_seen")
    fields = seen.get("json_fields", seen)
    assert fields["authenticated"] is True and fields["via"] == "url_token"
    assert "X-Yotpo-Auth" in fields["header_names"] and "X-Request-Id" in fields["header_names"]
    assert fields["carrier_headers"] == ["X-Yotpo-Auth"]
    assert fields["carrier_query"] == ["token"]
    assert fields["carrier_body_keys"] == ["secret"]
    assert fields["query_names"] == ["account", "token"]
    assert fields["topic"] == "swell/points/changed"


def test_verify_mode_also_reports_deliveries_it_refuses(logs):
    client = _client(WebhookAuth(secret=SECRET, verify=True), Recorder())

    assert client.post("/yotpo/webhooks", json=BODY, headers={"X-Guess": "x"}).status_code == 401

    (seen,) = _events(logs, "webhook.delivery_seen")
    fields = seen.get("json_fields", seen)
    assert fields["authenticated"] is False and fields["carrier_headers"] == []


def test_without_verify_mode_nothing_about_headers_is_logged(logs):
    client = _client(WebhookAuth(secret=SECRET), Recorder())
    client.post("/yotpo/webhooks", json=BODY, headers={DEFAULT_SECRET_HEADER: SECRET})
    assert _events(logs, "webhook.delivery_seen") == []


def test_the_auth_object_never_shows_its_values():
    auth = WebhookAuth(secret=SECRET, url_token=TOKEN)
    assert SECRET not in repr(auth) and TOKEN not in repr(auth)


def test_the_url_token_is_a_secret_the_log_scrubber_knows():
    field = WebhookAuthSettings.model_fields["yotpo_webhook_url_token"]
    assert field.annotation == SecretStr | None


def test_the_inspection_receiver_answers_anything_and_logs_names_only(logs):
    from service.webhooks import inspection_app

    client = inspection_app(WebhookAuth(secret=SECRET, verify=True)).test_client()

    answer = client.post("/any/path", json=BODY, headers={"X-Yotpo-Something": SECRET})

    assert answer.status_code == 200
    (seen,) = _events(logs, "webhook.delivery_seen")
    fields = seen.get("json_fields", seen)
    assert fields["carrier_headers"] == ["X-Yotpo-Something"] and fields["path"] == "/any/path"
    assert SECRET not in logs.getvalue()
