"""What a storefront and a back office do to commercetools, as one small API.

The demo, the end-to-end tests and the benchmarks drive the commercetools stand-in through
this, with the connector's own commercetools client — the same HTTP a real shop would send.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.commercetools import CommercetoolsClient
from shared.domain.loyalty_fields import CartFields
from shared.domain.money import currency_digits

LOYALTY_TYPE_KEY = "yotpo-loyalty-order"


def money(amount: int, currency: str) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": amount,
        "fractionDigits": currency_digits(currency),
    }


class Storefront:
    def __init__(self, ct: CommercetoolsClient, cart_type_key: str = LOYALTY_TYPE_KEY) -> None:
        self.ct = ct
        self.cart_type_key = cart_type_key

    # --- customers -------------------------------------------------------------------------
    def sign_up(
        self,
        email: str,
        first_name: str,
        last_name: str,
        *,
        date_of_birth: str | None = None,
    ) -> dict[str, Any]:
        """A shopper's account; `date_of_birth` is `YYYY-MM-DD` (CustomerDraft.dateOfBirth)."""
        draft: dict[str, Any] = {
            "email": email,
            "firstName": first_name,
            "lastName": last_name,
            "password": "x1!",
        }
        if date_of_birth is not None:
            draft["dateOfBirth"] = date_of_birth
        created = self.ct.create("customers", draft)
        return created.get("customer", created)

    def update_customer(self, customer_id: str, *actions: dict[str, Any]) -> dict[str, Any]:
        current = self.ct.get_by_id("customers", customer_id)
        return self.ct.update("customers", customer_id, current["version"], list(actions))

    def set_date_of_birth(self, customer_id: str, date_of_birth: str | None) -> dict[str, Any]:
        """The shopper edits its profile: Set Date of Birth (None unsets it,
        https://docs.commercetools.com/api/projects/customers#set-date-of-birth)."""
        action: dict[str, Any] = {"action": "setDateOfBirth"}
        if date_of_birth is not None:
            action["dateOfBirth"] = date_of_birth
        return self.update_customer(customer_id, action)

    # --- carts -----------------------------------------------------------------------------
    def cart(
        self,
        items: list[tuple[str, int]],
        *,
        currency: str = "EUR",
        customer: dict[str, Any] | None = None,
        email: str | None = None,
        store: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        draft: dict[str, Any] = {
            "currency": currency,
            "country": "DE",
            "shippingAddress": {"country": "DE"},
            "lineItems": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
        }
        if customer is not None:
            draft["customerId"] = customer["id"]
            draft["customerEmail"] = customer["email"]
        elif email:
            draft["customerEmail"] = email
        else:
            draft["anonymousId"] = str(uuid.uuid4())
        if store:
            draft["store"] = {"typeId": "store", "key": store}
        if fields:
            draft["custom"] = {
                "type": {"typeId": "type", "key": self.cart_type_key},
                "fields": fields,
            }
        return self.ct.create("carts", draft)

    def update_cart(self, cart: dict[str, Any], *actions: dict[str, Any]) -> dict[str, Any]:
        return self.ct.update("carts", cart["id"], cart["version"], list(actions))

    def request_reward(
        self, cart: dict[str, Any], option_id: int | str, points: int | None = None
    ) -> dict[str, Any]:
        actions: list[dict[str, Any]] = []
        if not (cart.get("custom") or {}).get("type"):
            actions.append(
                {"action": "setCustomType", "type": {"typeId": "type", "key": self.cart_type_key}}
            )
        actions.append(
            {
                "action": "setCustomField",
                "name": CartFields.REQUESTED_OPTION,
                "value": str(option_id),
            }
        )
        if points is not None:
            actions.append(
                {"action": "setCustomField", "name": CartFields.REQUESTED_POINTS, "value": points}
            )
        return self.update_cart(cart, *actions)

    def add_code(self, cart: dict[str, Any], code: str) -> dict[str, Any]:
        """The shopper types a discount code at checkout."""
        return self.update_cart(cart, {"action": "addDiscountCode", "code": code})

    def drop_reward(self, cart: dict[str, Any]) -> dict[str, Any]:
        return self.update_cart(
            cart, {"action": "setCustomField", "name": CartFields.REQUESTED_OPTION}
        )

    # --- orders ----------------------------------------------------------------------------
    def place_order(self, cart: dict[str, Any], order_number: str | None = None) -> dict[str, Any]:
        draft: dict[str, Any] = {"id": cart["id"], "version": cart["version"]}
        if order_number:
            draft["orderNumber"] = order_number
        return self.ct.create("orders", draft)

    def order(self, order_id: str) -> dict[str, Any]:
        return self.ct.get_by_id("orders", order_id, expand=["paymentInfo.payments[*]"])

    def _update_order(self, order_id: str, *actions: dict[str, Any]) -> dict[str, Any]:
        current = self.ct.get_by_id("orders", order_id)
        return self.ct.update("orders", order_id, current["version"], list(actions))

    def pay(self, order: dict[str, Any]) -> dict[str, Any]:
        """Capture the order's total with a Charge, link the payment, mark the order Paid."""
        total = (
            order["totalPrice"] if "taxedPrice" not in order else order["taxedPrice"]["totalGross"]
        )
        payment = self.ct.create(
            "payments",
            {
                "amountPlanned": total,
                "transactions": [{"type": "Charge", "amount": total, "state": "Success"}],
            },
        )
        self._update_order(
            order["id"],
            {"action": "addPayment", "payment": {"typeId": "payment", "id": payment["id"]}},
        )
        return self._update_order(
            order["id"], {"action": "changePaymentState", "paymentState": "Paid"}
        )

    def refund(self, order: dict[str, Any], amount: int) -> dict[str, Any]:
        """A successful Refund transaction on the order's payment (a partial refund)."""
        current = self.order(order["id"])
        payment = current["paymentInfo"]["payments"][0]["obj"]
        currency = current["totalPrice"]["currencyCode"]
        return self.ct.update(
            "payments",
            payment["id"],
            payment["version"],
            [
                {
                    "action": "addTransaction",
                    "transaction": {
                        "type": "Refund",
                        "amount": money(amount, currency),
                        "state": "Success",
                    },
                }
            ],
        )

    def ship(self, order: dict[str, Any]) -> dict[str, Any]:
        return self._update_order(
            order["id"], {"action": "changeShipmentState", "shipmentState": "Shipped"}
        )

    def cancel(self, order: dict[str, Any]) -> dict[str, Any]:
        return self._update_order(
            order["id"], {"action": "changeOrderState", "orderState": "Cancelled"}
        )

    def return_and_refund(
        self, order: dict[str, Any], line_index: int, quantity: int
    ) -> dict[str, Any]:
        """Return `quantity` units of one line item and mark the return item refunded."""
        current = self.ct.get_by_id("orders", order["id"])
        line = current["lineItems"][line_index]
        returned = self._update_order(
            order["id"],
            {
                "action": "addReturnInfo",
                "items": [
                    {"quantity": quantity, "lineItemId": line["id"], "shipmentState": "Returned"}
                ],
            },
        )
        item = returned["returnInfo"][-1]["items"][0]
        return self._update_order(
            order["id"],
            {
                "action": "setReturnPaymentState",
                "returnItemId": item["id"],
                "paymentState": "Refunded",
            },
        )
