"""Every app: /health, JSON errors for unknown routes and bodies that are not JSON."""

from __future__ import annotations

import importlib

import pytest

from event.settings import EventSettings
from job.settings import JobSettings
from service.settings import ServiceSettings
from shared.runtime import build_runtime
from shared.settings import load_settings

APPS = {
    "service": (ServiceSettings, "/service", {"EXTENSION_SECRET": "s" * 24}),
    "event": (EventSettings, "/event", {"OIDC_VERIFICATION": "off"}),
    "job": (JobSettings, "/job", {"OIDC_VERIFICATION": "off"}),
}


@pytest.fixture(params=sorted(APPS))
def app_client(request, valid_env):
    settings_cls, endpoint, extra = APPS[request.param]
    settings = load_settings(settings_cls, {**valid_env, **extra})
    module = importlib.import_module(f"{request.param}.app")
    app = module.create_app(settings, build_runtime(settings))
    headers = {"Authorization": f"Bearer {'s' * 24}"} if request.param == "service" else {}
    return request.param, app.test_client(), endpoint, headers


def test_health(app_client):
    name, client, _, _ = app_client
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "app": name}


def test_unknown_route_is_a_json_404(app_client):
    _, client, _, _ = app_client
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.is_json and response.get_json()["error"] == "not_found"


def test_wrong_method_is_a_json_405(app_client):
    _, client, endpoint, _ = app_client
    response = client.get(endpoint)
    assert response.status_code == 405 and response.is_json


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{broken", "application/json"),
        ("[1, 2]", "application/json"),
        ("", "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(app_client, data, content_type):
    _, client, endpoint, headers = app_client
    response = client.post(endpoint, data=data, content_type=content_type, headers=headers)
    assert response.status_code == 400
    assert response.is_json and response.get_json()["error"]


def test_responses_carry_the_correlation_id(app_client):
    _, client, _, _ = app_client
    response = client.get("/health", headers={"X-Correlation-ID": "abc-123"})
    assert response.headers["X-Correlation-ID"] == "abc-123"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "application/xml",
    ],
)
def test_a_body_that_is_not_declared_json_is_a_415(app_client, content_type):
    _, client, endpoint, headers = app_client
    response = client.post(endpoint, data="{}", content_type=content_type, headers=headers)
    assert response.status_code == 415 and response.get_json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "data",
    [
        "[" * 100_000,
        '{"a":' * 50_000,
        '{"a":' * 70 + "1" + "}" * 70,  # parses, but nests deeper than any real message
        '{"n": NaN}',
        '{"n": Infinity}',
        '{"n": 1e400}',
        '{"n": ' + "9" * 5000 + "}",
        '\ufeff{"a": 1}',
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": "\xff"}',
    ],
)
def test_hostile_json_is_a_400_never_a_500(app_client, data):
    _, client, endpoint, headers = app_client
    response = client.post(endpoint, data=data, content_type="application/json", headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)[:200]
    assert response.is_json and "Traceback" not in response.get_data(as_text=True)


def test_a_body_over_the_limit_is_a_413_before_any_view(app_client):
    _, client, endpoint, headers = app_client
    big = b'{"a": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = client.post(endpoint, data=big, content_type="application/json", headers=headers)
    assert response.status_code == 413 and response.is_json


def test_every_answer_carries_the_security_headers(app_client):
    _, client, endpoint, _ = app_client
    for response in (client.get("/health"), client.get("/nowhere"), client.get(endpoint)):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "geolocation=()" in response.headers["Permissions-Policy"]


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [
        ("abc\r\nSet-Cookie: x=1", "abcSet-Cookie:x=1"),
        ("x" * 70_000, "x" * 128),
        ("ok-id_1.2:3", "ok-id_1.2:3"),
    ],
)
def test_correlation_ids_are_reduced_to_a_safe_token(app_client, incoming, expected):
    _, client, _, _ = app_client
    from shared.correlation import (
        bind_correlation_id,
        current_correlation_id,
        unbind_correlation_id,
    )

    token = bind_correlation_id(incoming)
    try:
        assert current_correlation_id() == expected
    finally:
        unbind_correlation_id(token)
    if "\n" not in incoming:  # werkzeug's test client refuses header values with newlines
        response = client.get("/health", headers={"X-Correlation-ID": incoming})
        assert response.headers["X-Correlation-ID"] == expected
