"""The stand-in's whole state and every operation the HTTP layer maps onto.

Writes follow one pattern: read and decide under the store lock, call API Extensions outside
it, then persist under the lock again after re-checking the version, so a concurrent update
in between answers 409 as commercetools would. Subscription deliveries are handed to the
background `Deliverer` only after the write is stored.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from sandbox.commercetools import extensions as extension_calls
from sandbox.commercetools import oauth
from sandbox.commercetools.carts import CARTS
from sandbox.commercetools.catalogue import Catalogue, Product, TaxCategory, default_catalogue
from sandbox.commercetools.delivery import Deliverer, DeliveryConfig
from sandbox.commercetools.discounts import CART_DISCOUNTS, DISCOUNT_CODES
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
    PAYLOAD_TOO_LARGE,
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
        CART_DISCOUNTS,
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


@dataclass(frozen=True)
class Observation:
    """One payload as commercetools types it: `type_name` is the platform SDK's type."""

    type_name: str
    payload: Any
    where: str


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
    # Keep every payload the stand-in takes or serves, named by its commercetools type, for
    # the SDK type oracle (tests/oracle/): off by default, it grows without bound.
    observe: bool = False
    # The default of Cart.directDiscountsIgnoreCartDiscounts, which the public docs do not
    # state (the 2026-09-17 release keeps earlier behaviour when true): both can be played.
    ignore_cart_discounts_default: bool = True
    # Messages whose notification leaves the payload out: bigger than this many bytes of JSON
    # (Pub/Sub takes at most 10 MB per message), or of one of these types (for tests).
    max_payload_bytes: int = 10_000_000
    payload_not_included_types: frozenset[str] = frozenset()


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

    # --- OAuth -----------------------------------------------------------------------------
    def _client_ok(self, client_id: str, client_secret: str) -> bool:
        if not client_id or not client_secret:
            return False
        expected = (self.config.client_id, self.config.client_secret)
        return self.config.client_id is None or (client_id, client_secret) == expected

    def _grant(self, scope: str | None, default: str, **subject: str | None) -> dict[str, Any]:
        text = scope or f"{default}:{self.project_key}"
        names = oauth.parse_scope(text, self.project_key)
        if names is None:
            raise ApiError.single(400, "invalid_scope", f"Invalid scope: '{text}'.")
        token = secrets.token_urlsafe(24)
        now = self.config.clock()
        grant = oauth.Grant(now + self.config.token_ttl, names, **subject)
        with self._admin_lock:
            self._tokens = {t: g for t, g in self._tokens.items() if g.expires_at > now}
            self._tokens[token] = grant
        answer = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.config.token_ttl,
            "scope": text,
        }
        if subject.get("anonymous_id"):
            answer["scope"] = f"{text} anonymous_id:{subject['anonymous_id']}"
        return answer

    def issue_token(
        self, client_id: str, client_secret: str, scope: str | None
    ) -> dict[str, Any] | None:
        """A bearer token for valid client credentials, None for invalid ones."""
        if not self._client_ok(client_id, client_secret):
            return None
        return self._grant(scope, "manage_project")

    def issue_customer_token(
        self, client_id: str, client_secret: str, email: str, password: str, scope: str | None
    ) -> dict[str, Any] | None:
        """The password flow: a token acting for the customer; None for wrong credentials."""
        if not self._client_ok(client_id, client_secret):
            return None
        customer = self.store.find("customers", "email", email.lower())
        stored = self._passwords.get(customer["id"]) if customer else None
        if customer is None or stored is None or not oauth.password_matches(password, stored):
            raise ApiError.single(
                400,
                "invalid_customer_account_credentials",
                "Customer account with the given credentials not found.",
            )
        return self._grant(scope, "manage_my_orders", customer_id=customer["id"])

    def issue_anonymous_token(
        self, client_id: str, client_secret: str, scope: str | None, anonymous_id: str | None
    ) -> dict[str, Any] | None:
        """The anonymous session flow: a token for a new (or the given) anonymous id."""
        if not self._client_ok(client_id, client_secret):
            return None
        return self._grant(
            scope, "manage_my_orders", anonymous_id=anonymous_id or str(uuid.uuid4())
        )

    def set_password(self, customer_id: str, password: str) -> None:
        with self._admin_lock:
            self._passwords[customer_id] = oauth.hash_password(password)

    def grant(self, token: str) -> oauth.Grant | None:
        with self._admin_lock:
            entry = self._tokens.get(token)
        return entry if entry is not None and entry.expires_at > self.config.clock() else None

    def token_valid(self, token: str) -> bool:
        return self.grant(token) is not None

    # --- admin -----------------------------------------------------------------------------
    def record_request(self, entry: dict[str, Any]) -> None:
        with self._admin_lock:
            self._request_count += 1
            self._requests.append({"seq": self._request_count, **entry})

    def observe(self, type_name: str, payload: Any, where: str) -> None:
        if self.config.observe:
            with self._admin_lock:
                self._observed.append(Observation(type_name, copy.deepcopy(payload), where))

    def observed(self) -> list[Observation]:
        with self._admin_lock:
            return list(self._observed)

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
            self.code_uses = {}
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
                    and matches_all(where or [], _queryable(collection, r))
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
                    kind.apply(working, actions, self.ctx, _collector([]))
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
                    kind.apply(working, actions, self.ctx, _collector([]))
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
        # "Fields within `value` that have `null` values are not saved." and an existing
        # object "will be replaced with the new value and the version is incremented"; the
        # version check applies to an existing object only (RAML resources/custom-objects.raml,
        # POST /{projectKey}/custom-objects).
        value = _without_nulls(draft["value"])
        with self.store.lock:
            existing = self.store.find("custom-objects", "container/key", (container, key))
            if existing is None:
                resource = self._new({"container": container, "key": key, "value": value})
                deliveries = self._commit(kind, resource, [], created=True)
                created = True
            else:
                if version is not None:
                    self._check_version(existing, version)
                resource = {**existing, "value": value}
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


def _queryable(collection: str, resource: Resource) -> Resource:
    """What a query predicate sees: `lowercaseEmail` is a query-only field of customers
    (not in the Customer representation; the JVM SDK's CustomerQueryModel says so)."""
    if collection == "customers" and isinstance(resource.get("email"), str):
        return {**resource, "lowercaseEmail": resource["email"].lower()}
    return resource


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


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
