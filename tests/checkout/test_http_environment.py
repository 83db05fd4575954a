"""The connector's HTTP sessions honour the proxy and CA-bundle environment, read once.

requests documents the variables (https://requests.readthedocs.io/en/latest/user/advanced/
#proxies, #ssl-cert-verification); the session resolves them per host once instead of on
every call, which is on the checkout's critical path.
"""

from __future__ import annotations

import pytest
import requests
import responses

from shared.http import new_session


@pytest.fixture(autouse=True)
def _clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)


def _settings(session: requests.Session, url: str) -> dict:
    return session.merge_environment_settings(url, {}, None, None, None)


def test_proxies_from_the_environment_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    session = new_session()
    assert _settings(session, "https://loyalty.yotpo.com/api/v2/customers")["proxies"] == {
        "https": "http://proxy.internal:3128"
    }


def test_no_proxy_hosts_go_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.europe-west1.gcp.commercetools.com")
    session = new_session()
    direct = _settings(session, "https://api.europe-west1.gcp.commercetools.com/p/carts")
    proxied = _settings(session, "https://loyalty.yotpo.com/api/v2/orders")
    assert "https" not in direct["proxies"]
    assert proxied["proxies"]["https"] == "http://proxy.internal:3128"


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ct.test"},
        {"ALL_PROXY": "socks5://p:2", "no_proxy": "*"},
        {"http_proxy": "http://p:3", "CURL_CA_BUNDLE": "/ca.pem"},
        {"REQUESTS_CA_BUNDLE": "/a.pem", "CURL_CA_BUNDLE": "/b.pem"},
    ],
)
@pytest.mark.parametrize("url", ["https://ct.test/p/carts", "http://yotpo.test/api/v2/x"])
def test_the_same_settings_as_requests_reading_the_environment_itself(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    plain = requests.Session()  # trust_env on: reads the environment on every call
    assert _settings(new_session(), url) == _settings(plain, url)


def test_an_explicit_proxy_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    session = new_session()
    merged = session.merge_environment_settings(
        "https://loyalty.yotpo.com/", {"https": "http://other:8080"}, None, None, None
    )
    assert merged["proxies"] == {"https": "http://other:8080"}


def test_the_ca_bundle_from_the_environment_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    session = new_session()
    assert _settings(session, "https://loyalty.yotpo.com/")["verify"] == "/etc/ssl/corporate.pem"
    # An explicit verify=False (or another bundle) of a caller still wins.
    merged = session.merge_environment_settings("https://x.test/", {}, None, False, None)
    assert merged["verify"] is False


def test_without_environment_settings_calls_go_direct_and_verified() -> None:
    settings = _settings(new_session(), "https://loyalty.yotpo.com/")
    assert settings["proxies"] == {}
    assert settings["verify"] is True


@responses.activate
def test_the_environment_is_read_once_per_host_not_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up: list[str] = []
    real = requests.utils.get_environ_proxies

    def counting(url: str, no_proxy: str | None = None) -> dict:
        looked_up.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.utils, "get_environ_proxies", counting)
    responses.add(responses.GET, "https://loyalty.yotpo.com/api/v2/customers", json={})
    session = new_session()
    for _ in range(5):
        session.get("https://loyalty.yotpo.com/api/v2/customers", timeout=1)
    assert len(looked_up) == 1
    assert session.trust_env is False  # no per-call environment scan, no .netrc lookup
