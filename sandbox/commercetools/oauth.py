"""OAuth grants and scopes of the stand-in: which token may call which endpoint.

Flows (https://docs.commercetools.com/api/authorization): client credentials
(`POST /oauth/token`), the password flow for a customer (`POST /oauth/{projectKey}/customers/token`)
and the anonymous session flow (`POST /oauth/{projectKey}/anonymous/token`). Scopes are
`<name>:<projectKey>`; each endpoint accepts the scopes its RAML `securedBy` lists
(https://docs.commercetools.com/api/scopes). A token without one of them gets
`403 insufficient_scope`; asking for a scope the stand-in does not know is `400 invalid_scope`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

# The scopes that grant each collection: (read, write). manage_project grants everything and
# view_project every read (Scopes page).
_RESOURCE_SCOPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "carts": (frozenset({"view_orders"}), frozenset({"manage_orders"})),
    "orders": (frozenset({"view_orders"}), frozenset({"manage_orders"})),
    # RAML resources/orders.raml, /edits securedBy.
    "order-edits": (frozenset({"view_order_edits"}), frozenset({"manage_order_edits"})),
    "customers": (frozenset({"view_customers"}), frozenset({"manage_customers"})),
    "customer-groups": (
        frozenset({"view_customer_groups", "view_customers"}),
        frozenset({"manage_customer_groups", "manage_customers"}),
    ),
    "types": (frozenset({"view_types"}), frozenset({"manage_types"})),
    "payments": (frozenset({"view_payments"}), frozenset({"manage_payments"})),
    "cart-discounts": (frozenset({"view_cart_discounts"}), frozenset({"manage_cart_discounts"})),
    "discount-codes": (frozenset({"view_discount_codes"}), frozenset({"manage_discount_codes"})),
    "extensions": (frozenset({"manage_extensions"}), frozenset({"manage_extensions"})),
    "subscriptions": (frozenset({"manage_subscriptions"}), frozenset({"manage_subscriptions"})),
    "custom-objects": (
        frozenset({"view_key_value_documents"}),
        frozenset({"manage_key_value_documents"}),
    ),
    "messages": (frozenset({"view_messages"}), frozenset()),
    # RAML resources/product-projections.raml securedBy; the 2019-09-04 release note
    # (https://docs.commercetools.com/api/releases/2019-09-04-view_published_products_scope).
    "product-projections": (
        frozenset({"view_products", "view_published_products"}),
        frozenset({"manage_products"}),
    ),
}
# The shopper's own carts (My Carts): manage_my_orders (Me endpoints, securedBy).
MY_CARTS_SCOPES = frozenset({"manage_my_orders"})
KNOWN_SCOPES = frozenset(
    {
        "manage_project",
        "view_project",
        "manage_my_orders",
        "view_published_products",
        "manage_my_profile",
        *(s for pair in _RESOURCE_SCOPES.values() for group in pair for s in group),
    }
)


@dataclass(frozen=True)
class Grant:
    """What one access token may do, and for whom (a customer or an anonymous session)."""

    expires_at: float
    scopes: frozenset[str]  # scope names, without the project key
    customer_id: str | None = None
    anonymous_id: str | None = None

    @property
    def shopper(self) -> bool:
        return self.customer_id is not None or self.anonymous_id is not None


def parse_scope(scope: str, project_key: str) -> frozenset[str] | None:
    """The scope names of `manage_x:<key> view_y:<key>`; None when one is unknown or for
    another project (invalid_scope)."""
    names = set()
    for part in scope.split():
        name, _, key = part.partition(":")
        if name not in KNOWN_SCOPES or key != project_key:
            return None
        names.add(name)
    return frozenset(names) if names else None


def accepted_scopes(collection: str, method: str) -> frozenset[str]:
    """The scopes that allow `method` on `/{projectKey}/{collection}...`."""
    read, write = _RESOURCE_SCOPES.get(collection, (frozenset(), frozenset()))
    if method in ("GET", "HEAD"):
        return frozenset({"manage_project", "view_project"}) | read | write
    return frozenset({"manage_project"}) | write


def allows(grant: Grant, accepted: frozenset[str]) -> bool:
    return bool(grant.scopes & accepted)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)
    return f"{salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    salt, _, _ = stored.partition("$")
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)
