"""The POS redemption records (`yotpo-loyalty-pos-redemptions`) through HTTP, against the
stand-ins: records written by earlier versions (Yotpo names only) still reverse, new records
carry both the old and the neutral names, and a redemption is given back once."""

from __future__ import annotations

import threading
from typing import Any

from service.instore.redemptions import (
    RECORDS_CONTAINER,
    record_account,
    record_redemption_id,
)
from tests.instore.conftest import BERLIN_SECRET, Pos, Shop

IN_STORE_REWARD = "4"  # 1000 points for 10.00 off, in stores


def redeem(pos: Pos, customer_id: str, request_id: str) -> Any:
    return pos.post(
        "/redemptions",
        {"request_id": request_id, "customer_id": customer_id, "option_id": IN_STORE_REWARD},
    )


def cancellations(shop: Shop) -> int:
    """Approve-cancellation calls the Yotpo stand-in received."""
    return sum(
        1
        for r in shop.world.yotpo.requests_since(0)
        if str(r.get("path", "")).endswith("/cancellation_completed")
    )


def record_of(shop: Shop, token: str) -> dict[str, Any]:
    found = shop.world.ct.get_custom_object(RECORDS_CONTAINER, token)
    assert found is not None
    return found


def test_a_new_yotpo_record_carries_the_old_and_the_neutral_names(shop: Shop) -> None:
    ada = shop.member("ada@example.com", 3000)
    token = redeem(shop.berlin, ada["id"], "n-1").get_json()["redemption_id"]
    value = record_of(shop, token)["value"]
    assert value["providerRedemptionId"] == value["yotpoRedemptionId"]
    assert value["account"] == value["accountGuid"] == shop.world.env["YOTPO_GUID"]
    assert value["provider"] == "yotpo"


def test_a_record_an_earlier_version_wrote_still_reverses(shop: Shop) -> None:
    ada = shop.member("ada@example.com", 3000)
    token = redeem(shop.berlin, ada["id"], "o-1").get_json()["redemption_id"]
    assert shop.balance("ada@example.com") == 2000
    found = record_of(shop, token)
    legacy = {
        k: v
        for k, v in found["value"].items()
        if k not in ("providerRedemptionId", "account", "provider")
    }
    shop.world.ct.put_custom_object(RECORDS_CONTAINER, token, legacy, version=found["version"])
    answer = shop.berlin.post(f"/redemptions/{token}/reversal", {"request_id": "o-2"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["points"] == 1000
    assert shop.balance("ada@example.com") == 3000


def test_a_redemption_is_given_back_once(shop: Shop) -> None:
    ada = shop.member("ada@example.com", 3000)
    token = redeem(shop.berlin, ada["id"], "g-1").get_json()["redemption_id"]
    first = shop.berlin.post(f"/redemptions/{token}/reversal", {"request_id": "g-2"})
    assert first.status_code == 200
    assert shop.balance("ada@example.com") == 3000
    marked = record_of(shop, token)["value"]
    assert marked["reversedBy"] == "berlin_till:g-2" and marked["reversedPoints"] == 1000
    # The same request again: its kept answer.
    again = shop.berlin.post(f"/redemptions/{token}/reversal", {"request_id": "g-2"})
    assert again.status_code == 200 and again.get_json() == first.get_json()
    # Another request: refused, and nothing is sent to Yotpo again.
    assert cancellations(shop) == 1
    other = shop.berlin.post(f"/redemptions/{token}/reversal", {"request_id": "g-3"})
    assert other.status_code == 409 and other.get_json()["error"] == "not_reversible"
    assert shop.balance("ada@example.com") == 3000
    assert cancellations(shop) == 1


def test_readers_take_either_name() -> None:
    assert record_redemption_id({"yotpoRedemptionId": "901"}) == "901"
    assert record_redemption_id({"providerRedemptionId": "v-1", "yotpoRedemptionId": "x"}) == (
        "v-1"
    )
    assert record_redemption_id({"yotpoRedemptionId": 901}) == "901"
    assert record_redemption_id({"yotpoRedemptionId": True}) is None
    assert record_redemption_id({}) is None
    assert record_account({"accountGuid": "guid-1"}) == "guid-1"
    assert record_account({"account": "voyado:nordic", "accountGuid": "x"}) == "voyado:nordic"
    assert record_account({"account": ""}) is None


def test_concurrent_reversals_by_two_requests_give_back_once(shop: Shop) -> None:
    ada = shop.member("ada@example.com", 3000)
    token = redeem(shop.berlin, ada["id"], "c-1").get_json()["redemption_id"]
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def reverse(request_id: str) -> None:
        barrier.wait()
        pos = Pos(shop.app.test_client(), BERLIN_SECRET)
        answer = pos.post(f"/redemptions/{token}/reversal", {"request_id": request_id})
        answers.append(answer.status_code)

    threads = [threading.Thread(target=reverse, args=(r,)) for r in ("c-2", "c-3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409]
    assert cancellations(shop) == 1
    assert shop.balance("ada@example.com") == 3000


def test_a_reversal_the_provider_refuses_can_be_tried_again(shop: Shop) -> None:
    ada = shop.member("ada@example.com", 3000)
    token = redeem(shop.berlin, ada["id"], "f-1").get_json()["redemption_id"]
    found = record_of(shop, token)
    # A record naming a redemption Yotpo does not know: the claim is given up again.
    broken = {**found["value"], "providerRedemptionId": "999999", "yotpoRedemptionId": "999999"}
    shop.world.ct.put_custom_object(RECORDS_CONTAINER, token, broken, version=found["version"])
    first = shop.berlin.post(f"/redemptions/{token}/reversal", {"request_id": "f-2"})
    assert first.status_code == 404 and first.get_json()["error"] == "unknown_redemption"
    assert "reversedBy" not in record_of(shop, token)["value"]
