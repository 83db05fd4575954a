"""The stand-in's whole state and every operation the HTTP layer maps onto (`StandInState`).

`StandInState` composes its parts, each a module named for what it holds:
`state_core` (stores, logs, the shared write steps and the write pattern), `tokens` (OAuth),
`admin` (`/_sandbox/...`), `reads` (get, query, expand), `product_projections` (the
catalogue as Product Projections), `cart_writes` (carts, My Carts,
orders from carts and the API Extensions around them), `order_edits` (Order Edits, applied
to their order), `custom_objects`; this module keeps
the generic create/update/delete of the other resources. The names other modules import
from here (`StandInConfig`, `Faults`, `Observation`, `Ident`, `KINDS`, ...) are re-exported.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.commercetools.admin import AdminMixin
from sandbox.commercetools.cart_writes import MY_CART_ACTIONS, MY_CART_DRAFT_FIELDS, CartWritesMixin
from sandbox.commercetools.carts import CARTS
from sandbox.commercetools.config import Faults, Observation, StandInConfig
from sandbox.commercetools.custom_objects import CustomObjectsMixin
from sandbox.commercetools.discounts import CART_DISCOUNTS, DISCOUNT_CODES
from sandbox.commercetools.errors import ApiError, invalid_input
from sandbox.commercetools.kinds import Kind, Resource
from sandbox.commercetools.messages import MessageDraft, change_notification
from sandbox.commercetools.order_edits import OrderEditsMixin
from sandbox.commercetools.orders import ORDER_IMPORTS, ORDERS
from sandbox.commercetools.product_projections import ProductProjectionsMixin
from sandbox.commercetools.reads import MAX_LIMIT, MAX_OFFSET
from sandbox.commercetools.resources import (
    CUSTOMER_GROUPS,
    CUSTOMERS,
    EXTENSIONS,
    PAYMENTS,
    SUBSCRIPTIONS,
    TYPES,
)
from sandbox.commercetools.state_core import Delivery, Ident, collector, unchanged
from sandbox.commercetools.store import COLLECTIONS
from sandbox.commercetools.tokens import TokensMixin

__all__ = [
    "KINDS",
    "MAX_EXTENSIONS",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MY_CART_ACTIONS",
    "MY_CART_DRAFT_FIELDS",
    "Delivery",
    "Faults",
    "Ident",
    "Observation",
    "StandInConfig",
    "StandInState",
]


KINDS: dict[str, Kind] = {
    k.collection: k
    for k in (
        CUSTOMERS,
        CUSTOMER_GROUPS,
        TYPES,
        CARTS,
        ORDERS,
        PAYMENTS,
        CART_DISCOUNTS,
        DISCOUNT_CODES,
        EXTENSIONS,
        SUBSCRIPTIONS,
    )
}
MAX_EXTENSIONS = 25


class StandInState(
    CartWritesMixin,
    OrderEditsMixin,
    CustomObjectsMixin,
    ProductProjectionsMixin,
    AdminMixin,
    TokensMixin,
):
    """The commercetools project the stand-in plays: every resource, token and log."""

    def create(self, collection: str, draft: dict[str, Any]) -> Resource:
        if collection == "carts":
            return self._create_cart(draft)
        if collection == "orders":
            return self._order_from_cart(draft)
        kind = KINDS[collection]
        with self.store.lock:
            if collection == "extensions" and self.store.count("extensions") >= MAX_EXTENSIONS:
                raise ApiError.single(
                    400, "MaxResourceLimitExceeded", "A project holds at most 25 extensions."
                )
            resource = self._new(kind.build(draft, self.ctx))
            deliveries = self._commit(kind, resource, [], created=True)
        if collection == "subscriptions":
            # commercetools checks a new destination with a test notification.
            test = change_notification(
                "ResourceCreated",
                type_id="subscription",
                resource=resource,
                project_key=self.project_key,
                now=resource["createdAt"],
            )
            deliveries.append((resource["destination"], test, resource.get("key")))
        self._dispatch(deliveries)
        return resource

    def import_order(self, draft: dict[str, Any]) -> Resource:
        with self.store.lock:
            resource = self._new(ORDER_IMPORTS.build(draft, self.ctx))
            deliveries = self._commit(ORDER_IMPORTS, resource, [], created=True)
        self._dispatch(deliveries)
        return resource

    def update(
        self, collection: str, ident: Ident, version: int, actions: list[dict[str, Any]]
    ) -> Resource:
        kind = KINDS[collection]
        if collection == "carts":
            return self._update_cart(ident, version, actions)
        drafts: list[MessageDraft] = []
        with self.store.lock:
            stored = self._at_version(collection, ident, version)
            working = copy.deepcopy(stored)
            kind.apply(working, actions, self.ctx, collector(drafts))
            if unchanged(working, stored):
                return stored
            self._advance(working)
            deliveries = self._commit(kind, working, drafts, old_version=stored["version"])
        self._dispatch(deliveries)
        return working

    def delete(self, collection: str, ident: Ident, version: int | None) -> Resource:
        with self.store.lock:
            stored = self.load(collection, ident)
            if version is None:
                raise invalid_input("Missing parameter: version.")
            self._check_version(stored, version)
            self.store.remove(collection, stored["id"])
            deliveries = self._deleted(COLLECTIONS[collection].type_id, stored)
        self._dispatch(deliveries)
        return stored
