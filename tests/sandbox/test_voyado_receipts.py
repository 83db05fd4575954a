"""Receipts in the Voyado stand-in, over HTTP: validation, dedupe on uniqueReceiptId for good,
asynchronous batches, return matching, the points model, currencies, stores, and both answers
where the documentation is silent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
import requests

from sandbox.voyado import (
    DEFAULT_API_KEY,
    FakeClock,
    SandboxConfig,
    SilentAnswers,
    TenantConfig,
    VoyadoServer,
    receipt,
)

MANDATORY = (
    "contact",
    "uniqueReceiptId",
    "createdDate",
    "storeExternalId",
    "currency",
    "totalGrossPrice",
    "paymentMethods",
    "items",
)


@contextmanager
def standin(**tenant: Any) -> Iterator[tuple[VoyadoServer, FakeClock]]:
    clock = FakeClock()
    settings = {"batch_interval_seconds": None, "exchange_rates": {"EUR": Decimal("11.5")}}
    config = SandboxConfig(
        tenants=[TenantConfig(name="t", api_keys=[DEFAULT_API_KEY], **{**settings, **tenant})]
    )
    with VoyadoServer(config, clock=clock) as voyado:
        yield voyado, clock


def post(voyado: VoyadoServer, body: Any, version: str = "v2") -> requests.Response:
    return requests.post(
        f"{voyado.url}/api/{version}/receipts",
        data=json.dumps(body, default=float),
        headers=voyado.headers(),
        timeout=5,
    )


def balance(voyado: VoyadoServer, contact_id: str) -> Decimal:
    return Decimal(str(voyado.contact_state(contact_id)["balance"]))


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def no_vouchers(**extra: Any) -> dict[str, Any]:
    """A rewards model that never converts, so balances show the raw points."""
    return {"rewards": {"voucher_step_points": 10**9, **extra}}


def test_receipts_are_applied_in_a_batch_not_on_post() -> None:
    with standin(**no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        assert post(voyado, receipt(jane["id"], "o-1", [("A", 2, "200.00")])).status_code == 202
        state = voyado.contact_state(jane["id"])
        assert state["pendingReceipts"] == ["o-1"] and balance(voyado, jane["id"]) == 0
        assert requests.post(f"{voyado.url}/_sandbox/process", timeout=5).json() == {"processed": 1}
        assert balance(voyado, jane["id"]) == 200
        assert voyado.contact_state(jane["id"])["receipts"][0]["points"] == 200


def test_batch_interval_zero_applies_soon_in_the_background() -> None:
    with standin(batch_interval_seconds=0.0, **no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        post(voyado, receipt(jane["id"], "o-1", [("A", 1, "99.90")]))
        assert eventually(lambda: balance(voyado, jane["id"]) == 99)


def test_batch_waits_for_its_interval_on_the_stand_in_clock() -> None:
    with standin(batch_interval_seconds=900.0, **no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        post(voyado, receipt(jane["id"], "o-1", [("A", 1, "100")]))
        time.sleep(0.5)
        assert balance(voyado, jane["id"]) == 0
        requests.post(f"{voyado.url}/_sandbox/clock", json={"advance_seconds": 900}, timeout=5)
        assert eventually(lambda: balance(voyado, jane["id"]) == 100)


def test_a_duplicate_unique_receipt_id_is_ignored_forever_and_never_updates() -> None:
    with standin(**no_vouchers()) as (voyado, clock):
        jane = voyado.seed_contact(email="jane@example.com")
        first = receipt(jane["id"], "o-1", [("A", 1, "100")])
        post(voyado, first)
        assert post(voyado, first).status_code == 202  # pending duplicate
        voyado.process()
        clock.advance(days=800)
        changed = receipt(jane["id"], "o-1", [("A", 5, "999")])
        assert post(voyado, changed).status_code == 202
        assert post(voyado, changed, "v3").status_code == 202
        voyado.process()
        assert balance(voyado, jane["id"]) == 100
        stored = voyado.contact_state(jane["id"])["receipts"]
        assert len(stored) == 1 and stored[0]["totalGrossPrice"] == Decimal(100)
        assert voyado.engine.state("t")["tenants"]["t"]["duplicateReceipts"] == 3


@pytest.mark.parametrize("field", MANDATORY)
def test_each_mandatory_field_is_required(field: str) -> None:
    with standin() as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        body = receipt(jane["id"], "o-1", [("A", 1, "100")])
        del body[field]
        answer = post(voyado, body)
        assert answer.status_code == 400
        assert answer.json()["errorCode"] == "InvalidModel" and field in answer.json()["message"]
        assert voyado.engine.state("t")["tenants"]["t"]["pendingReceipts"] == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"createdDate": "2026-12-01T10:00:00"}, "createdDate"),
        ({"currency": "sek"}, "currency"),
        ({"contact": {"matchKey": "x", "matchKeyType": "nickname"}}, "matchKeyType"),
        ({"items": []}, "items"),
        ({"paymentMethods": []}, "paymentMethods"),
        ({"uniqueReceiptId": ""}, "uniqueReceiptId"),
    ],
)
def test_malformed_receipts_get_400_and_change_nothing(change: dict[str, Any], where: str) -> None:
    with standin() as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        answer = post(voyado, {**receipt(jane["id"], "o-1", [("A", 1, "1")]), **change})
        assert answer.status_code == 400 and where in answer.json()["message"]
        assert voyado.process() == 0


def test_not_json_is_a_400_not_a_500() -> None:
    with standin() as (voyado, _):
        answer = requests.post(
            f"{voyado.url}/api/v2/receipts", data="{nope", headers=voyado.headers(), timeout=5
        )
        assert answer.status_code == 400 and answer.json()["errorCode"] == "InvalidModel"


def test_a_return_is_matched_to_its_purchase_and_takes_back_its_points() -> None:
    with standin(**no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        post(voyado, receipt(jane["id"], "o-1", [("A", 3, "100.00"), ("B", 1, "50")]))
        voyado.process()
        assert balance(voyado, jane["id"]) == 150
        post(voyado, receipt(jane["id"], "o-1:r1", [("A", 1, "33.33")], kind="RETURN"))
        voyado.process()
        assert balance(voyado, jane["id"]) == 117  # floor(100 * 1/3) = 33 taken back
        post(voyado, receipt(jane["id"], "o-1:r2", [("A", 2, "66.67")], kind="RETURN"))
        voyado.process()
        assert balance(voyado, jane["id"]) == 50  # the full line's 100 points, exactly
        matches = voyado.contact_state(jane["id"])["receipts"][-1]["returnMatches"]
        assert matches == [{"sku": "A", "quantity": 2, "points": 67}]


def test_a_receipt_returning_units_and_buying_them_back_cheaper_is_a_price_correction() -> None:
    """Items carry their own type (field definitions), so one receipt can return units and buy
    them again, as an exchange does. The RETURN matches the earlier purchase and takes back
    what its units earned; the PURCHASE earns on its own price and is what a later return of
    that sku matches (register-a-return, "Return matching logic")."""
    with standin(**no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        post(voyado, receipt(jane["id"], "o-1", [("A", 1, "308.00")]))
        voyado.process()
        back = receipt(jane["id"], "o-1:refund:p-1", [("A", 1, "308.00")], kind="RETURN")
        again = receipt(jane["id"], "-", [("A", 1, "208.00")])["items"]
        back["items"] += again
        back["totalGrossPrice"] = back["paymentMethods"][0]["value"] = Decimal("-100.00")
        assert post(voyado, back).status_code in (200, 201, 202, 204)
        voyado.process()
        assert balance(voyado, jane["id"]) == 208
        post(voyado, receipt(jane["id"], "o-1:cancel", [("A", 1, "208.00")], kind="RETURN"))
        voyado.process()
        assert balance(voyado, jane["id"]) == 0
        stored = voyado.contact_state(jane["id"])["receipts"]
        assert [m for r in stored for m in r["returnMatches"]] == [
            {"sku": "A", "quantity": 1, "points": 308},
            {"sku": "A", "quantity": 1, "points": 208},
        ]


@pytest.mark.parametrize(("setting", "expected"), [("deduct", 100), ("ignore", 150)])
def test_an_unmatched_return_follows_the_setting(setting: str, expected: int) -> None:
    silent = SilentAnswers(unmatched_return=setting)  # type: ignore[arg-type]
    with standin(silent=silent, **no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        post(voyado, receipt(jane["id"], "o-1", [("A", 1, "150")]))
        post(voyado, receipt(jane["id"], "r-9", [("Z", 1, "50")], kind="RETURN"))
        voyado.process()
        assert balance(voyado, jane["id"]) == expected


def test_points_count_items_with_awards_bonus_only() -> None:
    with standin(**no_vouchers(points_per_currency_unit="2")) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        body = receipt(jane["id"], "o-1", [("A", 1, "100"), ("GIFTCARD", 1, "500")])
        body["items"][1]["awardsBonus"] = False
        post(voyado, body)
        voyado.process()
        assert balance(voyado, jane["id"]) == 200


def test_without_awards_bonus_the_default_setting_decides() -> None:
    silent = SilentAnswers(awards_bonus_default=False)
    with standin(silent=silent, **no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        body = receipt(jane["id"], "o-1", [("A", 1, "100"), ("B", 1, "40")])
        body["items"][1]["awardsBonus"] = True
        post(voyado, body)
        voyado.process()
        assert balance(voyado, jane["id"]) == 40


def test_currency_per_receipt_converts_to_the_group_currency() -> None:
    with standin(**no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        post(voyado, receipt(jane["id"], "eur", [("A", 1, "10.00")], currency="EUR"))
        rate = {"exchangeRateToGroupCurrency": Decimal("10")}
        post(voyado, receipt(jane["id"], "eur-2", [("A", 1, "10.00")], currency="EUR", **rate))
        voyado.process()
        assert balance(voyado, jane["id"]) == 115 + 100
        unknown = post(voyado, receipt(jane["id"], "jpy", [("A", 1, "1000")], currency="JPY"))
        assert unknown.status_code == 400 and unknown.json()["errorCode"] == "InvalidCurrency"


def test_sync_references_refuse_unknown_store_contact_and_ambiguous_key() -> None:
    with standin() as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        voyado.seed_contact(email="twin@example.com")
        voyado.seed_contact(email="twin@example.com", allow_duplicate=True)
        bad_store = post(voyado, receipt(jane["id"], "o-1", [("A", 1, "1")], store="nowhere"))
        assert (bad_store.status_code, bad_store.json()["errorCode"]) == (
            400,
            "InvalidStoreExternalId",
        )
        nobody = receipt("nobody@example.com", "o-2", [("A", 1, "1")], match_key_type="email")
        assert post(voyado, nobody).json()["errorCode"] == "ContactNotFound"
        twins = receipt("twin@example.com", "o-3", [("A", 1, "1")], match_key_type="email")
        assert post(voyado, twins).status_code == 409
        # Nothing was stored, so the ids are still free.
        assert post(voyado, receipt(jane["id"], "o-1", [("A", 1, "1")])).status_code == 202


def test_batch_references_accept_then_drop_and_keep_the_id_free() -> None:
    silent = SilentAnswers(receipt_references="batch")
    with standin(silent=silent, **no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        late = receipt("late@example.com", "o-1", [("A", 1, "80")], match_key_type="email")
        assert post(voyado, late).status_code == 202
        assert post(voyado, receipt(jane["id"], "o-2", [("A", 1, "1")], store="x")).ok
        voyado.process()
        failed = voyado.engine.state("t")["tenants"]["t"]["failedReceipts"]
        assert [(f["uniqueReceiptId"], f["errorCode"]) for f in failed] == [
            ("o-1", "ContactNotFound"),
            ("o-2", "InvalidStoreExternalId"),
        ]
        late_contact = voyado.seed_contact(email="late@example.com")
        assert post(voyado, late).status_code == 202
        voyado.process()
        assert balance(voyado, late_contact["id"]) == 80


def test_match_by_email_and_200_empty_answer_setting() -> None:
    silent = SilentAnswers(receipt_answer="200-empty")
    with standin(silent=silent, **no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="Jane@Example.com")
        body = receipt("jane@example.com", "o-1", [("A", 1, "10")], match_key_type="email")
        answer = post(voyado, body, "v3")
        assert (answer.status_code, answer.content) == (200, b"")
        voyado.process()
        assert balance(voyado, jane["id"]) == 10


def test_concurrent_redelivery_of_one_receipt_grants_points_once() -> None:
    with standin(**no_vouchers()) as (voyado, _):
        jane = voyado.seed_contact(email="jane@example.com")
        body = receipt(jane["id"], "o-1", [("A", 1, "100")])
        threads = [threading.Thread(target=post, args=(voyado, body)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        voyado.process()
        assert balance(voyado, jane["id"]) == 100
