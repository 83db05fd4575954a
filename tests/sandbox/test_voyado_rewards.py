"""Points and reward vouchers in the Voyado stand-in, over HTTP: balances, pending points,
point transactions with NotAccepted rows and a 24-hour Idempotency-Key, the step voucher model,
redeem / reactivate with their limits, and tenant isolation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import requests

from sandbox.voyado import FakeClock, SandboxConfig, SilentAnswers, TenantConfig, VoyadoServer

KEY_A = "key-tenant-a"
KEY_B = "key-tenant-b"
NO_GUID = "00000000-0000-0000-0000-000000000000"


@contextmanager
def standin(**tenant: Any) -> Iterator[tuple[VoyadoServer, FakeClock]]:
    clock = FakeClock()
    config = SandboxConfig(
        tenants=[
            TenantConfig(name="a", api_keys=[KEY_A], batch_interval_seconds=None, **tenant),
            TenantConfig(name="b", api_keys=[KEY_B], batch_interval_seconds=None),
        ]
    )
    with VoyadoServer(config, clock=clock) as voyado:
        yield voyado, clock


def call(
    voyado: VoyadoServer, method: str, path: str, key: str = KEY_A, **kwargs: Any
) -> requests.Response:
    headers = voyado.headers(key, **kwargs.pop("headers", {}))
    if "body" in kwargs:
        kwargs["data"] = json.dumps(kwargs.pop("body"))
    return requests.request(method, voyado.url + path, headers=headers, timeout=5, **kwargs)


def grant(voyado: VoyadoServer, contact_id: str, amount: int, **row: Any) -> requests.Response:
    headers = row.pop("headers", {})
    body = [
        {
            "contactId": contact_id,
            "amount": amount,
            "definitionId": 1,
            "source": "connector",
            "description": "test",
            **row,
        }
    ]
    return call(voyado, "POST", "/api/v2/point-accounts/transactions", body=body, headers=headers)


def account(voyado: VoyadoServer, contact_id: str) -> dict[str, Any]:
    answer = call(voyado, "GET", "/api/v3/point-accounts", params={"contactId": contact_id})
    assert answer.status_code == 200
    return answer.json()["items"][0]


def test_point_transactions_move_the_balance_and_skip_bad_rows_inside_a_200() -> None:
    with standin(rewards={"voucher_step_points": 10**6}) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        rows = [
            {
                "contactId": jane,
                "amount": 120,
                "definitionId": 1,
                "source": "s",
                "description": "d",
            },
            {
                "contactId": jane,
                "amount": -20,
                "definitionId": 1,
                "source": "s",
                "description": "d",
            },
            {"contactId": jane, "amount": 5, "definitionId": 1, "source": "s"},
            {"contactId": "not-a-guid", "amount": 5, "definitionId": 1, "source": "s"},
            {
                "contactId": NO_GUID,
                "amount": 5,
                "definitionId": 1,
                "source": "s",
                "description": "d",
            },
            {"contactId": jane, "amount": 5, "definitionId": 7, "source": "s", "description": "d"},
        ]
        answer = call(voyado, "POST", "/api/v2/point-accounts/transactions", body=rows)
        assert answer.status_code == 200
        result = answer.json()
        assert result["notAccepted"] == rows[2:]
        assert result["missingContactIds"] == [NO_GUID]
        assert result["missingDefinitionIds"] == [7]
        assert len(result["errorMessages"]) == 4
        assert account(voyado, jane)["balance"] == 100
        history = call(
            voyado,
            "GET",
            "/api/v3/point-transactions",
            params={"accountId": account(voyado, jane)["id"]},
        ).json()
        assert [t["amount"] for t in history["items"]] == [-20, 120]
        assert [t["type"] for t in history["items"]] == ["Deduction", "Addition"]


def test_more_than_1000_rows_is_refused() -> None:
    with standin() as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        row = {"contactId": jane, "amount": 1, "definitionId": 1, "source": "s", "description": "d"}
        answer = call(voyado, "POST", "/api/v2/point-accounts/transactions", body=[row] * 1001)
        assert answer.status_code == 400 and answer.json()["errorCode"] == "TooManyRows"
        assert account(voyado, jane)["balance"] == 0


def test_idempotency_key_replays_for_24_hours_then_expires() -> None:
    with standin(rewards={"voucher_step_points": 10**6}) as (voyado, clock):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        row = {
            "contactId": jane,
            "amount": 10,
            "definitionId": 1,
            "source": "s",
            "description": "d",
        }
        path = "/api/v2/point-accounts/transactions"
        key = {"Idempotency-Key": "ledger-op-42"}
        first = call(voyado, "POST", path, body=[row], headers=key)
        clock.advance(hours=23, minutes=59)
        again = call(voyado, "POST", path, body=[row], headers=key)
        assert (again.status_code, again.json()) == (first.status_code, first.json())
        assert account(voyado, jane)["balance"] == 10
        call(voyado, "POST", path, body=[row], headers={"Idempotency-Key": "other-op"})
        assert account(voyado, jane)["balance"] == 20
        clock.advance(minutes=2)  # more than 24 h after the first use
        call(voyado, "POST", path, body=[row], headers=key)
        assert account(voyado, jane)["balance"] == 30
        call(voyado, "POST", path, body=[row])  # no key: applied every time
        assert account(voyado, jane)["balance"] == 40


def test_point_transactions_status_setting_202() -> None:
    with standin(silent=SilentAnswers(point_transactions_status=202)) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        assert grant(voyado, jane, 5).status_code == 202


def test_pending_points_become_active_on_their_valid_from() -> None:
    with standin(rewards={"voucher_step_points": 10**6}) as (voyado, clock):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        later = clock.advance(days=0).replace(year=2027).isoformat()
        grant(voyado, jane, 70, validFrom=later)
        state = account(voyado, jane)
        assert (state["balance"], state["pendingPoints"]) == (0, 70)
        pending = call(
            voyado,
            "GET",
            "/api/v3/point-transactions",
            params={"contactId": jane, "definitionId": "1", "filter": "Pending"},
        )
        assert [t["amount"] for t in pending.json()["items"]] == [70]
        clock.advance(days=400)
        assert account(voyado, jane)["balance"] == 70


def test_step_model_turns_points_into_vouchers_of_the_tenant_currency() -> None:
    model = {"voucher_step_points": 300, "voucher_value": "25.50", "voucher_valid_days": 30}
    with standin(rewards=model, currency="EUR") as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        grant(voyado, jane, 700)
        assert account(voyado, jane)["balance"] == 100
        listed = call(
            voyado, "GET", "/api/v3/reward-vouchers/available", params={"contactId": jane}
        )
        items = listed.json()["items"]
        assert [(v["value"], v["points"]) for v in items] == [
            ({"currency": "EUR", "amount": 25.5}, 300)
        ] * 2
        events = [e["topic"] for e in voyado.engine.events()]
        assert events == [
            "point.balance.updated",
            "reward.voucher.created",
            "reward.voucher.created",
        ]


def test_redeem_moves_a_voucher_to_redeemed_and_a_second_redeem_is_409() -> None:
    with standin(rewards={"voucher_step_points": 100}) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        grant(voyado, jane, 100)
        voucher = call(voyado, "GET", "/api/v3/reward-vouchers", params={"contactId": jane}).json()
        voucher_id = voucher["items"][0]["id"]
        assert call(voyado, "POST", f"/api/v3/reward-vouchers/{voucher_id}/redeem").ok
        again = call(voyado, "POST", f"/api/v3/reward-vouchers/{voucher_id}/redeem")
        assert (again.status_code, again.json()["errorCode"]) == (
            409,
            "RewardVoucherAlreadyRedeemed",
        )
        query = {"contactId": jane}
        available = call(voyado, "GET", "/api/v3/reward-vouchers/available", params=query).json()
        redeemed = call(voyado, "GET", "/api/v3/reward-vouchers/redeemed", params=query).json()
        assert (available["count"], redeemed["count"]) == (0, 1)


def test_reactivation_limit_is_configurable() -> None:
    with standin(rewards={"voucher_step_points": 100, "reactivation_limit": 1}) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        grant(voyado, jane, 100)
        voucher_id = voyado.contact_state(jane, "a")["vouchers"][0]["id"]
        base = f"/api/v3/reward-vouchers/{voucher_id}"
        before = voyado.contact_state(jane, "a")["vouchers"][0]
        assert call(voyado, "POST", f"{base}/redeem").ok
        assert call(voyado, "POST", f"{base}/reactivate").ok
        assert call(voyado, "POST", f"{base}/redeem").ok
        refused = call(voyado, "POST", f"{base}/reactivate")
        assert (refused.status_code, refused.json()["errorCode"]) == (
            409,
            "ReactivationLimitExceeded",
        )
        # "Reactivating a voucher does not change any of its data" (reactivate page).
        after = voyado.contact_state(jane, "a")["vouchers"][0]
        assert {k: after[k] for k in ("value", "expiresOn", "voucherNumber", "points")} == {
            k: before[k] for k in ("value", "expiresOn", "voucherNumber", "points")
        }
        assert (after["status"], after["reactivations"]) == ("Redeemed", 1)
        assert before["value"] == {"currency": "SEK", "amount": Decimal(50)}


def test_plain_voucher_list_setting() -> None:
    with standin(
        rewards={"voucher_step_points": 100}, silent=SilentAnswers(voucher_list="plain")
    ) as (
        voyado,
        _,
    ):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        grant(voyado, jane, 200)
        listed = call(
            voyado, "GET", "/api/v3/reward-vouchers/available", params={"contactId": jane}
        )
        assert isinstance(listed.json(), list) and len(listed.json()) == 2


def test_tenants_are_isolated_by_api_key() -> None:
    with standin(rewards={"voucher_step_points": 100}) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")["id"]
        grant(voyado, jane, 100)
        voucher_id = voyado.contact_state(jane, "a")["vouchers"][0]["id"]
        other = call(voyado, "POST", f"/api/v3/reward-vouchers/{voucher_id}/redeem", key=KEY_B)
        assert other.status_code == 404
        lookup = call(
            voyado, "GET", "/api/v3/contacts/id", key=KEY_B, params={"email": "jane@example.com"}
        )
        assert lookup.status_code == 404
