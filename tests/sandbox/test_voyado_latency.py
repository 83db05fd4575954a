"""The Voyado stand-in's injected latency (`/_sandbox/latency`, the benchmarks' knob): every
authenticated API request is held for it before it is answered, the admin API is not, a new
setting replaces the old one, and reset or 0 turns it off."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from sandbox.voyado import FakeClock, SandboxConfig, TenantConfig, VoyadoServer

KEY = "latency-key"


@pytest.fixture
def voyado() -> Iterator[VoyadoServer]:
    config = SandboxConfig(tenants=[TenantConfig(name="t", api_keys=[KEY])])
    with VoyadoServer(config, clock=FakeClock()) as server:
        yield server


@pytest.fixture
def holds(voyado: VoyadoServer, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The holds the engine serves (seconds), recorded as they happen."""
    served: list[float] = []
    hang = voyado.engine.hang

    def recorded(seconds: float) -> bool:
        served.append(seconds)
        return hang(seconds)

    monkeypatch.setattr(voyado.engine, "hang", recorded)
    return served


def find(voyado: VoyadoServer, email: str = "nobody@example.com") -> requests.Response:
    return requests.get(
        f"{voyado.url}/api/v3/contacts/id",
        params={"email": email},
        headers=voyado.headers(KEY),
        timeout=5,
    )


def set_latency(voyado: VoyadoServer, body: object) -> requests.Response:
    return requests.post(f"{voyado.url}/_sandbox/latency", json=body, timeout=5)


def test_api_requests_are_held_for_the_latency(voyado: VoyadoServer, holds: list[float]) -> None:
    assert set_latency(voyado, {"latency_ms": 150}).json() == {"latency_ms": 150}
    assert requests.get(f"{voyado.url}/_sandbox/latency", timeout=5).json() == {"latency_ms": 150}
    started = time.perf_counter()
    answer = find(voyado)
    elapsed = time.perf_counter() - started
    # The endpoint still answers as documented (404 ContactNotFound), only later: a lower
    # bound (a sleep never ends early), not a timing of the stand-in.
    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "ContactNotFound"
    assert elapsed >= 0.15
    assert holds == [0.15]


def test_admin_requests_are_not_held(voyado: VoyadoServer, holds: list[float]) -> None:
    set_latency(voyado, {"latency_ms": 500})
    assert requests.get(f"{voyado.url}/_sandbox/state", timeout=5).status_code == 200
    voyado.seed_contact(email="jane@example.com")
    assert holds == []


def test_a_new_setting_replaces_the_old_and_zero_turns_it_off(
    voyado: VoyadoServer, holds: list[float]
) -> None:
    set_latency(voyado, {"latency_ms": 20})
    set_latency(voyado, {"latency_ms": 30})
    find(voyado)
    assert holds == [0.03]  # replaced, not added up like counting faults
    set_latency(voyado, {"latency_ms": 0})
    find(voyado)
    assert holds == [0.03]


def test_reset_turns_it_off(voyado: VoyadoServer, holds: list[float]) -> None:
    set_latency(voyado, {"latency_ms": 40})
    requests.post(f"{voyado.url}/_sandbox/reset", timeout=5).raise_for_status()
    assert requests.get(f"{voyado.url}/_sandbox/latency", timeout=5).json() == {"latency_ms": 0}
    find(voyado)
    assert holds == []


def test_an_unauthenticated_request_is_refused_without_the_latency(
    voyado: VoyadoServer, holds: list[float]
) -> None:
    set_latency(voyado, {"latency_ms": 40})
    answer = requests.get(
        f"{voyado.url}/api/v3/contacts/id",
        params={"email": "a@example.com"},
        headers=voyado.headers("wrong-key"),
        timeout=5,
    )
    assert answer.status_code == 401
    assert holds == []


@pytest.mark.parametrize(
    "body", [{"latency_ms": -1}, {"latency_ms": "slow"}, {"latency_ms": 60_001}, {"delay": 5}]
)
def test_a_bad_setting_is_refused_and_changes_nothing(
    voyado: VoyadoServer, holds: list[float], body: object
) -> None:
    set_latency(voyado, {"latency_ms": 10})
    answer = set_latency(voyado, body)
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "InvalidConfig"
    assert voyado.engine.latency() == {"latency_ms": 10}
