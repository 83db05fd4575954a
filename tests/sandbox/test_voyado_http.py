"""The Voyado stand-in's HTTP edges: required headers, the per-key rate limit, injected faults
(5xx, 429, hang, commit-then-drop), Svix webhook delivery with retries, the admin API and the
`python -m sandbox.voyado` entry point."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3.util import SKIP_HEADER

from sandbox.voyado import (
    FakeClock,
    SandboxConfig,
    SilentAnswers,
    SvixDispatcher,
    TenantConfig,
    VoyadoServer,
    receipt,
    sign,
)

KEY_1 = "store-one-key"
KEY_2 = "store-two-key"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def standin(
    receiver: str | None = None, *, delays: list[float] | None = None, **tenant: Any
) -> Iterator[tuple[VoyadoServer, FakeClock]]:
    clock = FakeClock()
    settings: dict[str, Any] = {"batch_interval_seconds": None, "webhook_secret": SECRET}
    config = SandboxConfig(
        tenants=[
            TenantConfig(
                name="t", api_keys=[KEY_1, KEY_2], webhook_url=receiver, **{**settings, **tenant}
            )
        ],
        webhook_retry_delays=delays if delays is not None else [0.01, 0.01],
        webhook_timeout_seconds=2,
    )
    with VoyadoServer(config, clock=clock) as voyado:
        yield voyado, clock


def find(voyado: VoyadoServer, key: str = KEY_1, **headers: str | None) -> requests.Response:
    sent = {**voyado.headers(key), **headers}
    return requests.get(
        f"{voyado.url}/api/v3/contacts/id",
        params={"email": "jane@example.com"},
        headers=sent,  # None drops a header
        timeout=5,
    )


def test_apikey_is_required() -> None:
    with standin() as (voyado, _):
        assert find(voyado, apikey=None).status_code == 401
        assert find(voyado, apikey="wrong").status_code == 401
        assert find(voyado).status_code == 404  # authenticated: no such contact


@pytest.mark.parametrize(("setting", "status"), [("reject", 400), ("accept", 404)])
def test_user_agent_setting(setting: str, status: int) -> None:
    silent = SilentAnswers(user_agent=setting)  # type: ignore[arg-type]
    with standin(silent=silent) as (voyado, _):
        # urllib3 adds its own User-Agent unless told to skip it.
        assert find(voyado, **{"User-Agent": SKIP_HEADER}).status_code == status


def test_a_body_without_json_content_type_gets_the_documented_500() -> None:
    with standin() as (voyado, _):
        headers = {**voyado.headers(KEY_1), "Content-Type": "text/plain"}
        answer = requests.post(
            f"{voyado.url}/api/v3/contacts", data=b'{"email": "a@b.se"}', headers=headers, timeout=5
        )
        assert (answer.status_code, answer.json()) == (500, {"message": "An error has occurred"})
        assert voyado.engine.state("t")["tenants"]["t"]["contacts"] == []
        assert find(voyado, **{"Content-Type": None}).status_code == 404  # GET: fine


def test_content_type_on_every_request_setting() -> None:
    with standin(silent=SilentAnswers(content_type="all")) as (voyado, _):
        assert find(voyado, **{"Content-Type": None}).status_code == 500


def test_rate_limit_is_per_api_key_per_second() -> None:
    with standin(rate_limit_per_second=3) as (voyado, clock):
        assert [find(voyado).status_code for _ in range(4)] == [404, 404, 404, 429]
        assert find(voyado, KEY_2).status_code == 404  # the other store's key has its own
        limited = find(voyado)
        assert limited.status_code == 429 and "Retry-After" not in limited.headers
        clock.advance(seconds=1)
        assert find(voyado).status_code == 404


def test_injected_errors_rate_limits_and_hangs_count_down() -> None:
    with standin() as (voyado, _):
        voyado.engine.set_faults(
            {"path_prefix": "/api/v3/contacts", "error_next": 1, "error_status": 502}
        )
        voyado.engine.set_faults({"api_key": KEY_2, "rate_limited_next": 1})
        assert find(voyado).status_code == 502
        assert find(voyado, KEY_2).status_code == 429
        voyado.engine.set_faults({"hang_next": 1, "hang_seconds": 5})
        with pytest.raises(requests.Timeout):
            requests.get(
                f"{voyado.url}/api/v3/contacts/id",
                params={"email": "x@y.se"},
                headers=voyado.headers(KEY_1),
                timeout=0.3,
            )
        faults = requests.get(f"{voyado.url}/_sandbox/faults", timeout=5).json()["faults"]
        assert all(f["left"]["error_next"] == 0 for f in faults)


@pytest.mark.parametrize("hang", [False, True])
def test_commit_then_drop_stores_the_receipt_but_the_client_sees_a_failure(hang: bool) -> None:
    with standin(rewards={"voucher_step_points": 10**6}) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        fault = {"path_prefix": "/api/v2/receipts", "commit_next": 1, "commit_hang": hang}
        voyado.engine.set_faults({**fault, "hang_seconds": 1.0})
        body = json.dumps(receipt(jane["id"], "o-1", [("A", 1, "100")]), default=float)
        send = lambda: requests.post(  # noqa: E731
            f"{voyado.url}/api/v2/receipts", data=body, headers=voyado.headers(KEY_1), timeout=3
        )
        if hang:
            with pytest.raises(requests.Timeout):
                requests.post(
                    f"{voyado.url}/api/v2/receipts",
                    data=body,
                    headers=voyado.headers(KEY_1),
                    timeout=0.3,
                )
        else:
            assert send().status_code == 503
        assert eventually(lambda: voyado.engine.state("t")["tenants"]["t"]["pendingReceipts"])
        assert send().status_code == 202  # the resend: a duplicate, ignored
        voyado.process()
        assert voyado.contact_state(jane["id"])["balance"] == 100


def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    return check()


class Collector:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.calls.append((url, body, headers))
        return self.statuses.pop(0) if self.statuses else 200


def test_svix_signature_matches_the_documented_example() -> None:
    # The example of https://docs.svix.com/receiving/verifying-payloads/how-manual and the
    # svix library's tests: secret, msg id, timestamp, payload -> signature.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    expected = base64.b64encode(
        hmac.new(key, b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + body, hashlib.sha256).digest()
    ).decode()
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == "v1," + expected
    assert expected == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_webhooks_retry_non_2xx_with_the_same_svix_id_and_fresh_signatures() -> None:
    collector = Collector([500, 302, 204])
    clock = FakeClock()
    dispatcher = SvixDispatcher(retry_delays=[0.01, 0.01, 0.01], post=collector, clock=lambda: 7)
    config = SandboxConfig(
        tenants=[
            TenantConfig(
                name="t",
                api_keys=[KEY_1],
                batch_interval_seconds=None,
                webhook_url="http://hooks.invalid/voyado",
                webhook_secret=SECRET,
                rewards={"voucher_step_points": 10**6},
            )
        ]
    )
    with VoyadoServer(config, clock=clock, dispatcher=dispatcher) as voyado:
        jane = voyado.seed_contact(email="jane@example.com")
        voyado.engine.post_receipt("t", receipt(jane["id"], "o-1", [("A", 1, "42")]))
        voyado.process()
        deliveries = voyado.wait_webhooks()
    assert [c[2]["svix-id"] for c in collector.calls] == [collector.calls[0][2]["svix-id"]] * 3
    assert [a["status"] for a in deliveries[0]["attempts"]] == [500, 302, 204]
    assert deliveries[0]["delivered"] is True
    for _, body, headers in collector.calls:
        assert headers["svix-signature"] == sign(SECRET, headers["svix-id"], 7, body)
    payload = json.loads(collector.calls[0][1])
    assert payload["eventType"] == "point.balance.updated" and payload["payload"]["balance"] == 42


def test_webhooks_give_up_after_the_schedule() -> None:
    collector = Collector([500] * 10)
    dispatcher = SvixDispatcher(retry_delays=[0.0, 0.0], post=collector)
    dispatcher.send("http://hooks.invalid", SECRET, "t", "point.balance.updated", {"balance": 1})
    assert dispatcher.wait_idle(5)
    assert len(collector.calls) == 3 and dispatcher.deliveries()[0]["delivered"] is False
    dispatcher.close()


def test_admin_state_reset_tenants_and_process() -> None:
    with standin(rewards={"voucher_step_points": 50}) as (voyado, _):
        admin = f"{voyado.url}/_sandbox"
        seeded = requests.post(
            f"{admin}/contacts", json={"email": "jane@example.com"}, timeout=5
        ).json()
        twin = requests.post(
            f"{admin}/contacts?allow_duplicate=true", json={"email": "jane@example.com"}, timeout=5
        )
        assert twin.status_code == 201 and find(voyado).status_code == 409  # MultipleMatches
        voyado.engine.post_receipt("t", receipt(seeded["id"], "o-1", [("A", 1, "120")]))
        assert requests.post(f"{admin}/process", timeout=5).json() == {"processed": 1}
        state = requests.get(f"{admin}/contacts/{seeded['id']}", timeout=5).json()
        assert (state["balance"], len(state["vouchers"]), len(state["receipts"])) == (20, 2, 1)
        config = requests.get(f"{admin}/config", timeout=5).json()
        assert "api_keys" not in json.dumps(config) and SECRET not in json.dumps(config)
        tenant = {"name": "second", "api_keys": ["k-second"], "stores": ["s-2"]}
        assert requests.post(f"{admin}/tenants", json=tenant, timeout=5).ok
        assert find(voyado, "k-second").status_code == 404
        logged = requests.get(f"{admin}/requests", timeout=5).json()["requests"]
        assert logged and KEY_1 not in json.dumps(logged)
        assert requests.post(f"{admin}/reset", timeout=5).json() == {"reset": True}
        assert requests.get(f"{admin}/state", timeout=5).json()["tenants"]["t"]["contacts"] == []
        bad = requests.post(f"{admin}/tenants", json={"name": ""}, timeout=5)
        assert bad.status_code == 400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_entry_point_serves_a_config_file(tmp_path: Path) -> None:
    config = {"tenants": [{"name": "demo", "api_keys": ["demo-key"], "stores": ["7"]}]}
    path = tmp_path / "voyado.json"
    path.write_text(json.dumps(config))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "sandbox.voyado", "--port", str(port), "--config", str(path)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v3/contacts/id"
        headers = {"apikey": "demo-key", "User-Agent": "t/1", "Content-Type": "application/json"}

        def answered() -> int | None:
            try:
                return requests.get(
                    url, params={"any": "42"}, headers=headers, timeout=1
                ).status_code
            except requests.ConnectionError:
                return None

        assert eventually(answered, timeout=20) == 404
    finally:
        process.terminate()
        process.wait(timeout=10)


HOSTILE = [
    b"[]",
    b"null",
    b'"text"',
    b'{"items": [1, 2]}',
    b'{"amount": NaN}',
    b"[" * 5000,
    json.dumps([{"contactId": 5, "amount": "x", "definitionId": None}]).encode(),
    json.dumps({"contact": {"matchKey": 1, "matchKeyType": []}, "items": "x"}).encode(),
    json.dumps({"email": ["a"], "contactType": {}}).encode(),
]
POSTS = [
    "/api/v2/receipts",
    "/api/v3/receipts",
    "/api/v3/contacts",
    "/api/v2/point-accounts/transactions",
]


@pytest.mark.parametrize("path", POSTS)
def test_hostile_bodies_get_a_4xx_never_a_500(path: str) -> None:
    with standin() as (voyado, _):
        for raw in HOSTILE:
            answer = requests.post(
                voyado.url + path, data=raw, headers=voyado.headers(KEY_1), timeout=5
            )
            assert 400 <= answer.status_code < 500 or (
                path.endswith("transactions") and answer.status_code == 200
            ), (raw[:40], answer.status_code, answer.text)
