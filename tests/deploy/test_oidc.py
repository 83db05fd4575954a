"""OIDC verification of Pub/Sub push and Cloud Scheduler calls, with locally minted tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask, jsonify

from event.app import create_app as create_event_app
from event.settings import EventSettings
from shared.oidc import (
    CertsUnavailable,
    GoogleCerts,
    InvalidToken,
    OidcSettings,
    OidcVerifier,
    protect,
)
from shared.settings import ConnectorSettings, SettingsError, load_settings
from shared.webapp import create_base_app
from tests.deploy.tokens import AUDIENCE, INVOKER, FakeCertsEndpoint, SigningKey
from tests.integration.world import World, push, start_world

GOOGLE = SigningKey.generate("google-key-1")
ROTATED = SigningKey.generate("google-key-2")
STRANGER = SigningKey.generate("stranger")


class GuardedSettings(ConnectorSettings, OidcSettings):
    """What EventSettings / JobSettings become with the mixin."""


GuardedEventSettings = EventSettings  # the event app's settings carry the mixin


@pytest.fixture
def endpoint() -> FakeCertsEndpoint:
    return FakeCertsEndpoint([GOOGLE])


@pytest.fixture
def verifier(endpoint: FakeCertsEndpoint) -> OidcVerifier:
    return OidcVerifier(
        audience=AUDIENCE, service_account_email=INVOKER, certs=GoogleCerts(endpoint)
    )


def bearer(token: str) -> str:
    return f"Bearer {token}"


# --- the verifier ----------------------------------------------------------------------------


def test_a_google_signed_token_for_our_audience_and_account_passes(verifier):
    caller = verifier.verify(bearer(GOOGLE.mint()))
    assert caller.email == INVOKER
    assert caller.issuer == "https://accounts.google.com"
    # Google also issues with the bare host name.
    assert verifier.verify(bearer(GOOGLE.mint(iss="accounts.google.com"))).email == INVOKER


def _forged_signature() -> str:
    # Signed by someone else's key while claiming Google's key id.
    return STRANGER.mint(key_id=GOOGLE.key_id)


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing bearer token"),
        ("", "missing bearer token"),
        ("Basic dXNlcjpwYXNz", "missing bearer token"),
        ("Bearer ", "missing bearer token"),
        ("Bearer not-a-jwt", "malformed"),
        (bearer(GOOGLE.mint(aud="https://someone-else.run.app")), "audience"),
        (bearer(GOOGLE.mint(email="intruder@evil.iam.gserviceaccount.com")), "not the config"),
        (bearer(GOOGLE.mint(email=None)), "no email"),
        (bearer(GOOGLE.mint(email_verified=False)), "not verified"),
        (bearer(GOOGLE.mint(iss="https://evil.example.com")), "not issued by Google"),
        (
            bearer(GOOGLE.mint(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
            "expired",
        ),
        (bearer(_forged_signature()), "signature"),
        (bearer(STRANGER.mint()), "key id stranger not found"),
        # Signed by the trusted key, but with claims of the wrong type: never a 500.
        (bearer(GOOGLE.mint(exp="tomorrow")), "malformed"),
        (bearer(GOOGLE.mint(iat=["x"])), "malformed"),
        (bearer(GOOGLE.mint(email_verified="true")), "not verified"),
        (bearer(GOOGLE.mint(email_verified=1)), "not verified"),
    ],
    ids=[
        "no-header",
        "empty-header",
        "basic-auth",
        "empty-bearer",
        "garbage",
        "wrong-audience",
        "wrong-email",
        "no-email",
        "unverified-email",
        "wrong-issuer",
        "expired",
        "bad-signature",
        "unknown-key",
        "string-exp",
        "list-iat",
        "string-email-verified",
        "number-email-verified",
    ],
)
def test_anything_else_is_rejected_with_a_reason(verifier, authorization, reason):
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(authorization)
    assert reason.lower() in caught.value.reason.lower()


def test_the_email_comparison_ignores_case(verifier):
    assert verifier.verify(bearer(GOOGLE.mint(email=INVOKER.upper()))).email == INVOKER.upper()


# --- Google's certificates --------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_certificates_are_cached_for_their_max_age(endpoint):
    clock = Clock()
    certs = GoogleCerts(endpoint, clock=clock)
    verifier = OidcVerifier(audience=AUDIENCE, service_account_email=INVOKER, certs=certs)
    for _ in range(5):
        verifier.verify(bearer(GOOGLE.mint()))
    assert endpoint.calls == 1
    clock.now += 3601
    verifier.verify(bearer(GOOGLE.mint()))
    assert endpoint.calls == 2


def test_a_rotated_key_is_fetched_at_once_but_junk_key_ids_cannot_flood_google(endpoint):
    clock = Clock()
    certs = GoogleCerts(endpoint, clock=clock, min_refresh_interval=30)
    verifier = OidcVerifier(audience=AUDIENCE, service_account_email=INVOKER, certs=certs)
    verifier.verify(bearer(GOOGLE.mint()))
    clock.now += 60
    endpoint.keys.append(ROTATED)  # Google publishes a new key, then signs with it
    assert verifier.verify(bearer(ROTATED.mint())).email == INVOKER
    assert endpoint.calls == 2
    for _ in range(10):
        with pytest.raises(InvalidToken):
            verifier.verify(bearer(STRANGER.mint()))
    assert endpoint.calls == 2  # inside the refresh interval: no new fetch


def test_an_unreachable_google_keeps_the_last_certificates(endpoint):
    clock = Clock()
    certs = GoogleCerts(endpoint, clock=clock, min_refresh_interval=30)
    verifier = OidcVerifier(audience=AUDIENCE, service_account_email=INVOKER, certs=certs)
    verifier.verify(bearer(GOOGLE.mint()))
    endpoint.failing = True
    clock.now += 4000  # expired cache, fetch fails
    assert verifier.verify(bearer(GOOGLE.mint())).email == INVOKER
    calls = endpoint.calls
    verifier.verify(bearer(GOOGLE.mint()))
    assert endpoint.calls == calls  # the failed refetch is not retried on every request


def test_no_certificates_at_all_is_a_transient_failure(endpoint, verifier):
    endpoint.failing = True
    with pytest.raises(CertsUnavailable):
        verifier.verify(bearer(GOOGLE.mint()))


# --- settings ---------------------------------------------------------------------------------


def test_verification_is_on_unless_explicitly_turned_off(valid_env):
    # A deployed app that lacks the two keys refuses to start rather than run open.
    with pytest.raises(SettingsError) as caught:
        load_settings(GuardedSettings, {**valid_env, "OIDC_VERIFICATION": "on"})
    assert any("OIDC verification is on" in p for p in caught.value.problems)
    for off in ("off", "OFF", " off "):
        settings = load_settings(GuardedSettings, {**valid_env, "OIDC_VERIFICATION": off})
        assert not settings.oidc_enabled
        assert settings.oidc_verifier() is None


def test_verification_is_the_default(valid_env):
    assert GuardedSettings.model_fields["oidc_verification"].default in ("on", "off")
    env = {**valid_env, "OIDC_AUDIENCE": AUDIENCE, "OIDC_SERVICE_ACCOUNT_EMAIL": INVOKER}
    assert load_settings(GuardedSettings, env).oidc_enabled


def test_an_unknown_verification_value_is_a_settings_problem(valid_env):
    with pytest.raises(SettingsError) as caught:
        load_settings(GuardedSettings, {**valid_env, "OIDC_VERIFICATION": "maybe"})
    assert any("OIDC_VERIFICATION" in p for p in caught.value.problems)


def test_off_with_keys_set_stays_off(valid_env):
    env = {
        **valid_env,
        "OIDC_VERIFICATION": "off",
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_SERVICE_ACCOUNT_EMAIL": INVOKER,
    }
    assert load_settings(GuardedSettings, env).oidc_verifier() is None


def test_both_keys_turn_verification_on(valid_env):
    env = {**valid_env, "OIDC_AUDIENCE": AUDIENCE, "OIDC_SERVICE_ACCOUNT_EMAIL": INVOKER}
    verifier = load_settings(GuardedSettings, env).oidc_verifier()
    assert verifier is not None
    assert (verifier.audience, verifier.service_account_email) == (AUDIENCE, INVOKER)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"OIDC_AUDIENCE": AUDIENCE}, "OIDC_SERVICE_ACCOUNT_EMAIL: required when OIDC_AUDIENCE"),
        ({"OIDC_SERVICE_ACCOUNT_EMAIL": INVOKER}, "OIDC_AUDIENCE must be set with it"),
        (
            {"OIDC_AUDIENCE": AUDIENCE, "OIDC_SERVICE_ACCOUNT_EMAIL": "invoker"},
            "OIDC_SERVICE_ACCOUNT_EMAIL: expected a service account email",
        ),
    ],
)
def test_half_a_configuration_is_a_settings_problem(valid_env, extra, problem):
    with pytest.raises(SettingsError) as caught:
        load_settings(GuardedSettings, {**valid_env, **extra})
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_other_problems_are_still_reported_alongside(valid_env):
    env = {**valid_env, "OIDC_AUDIENCE": AUDIENCE}
    del env["CTP_CLIENT_ID"]
    with pytest.raises(SettingsError) as caught:
        load_settings(GuardedSettings, env)
    text = "\n".join(caught.value.problems)
    assert "CTP_CLIENT_ID: missing" in text
    assert "OIDC_SERVICE_ACCOUNT_EMAIL" in text


# --- protect() on a Flask app -----------------------------------------------------------------


def small_app(verifier: OidcVerifier | None) -> Flask:
    app = create_base_app("job")

    @app.post("/job")
    def tick():
        return jsonify({"ran": True})

    @app.post("/public")
    def public():
        return jsonify({"open": True})

    protect(app, verifier, {"/job"})
    return app


def test_protected_paths_answer_401_json_without_a_valid_token(verifier):
    client = small_app(verifier).test_client()
    response = client.post("/job", json={})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    expired = GOOGLE.mint(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    for token in (expired, GOOGLE.mint(aud="other"), _forged_signature()):
        response = client.post("/job", json={}, headers={"Authorization": bearer(token)})
        assert response.status_code == 401


def test_a_valid_token_passes_and_other_paths_stay_open(verifier):
    client = small_app(verifier).test_client()
    ok = client.post("/job", json={}, headers={"Authorization": bearer(GOOGLE.mint())})
    assert (ok.status_code, ok.get_json()) == (200, {"ran": True})
    assert client.post("/public", json={}).status_code == 200
    assert client.get("/health").status_code == 200


def test_unverifiable_tokens_ask_for_a_retry_not_a_rejection(endpoint, verifier):
    endpoint.failing = True
    response = (
        small_app(verifier)
        .test_client()
        .post("/job", json={}, headers={"Authorization": bearer(GOOGLE.mint())})
    )
    assert response.status_code == 503
    assert response.get_json()["error"] == "oidc_unavailable"


def test_without_a_verifier_the_paths_are_open():
    assert small_app(None).test_client().post("/job", json={}).status_code == 200


def test_rejections_are_logged_without_the_token(verifier, caplog):
    token = GOOGLE.mint(aud="other")
    with caplog.at_level("WARNING"):
        small_app(verifier).test_client().post(
            "/job", json={}, headers={"Authorization": bearer(token)}
        )
    assert any("oidc.rejected" in r.getMessage() for r in caplog.records)
    assert token not in caplog.text


# --- the real event app, wrapped --------------------------------------------------------------


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()


def test_the_event_app_behind_protect_processes_only_authenticated_pushes(world, endpoint):
    env = {
        **world.env,
        "OIDC_VERIFICATION": "on",
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_SERVICE_ACCOUNT_EMAIL": INVOKER,
    }
    settings = load_settings(GuardedEventSettings, env)
    client = create_event_app(settings, oidc_certs=GoogleCerts(endpoint)).test_client()

    shop = world.storefront
    customer = shop.sign_up("oidc@example.com", "Olga", "Idc")
    order = shop.place_order(shop.cart([("SKU-MUG", 1)], customer=customer), order_number="OIDC-1")
    shop.pay(order)
    messages = world.messages(order["id"])

    for message in messages:
        assert client.post("/event", json=push(message)).status_code == 401
        forged = {"Authorization": bearer(_forged_signature())}
        assert client.post("/event", json=push(message), headers=forged).status_code == 401
    assert world.yotpo_orders() == []

    headers = {"Authorization": bearer(GOOGLE.mint())}
    for message in messages:
        assert client.post("/event", json=push(message), headers=headers).status_code in (200, 204)
    assert [o["order_id"] for o in world.yotpo_orders()] == ["OIDC-1"]
    assert client.get("/health").status_code == 200
