from __future__ import annotations

import json

import pytest

from event.settings import EventSettings
from shared.settings import ConnectorSettings, SettingsError, load_settings


def test_valid_environment_derives_urls_from_region(valid_env):
    settings = load_settings(ConnectorSettings, valid_env)
    assert settings.api_url == "https://api.europe-west1.gcp.commercetools.com"
    assert settings.auth_url == "https://auth.europe-west1.gcp.commercetools.com"
    account = settings.accounts()["default"]
    assert account.guid == "guid-123"
    assert account.api_url == "https://loyalty.yotpo.com/api/v2"
    assert account.accepts("JPY")  # no currency list: the account takes any


@pytest.mark.parametrize(
    ("region", "api", "auth"),
    [
        ("us-central1.gcp", "https://api.us-central1.gcp.commercetools.com", None),
        ("eu-central-1.aws", "https://api.eu-central-1.aws.commercetools.com", None),
        (
            "australia-southeast1.gcp",
            None,
            "https://auth.australia-southeast1.gcp.commercetools.com",
        ),
    ],
)
def test_region_to_url(valid_env, region, api, auth):
    settings = load_settings(ConnectorSettings, {**valid_env, "CTP_REGION": region})
    if api:
        assert settings.api_url == api
    if auth:
        assert settings.auth_url == auth


def test_url_overrides_win_over_region(valid_env):
    env = {
        **valid_env,
        "CTP_API_URL": "http://127.0.0.1:9000/",
        "CTP_AUTH_URL": "http://127.0.0.1:9001",
    }
    settings = load_settings(ConnectorSettings, env)
    assert settings.api_url == "http://127.0.0.1:9000"
    assert settings.auth_url == "http://127.0.0.1:9001"


@pytest.mark.parametrize(
    "missing",
    ["CTP_PROJECT_KEY", "CTP_CLIENT_ID", "CTP_CLIENT_SECRET", "CTP_SCOPE", "CTP_REGION"],
)
def test_each_missing_commercetools_key_is_named(valid_env, missing):
    del valid_env[missing]
    with pytest.raises(SettingsError) as err:
        load_settings(ConnectorSettings, valid_env)
    assert f"{missing}: missing" in str(err.value)


@pytest.mark.parametrize("missing", ["YOTPO_GUID", "YOTPO_API_KEY"])
def test_each_missing_yotpo_key_is_named(valid_env, missing):
    del valid_env[missing]
    with pytest.raises(SettingsError) as err:
        load_settings(ConnectorSettings, valid_env)
    assert missing in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("CTP_REGION", "europe", "CTP_REGION: expected a region"),
        ("CTP_API_URL", "api.example.com", "CTP_API_URL: must be an http(s) URL"),
        ("YOTPO_RATE_LIMIT_PER_SECOND", "-1", "YOTPO_RATE_LIMIT_PER_SECOND"),
        ("YOTPO_CURRENCIES", "EUR,euro", "YOTPO_CURRENCIES: not ISO 4217 currency codes: EURO"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: expected DEBUG"),
        ("YOTPO_ACCOUNTS", "{not json", "YOTPO_ACCOUNTS: not valid JSON"),
    ],
)
def test_malformed_values_are_named(valid_env, key, value, expected):
    env = {**valid_env, key: value}
    if key == "YOTPO_ACCOUNTS":
        del env["YOTPO_GUID"], env["YOTPO_API_KEY"]
    with pytest.raises(SettingsError) as err:
        load_settings(ConnectorSettings, env)
    assert expected in str(err.value)


def test_every_problem_is_reported_at_once_without_secret_values(valid_env):
    env = {
        "CTP_CLIENT_SECRET": "ctp-very-secret-value",
        "CTP_REGION": "nowhere",
        "YOTPO_ACCOUNTS": json.dumps({"default": {"guid": "", "apiKey": "leaky-secret-key"}}),
    }
    with pytest.raises(SettingsError) as err:
        load_settings(ConnectorSettings, env)
    message = str(err.value)
    for expected in (
        "CTP_PROJECT_KEY",
        "CTP_CLIENT_ID",
        "CTP_SCOPE",
        "CTP_REGION",
        "YOTPO_ACCOUNTS",
    ):
        assert expected in message
    assert "ctp-very-secret-value" not in message
    assert "leaky-secret-key" not in message


def test_multi_account_json_maps_store_keys(valid_env):
    del valid_env["YOTPO_GUID"], valid_env["YOTPO_API_KEY"]
    valid_env["YOTPO_ACCOUNTS"] = json.dumps(
        {
            "default": {"guid": "g-eu", "apiKey": "key-eu-123456", "currencies": ["EUR"]},
            "uk-store": {
                "guid": "g-uk",
                "apiKey": "key-uk-123456",
                "apiUrl": "http://127.0.0.1:9/api/v2",
                "currencies": "GBP",
            },
        }
    )
    settings = load_settings(ConnectorSettings, valid_env)
    accounts = settings.accounts()
    assert set(accounts) == {"default", "uk-store"}
    assert accounts["uk-store"].accepts("GBP") and not accounts["uk-store"].accepts("EUR")
    assert accounts["uk-store"].api_url == "http://127.0.0.1:9/api/v2"
    assert "key-uk-123456" in settings.secret_values()


