"""End to end against both stand-ins: the POS steps of Yotpo's in-store guide, with the real
event app reconciling what the API recorded in commercetools."""

from __future__ import annotations

from shared.domain.loyalty_fields import CartFields
from tests.instore.conftest import Shop

IN_STORE_REWARD = "4"  # the stand-in's "€10 in-store reward": 1000 points, 1000 cents off


def test_lookup_redeem_sell_with_the_code_and_the_event_app_earns(shop: Shop) -> None:
    world = shop.world
    customer = shop.member("Ada.Lovelace@example.com", 1500)

    found = shop.berlin.get("/customers", email="ada.lovelace@EXAMPLE.com")
    assert found.status_code == 200, found.get_json()
    summary = found.get_json()
    assert summary["customer_id"] == customer["id"]
    assert summary["points_balance"] == 1500
    assert summary["email"] == "A***@example.com"
    assert summary["vip_tier"] == "Bronze"
    assert summary["vip_tier_progress"]["next_tier"] == "Silver"

    rewards = shop.berlin.get(f"/customers/{customer['id']}/rewards", offline="true").get_json()
    assert [r["id"] for r in rewards["rewards"]] == [IN_STORE_REWARD]

    redeemed = shop.berlin.post(
        "/redemptions",
        # The till says its currency: the program takes several, and Yotpo's redemption
        # answer does not name one.
        {
            "request_id": "r-1",
            "customer_id": customer["id"],
            "option_id": IN_STORE_REWARD,
            "currency": "EUR",
        },
    )
    assert redeemed.status_code == 201, redeemed.get_json()
    code = redeemed.get_json()
    assert code["amount_minor"] == 1000 and code["currency"] == "EUR" and code["points"] == 1000
    assert shop.balance("ada.lovelace@example.com") == 500  # deducted at once

    sale = {
        "request_id": "s-1",
        "order_number": "BER-0001",
        "customer_id": customer["id"],
        "currency": "EUR",
        "lines": [
            {"sku": "SKU-HOODIE", "name": "Hoodie", "quantity": 1, "unit_price_minor": 5999},
            {"name": "Gift wrap", "quantity": 1, "unit_price_minor": 500},
        ],
        "total_minor": 5499,  # 64.99 minus the 10.00 reward
        "reward_code": code["code"],
    }
    imported = shop.berlin.post("/orders", sale)
    assert imported.status_code == 201, imported.get_json()
    assert imported.get_json()["status"] == "imported"
    assert world.yotpo_orders() == []  # the API never tells Yotpo about orders itself

    order = shop.order("BER-0001")
    assert order["store"]["key"] == "berlin"
    assert order["paymentState"] == "Paid" and order["orderState"] == "Complete"
    assert order["custom"]["fields"][CartFields.REWARD_CODE] == code["code"]
    shop.deliver(order["id"])
    (sent,) = world.yotpo_orders()
    assert sent["order_id"] == "BER-0001" and sent["total_amount_cents"] == 5499
    assert sent["coupon_code"] == code["code"]
    # 1500 - 1000 for the reward + 54 earned on 54.99 paid
    assert shop.balance("ada.lovelace@example.com") == 554

    again = shop.berlin.post("/orders", {**sale, "request_id": "s-1-retry"})
    assert again.status_code == 200 and again.get_json()["order_id"] == order["id"]
    shop.deliver(order["id"])
    assert len(world.yotpo_orders()) == 1 and world.duplicates()["orders"] == {}


def test_an_online_order_refunded_in_store_reverses_points_once(shop: Shop) -> None:
    world = shop.world
    customer = shop.member("grace@example.com", 0)
    storefront = world.storefront
    cart = storefront.cart([("SKU-HOODIE", 1)], customer=customer)
    online = storefront.pay(storefront.place_order(cart, order_number="WEB-1001"))
    shop.deliver(online["id"])
    paid = online["taxedPrice"]["totalGross"]["centAmount"]
    earned = paid // 100
    assert shop.balance("grace@example.com") == earned

    refund = {"request_id": "ret-1", "order_number": "WEB-1001", "amount_minor": paid // 2}
    first = shop.munich.post("/refunds", refund)
    assert first.status_code == 202, first.get_json()
    transaction_id = first.get_json()["transaction_id"]
    retried = shop.munich.post("/refunds", refund)
    assert retried.status_code == 202 and retried.get_json()["transaction_id"] == transaction_id
    shop.deliver(online["id"], *shop.payment_ids("WEB-1001"))

    (sent,) = world.yotpo_refunds()
    assert sent["order_id"] == "WEB-1001"  # the ONLINE order's id
    assert sent["total_amount_cents"] == paid // 2
    after_first = shop.balance("grace@example.com")
    assert after_first < earned

    # A different request for the same amount is a second refund while there is room...
    second = shop.munich.post("/refunds", {**refund, "request_id": "ret-2"})
    assert second.status_code == 202
    assert second.get_json()["transaction_id"] != transaction_id
    # ...and refused once the order is refunded in full.
    third = shop.munich.post("/refunds", {**refund, "request_id": "ret-3"})
    assert third.status_code == 422, third.get_json()
    assert third.get_json()["error"] == "refund_exceeds_refundable"
    shop.deliver(online["id"], *shop.payment_ids("WEB-1001"))
    assert len(world.yotpo_refunds()) == 2
    assert shop.balance("grace@example.com") == 0

    refunds = [
        t
        for p in shop.order("WEB-1001")["paymentInfo"]["payments"]
        for t in p["obj"]["transactions"]
        if t["type"] == "Refund"
    ]
    assert len(refunds) == 2
    assert world.duplicates()["refunds"] == {}


def test_an_in_store_sale_refunded_in_store_gets_a_payment_and_is_reconciled(shop: Shop) -> None:
    world = shop.world
    shop.member("linus@example.com", 0)
    sale = {
        "request_id": "s-9",
        "order_number": "BER-0009",
        "email": "linus@example.com",
        "currency": "EUR",
        "lines": [{"sku": "SKU-MUG", "name": "Mug", "quantity": 2, "unit_price_minor": 1250}],
    }
    assert shop.berlin.post("/orders", sale).status_code == 201
    order = shop.order("BER-0009")
    assert order["customerId"]  # found by email
    shop.deliver(order["id"])
    assert shop.balance("linus@example.com") == 25

    summary = shop.berlin.get("/orders/BER-0009").get_json()
    assert summary["refundable_minor"] == 2500 and summary["fraction_digits"] == 2

    refunded = shop.berlin.post(
        "/refunds", {"request_id": "ret-9", "order_number": "BER-0009", "amount_minor": 1250}
    )
    assert refunded.status_code == 202, refunded.get_json()
    payments = shop.order("BER-0009")["paymentInfo"]["payments"]
    assert len(payments) == 1 and payments[0]["obj"]["key"] == f"pos-refunds-{order['id']}"
    shop.deliver(order["id"], *shop.payment_ids("BER-0009"))
    (sent,) = world.yotpo_refunds()
    assert sent["order_id"] == "BER-0009" and sent["total_amount_cents"] == 1250
    assert shop.balance("linus@example.com") == 13  # 25 earned, half reversed (rounded)
    assert shop.berlin.get("/orders/BER-0009").get_json()["refundable_minor"] == 1250
