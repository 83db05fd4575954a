"""What an Order Edit does to an order: its staged actions, applied to a copy of the order and
priced again with the stand-in's own cart pricing (pure functions over order JSON).

Source: <https://docs.commercetools.com/api/projects/order-edits> (StagedOrderUpdateAction,
OrderExcerpt) and the platform SDK's `StagedOrder*Action` types. The line-item actions are
the cart's (`cart_items`), so an edited order is priced, taxed and discounted like any cart
the stand-in serves; the other staged actions the stand-in models are the order's own update
actions (`orders.ORDER_ACTIONS`). A staged action, or a field of one, the stand-in does not
model is refused by name (`InvalidInput`), never ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sandbox.commercetools.cart_items import (
    add_line_item,
    cart_currency,
    change_line_item_quantity,
    remove_line_item,
)
from sandbox.commercetools.cart_pricing import recalculate
from sandbox.commercetools.catalogue import Catalogue, Product, TaxCategory
from sandbox.commercetools.context import Context
from sandbox.commercetools.errors import invalid_input, invalid_operation, referenced_not_found
from sandbox.commercetools.kinds import Resource
from sandbox.commercetools.messages import MessageDraft
from sandbox.commercetools.money import money
from sandbox.commercetools.orders import ORDER_ACTIONS
from sandbox.commercetools.state_core import collector

PAGE = "https://docs.commercetools.com/api/projects/order-edits"

# The fields of each line-item action the stand-in models (StagedOrderAddLineItemAction,
# StagedOrderRemoveLineItemAction, StagedOrderChangeLineItemQuantityAction). Other fields
# of those types (`key` / `lineItemKey`, `externalPrice`, channels, shipping details, ...)
# are refused by name.
LINE_ACTION_FIELDS: dict[str, frozenset[str]] = {
    "addLineItem": frozenset({"action", "sku", "productId", "variantId", "quantity", "custom"}),
    "removeLineItem": frozenset({"action", "lineItemId", "quantity"}),
    "changeLineItemQuantity": frozenset({"action", "lineItemId", "quantity"}),
}
# Order update actions that are also StagedOrderUpdateActions (platform SDK), taken as the
# order's own update actions take them.
ORDER_STAGED_ACTIONS = frozenset(
    {
        "changeOrderState",
        "changePaymentState",
        "changeShipmentState",
        "addPayment",
        "removePayment",
        "addReturnInfo",
        "setReturnInfo",
        "setReturnPaymentState",
        "setReturnShipmentState",
        "setCustomerId",
        "setCustomerEmail",
        "setOrderNumber",
        "setStore",
        "setCustomType",
        "setCustomField",
    }
)
STAGED_ACTIONS = frozenset(LINE_ACTION_FIELDS) | ORDER_STAGED_ACTIONS

# A message whose fields are known only once the edited order is priced again.
Pending = MessageDraft | Callable[[Resource], MessageDraft]


class EditContext:
    """The stand-in's lookups as an edit of `order` sees them: variants by product id, and
    discount-code applications without the order's own (the order counted once when it was
    placed; pricing it again must not find its own codes used up)."""

    def __init__(self, base: Context, catalogue: Catalogue, order: Resource) -> None:
        self._base = base
        self._catalogue = catalogue
        self._own_codes = {
            entry["discountCode"]["id"]
            for entry in order.get("discountCodes") or []
            if isinstance(entry.get("discountCode"), dict)
        }
        self._customer_id = order.get("customerId")

    def now(self) -> str:
        return self._base.now()

    def new_id(self) -> str:
        return self._base.new_id()

    def resolve(self, type_id: str, reference: Any) -> dict[str, Any]:
        return self._base.resolve(type_id, reference)

    def product(self, sku: str) -> Product | None:
        return self._base.product(sku)

    def tax_category(self, reference: Any) -> TaxCategory | None:
        return self._base.tax_category(reference)

    def discount_code(self, code: str) -> dict[str, Any] | None:
        return self._base.discount_code(code)

    def discount_code_by_id(self, id: str) -> dict[str, Any] | None:
        return self._base.discount_code_by_id(id)

    def cart_discount(self, id: str) -> dict[str, Any] | None:
        return self._base.cart_discount(id)

    def cart_discounts(self) -> list[dict[str, Any]]:
        return self._base.cart_discounts()

    def ignore_cart_discounts_default(self) -> bool:
        return self._base.ignore_cart_discounts_default()

    def code_applications(self, code_id: str, customer_id: str | None) -> tuple[int, int]:
        total, mine = self._base.code_applications(code_id, customer_id)
        if code_id in self._own_codes:
            total -= 1
            if customer_id and customer_id == self._customer_id:
                mine -= 1
        return max(total, 0), max(mine, 0)

    def variant(self, product_id: str, variant_id: int | None) -> Product | None:
        """The variant `variant_id` of the product, its master variant (the lowest variant
        id, as the Product Projections serve it) when `variant_id` is absent."""
        variants = sorted(
            (p for p in self._catalogue.products.values() if p.product_id == product_id),
            key=lambda p: p.variant_id,
        )
        if variant_id is None:
            return variants[0] if variants else None
        return next((p for p in variants if p.variant_id == variant_id), None)


def checked_staged_actions(actions: Any) -> list[dict[str, Any]]:
    """`stagedActions` as given, each one an action the stand-in models with fields it models;
    anything else is refused by name before it is stored."""
    if actions is None:
        return []
    if not isinstance(actions, list):
        raise invalid_input("'stagedActions' must be a list of StagedOrderUpdateActions.")
    for action in actions:
        checked_staged_action(action)
    return copy.deepcopy(actions)


def checked_staged_action(action: Any) -> dict[str, Any]:
    if not isinstance(action, dict) or not isinstance(action.get("action"), str):
        raise invalid_input("A staged action must be an object with an 'action'.")
    name = action["action"]
    if name not in STAGED_ACTIONS:
        raise invalid_input(
            f"The staged action '{name}' is not modelled by the commercetools stand-in "
            f"(it models {', '.join(sorted(STAGED_ACTIONS))}; {PAGE}).",
            field="stagedActions",
        )
    allowed = LINE_ACTION_FIELDS.get(name)
    if allowed is not None:
        extra = sorted(set(action) - allowed)
        if extra:
            raise invalid_input(
                f"The field(s) {', '.join(extra)} of the staged action '{name}' are not "
                f"modelled by the commercetools stand-in ({PAGE}).",
                field="stagedActions",
            )
    return action


def check_editable(order: Resource) -> None:
    """ "You can only create an Order Edit if the InventoryMode of the Order and its
    LineItems is `None`." (RAML resources/orders.raml, /edits POST)."""
    modes = {order.get("inventoryMode", "None")} | {
        li.get("inventoryMode", "None") for li in order.get("lineItems") or []
    }
    if modes != {"None"}:
        raise invalid_operation(
            "An Order Edit can only be made for an order whose InventoryMode (and that of its "
            "line items) is None."
        )