def test_multi_account_errors_name_the_store(valid_env):
    del valid_env["YOTPO_GUID"], valid_env["YOTPO_API_KEY"]
    valid_env["YOTPO_ACCOUNTS"] = json.dumps({"default": {"guid": "g"}, "de": {"apiKey": "k"}})
    with pytest.raises(SettingsError) as err:
        load_settings(ConnectorSettings, valid_env)
    assert "default.apiKey" in str(err.value) and "de.guid" in str(err.value)


def test_single_and_multi_account_together_is_refused(valid_env):
    valid_env["YOTPO_ACCOUNTS"] = json.dumps({"default": {"guid": "g", "apiKey": "k"}})
    with pytest.raises(SettingsError) as err:
        load_settings(ConnectorSettings, valid_env)
    assert "either YOTPO_ACCOUNTS or YOTPO_GUID" in str(err.value)


@pytest.fixture
def event_env(valid_env):
    """The event/job apps verify OIDC unless told it is a local run."""
    return {**valid_env, "OIDC_VERIFICATION": "off"}


def test_event_settings_validate_choices(event_env):
    valid_env = event_env
    with pytest.raises(SettingsError) as err:
        load_settings(EventSettings, {**valid_env, "EARNING_TRIGGER": "whenever"})
    assert "EARNING_TRIGGER" in str(err.value)
    settings = load_settings(EventSettings, {**valid_env, "EARNING_TRIGGER": "shipped"})
    assert settings.earning_trigger == "shipped"


def test_reads_the_process_environment(valid_env, monkeypatch):
    for key, value in valid_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CTP_API_URL", "")  # empty counts as unset, as Connect leaves optional keys
    settings = load_settings(ConnectorSettings)
    assert settings.ctp_project_key == "demo-project"
    assert settings.ctp_api_url is None


def test_the_yotpo_rate_limit_defaults_to_the_documented_ten_per_second(valid_env):
    assert load_settings(ConnectorSettings, valid_env).yotpo_rate_limit_per_second == 10.0


def test_planner_settings_defaults(event_env):
    valid_env = event_env
    config = load_settings(EventSettings, valid_env).planner_config()
    assert config.return_reward_points_on_cancel is True
    assert config.members.identity.source == "id"
    assert config.members.opt_in_policy == "account"
    assert config.members.tags_from_groups is True
    assert config.instore_stores == {}
    assert config.item_vendor_attribute is None
    assert load_settings(EventSettings, valid_env).reward_seal_key() is None


def test_member_opt_in_store_and_reward_settings(event_env):
    valid_env = event_env
    env = {
        **valid_env,
        "RETURN_REWARD_POINTS_ON_CANCEL": "false",
        "MEMBER_ID_SOURCE": "customField",
        "MEMBER_ID_FIELD": "legacyId",
        "OPT_IN_POLICY": "customer_field",
        "OPT_IN_FIELD": "marketingConsent",
        "CUSTOMER_TAGS_FROM_GROUPS": "false",
        "INSTORE_STORES": json.dumps({"berlin": {"city": "Berlin", "state": "BE"}, "hh": {}}),
        "ITEM_VENDOR_ATTRIBUTE": "brand",
        "EXTENSION_SECRET": "the-extension-secret",
    }
    settings = load_settings(EventSettings, env)
    config = settings.planner_config()
    assert config.return_reward_points_on_cancel is False
    assert (config.members.identity.source, config.members.identity.custom_field) == (
        "customField",
        "legacyId",
    )
    assert (config.members.opt_in_policy, config.members.opt_in_field) == (
        "customer_field",
        "marketingConsent",
    )
    assert config.members.tags_from_groups is False
    assert config.instore_stores["berlin"].city == "Berlin"
    assert config.instore_stores["hh"].address is None
    assert config.item_vendor_attribute == "brand"
    from shared.domain.checkout.reward_state import seal_key

    assert settings.reward_seal_key() == seal_key("the-extension-secret")
    assert "the-extension-secret" in settings.secret_values()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("MEMBER_ID_SOURCE", "email", "MEMBER_ID_SOURCE"),
        ("OPT_IN_POLICY", "sometimes", "OPT_IN_POLICY"),
        ("INSTORE_STORES", "{nope", "INSTORE_STORES: not valid JSON"),
        ("INSTORE_STORES", "[1]", "INSTORE_STORES: must be a JSON object"),
        ("INSTORE_STORES", '{"berlin": {"town": "x"}}', "INSTORE_STORES: berlin.town"),
    ],
)
def test_member_and_store_settings_are_checked(event_env, key, value, expected):
    valid_env = event_env
    with pytest.raises(SettingsError) as err:
        load_settings(EventSettings, {**valid_env, key: value})
    assert expected in str(err.value)


def test_member_settings_alone_give_the_identity(valid_env):
    from shared.settings import MemberSettings

    class ServiceLike(ConnectorSettings, MemberSettings):
        pass

    settings = load_settings(ServiceLike, {**valid_env, "MEMBER_ID_SOURCE": "externalId"})
    assert settings.member_identity().source == "externalId"
    assert not hasattr(settings, "opt_in_policy")
