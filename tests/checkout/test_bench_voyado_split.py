"""The Voyado checkout bench's helpers (bench/redemption_timing.py): the split of a voucher's
time at the cart from the service app's log lines, and "Voyado alone" against the stand-in."""

from __future__ import annotations

import json
from pathlib import Path

from bench.redemption_timing import BareVoyado, split_sequential_from_logs
from sandbox.voyado import FakeClock, SandboxConfig, TenantConfig, VoyadoServer
from shared.voyado import VoyadoClient

KEY = "bench-split-key"


def _line(correlation: str, event: str, **fields: object) -> str:
    return json.dumps({"event": event, "correlation_id": correlation, **fields})


def test_the_split_sums_the_sequential_provider_calls(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    log.write_text(
        "\n".join(
            [
                "[2026-12-01 23:00:00] gunicorn booting",  # not JSON: skipped
                _line("a", "http.call", service="voyado", method="GET", duration_ms=101.0),
                _line("a", "http.call", service="commercetools", method="GET", duration_ms=9.0),
                _line("a", "http.call", service="voyado", method="GET", duration_ms=103.0),
                _line("a", "http.request", duration_ms=210.0),
                _line("b", "http.call", service="voyado", method="GET", duration_ms=4.0),
                _line("b", "http.request", duration_ms=7.0),
                _line("other", "http.request", duration_ms=5.0),  # not one of the bench's
            ]
        )
    )
    split = split_sequential_from_logs(
        log, {"a": 215.0, "b": 9.0, "missing": 300.0}, service="voyado", wait=0
    )
    assert split.provider == [204.0, 4.0]  # 101 + 103: one after the other
    assert split.alongside == [9.0, 0.0]  # the commercetools read, made meanwhile
    assert split.round_trips == [2, 1]
    assert split.inside == [6.0, 3.0]  # 210 - 204, 7 - 4
    assert split.outside == [5.0, 2.0]  # 215 - 210, 9 - 7
    # A call whose request line is missing is left out, not counted as zero.
    assert len(split.outside) == 2


def test_voyado_alone_finds_the_contact_by_custom_key_then_lists_its_vouchers() -> None:
    config = SandboxConfig(tenants=[TenantConfig(name="t", api_keys=[KEY], currency="EUR")])
    with VoyadoServer(config, clock=FakeClock()) as voyado:
        contact = voyado.seed_contact(email="jane@example.com", externalId="cust-1")
        client = VoyadoClient(voyado.url, KEY)
        row = {
            "contactId": contact["id"],
            "amount": 500,  # the default step model: one voucher
            "definitionId": 1,
            "timeStamp": "2026-12-01T09:00:00+00:00",
            "source": "test",
            "description": "one voucher",
        }
        assert client.add_point_transactions([row], idempotency_key="seed").all_accepted
        since = voyado.engine.requests_since(0)[-1]["seq"]

        assert BareVoyado(voyado.url, KEY).voucher_check("cust-1") == 1

        sent = voyado.engine.requests_since(since)
        assert [(r["method"], r["path"], r["query"], r["status"]) for r in sent] == [
            ("GET", "/api/v3/contacts/id", {"customKey": "cust-1"}, 200),
            ("GET", "/api/v3/reward-vouchers/available", {"contactId": contact["id"]}, 200),
        ]
