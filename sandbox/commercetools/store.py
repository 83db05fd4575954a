"""Thread-safe in-memory resources with versions, unique fields and message sequence numbers.

One re-entrant lock guards everything: callers that read, decide and write hold `store.lock`
around the whole step; single calls take it themselves. Objects go in and come out as deep
copies, so nothing outside the store can change what is stored.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.commercetools.errors import duplicate_field

Resource = dict[str, Any]
UniqueValue = Callable[[Resource], Any]


def _plain(name: str) -> UniqueValue:
    return lambda resource: resource.get(name)


def _email(resource: Resource) -> Any:
    email = resource.get("email")
    # commercetools treats customer emails as case-insensitive within a project.
    return email.lower() if isinstance(email, str) else None


def _container_key(resource: Resource) -> Any:
    return (resource.get("container"), resource.get("key"))


@dataclass(frozen=True)
class Collection:
    """One resource endpoint: its path segment, reference typeId and unique fields."""

    name: str
    type_id: str
    unique: dict[str, UniqueValue] = field(default_factory=dict)


def _keyed(name: str, type_id: str, **extra: UniqueValue) -> Collection:
    return Collection(name, type_id, {"key": _plain("key"), **extra})


COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        _keyed("customers", "customer", email=_email, customerNumber=_plain("customerNumber")),
        _keyed("customer-groups", "customer-group"),
        _keyed("types", "type"),
        _keyed("carts", "cart"),
        Collection("orders", "order", {"orderNumber": _plain("orderNumber")}),
        _keyed("order-edits", "order-edit"),
        _keyed("payments", "payment"),
        _keyed("extensions", "extension"),
        _keyed("subscriptions", "subscription"),
        _keyed("discount-codes", "discount-code", code=_plain("code")),
        _keyed("cart-discounts", "cart-discount", sortOrder=_plain("sortOrder")),
        Collection("custom-objects", "key-value-document", {"container/key": _container_key}),
        Collection("messages", "message"),
    )
}
COLLECTION_OF_TYPE: dict[str, str] = {c.type_id: c.name for c in COLLECTIONS.values()}


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._items: dict[str, dict[str, Resource]] = {}
        self._indexes: dict[tuple[str, str], dict[Any, str]] = {}
        self._sequences: dict[tuple[str, str], int] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self._items = {name: {} for name in COLLECTIONS}
            self._indexes = {
                (name, unique): {} for name, c in COLLECTIONS.items() for unique in c.unique
            }
            self._sequences = {}

    # --- reads -----------------------------------------------------------------------------
    def get(self, collection: str, id: str) -> Resource | None:
        with self.lock:
            found = self._items[collection].get(id)
            return copy.deepcopy(found) if found is not None else None

    def find(self, collection: str, unique: str, value: Any) -> Resource | None:
        """The resource whose unique field `unique` has `value` (e.g. key, orderNumber)."""
        with self.lock:
            id = self._indexes[(collection, unique)].get(value)
            return self.get(collection, id) if id is not None else None

    def scan(self, collection: str) -> Iterator[Resource]:
        """The stored objects themselves, uncopied: hold `lock` and do not change them."""
        return iter(list(self._items[collection].values()))

    def count(self, collection: str) -> int:
        with self.lock:
            return len(self._items[collection])

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {name: len(items) for name, items in self._items.items()}

    # --- writes ----------------------------------------------------------------------------
    def put(self, collection: str, resource: Resource) -> None:
        """Insert or replace by id; a unique field held by another resource is DuplicateField."""
        spec = COLLECTIONS[collection]
        with self.lock:
            id = resource["id"]
            previous = self._items[collection].get(id)
            for unique, value_of in spec.unique.items():
                value = value_of(resource)
                holder = self._indexes[(collection, unique)].get(value)
                if value is not None and value != (None, None) and holder not in (None, id):
                    shown = resource.get("key") if unique == "container/key" else resource[unique]
                    raise duplicate_field(unique if unique != "container/key" else "key", shown)
            for unique, value_of in spec.unique.items():
                index = self._indexes[(collection, unique)]
                if previous is not None:
                    index.pop(value_of(previous), None)
                value = value_of(resource)
                if value is not None and value != (None, None):
                    index[value] = id
            self._items[collection][id] = copy.deepcopy(resource)

    def remove(self, collection: str, id: str) -> Resource | None:
        spec = COLLECTIONS[collection]
        with self.lock:
            removed = self._items[collection].pop(id, None)
            if removed is not None:
                for unique, value_of in spec.unique.items():
                    self._indexes[(collection, unique)].pop(value_of(removed), None)
            return removed

    def next_sequence_number(self, type_id: str, id: str) -> int:
        """Messages of one resource are numbered 1, 2, 3, ... in the order they happen."""
        with self.lock:
            number = self._sequences.get((type_id, id), 0) + 1
            self._sequences[(type_id, id)] = number
            return number
