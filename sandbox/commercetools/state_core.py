"""The core the stand-in's state is built on: its stores and logs (`StateCore`), the lookups
pure resource logic may make (`Lookups`), and the shared write steps.

Writes follow one pattern: read and decide under the store lock, call API Extensions outside
it, then persist under the lock again after re-checking the version, so a concurrent update
in between answers 409 as commercetools would. Subscription deliveries are handed to the
background `Deliverer` only after the write is stored.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from sandbox.commercetools import oauth
from sandbox.commercetools.catalogue import Catalogue, Product, TaxCategory, default_catalogue
from sandbox.commercetools.config import Faults, Observation, StandInConfig
from sandbox.commercetools.delivery import Deliverer
from sandbox.commercetools.errors import (
    concurrent_modification,
    invalid_input,
    not_found,
    referenced_not_found,
)
from sandbox.commercetools.kinds import Kind, Resource
from sandbox.commercetools.messages import (
    PAYLOAD_TOO_LARGE,
    MessageDraft,
    build_message,
    change_notification,
    message_notification,
    wants_change,
    wants_message,
)
from sandbox.commercetools.store import COLLECTION_OF_TYPE, Store

Ident = tuple[str, str]  # ("id", value) or ("key", value)

Delivery = tuple[dict[str, Any], dict[str, Any], str | None]


class Lookups:
    """The lookups pure resource logic may make (called with the store lock held)."""

    def __init__(self, state: StateCore) -> None:
        self._state = state

    def now(self) -> str:
        return self._state.now()

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def resolve(self, type_id: str, reference: Any) -> dict[str, Any]:
        collection = COLLECTION_OF_TYPE.get(type_id)
        if not isinstance(reference, dict) or collection is None:
            raise invalid_input(f"Expected a reference to a {type_id}.")
        found = None
        if isinstance(reference.get("id"), str):
            found = self._state.store.get(collection, reference["id"])
        elif isinstance(reference.get("key"), str):
            found = self._state.store.find(collection, "key", reference["key"])
        if found is None:
            shown = reference.get("id") or f"with key '{reference.get('key')}'"
            raise referenced_not_found(type_id, str(shown))
        return found

    def product(self, sku: str) -> Product | None:
        return self._state.catalogue.product(sku)

    def tax_category(self, reference: Any) -> TaxCategory | None:
        return self._state.catalogue.tax_category(reference)

    def discount_code(self, code: str) -> dict[str, Any] | None:
        return self._state.store.find("discount-codes", "code", code)

    def discount_code_by_id(self, id: str) -> dict[str, Any] | None:
        return self._state.store.get("discount-codes", id)

    def cart_discount(self, id: str) -> dict[str, Any] | None:
        return self._state.store.get("cart-discounts", id)

    def cart_discounts(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for d in self._state.store.scan("cart-discounts")]

    def code_applications(self, code_id: str, customer_id: str | None) -> tuple[int, int]:
        uses = self._state.code_uses.get(code_id, {})
        return sum(uses.values()), uses.get(customer_id or "", 0) if customer_id else 0

    def ignore_cart_discounts_default(self) -> bool:
        return self._state.config.ignore_cart_discounts_default


def collector(drafts: list[MessageDraft]) -> Callable[..., None]:
    def emit(message_type: str, **payload: Any) -> None:
        drafts.append(MessageDraft(message_type, payload))

    return emit


def unchanged(a: Resource, b: Resource) -> bool:
    """Equal apart from what every write changes: an update that changes nothing is no write."""
    ignore = ("version", "lastModifiedAt")
    return {k: v for k, v in a.items() if k not in ignore} == {
        k: v for k, v in b.items() if k not in ignore
    }


class StateCore:
    """The stand-in's stores, tokens, deliverer and logs, and the steps every write takes:
    stamp (`_new`, `_advance`), check the version, store with messages (`_commit`,
    `_deleted`) and hand the notifications to the deliverer after the lock (`_dispatch`)."""

    def __init__(self, config: StandInConfig | None = None) -> None:
        self.config = config or StandInConfig()
        self.store = Store()
        self.catalogue: Catalogue = default_catalogue()
        self.push_endpoints: dict[str, str] = {}
        self.deliverer = Deliverer(self.config.delivery, push_url_for=self._push_url)
        self.faults = Faults()
        self.ctx = Lookups(self)
        self._tokens: dict[str, oauth.Grant] = {}
        self._passwords: dict[str, str] = {}  # customer id -> salted hash, never served
        self._admin_lock = threading.Lock()
        self._requests: deque[dict[str, Any]] = deque(maxlen=self.config.max_recorded_requests)
        self._request_count = 0
        self._session = requests.Session()
        self._observed: list[Observation] = []
        # Orders created with each discount code, per customer id ("" for guests): what
        # maxApplications and maxApplicationsPerCustomer count (DiscountCode, RAML).
        self.code_uses: dict[str, dict[str, int]] = {}

    @property
    def project_key(self) -> str:
        return self.config.project_key

    def now(self) -> str:
        moment = datetime.fromtimestamp(self.config.clock(), UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def close(self) -> None:
        self.deliverer.close()
        self._session.close()

    def observe(self, type_name: str, payload: Any, where: str) -> None:
        if self.config.observe:
            with self._admin_lock:
                self._observed.append(Observation(type_name, copy.deepcopy(payload), where))

    def _push_url(self, topic: str) -> str | None:
        with self._admin_lock:
            return self.push_endpoints.get(topic)

    def load(self, collection: str, ident: Ident) -> Resource:
        kind, value = ident
        if kind == "key":
            found = self.store.find(collection, "key", value)
        else:
            found = self.store.get(collection, value)
        if found is None:
            raise not_found(
                f"The Resource with {'key' if kind == 'key' else 'ID'} '{value}' was not found."
            )
        return found

    # --- the shared write steps ------------------------------------------------------------
    def _new(self, fields: Resource) -> Resource:
        now = self.now()
        return {
            "id": str(uuid.uuid4()),
            "version": 1,
            "createdAt": now,
            "lastModifiedAt": now,
            **fields,
        }

    def _advance(self, resource: Resource) -> None:
        resource["version"] += 1
        resource["lastModifiedAt"] = self.now()

    def _check_version(self, stored: Resource, version: int) -> None:
        if stored["version"] != version:
            raise concurrent_modification(stored["version"], version)

    def _at_version(self, collection: str, ident: Ident, version: int) -> Resource:
        stored = self.load(collection, ident)
        self._check_version(stored, version)
        return stored

    def _commit(
        self,
        kind: Kind,
        resource: Resource,
        drafts: list[MessageDraft],
        *,
        created: bool = False,
        old_version: int | None = None,
    ) -> list[Delivery]:
        """Store `resource`, record its messages; the notifications to send (lock held)."""
        if created and kind.created_message is not None:
            message_type, field_name = kind.created_message
            drafts = [MessageDraft(message_type, {field_name: copy.deepcopy(resource)}), *drafts]
        self.store.put(kind.collection, resource)
        messages = []
        for draft in drafts:
            number = self.store.next_sequence_number(kind.type_id, resource["id"])
            message = build_message(
                draft,
                type_id=kind.type_id,
                resource=resource,
                sequence_number=number,
                id=str(uuid.uuid4()),
                now=self.now(),
            )
            self.store.put("messages", message)
            messages.append(message)
        if messages and kind.type_id == "order":
            resource["lastMessageSequenceNumber"] = messages[-1]["sequenceNumber"]
            self.store.put(kind.collection, resource)
        change = "ResourceCreated" if created else "ResourceUpdated"
        return self._notifications(kind.type_id, resource, messages, change, old_version)

    def _deleted(self, type_id: str, resource: Resource) -> list[Delivery]:
        messages = []
        deleted_message = {"customer": "CustomerDeleted", "order": "OrderDeleted"}.get(type_id)
        if deleted_message is not None:
            # OrderDeleted carries the order; CustomerDeleted the customer's `email?` (RAML).
            payload = (
                {"order": copy.deepcopy(resource)}
                if type_id == "order"
                else {k: resource[k] for k in ("email",) if resource.get(k) is not None}
            )
            message = build_message(
                MessageDraft(deleted_message, payload),
                type_id=type_id,
                resource=resource,
                sequence_number=self.store.next_sequence_number(type_id, resource["id"]),
                id=str(uuid.uuid4()),
                now=self.now(),
            )
            self.store.put("messages", message)
            messages.append(message)
        return self._notifications(type_id, resource, messages, "ResourceDeleted", None)

    def _notifications(
        self,
        type_id: str,
        resource: Resource,
        messages: list[dict[str, Any]],
        change: str,
        old_version: int | None,
    ) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for subscription in self.store.scan("subscriptions"):
            target = (copy.deepcopy(subscription["destination"]), subscription.get("key"))
            for message in messages:
                if wants_message(subscription, message):
                    note = message_notification(
                        message, self.project_key, left_out=self._left_out(message)
                    )
                    self.observe("MessageNotification", note, f"notification {message['type']}")
                    deliveries.append((target[0], note, target[1]))
            if wants_change(subscription, type_id):
                note = change_notification(
                    change,
                    type_id=type_id,
                    resource=resource,
                    project_key=self.project_key,
                    now=self.now(),
                    old_version=old_version,
                )
                deliveries.append((target[0], note, target[1]))
        return deliveries

    def _left_out(self, message: dict[str, Any]) -> str | None:
        if message["type"] in self.config.payload_not_included_types:
            return PAYLOAD_TOO_LARGE
        if len(json.dumps(message)) > self.config.max_payload_bytes:
            return PAYLOAD_TOO_LARGE
        return None

    def _dispatch(self, deliveries: list[Delivery]) -> None:
        for destination, notification, subscription_key in deliveries:
            self.deliverer.submit(destination, notification, subscription_key)
