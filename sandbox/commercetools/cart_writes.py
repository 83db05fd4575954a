"""Cart and order-from-cart writes of the commercetools stand-in: carts created and updated
with their API Extensions (chained, concurrent, outside the store lock), orders made from carts
(`POST /orders`, `POST /me/orders`) with the order-Create extensions, and the shopper's own
carts (My Carts, Me endpoints)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sandbox.commercetools import extensions as extension_calls
from sandbox.commercetools import oauth
from sandbox.commercetools.carts import CARTS
from sandbox.commercetools.errors import (
    ApiError,
    invalid_input,
    not_found,
    referenced_not_found,
    required_field,
)
from sandbox.commercetools.kinds import Kind, Resource
from sandbox.commercetools.orders import ORDERS, order_from_cart
from sandbox.commercetools.state_core import Ident, StateCore, collector, unchanged
from shared.correlation import correlation_id


class CartWritesMixin(StateCore):
    """Carts, My Carts and orders from carts, with the extensions around them."""

    def _create_cart(self, draft: dict[str, Any]) -> Resource:
        with self.store.lock:
            cart = self._new(CARTS.build(draft, self.ctx))
            triggered = self._triggered("Create", cart)
        cart = self._run_extensions(triggered, "Create", cart)
        with self.store.lock:
            deliveries = self._commit(CARTS, cart, [], created=True)
        self._dispatch(deliveries)
        return cart

    def _update_cart(self, ident: Ident, version: int, actions: list[dict[str, Any]]) -> Resource:
        with self.store.lock:
            stored = self._at_version("carts", ident, version)
            working = copy.deepcopy(stored)
            CARTS.apply(working, actions, self.ctx, collector([]))
            self._advance(working)
            triggered = self._triggered("Update", working)
        working = self._run_extensions(triggered, "Update", working)
        with self.store.lock:
            # The extension ran without the lock: someone may have written meanwhile.
            current = self.load("carts", ("id", stored["id"]))
            self._check_version(current, version)
            if unchanged(working, stored):
                return stored
            deliveries = self._commit(CARTS, working, [], old_version=version)
        self._dispatch(deliveries)
        return working

    def _triggered(self, action: str, resource: Resource, type_id: str = "cart") -> list[Resource]:
        extensions = [copy.deepcopy(e) for e in self.store.scan("extensions")]
        return extension_calls.triggered(extensions, type_id, action, resource)

    def _run_extensions(
        self, triggered: list[Resource], action: str, resource: Resource, kind: Kind = CARTS
    ) -> Resource:
        """Call the triggered extensions as commercetools does since Extension Chaining
        (https://docs.commercetools.com/api/releases/2026-05-04-added-extension-chaining-to-api-extensions-in-public-beta):
        extensions without `dependencies` run concurrently on the same resource; a dependent
        extension receives the resource with its ancestors' actions applied; once all have
        answered, every collected action is applied together and the result persisted."""
        if not triggered:
            return resource
        returned: dict[str, list[dict[str, Any]]] = {}
        for layer in extension_calls.layers(triggered):
            inputs = {
                e["id"]: self._with_ancestors(e, triggered, returned, resource, kind) for e in layer
            }
            for extension, actions in self._call_concurrently(layer, action, inputs, kind):
                returned[extension["id"]] = actions
        working = copy.deepcopy(resource)
        with self.store.lock:
            for extension in triggered:
                actions = returned.get(extension["id"]) or []
                if not actions:
                    continue
                self.observe(
                    f"{_sdk_name(kind)}UpdateAction[]", actions, f"extension {extension.get('key')}"
                )
                try:
                    # Applied as the extensions' own actions: they do not trigger them again.
                    kind.apply(working, actions, self.ctx, collector([]))
                except ApiError as exc:
                    raise extension_calls.actions_failed(extension, exc) from None
        return working

    def _with_ancestors(
        self,
        extension: Resource,
        triggered: list[Resource],
        returned: dict[str, list[dict[str, Any]]],
        resource: Resource,
        kind: Kind,
    ) -> Resource:
        ancestors = extension_calls.ancestors(extension, triggered)
        if not ancestors:
            return resource
        working = copy.deepcopy(resource)
        with self.store.lock:
            for ancestor in ancestors:
                actions = returned.get(ancestor["id"]) or []
                try:
                    kind.apply(working, actions, self.ctx, collector([]))
                except ApiError as exc:
                    raise extension_calls.actions_failed(ancestor, exc) from None
        return working

    def _call_concurrently(
        self, layer: list[Resource], action: str, inputs: dict[str, Resource], kind: Kind
    ) -> list[tuple[Resource, list[dict[str, Any]]]]:
        token = correlation_id()
        for extension in layer:
            given = inputs[extension["id"]]
            reference = {"typeId": kind.type_id, "id": given["id"], "obj": given}
            body = {"action": action, "resource": reference}
            self.observe("ExtensionInput", body, f"extension {extension.get('key')}")

        def one(extension: Resource) -> list[dict[str, Any]]:
            return extension_calls.call(
                extension,
                action,
                kind.type_id,
                inputs[extension["id"]],
                correlation_id=token,
                session=self._session,
            )

        if len(layer) == 1:
            return [(layer[0], one(layer[0]))]
        with ThreadPoolExecutor(max_workers=len(layer)) as pool:
            futures = [(e, pool.submit(one, e)) for e in layer]
        # The first failure in creation order is the one reported, as with one extension.
        return [(e, f.result()) for e, f in futures]

    # --- orders from carts and their extensions ----------------------------------------------
    def _order_from_cart(
        self,
        draft: dict[str, Any],
        owner: Callable[[Resource], bool] | None = None,
    ) -> Resource:
        """`POST /orders` (OrderFromCartDraft) and the Me variant (`owner` checks the cart is
        the shopper's). Validation, then the order-Create API Extensions outside the lock
        (https://docs.commercetools.com/api/releases/2018-03-23-order-api-extensions: "called
        after the processing of a create or update request ... but before the order is
        persisted"), their actions applied to the order, then the order stored and the cart
        `Ordered` after the cart's version is checked again. A refusing or failing extension
        leaves no order, an `Active` cart and no code application counted."""
        cart_id, version = draft.get("id"), draft.get("version")
        if not isinstance(cart_id, str):
            raise required_field("id")
        if isinstance(version, bool) or not isinstance(version, int):
            raise required_field("version")
        with self.store.lock:
            cart = self.store.get("carts", cart_id)
            if cart is None or (owner is not None and not owner(cart)):
                raise referenced_not_found("cart", cart_id)
            self._check_version(cart, version)
            _check_codes_apply(cart)
            order = self._new(order_from_cart(cart, draft, self.ctx))
            triggered = self._triggered("Create", order, "order")
        order = self._run_extensions(triggered, "Create", order, ORDERS)
        with self.store.lock:
            # The extensions ran without the lock: the cart may have changed or been ordered.
            cart = self.store.get("carts", cart_id)
            if cart is None:
                raise referenced_not_found("cart", cart_id)
            self._check_version(cart, version)
            # maxApplications: "Discount Code application is counted at the time of Order
            # creation" (DiscountCode.maxApplications).
            for entry in cart.get("discountCodes") or []:
                if entry["state"] == "MatchesCart":
                    uses = self.code_uses.setdefault(entry["discountCode"]["id"], {})
                    who = cart.get("customerId") or ""
                    uses[who] = uses.get(who, 0) + 1
            deliveries = self._commit(ORDERS, order, [], created=True)
            ordered = copy.deepcopy(cart)
            ordered["cartState"] = "Ordered"
            self._advance(ordered)
            deliveries += self._commit(CARTS, ordered, [], old_version=cart["version"])
        self._dispatch(deliveries)
        return order

    def create_my_order(
        self, grant: oauth.Grant, draft: dict[str, Any], store_key: str | None = None
    ) -> Resource:
        """`POST /me/orders` (MyOrderFromCartDraft `{id, version}`): an order from the
        shopper's own cart; the in-store variant only from a cart of that store. Order
        extensions run as on `POST /orders`."""
        unknown = set(draft) - {"id", "version"}
        if unknown:
            raise invalid_input(
                f"MyOrderFromCartDraft has no field(s) {', '.join(sorted(unknown))}."
            )
        return self._order_from_cart(
            draft, owner=lambda cart: _owns(grant, cart) and _in_store(cart, store_key)
        )

    # --- My Carts: the shopper's own carts (Me endpoints) ------------------------------------
    def create_my_cart(
        self, grant: oauth.Grant, draft: dict[str, Any], store_key: str | None = None
    ) -> Resource:
        """`POST /me/carts` (MyCartDraft): the cart belongs to the token's customer or
        anonymous session; the in-store variant puts it in that store."""
        unknown = set(draft) - MY_CART_DRAFT_FIELDS
        if unknown:
            raise invalid_input(f"MyCartDraft has no field(s) {', '.join(sorted(unknown))}.")
        owned = dict(draft)
        if grant.customer_id is not None:
            customer = self.store.get("customers", grant.customer_id) or {}
            owned["customerId"] = grant.customer_id
            owned.setdefault("customerEmail", customer.get("email"))
        else:
            owned["anonymousId"] = grant.anonymous_id
        if store_key is not None:
            owned["store"] = {"typeId": "store", "key": store_key}
        return self._create_cart({k: v for k, v in owned.items() if v is not None})

    def my_cart(self, grant: oauth.Grant, cart_id: str, store_key: str | None = None) -> Resource:
        cart = self.store.get("carts", cart_id)
        if cart is None or not _owns(grant, cart) or not _in_store(cart, store_key):
            raise not_found(f"The Resource with ID '{cart_id}' was not found.")
        return cart

    def my_carts(self, grant: oauth.Grant, store_key: str | None = None) -> list[Resource]:
        with self.store.lock:
            return [
                copy.deepcopy(c)
                for c in self.store.scan("carts")
                if _owns(grant, c) and _in_store(c, store_key)
            ]

    def update_my_cart(
        self,
        grant: oauth.Grant,
        cart_id: str,
        version: int,
        actions: list[dict[str, Any]],
        store_key: str | None = None,
    ) -> Resource:
        """`POST /me/carts/{id}`: only MyCartUpdateActions; the cart's extensions run as on
        any cart update (they see a shopper's write like any other)."""
        self.my_cart(grant, cart_id, store_key)
        for action in actions:
            if action.get("action") not in MY_CART_ACTIONS:
                raise invalid_input(f"Unknown update action '{action.get('action')}' for My Carts.")
        return self._update_cart(("id", cart_id), version, actions)


# MyCartDraft and MyCartUpdateAction (platform SDK me.d.ts; Me endpoints of the Carts API).
MY_CART_DRAFT_FIELDS = frozenset(
    {
        "currency",
        "customerEmail",
        "country",
        "inventoryMode",
        "lineItems",
        "shippingAddress",
        "billingAddress",
        "shippingMethod",
        "itemShippingAddresses",
        "shippingMode",
        "discountCodes",
        "taxMode",
        "locale",
        "store",
        "businessUnit",
        "custom",
        "deleteDaysAfterLastModification",
    }
)
MY_CART_ACTIONS = frozenset(
    {
        "addDiscountCode",
        "addLineItem",
        "changeLineItemQuantity",
        "recalculate",
        "removeDiscountCode",
        "removeLineItem",
        "setBillingAddress",
        "setCountry",
        "setCustomField",
        "setCustomType",
        "setCustomerEmail",
        "setLineItemCustomField",
        "setLocale",
        "setShippingAddress",
    }
)


def _sdk_name(kind: Kind) -> str:
    return {"cart": "Cart", "order": "Order"}.get(kind.type_id, kind.type_id)


def _check_codes_apply(cart: Resource) -> None:
    """ "If an Order is created from a Cart with a state other than `MatchesCart` or
    `ApplicationStoppedByGroupBestDeal`, a DiscountCodeNonApplicable error is returned."
    (DiscountCodeState, Carts API)"""
    for entry in cart.get("discountCodes") or []:
        if entry["state"] not in ("MatchesCart", "ApplicationStoppedByGroupBestDeal"):
            code_id = entry["discountCode"]["id"]
            raise ApiError.single(
                400,
                "DiscountCodeNonApplicable",
                f"The discountCode {code_id} cannot be applied to the cart.",
                discountCodeId=code_id,
                reason=entry["state"],
            )


def _owns(grant: oauth.Grant, cart: Resource) -> bool:
    if grant.customer_id is not None:
        return cart.get("customerId") == grant.customer_id
    return grant.anonymous_id is not None and cart.get("anonymousId") == grant.anonymous_id


def _in_store(cart: Resource, store_key: str | None) -> bool:
    return store_key is None or (cart.get("store") or {}).get("key") == store_key
