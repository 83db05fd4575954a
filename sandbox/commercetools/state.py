"""The stand-in's whole state and every operation the HTTP layer maps onto.

Writes follow one pattern: read and decide under the store lock, call API Extensions outside
it, then persist under the lock again after re-checking the version, so a concurrent update
in between answers 409 as commercetools would. Subscription deliveries are handed to the
background `Deliverer` only after the write is stored.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from sandbox.commercetools import extensions as extension_calls
from sandbox.commercetools.carts import CARTS
from sandbox.commercetools.catalogue import Catalogue, Product, TaxCategory, default_catalogue
from sandbox.commercetools.delivery import Deliverer, DeliveryConfig
from sandbox.commercetools.errors import (
    ApiError,
    concurrent_modification,
    invalid_input,
    invalid_json,
    not_found,
    referenced_not_found,
    required_field,
)
from sandbox.commercetools.kinds import Kind, Resource
from sandbox.commercetools.messages import (
    MessageDraft,
    build_message,
    change_notification,
    message_notification,
    wants_change,
    wants_message,
)
from sandbox.commercetools.orders import ORDER_IMPORTS, ORDERS, order_from_cart
from sandbox.commercetools.predicates import PredicateError, matches_all
from sandbox.commercetools.resources import (
    CUSTOMER_GROUPS,
    CUSTOMERS,
    DISCOUNT_CODES,
    EXTENSIONS,
    PAYMENTS,
    SUBSCRIPTIONS,
    TYPES,
)
from sandbox.commercetools.store import COLLECTION_OF_TYPE, COLLECTIONS, Store
from shared.correlation import correlation_id

KINDS: dict[str, Kind] = {
    k.collection: k
    for k in (
        CUSTOMERS,
        CUSTOMER_GROUPS,
        TYPES,
        CARTS,
        ORDERS,
        PAYMENTS,
        DISCOUNT_CODES,
        EXTENSIONS,
        SUBSCRIPTIONS,
    )
}
MAX_EXTENSIONS = 25
MAX_LIMIT = 500
MAX_OFFSET = 10_000
_CUSTOM_OBJECT_PART = "^[-_~.a-zA-Z0-9]+$"

Ident = tuple[str, str]  # ("id", value) or ("key", value)
Delivery = tuple[dict[str, Any], dict[str, Any], str | None]


@dataclass
class StandInConfig:
    project_key: str = "sandbox"
    client_id: str | None = None  # None: any non-empty client id/secret pair is accepted
    client_secret: str | None = None
    token_ttl: int = 172_800
    clock: Callable[[], float] = time.time
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    max_recorded_requests: int = 10_000


@dataclass
class Faults:
    """Injected failures: the next N matching API calls answer `error_status`; added latency."""

    error_next: int = 0
    error_status: int = 503
    path_prefix: str | None = None
    method: str | None = None
    latency_ms: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "error_next": self.error_next,
            "error_status": self.error_status,
            "path_prefix": self.path_prefix,
            "method": self.method,
            "latency_ms": self.latency_ms,
        }


class _Context:
    """The lookups pure resource logic may make (called with the store lock held)."""

    def __init__(self, state: StandInState) -> None:
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


def _collector(drafts: list[MessageDraft]) -> Callable[..., None]:
    def emit(message_type: str, **payload: Any) -> None:
        drafts.append(MessageDraft(message_type, payload))

    return emit


def _same(a: Resource, b: Resource) -> bool:
    """Equal apart from what every write changes: an update that changes nothing is no write."""
    ignore = ("version", "lastModifiedAt")
    return {k: v for k, v in a.items() if k not in ignore} == {
        k: v for k, v in b.items() if k not in ignore
    }


class StandInState:
    def __init__(self, config: StandInConfig | None = None) -> None:
        self.config = config or StandInConfig()
        self.store = Store()
        self.catalogue: Catalogue = default_catalogue()
        self.push_endpoints: dict[str, str] = {}
        self.deliverer = Deliverer(self.config.delivery, push_url_for=self._push_url)
        self.faults = Faults()
        self.ctx = _Context(self)
        self._tokens: dict[str, tuple[float, str]] = {}
        self._admin_lock = threading.Lock()
        self._requests: deque[dict[str, Any]] = deque(maxlen=self.config.max_recorded_requests)
        self._request_count = 0
        self._session = requests.Session()

    @property
    def project_key(self) -> str:
        return self.config.project_key

    def now(self) -> str:
        moment = datetime.fromtimestamp(self.config.clock(), UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def close(self) -> None:
        self.deliverer.close()
        self._session.close()

    # --- OAuth -----------------------------------------------------------------------------
    def issue_token(
        self, client_id: str, client_secret: str, scope: str | None
    ) -> dict[str, Any] | None:
        """A bearer token for valid client credentials, None for invalid ones."""
        if not client_id or not client_secret:
            return None
        expected = (self.config.client_id, self.config.client_secret)
        if self.config.client_id is not None and (client_id, client_secret) != expected:
            return None
        granted = scope or f"manage_project:{self.project_key}"
        token = secrets.token_urlsafe(24)
        now = self.config.clock()
        with self._admin_lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] > now}
            self._tokens[token] = (now + self.config.token_ttl, granted)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.config.token_ttl,
            "scope": granted,
        }

    def token_valid(self, token: str) -> bool:
        with self._admin_lock:
            entry = self._tokens.get(token)
        return entry is not None and entry[0] > self.config.clock()

    # --- admin -----------------------------------------------------------------------------
    def record_request(self, entry: dict[str, Any]) -> None:
        with self._admin_lock:
            self._request_count += 1
            self._requests.append({"seq": self._request_count, **entry})

    def recorded_requests(self, since: int = 0) -> dict[str, Any]:
        with self._admin_lock:
            return {
                "requests": [r for r in self._requests if r["seq"] > since],
                "next": self._request_count,
            }

    def set_faults(self, faults: Faults) -> None:
        with self._admin_lock:
            self.faults = faults

    def take_fault(self, method: str, path: str) -> tuple[int | None, int]:
        """(status to fail this call with or None, latency in ms to add)."""
        with self._admin_lock:
            faults = self.faults
            applies = (faults.method is None or faults.method.upper() == method) and (
                faults.path_prefix is None or path.startswith(faults.path_prefix)
            )
            if faults.error_next > 0 and applies:
                faults.error_next -= 1
                return faults.error_status, faults.latency_ms
            return None, faults.latency_ms

    def set_push_endpoint(self, topic: str, url: str) -> None:
        with self._admin_lock:
            self.push_endpoints[topic] = url

    def _push_url(self, topic: str) -> str | None:
        with self._admin_lock:
            return self.push_endpoints.get(topic)

    def set_catalogue(self, catalogue: Catalogue) -> None:
        with self.store.lock:
            self.catalogue = catalogue

    def reset(self) -> None:
        """Back to an empty project with the default catalogue; tokens and push URLs stay."""
        with self.store.lock:
            self.store.reset()
            self.catalogue = default_catalogue()
        with self._admin_lock:
            self._requests.clear()
            self.faults = Faults()
        self.deliverer.clear()

    def snapshot(self, include_resources: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = {
            "projectKey": self.project_key,
            "counts": self.store.counts(),
            "deliveryMode": self.deliverer.mode,
            "pendingDeliveries": self.deliverer.pending(),
            "pushEndpoints": dict(self.push_endpoints),
            "faults": self.faults.as_json(),
        }
        if include_resources:
            with self.store.lock:
                state["resources"] = {
                    name: [copy.deepcopy(r) for r in self.store.scan(name)] for name in COLLECTIONS
                }
            state["catalogue"] = self.catalogue.describe()
        return state

    # --- reads -----------------------------------------------------------------------------
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

    def get(self, collection: str, ident: Ident, expand: list[str] | None = None) -> Resource:
        with self.store.lock:
            resource = self.load(collection, ident)
            self._expand(resource, expand or [])
        return resource

    def query(
        self,
        collection: str,
        *,
        where: list[str] | None = None,
        sort: list[str] | None = None,
        limit: int = 20,
        offset: int = 0,
        with_total: bool = True,
        expand: list[str] | None = None,
        container: str | None = None,
    ) -> dict[str, Any]:
        if not 0 <= limit <= MAX_LIMIT:
            raise invalid_input(f"The limit must be between 0 and {MAX_LIMIT}.")
        if not 0 <= offset <= MAX_OFFSET:
            raise invalid_input(f"The offset must be between 0 and {MAX_OFFSET}.")
        orderings = [_ordering(s) for s in sort or []]
        with self.store.lock:
            try:
                selected = [
                    r
                    for r in self.store.scan(collection)
                    if (container is None or r.get("container") == container)
                    and matches_all(where or [], r)
                ]
            except PredicateError as exc:
                raise invalid_input(f"Malformed parameter: where: {exc}") from None
            for path, descending in reversed(orderings):
                selected.sort(key=lambda r, p=path: _sort_key(r, p), reverse=descending)
            page = [copy.deepcopy(r) for r in selected[offset : offset + limit]]
            for resource in page:
                self._expand(resource, expand or [])
        result: dict[str, Any] = {"limit": limit, "offset": offset, "count": len(page)}
        if with_total:
            result["total"] = len(selected)
        result["results"] = page
        return result

    def _expand(self, resource: Resource, paths: list[str]) -> None:
        for path in paths:
            steps = [(p[:-3], True) if p.endswith("[*]") else (p, False) for p in path.split(".")]
            self._expand_steps(resource, steps)

    def _expand_steps(self, obj: Any, steps: list[tuple[str, bool]]) -> None:
        if not steps or not isinstance(obj, dict):
            return
        (name, each), rest = steps[0], steps[1:]
        value = obj.get(name)
        targets = value if each and isinstance(value, list) else [value]
        for target in targets:
            if not isinstance(target, dict):
                continue
            if not rest:
                self._resolve_into(target)
            elif "typeId" in target and "id" in target:
                self._resolve_into(target)
                self._expand_steps(target.get("obj"), rest)
            else:
                self._expand_steps(target, rest)

    def _resolve_into(self, reference: dict[str, Any]) -> None:
        collection = COLLECTION_OF_TYPE.get(str(reference.get("typeId")))
        if collection is not None and isinstance(reference.get("id"), str):
            found = self.store.get(collection, reference["id"])
            if found is not None:
                reference["obj"] = found

    # --- writes ----------------------------------------------------------------------------
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
            kind.apply(working, actions, self.ctx, _collector(drafts))
            if _same(working, stored):
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

    # --- carts and their extensions ---------------------------------------------------------
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
            CARTS.apply(working, actions, self.ctx, _collector([]))
            self._advance(working)
            triggered = self._triggered("Update", working)
        working = self._run_extensions(triggered, "Update", working)
        with self.store.lock:
            # The extension ran without the lock: someone may have written meanwhile.
            current = self.load("carts", ("id", stored["id"]))
            self._check_version(current, version)
            if _same(working, stored):
                return stored
            deliveries = self._commit(CARTS, working, [], old_version=version)
        self._dispatch(deliveries)
        return working

    def _triggered(self, action: str, cart: Resource) -> list[Resource]:
        extensions = [copy.deepcopy(e) for e in self.store.scan("extensions")]
        return extension_calls.triggered(extensions, "cart", action, cart)

    def _run_extensions(self, triggered: list[Resource], action: str, cart: Resource) -> Resource:
        for extension in triggered:
            returned = extension_calls.call(
                extension,
                action,
                "cart",
                cart,
                correlation_id=correlation_id(),
                session=self._session,
            )
            if not returned:
                continue
            with self.store.lock:
                working = copy.deepcopy(cart)
                try:
                    # Applied as the extension's own actions: they do not trigger it again.
                    CARTS.apply(working, returned, self.ctx, _collector([]))
                except ApiError as exc:
                    raise extension_calls.actions_failed(extension, exc) from None
            cart = working
        return cart

    def _order_from_cart(self, draft: dict[str, Any]) -> Resource:
        cart_id, version = draft.get("id"), draft.get("version")
        if not isinstance(cart_id, str):
            raise required_field("id")
        if isinstance(version, bool) or not isinstance(version, int):
            raise required_field("version")
        with self.store.lock:
            cart = self.store.get("carts", cart_id)
            if cart is None:
                raise referenced_not_found("cart", cart_id)
            self._check_version(cart, version)
            order = self._new(order_from_cart(cart, draft, self.ctx))
            deliveries = self._commit(ORDERS, order, [], created=True)
            ordered = copy.deepcopy(cart)
            ordered["cartState"] = "Ordered"
            self._advance(ordered)
            deliveries += self._commit(CARTS, ordered, [], old_version=cart["version"])
        self._dispatch(deliveries)
        return order

    # --- custom objects ----------------------------------------------------------------------
    def put_custom_object(self, draft: dict[str, Any]) -> tuple[Resource, bool]:
        """(object, created) for `{container, key, value, version?}`."""
        container, key = draft.get("container"), draft.get("key")
        for name, part in (("container", container), ("key", key)):
            if not isinstance(part, str) or not _valid_part(part):
                raise invalid_input(f"'{name}' must match {_CUSTOM_OBJECT_PART}.")
        if "value" not in draft:
            raise required_field("value")
        version = draft.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise invalid_json("'version' must be an integer.")
        kind = Kind("custom-objects", "key-value-document", lambda d, c: {})
        with self.store.lock:
            existing = self.store.find("custom-objects", "container/key", (container, key))
            if existing is None:
                if version not in (None, 0):
                    # Nothing there: the only version a writer can have seen is "absent".
                    raise concurrent_modification(0, version)
                resource = self._new({"container": container, "key": key, "value": draft["value"]})
                deliveries = self._commit(kind, resource, [], created=True)
                created = True
            else:
                if version is not None:
                    self._check_version(existing, version)
                if existing["value"] == draft["value"]:
                    return existing, False
                resource = {**existing, "value": draft["value"]}
                self._advance(resource)
                deliveries = self._commit(kind, resource, [], old_version=existing["version"])
                created = False
        self._dispatch(deliveries)
        return resource, created

    def get_custom_object(self, container: str, key: str) -> Resource:
        found = self.store.find("custom-objects", "container/key", (container, key))
        if found is None:
            raise not_found(
                f"The CustomObject with container '{container}' and key '{key}' was not found."
            )
        return found

    def delete_custom_object(self, container: str, key: str, version: int | None) -> Resource:
        with self.store.lock:
            stored = self.get_custom_object(container, key)
            if version is not None:
                self._check_version(stored, version)
            self.store.remove("custom-objects", stored["id"])
            deliveries = self._deleted("key-value-document", stored)
        self._dispatch(deliveries)
        return stored

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
            payload = {"order": copy.deepcopy(resource)} if type_id == "order" else {}
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
                    note = message_notification(message, self.project_key)
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

    def _dispatch(self, deliveries: list[Delivery]) -> None:
        for destination, notification, subscription_key in deliveries:
            self.deliverer.submit(destination, notification, subscription_key)


def _valid_part(value: str) -> bool:
    return bool(value) and all(c.isascii() and (c.isalnum() or c in "-_~.") for c in value)


def _ordering(spec: str) -> tuple[list[str], bool]:
    parts = spec.split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise invalid_input(f"Malformed parameter: sort: '{spec}'.")
    return parts[0].split("."), len(parts) == 2 and parts[1].lower() == "desc"


def _sort_key(resource: Resource, path: list[str]) -> tuple[int, Any]:
    value: Any = resource
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    if value is None:
        return (1, "")
    if isinstance(value, bool | int | float):
        return (0, value)
    return (0, str(value))
