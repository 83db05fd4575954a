"""connect.yaml is a contract with Connect and the deploy script: keep it equal to the code."""

from __future__ import annotations

import importlib
import shlex
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from event.settings import EventSettings
from job.settings import JobSettings
from service.settings import ServiceSettings
from shared.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"service": ServiceSettings, "event": EventSettings, "job": JobSettings}
ENDPOINTS = {"service": "/service", "event": "/event", "job": "/job"}


@pytest.fixture(scope="module")
def connect() -> dict:
    return yaml.safe_load((ROOT / "connect.yaml").read_text())


def apps(connect: dict) -> dict[str, dict]:
    return {app["name"]: app for app in connect["deployAs"]}


def is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def test_declares_exactly_the_three_apps(connect):
    declared = apps(connect)
    assert set(declared) == set(SETTINGS)
    for name, app in declared.items():
        assert (ROOT / name).is_dir()
        assert app["applicationType"] == name
        assert app["endpoint"] == ENDPOINTS[name]


def test_job_has_a_schedule(connect):
    schedule = apps(connect)["job"]["properties"]["schedule"]
    assert len(schedule.split()) == 5  # cron


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_setting_read_is_declared_and_vice_versa(connect, name):
    config = apps(connect)[name]["configuration"]
    standard = {c["key"] for c in config.get("standardConfiguration") or []}
    secured = {c["key"] for c in config.get("securedConfiguration") or []}
    fields = SETTINGS[name].model_fields
    read = {field.upper() for field in fields}
    secret = {field.upper() for field, info in fields.items() if is_secret(info.annotation)}
    assert standard | secured == read
    assert secured == secret, "secrets belong in securedConfiguration, and only they"
    assert not standard & secured


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_required_flags_and_defaults_match_the_code(connect, name):
    config = apps(connect)[name]["configuration"]
    fields = SETTINGS[name].model_fields
    for entry in (config.get("standardConfiguration") or []) + (
        config.get("securedConfiguration") or []
    ):
        info = fields[entry["key"].lower()]
        assert entry.get("required", False) == info.is_required(), entry["key"]
        assert entry.get("description"), entry["key"]
        if "default" in entry:
            assert str(entry["default"]) == str(info.default), entry["key"]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_endpoint_is_a_registered_route(connect, name, valid_env):
    from shared.runtime import build_runtime

    settings = load_settings(SETTINGS[name], {**valid_env, **extra_env(name)})
    module = importlib.import_module(f"{name}.app")
    app = module.create_app(settings, build_runtime(settings))
    rules = {(r.rule, m) for r in app.url_map.iter_rules() for m in r.methods or ()}
    assert (apps(connect)[name]["endpoint"], "POST") in rules
    assert ("/health", "GET") in rules


def extra_env(name: str) -> dict[str, str]:
    required = {
        field.upper(): "x" * 24
        for field, info in SETTINGS[name].model_fields.items()
        if info.is_required() and not field.startswith("ctp_")
    }
    if "oidc_verification" in SETTINGS[name].model_fields:
        required["OIDC_VERIFICATION"] = "off"
    return required


def test_scripts_name_modules_that_exist(connect):
    for app in connect["deployAs"]:
        for step, command in (app.get("scripts") or {}).items():
            argv = shlex.split(command)
            assert argv[:2] == ["python", "-m"], command
            module = importlib.import_module(argv[2])
            assert hasattr(module, "post_deploy" if step == "postDeploy" else "pre_undeploy")