def apply_staged(
    order: Resource, actions: list[dict[str, Any]], ctx: EditContext
) -> list[MessageDraft]:
    """Apply `actions` in order to `order` (a copy) and price it again; the messages the
    actions produce, in the order they happen. An action that fails raises its own error
    (the same one the update action would answer) and the caller keeps the order as it was."""
    pending: list[Pending] = []
    for action in actions:
        checked_staged_action(action)
        name = action["action"]
        if name == "addLineItem":
            pending += _add_line_item(order, action, ctx)
        elif name == "removeLineItem":
            pending += _remove_line_item(order, action, ctx)
        elif name == "changeLineItemQuantity":
            _order_line(order, action)
            change_line_item_quantity(order, action, ctx, _no_messages)
        else:
            drafts: list[MessageDraft] = []
            ORDER_ACTIONS[name](order, action, ctx, collector(drafts))
            pending += drafts
    recalculate(order, ctx)
    return [p if isinstance(p, MessageDraft) else p(order) for p in pending]


def _no_messages(message_type: str, **payload: Any) -> None:
    """The platform documents no message for Change LineItem Quantity on an order."""


def _order_line(order: Resource, action: dict[str, Any]) -> Resource:
    wanted = action.get("lineItemId")
    if not isinstance(wanted, str):
        raise invalid_input(f"'{action['action']}' needs a 'lineItemId'.")
    for line in order.get("lineItems") or []:
        if line["id"] == wanted:
            return line
    raise invalid_operation(f"The order has no line item with id '{wanted}'.")


