"""The Voyado stand-in against the contract fixtures (`tests/contracts/voyado/*.json`), over
real HTTP: every documented request gets the documented status and answer shape, every listed
error case its status and error code, every webhook the documented payload with a valid Svix
signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from sandbox.voyado import (
    DEFAULT_API_KEY,
    DEFAULT_STORE,
    DEFAULT_WEBHOOK_SECRET,
    FakeClock,
    SandboxConfig,
    TenantConfig,
    VoyadoEngine,
    VoyadoServer,
    create_app,
    receipt,
)
from tests.contracts.voyado_fixtures import (
    all_names,
    differences,
    endpoint_names,
    fill,
    fixture,
    placeholders,
    request_path,
    webhook_names,
)

DOC_SITES = (
    "https://developer.voyado.com/",
    "https://voyado.mintlify.app/",
    "https://help.engage.voyado.com/",
    "https://partner-integrations.voyado.com/",
    "https://docs.svix.com/",
    "https://github.com/liblaber/voyado-engage-2.0.0-typescript-1.0.0/",
    "https://hub.liblab.com/voyado/",
    "https://github.com/hantera-io/hantera.integration.voyado.engage/",
)


class Receiver:
    """A webhook endpoint on a free port that keeps raw bodies and headers."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.arrived:
                    outer.calls.append((dict(self.headers.items()), body))
                    status = outer.statuses.pop(0) if outer.statuses else 204
                    outer.arrived.notify_all()
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/voyado"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.calls) >= count, timeout=timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def svix_valid(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Svix's manual verification, written from https://docs.svix.com/receiving/verifying-payloads/how-manual
    (independent of the stand-in's signer)."""
    low = {k.lower(): v for k, v in headers.items()}
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{low['svix-id']}.{low['svix-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        part.split(",", 1)[0] == "v1" and hmac.compare_digest(part.split(",", 1)[1], expected)
        for part in low["svix-signature"].split()
    )


@dataclass
class World:
    voyado: VoyadoServer
    clock: FakeClock
    receiver: Receiver
    params: dict[str, Any]

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = self.voyado.headers(**kwargs.pop("headers", {}))
        return requests.request(
            method, self.voyado.url + path, headers=headers, timeout=5, **kwargs
        )


@pytest.fixture
def world() -> Iterator[World]:
    clock = FakeClock()
    receiver = Receiver()
    config = SandboxConfig(
        tenants=[
            TenantConfig(
                name="sandbox",
                api_keys=[DEFAULT_API_KEY],
                batch_interval_seconds=None,
                webhook_url=receiver.url,
            )
        ],
        webhook_retry_delays=[0.01, 0.01],
    )
    with VoyadoServer(config, clock=clock) as voyado:
        jane = voyado.seed_contact(email="jane@example.com", firstName="Jane")
        voyado.seed_contact(email="twin@example.com")
        voyado.seed_contact(email="twin@example.com", allow_duplicate=True)
        # 1500 SEK -> 1500 points -> three vouchers of the step model (500 points each).
        voyado.engine.post_receipt("sandbox", receipt(jane["id"], "seed-1", [("S", 3, "1500")]))
        voyado.process()
        state = voyado.contact_state(jane["id"])
        first, second, _ = (v["id"] for v in state["vouchers"])
        voyado.engine.redeem("sandbox", second)
        params = {
            "contactId": jane["id"],
            "email": "jane@example.com",
            "duplicateEmail": "twin@example.com",
            "newEmail": "new.member@example.com",
            "storeExternalId": DEFAULT_STORE,
            "uniqueReceiptId": "order-1001",
            "accountId": state["accounts"][0]["id"],
            "voucherId": first,
            "redeemedVoucherId": second,
            "idempotencyKey": "op-1",
        }
        yield World(voyado, clock, receiver, params)
    receiver.close()


def _params(world: World, name: str) -> dict[str, Any]:
    params = dict(world.params)
    if name == "reward_voucher_reactivate":
        params["voucherId"] = params["redeemedVoucherId"]
    return params


def _send(world: World, f: dict[str, Any], params: dict[str, Any], **change: Any) -> Any:
    req = f["request"]
    body = fill(change.get("body", req["body"]), params)
    return world.send(
        f["method"],
        request_path({**f, "path": f["path"]}, {**params, **change.get("path_params", {})}),
        params=fill(change.get("query", req["query"]), params),
        headers=fill(req.get("headers", {}), params),
        data=None if body is None else json.dumps(body),
    )


def _normal(path: str) -> str:
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


@pytest.mark.parametrize("name", all_names())
def test_every_fixture_names_its_documentation_page(name: str) -> None:
    f = fixture(name)
    assert f["source"].startswith(DOC_SITES), f["source"]
    assert all(u.startswith(DOC_SITES) for u in f["also"])
    assert f["kind"] in ("endpoint", "webhook")


def test_every_api_route_of_the_stand_in_has_a_fixture() -> None:
    config = SandboxConfig(tenants=[TenantConfig(name="t", api_keys=["k"])])
    app = create_app(VoyadoEngine(config, start_worker=False))
    routes = {
        (method, _normal(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    covered = {(fixture(n)["method"], _normal(fixture(n)["path"])) for n in endpoint_names()}
    assert routes == covered


@pytest.mark.parametrize("name", endpoint_names())
def test_documented_request_gets_the_documented_answer(world: World, name: str) -> None:
    f = fixture(name)
    params = _params(world, name)
    sent = {*placeholders(f["request"]), *placeholders(f["path"])}
    assert sent <= set(params), sent - set(params)
    answer = _send(world, f, params)
    assert answer.status_code == f["response"]["status"], answer.text
    expected = f["response"]["body"]
    if expected is None:
        assert answer.content == b""
        return
    got = answer.json()
    assert differences(expected, got) == []
    for key in ("items",) if isinstance(expected, dict) else ():
        if expected.get(key):
            assert got[key], f"{name}: the world should make {key} non-empty"


ERROR_CASES = [(n, i) for n in endpoint_names() for i in range(len(fixture(n)["errors"]))]


@pytest.mark.parametrize(("name", "index"), ERROR_CASES)
def test_documented_error_codes(world: World, name: str, index: int) -> None:
    f = fixture(name)
    case = f["errors"][index]
    params = _params(world, name)
    change: dict[str, Any] = {k: case[k] for k in ("query", "body", "path_params") if k in case}
    body = fill(f["request"]["body"], params)
    if "drop" in case:
        change["body"] = {k: v for k, v in body.items() if k != case["drop"]}
    if "set" in case:
        change["body"] = {**body, **case["set"]}
    if "set_item" in case:
        change["body"] = {**body, "items": [{**body["items"][0], **case["set_item"]}]}
    if case.get("repeat"):
        assert _send(world, f, params, **change).status_code == 200
    if "after_days" in case:
        world.clock.advance(days=case["after_days"])
    for _ in range(case.get("after_cycles", 0)):
        assert world.send("POST", request_path(f, params)).status_code == 200  # reactivate
        redeem = f"/api/v3/reward-vouchers/{params['voucherId']}/redeem"
        assert world.send("POST", redeem).status_code == 200
    answer = _send(world, f, params, **change)
    assert answer.status_code == case["status"], answer.text
    assert answer.json()["errorCode"] == case["errorCode"]


@pytest.mark.parametrize("name", webhook_names())
def test_webhooks_carry_the_documented_payload_and_a_valid_svix_signature(
    world: World, name: str
) -> None:
    f = fixture(name)
    world.voyado.wait_webhooks()
    calls = [(h, b) for h, b in world.receiver.calls if json.loads(b)["eventType"] == f["topic"]]
    assert calls, f"no {f['topic']} delivered"
    headers, body = calls[0]
    assert svix_valid(DEFAULT_WEBHOOK_SECRET, headers, body)
    assert differences(f["body"], json.loads(body)) == []
    assert set(json.loads(body)) == set(f["body"])
    assert set(json.loads(body)["payload"]) == set(f["body"]["payload"])
