"""Orders: created from a cart or imported, and their update actions with their messages."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.commercetools.carts import line_item_defaults
from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.custom import custom_from_draft
from sandbox.commercetools.custom_actions import set_custom_field_action, set_custom_type_action
from sandbox.commercetools.errors import invalid_input, invalid_operation
from sandbox.commercetools.kinds import (
    Action,
    Kind,
    Resource,
    choice,
    reference,
    required,
    set_or_drop,
    text,
)
from sandbox.commercetools.money import money, parse_money

ORDER_STATES = frozenset({"Open", "Confirmed", "Complete", "Cancelled"})
PAYMENT_STATES = frozenset({"BalanceDue", "Failed", "Pending", "CreditOwed", "Paid"})
# ShipmentState (RAML types/order/ShipmentState.raml), Canceled included.
SHIPMENT_STATES = frozenset(
    {"Shipped", "Delivered", "Ready", "Pending", "Delayed", "Partial", "Backorder", "Canceled"}
)
# ReturnItemDraft.shipmentState "Can either be `Advised` or `Returned` only"; the payment state
# a return item starts in follows it (ReturnShipmentState / ReturnPaymentState enum texts:
# Advised items are NonRefundable until returned, Returned items start Initial).
RETURN_DRAFT_SHIPMENT_STATES = frozenset({"Advised", "Returned"})
INITIAL_RETURN_PAYMENT_STATE = {"Advised": "NonRefundable", "Returned": "Initial"}
RETURN_SHIPMENT_STATES = frozenset({"Advised", "Returned", "BackInStock", "Unusable"})
RETURN_PAYMENT_STATES = frozenset({"NonRefundable", "Initial", "Refunded", "NotRefunded"})

# What an order keeps of the cart it was made from.
_FROM_CART = (
    "customerId",
    "customerEmail",
    "customerGroup",
    "anonymousId",
    "store",
    "lineItems",
    "customLineItems",
    "totalPrice",
    "taxedPrice",
    "discountOnTotalPrice",
    "shippingInfo",
    "shippingAddress",
    "billingAddress",
    "country",
    "locale",
    "discountCodes",
    "directDiscounts",
    "directDiscountsIgnoreCartDiscounts",
    "custom",
    "paymentInfo",
    "taxMode",
    "taxRoundingMode",
    "taxCalculationMode",
    "inventoryMode",
    "shippingMode",
    "shipping",
    "itemShippingAddresses",
    "refusedGifts",
    "origin",
)


def _states(draft: dict[str, Any]) -> dict[str, Any]:
    states = {"orderState": choice(draft.get("orderState", "Open"), ORDER_STATES, "orderState")}
    if draft.get("paymentState") is not None:
        states["paymentState"] = choice(draft["paymentState"], PAYMENT_STATES, "paymentState")
    if draft.get("shipmentState") is not None:
        states["shipmentState"] = choice(draft["shipmentState"], SHIPMENT_STATES, "shipmentState")
    return states


def order_from_cart(cart: Resource, draft: dict[str, Any], ctx: Context) -> Resource:
    if cart.get("cartState") != "Active":
        raise invalid_operation(
            f"The cart is {cart.get('cartState')}; only an Active cart can be ordered."
        )
    order: Resource = {"orderNumber": draft.get("orderNumber")}
    if draft.get("purchaseOrderNumber") is not None:
        order["purchaseOrderNumber"] = draft["purchaseOrderNumber"]
    order.update({k: copy.deepcopy(cart[k]) for k in _FROM_CART if k in cart})
    order.update(_states(draft))
    order.update(
        {
            "returnInfo": [],
            "syncInfo": [],
            "cart": {"typeId": "cart", "id": cart["id"]},
            "completedAt": None,
        }
    )
    return {k: v for k, v in order.items() if v is not None}


def build_imported_order(draft: dict[str, Any], ctx: Context) -> Resource:
    currency, total = parse_money(required(draft, "totalPrice"), "totalPrice")
    order: Resource = {
        "orderNumber": draft.get("orderNumber"),
        "customerId": draft.get("customerId"),
        "customerEmail": draft.get("customerEmail"),
        "store": (
            {"typeId": "store", "key": draft["store"]["key"]}
            if isinstance(draft.get("store"), dict)
            else None
        ),
        "lineItems": [_imported_line_item(i, currency, ctx) for i in draft.get("lineItems") or []],
        "customLineItems": [
            _imported_custom_line_item(i, currency, ctx) for i in draft.get("customLineItems") or []
        ],
        "totalPrice": money(currency, total),
        "taxedPrice": draft.get("taxedPrice"),
        "shippingAddress": draft.get("shippingAddress"),
        "billingAddress": draft.get("billingAddress"),
        "country": draft.get("country"),
        "completedAt": draft.get("completedAt"),
        "origin": draft.get("origin", "Customer"),
        "taxMode": draft.get("taxMode", "Platform"),
        "discountCodes": [],
        "directDiscounts": [],
        # Required on Order (RAML types/order/Order.raml); an import has one shipping.
        "shippingMode": "Single",
        "shipping": [],
        "refusedGifts": [],
        "returnInfo": [],
        "syncInfo": [],
        **_states(draft),
    }
    order["custom"] = custom_from_draft(draft.get("custom"), ctx, "order")
    return {k: v for k, v in order.items() if v is not None}


def _imported_line_item(draft: Any, currency: str, ctx: Context) -> Resource:
    if not isinstance(draft, dict):
        raise invalid_input("Each imported line item must be an object.")
    variant = dict(required(draft, "variant"))
    # The import resolves the variant from its SKU (ProductVariantImportDraft), so the order
    # shows the variant's id like any other line item.
    known = ctx.product(variant.get("sku") or "") if isinstance(variant.get("sku"), str) else None
    if "id" not in variant:
        variant["id"] = known.variant_id if known is not None else 1
    variant.setdefault("prices", [])
    variant.setdefault("attributes", [])
    price_currency, unit = parse_money(required(required(draft, "price"), "value"), "price.value")
    if price_currency != currency:
        raise invalid_input(f"Imported line item prices must be in {currency}.")
    quantity = required(draft, "quantity")
    item = {
        "id": ctx.new_id(),
        "productId": draft.get("productId") or (known.product_id if known else None),
        "name": required(draft, "name"),
        "variant": variant,
        "price": {"id": ctx.new_id(), "value": money(currency, unit)},
        "quantity": quantity,
        "totalPrice": money(currency, unit * quantity),
        "discountedPricePerQuantity": [],
        "taxRate": draft.get("taxRate"),
        "priceMode": "ExternalPrice",
        "lineItemMode": "Standard",
        **line_item_defaults(quantity),
    }
    return {k: v for k, v in item.items() if v is not None}


def _imported_custom_line_item(draft: Any, currency: str, ctx: Context) -> Resource:
    if not isinstance(draft, dict):
        raise invalid_input("Each imported custom line item must be an object.")
    money_currency, cents = parse_money(required(draft, "money"), "money")
    if money_currency != currency:
        raise invalid_input(f"Imported custom line items must be in {currency}.")
    quantity = draft.get("quantity", 1)
    item = {
        "id": ctx.new_id(),
        "name": required(draft, "name"),
        "money": money(currency, cents),
        "slug": text(draft, "slug"),
        "quantity": quantity,
        "totalPrice": money(currency, cents * quantity),
        "discountedPricePerQuantity": [],
        "taxRate": draft.get("taxRate"),
        "priceMode": "Standard",
        "state": [],
    }
    return {k: v for k, v in item.items() if v is not None}


# --- update actions --------------------------------------------------------------------------
def _state_changer(field: str, allowed: frozenset[str], message: str) -> Action:
    def action(order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
        new = choice(act.get(field), allowed, field)
        old = order.get(field)
        if old == new:
            return
        order[field] = new
        if field == "orderState" and new == "Complete":
            order.setdefault("completedAt", ctx.now())
        old_field = "old" + field[0].upper() + field[1:]
        # OrderStateChanged carries orderState/oldOrderState only (RAML
        # types/message/OrderStateChangedMessage.raml: no orderId).
        emit(message, **{field: new}, **({old_field: old} if old is not None else {}))

    return action


def _add_payment(order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    payment = reference("payment", ctx.resolve("payment", required(act, "payment")))
    payments = order.setdefault("paymentInfo", {"payments": []})["payments"]
    if payment in payments:
        return
    payments.append(payment)
    # `paymentRef` since api-reference commit 68fb22e (2025-11-11), OrderPaymentAddedMessage.
    emit("OrderPaymentAdded", paymentRef=payment)


def _remove_payment(order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    wanted = required(act, "payment").get("id")
    payments = (order.get("paymentInfo") or {}).get("payments") or []
    kept = [p for p in payments if p["id"] != wanted]
    if len(kept) == len(payments):
        raise invalid_operation(f"The order holds no payment '{wanted}'.")
    order["paymentInfo"]["payments"] = kept


def _return_info(order: Resource, draft: Any, ctx: Context) -> dict[str, Any]:
    if not isinstance(draft, dict) or not isinstance(draft.get("items"), list):
        raise invalid_input("Return info needs 'items'.")
    now = ctx.now()
    line_ids = {li["id"] for li in order.get("lineItems", [])}
    custom_ids = {cli["id"] for cli in order.get("customLineItems", [])}
    items = []
    for item in draft["items"]:
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise invalid_input("A return item needs a positive 'quantity'.")
        if item.get("lineItemId") is not None:
            if item["lineItemId"] not in line_ids:
                raise invalid_operation(f"The order has no line item '{item['lineItemId']}'.")
            target = {"type": "LineItemReturnItem", "lineItemId": item["lineItemId"]}
        elif item.get("customLineItemId") is not None:
            if item["customLineItemId"] not in custom_ids:
                raise invalid_operation(
                    f"The order has no custom line item '{item['customLineItemId']}'."
                )
            target = {
                "type": "CustomLineItemReturnItem",
                "customLineItemId": item["customLineItemId"],
            }
        else:
            raise invalid_input("A return item needs 'lineItemId' or 'customLineItemId'.")
        shipment = choice(item.get("shipmentState"), RETURN_DRAFT_SHIPMENT_STATES, "shipmentState")
        return_item = {
            "id": ctx.new_id(),
            "key": item.get("key"),
            **target,
            "quantity": quantity,
            "comment": item.get("comment"),
            "shipmentState": shipment,
            "paymentState": INITIAL_RETURN_PAYMENT_STATE[shipment],
            "createdAt": now,
            "lastModifiedAt": now,
        }
        items.append({k: v for k, v in return_item.items() if v is not None})
    info = {
        "items": items,
        "returnTrackingId": draft.get("returnTrackingId"),
        "returnDate": draft.get("returnDate"),
    }
    return {k: v for k, v in info.items() if v is not None}


def _add_return_info(order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    info = _return_info(order, act, ctx)
    order.setdefault("returnInfo", []).append(info)
    emit("ReturnInfoAdded", returnInfo=info)


def _set_return_info(order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    infos = [_return_info(order, draft, ctx) for draft in act.get("items") or []]
    order["returnInfo"] = infos
    emit("ReturnInfoSet", returnInfo=infos)


def _return_item(order: Resource, act: dict[str, Any]) -> dict[str, Any]:
    wanted = act.get("returnItemId")
    for info in order.get("returnInfo", []):
        for item in info["items"]:
            if item["id"] == wanted:
                return item
    raise invalid_operation(f"The order has no return item '{wanted}'.")


def _set_return_payment_state(
    order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    # commercetools defines no message for this change (refunds show as transactions).
    item = _return_item(order, act)
    item["paymentState"] = choice(act.get("paymentState"), RETURN_PAYMENT_STATES, "paymentState")
    item["lastModifiedAt"] = ctx.now()


def _set_return_shipment_state(
    order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    item = _return_item(order, act)
    state = choice(act.get("shipmentState"), RETURN_SHIPMENT_STATES, "shipmentState")
    if item["shipmentState"] != state:
        item["shipmentState"] = state
        item["lastModifiedAt"] = ctx.now()
        emit("OrderReturnShipmentStateChanged", returnItemId=item["id"], returnShipmentState=state)


def _set_customer_id(order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    new_id, old_id = act.get("customerId"), order.get("customerId")
    if new_id == old_id:
        return
    customer = ctx.resolve("customer", {"id": new_id}) if new_id is not None else None
    set_or_drop(order, "customerId", new_id)
    payload: dict[str, Any] = {}
    if customer is not None:
        payload["customer"] = reference("customer", customer)
    if old_id is not None:
        payload["oldCustomer"] = {"typeId": "customer", "id": old_id}
    emit("OrderCustomerSet", **payload)


def _set_customer_email(
    order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    new, old = act.get("email"), order.get("customerEmail")
    if new == old:
        return
    set_or_drop(order, "customerEmail", new)
    emit(
        "OrderCustomerEmailSet",
        **({"email": new} if new else {}),
        **({"oldEmail": old} if old else {}),
    )


def _set_order_number(
    order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    set_or_drop(order, "orderNumber", act.get("orderNumber"))


def _set_store(order: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    store = act.get("store")
    new = {"typeId": "store", "key": store["key"]} if isinstance(store, dict) else None
    if order.get("store") != new:
        set_or_drop(order, "store", new)
        emit("OrderStoreSet", **({"store": new} if new else {}))


ORDER_ACTIONS: dict[str, Action] = {
    "changeOrderState": _state_changer("orderState", ORDER_STATES, "OrderStateChanged"),
    "changePaymentState": _state_changer(
        "paymentState", PAYMENT_STATES, "OrderPaymentStateChanged"
    ),
    "changeShipmentState": _state_changer(
        "shipmentState", SHIPMENT_STATES, "OrderShipmentStateChanged"
    ),
    "addPayment": _add_payment,
    "removePayment": _remove_payment,
    "addReturnInfo": _add_return_info,
    "setReturnInfo": _set_return_info,
    "setReturnPaymentState": _set_return_payment_state,
    "setReturnShipmentState": _set_return_shipment_state,
    "setCustomerId": _set_customer_id,
    "setCustomerEmail": _set_customer_email,
    "setOrderNumber": _set_order_number,
    "setStore": _set_store,
    "setCustomType": set_custom_type_action("order"),
    "setCustomField": set_custom_field_action,
}


def _not_created_directly(draft: dict[str, Any], ctx: Context) -> Resource:
    raise invalid_operation("Orders are created from a cart (POST /orders {id, version}).")


ORDERS = Kind(
    "orders",
    "order",
    _not_created_directly,
    ORDER_ACTIONS,
    created_message=("OrderCreated", "order"),
)
ORDER_IMPORTS = Kind(
    "orders",
    "order",
    build_imported_order,
    ORDER_ACTIONS,
    created_message=("OrderImported", "order"),
)
