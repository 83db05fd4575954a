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
    "event": (EventSettings, "/event", {}),
    "job": (JobSettings, "/job", {}),
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
        ("not json at all", "text/plain"),
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