def _add_line_item(order: Resource, action: dict[str, Any], ctx: EditContext) -> list[Pending]:
    sku = action.get("sku")
    product_id, variant_id = action.get("productId"), action.get("variantId")
    if variant_id is not None and (isinstance(variant_id, bool) or not isinstance(variant_id, int)):
        raise invalid_input("'variantId' must be an integer.")
    if product_id is not None:
        if not isinstance(product_id, str):
            raise invalid_input("'productId' must be a string.")
        variant = ctx.variant(product_id, variant_id)
        if variant is None:
            raise referenced_not_found("product", product_id)
        if sku is not None and sku != variant.sku:
            raise invalid_input(
                f"The SKU '{sku}' is not that of variant {variant.variant_id} of product "
                f"'{product_id}'."
            )
        sku = variant.sku
    elif sku is None:
        raise invalid_input("'addLineItem' needs either 'sku', or 'productId' and 'variantId'.")
    before = {line["id"]: line["quantity"] for line in order["lineItems"]}
    add_line_item(order, {**action, "sku": sku}, ctx, _no_messages)
    changed = [line for line in order["lineItems"] if before.get(line["id"]) != line["quantity"]]
    if not changed:
        return []
    line = changed[0]
    added = line["quantity"] - before.get(line["id"], 0)
    at_action = copy.deepcopy(line)

    def message(edited: Resource) -> MessageDraft:
        # OrderLineItemAdded: "Generated after a successful Add LineItem" (Messages page),
        # the line item as the edited order holds it.
        current = next((li for li in edited["lineItems"] if li["id"] == line["id"]), at_action)
        return MessageDraft(
            "OrderLineItemAdded", {"lineItem": copy.deepcopy(current), "addedQuantity": added}
        )

    return [message]


def _remove_line_item(order: Resource, action: dict[str, Any], ctx: EditContext) -> list[Pending]:
    line = _order_line(order, action)
    old_quantity, line_id, price = line["quantity"], line["id"], copy.deepcopy(line["price"])
    remove_line_item(order, action, ctx, _no_messages)
    left = next((li for li in order["lineItems"] if li["id"] == line_id), None)
    removed = old_quantity - (left["quantity"] if left is not None else 0)
    currency = cart_currency(order)

    def message(edited: Resource) -> MessageDraft:
        # OrderLineItemRemoved (Messages page): the quantity taken and the line as it is now.
        current = next((li for li in edited["lineItems"] if li["id"] == line_id), None)
        payload: dict[str, Any] = {
            "lineItemId": line_id,
            "removedQuantity": removed,
            "newQuantity": current["quantity"] if current else 0,
            "newState": copy.deepcopy(current["state"]) if current else [],
            "newTotalPrice": (
                copy.deepcopy(current["totalPrice"]) if current else money(currency, 0)
            ),
            "newPrice": copy.deepcopy(current["price"]) if current else price,
        }
        if current is not None and current.get("taxedPrice") is not None:
            payload["newTaxedPrice"] = copy.deepcopy(current["taxedPrice"])
        return MessageDraft("OrderLineItemRemoved", payload)

    return [message]


def excerpt(order: Resource) -> dict[str, Any]:
    """OrderExcerpt: "Excerpt of the Order extracting the total and the taxed price"."""
    found: dict[str, Any] = {"totalPrice": copy.deepcopy(order["totalPrice"])}
    if order.get("taxedPrice") is not None:
        found["taxedPrice"] = copy.deepcopy(order["taxedPrice"])
    found["version"] = order["version"]
    return found


def applied_result(before: Resource, after: Resource, applied_at: str) -> dict[str, Any]:
    """OrderEditApplied: when, and the order's prices before and after the edit."""
    return {
        "type": "Applied",
        "appliedAt": applied_at,
        "excerptBeforeEdit": excerpt(before),
        "excerptAfterEdit": excerpt(after),
    }


__all__ = [
    "LINE_ACTION_FIELDS",
    "ORDER_STAGED_ACTIONS",
    "STAGED_ACTIONS",
    "EditContext",
    "applied_result",
    "apply_staged",
    "check_editable",
    "checked_staged_actions",
    "excerpt",
]
