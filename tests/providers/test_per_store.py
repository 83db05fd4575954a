"""Per store, one provider: LOYALTY_PROVIDERS beside the Yotpo accounts, resolved by the runtime
(ADR 0080). The provider here is the port-level fake, registered by name like any adapter."""

from __future__ import annotations

import json

import pytest

from shared.providers import registry
from shared.providers.yotpo import YotpoProvider
from shared.runtime import build_runtime
from shared.settings import ConnectorSettings, ProviderSettings, SettingsError, load_settings
from tests.conftest import VALID_ENV

CT = {k: v for k, v in VALID_ENV.items() if k.startswith("CTP_")}
YOTPO = {
    "default": {"guid": "g-default", "apiKey": "yotpo-key-default"},
    "eu": {"guid": "g-eu", "apiKey": "yotpo-key-eu", "currencies": ["EUR"]},
}
FAKE = {"provider": "fake", "api_key": "fake-very-secret", "currencies": ["SEK", "nok"]}


class Settings(ConnectorSettings, ProviderSettings):
    """An app's settings once LOYALTY_PROVIDERS is one of its keys."""


@pytest.fixture(autouse=True)
def fake_registered(monkeypatch):
    monkeypatch.setitem(registry.PROVIDER_MODULES, "fake", "tests.providers.fakes")


def _settings(**env: str) -> Settings:
    return load_settings(Settings, {**CT, **env})


def test_a_store_is_served_by_its_own_provider_others_by_their_yotpo_account():
    settings = _settings(
        YOTPO_ACCOUNTS=json.dumps(YOTPO), LOYALTY_PROVIDERS=json.dumps({"nordic": FAKE})
    )
    runtime = build_runtime(settings)

    nordic = runtime.provider_for_store("nordic")
    assert nordic is not None and nordic.provider.name == "fake"
    assert nordic.key == "nordic" and nordic.currencies == frozenset({"SEK", "NOK"})
    assert nordic.yotpo is None
    assert runtime.yotpo_for_store("nordic") is None  # its carts are not Yotpo's

    eu = runtime.provider_for_store("eu")
    assert eu is not None and isinstance(eu.provider, YotpoProvider)
    assert eu.provider.account_key == "eu" and eu.currencies == frozenset({"EUR"})
    assert eu.yotpo is runtime.yotpo_for_store("eu")
    assert eu.provider.client is eu.yotpo.client  # one client: one rate limit per account

    other = runtime.provider_for_store("us")
    assert other is not None and other.key == "default" and other.provider.name == "yotpo"
    assert runtime.provider_for_store(None) == other
    assert [r.key for r in runtime.provider_routes()] == ["default", "eu", "nordic"]


def test_a_project_on_another_provider_everywhere_needs_no_yotpo_account():
    settings = _settings(LOYALTY_PROVIDERS=json.dumps({"default": FAKE}))
    assert settings.accounts() == {}
    runtime = build_runtime(settings)
    route = runtime.provider_for_store("any-store")
    assert route is not None and route.provider.name == "fake"
    assert runtime.yotpo_for_store("any-store") is None
    assert runtime.yotpo_route("default") is None


def test_yotpo_only_configurations_are_unchanged(valid_env):
    settings = load_settings(Settings, valid_env)
    assert settings.provider_accounts() == {}
    runtime = build_runtime(settings)
    route = runtime.provider_for_store("whatever")
    assert route is not None and route.yotpo is runtime.yotpo_for_store("whatever")
    assert runtime.providers == {}
    # And an app whose settings do not have the key yet builds the same runtime.
    plain = build_runtime(load_settings(ConnectorSettings, valid_env))
    assert plain.providers == {} and list(plain.routes) == ["default"]


def test_a_providers_rate_is_this_processs_share_of_its_documented_rate(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    settings = _settings(LOYALTY_PROVIDERS=json.dumps({"default": FAKE}))
    shared = build_runtime(settings).provider_for_store(None)
    assert shared is not None and shared.provider.built_rate == 25.0  # 100/s over 4 workers
    # The job passes its Yotpo share (here 2 of 10/s): the same fraction of every provider.
    job = build_runtime(settings, yotpo_rate_per_second=2.0).provider_for_store(None)
    assert job is not None and job.provider.built_rate == pytest.approx(20.0)


def test_provider_secrets_are_scrubbed_one_by_one():
    settings = _settings(
        YOTPO_ACCOUNTS=json.dumps(YOTPO), LOYALTY_PROVIDERS=json.dumps({"nordic": FAKE})
    )
    secrets = settings.secret_values()
    assert "fake-very-secret" in secrets and "yotpo-key-eu" in secrets
    assert not any(s.startswith("{") for s in secrets)  # never a whole JSON setting


@pytest.mark.parametrize(
    ("providers", "problem"),
    [
        ("{not json", "LOYALTY_PROVIDERS: not valid JSON"),
        (json.dumps({"nordic": {"api_key": "x"}}), 'nordic: must be an object with a "provider"'),
        (json.dumps({"nordic": {"provider": "smile"}}), "unknown provider 'smile'"),
        (json.dumps({"nordic": {"provider": "yotpo"}}), "belong in YOTPO_ACCOUNTS"),
        (json.dumps({"nordic": {"provider": "fake"}}), "nordic.api_key"),
        (json.dumps({"eu": FAKE}), "eu also configured as Yotpo account(s)"),
    ],
)
def test_bad_provider_settings_stop_start_up_naming_the_problem(providers, problem):
    with pytest.raises(SettingsError) as raised:
        _settings(YOTPO_ACCOUNTS=json.dumps(YOTPO), LOYALTY_PROVIDERS=providers)
    text = str(raised.value)
    assert problem in text
    assert "fake-very-secret" not in text and "yotpo-key" not in text


def test_a_registered_name_without_its_module_is_reported(monkeypatch):
    monkeypatch.setitem(registry.PROVIDER_MODULES, "ghost", "shared.providers.ghost_adapter")
    with pytest.raises(registry.UnknownProvider, match="not installed"):
        registry.factory("ghost")
