"""The stand-in's product catalogue: SKUs with per-currency prices, a tax category each, and
the Categories products are in.

Products are kept minimal (no Products API, no writes): enough for carts to price line items
the way commercetools does and for the read-only Product Projections API
(`product_projections.py`) to serve them. Set with `POST /_sandbox/products`; the default one
prices in EUR, USD, JPY (no minor unit) and KWD (three) and puts every product in a category.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sandbox.commercetools.errors import invalid_input
from sandbox.commercetools.money import exact_rate, fraction_digits

_NAMESPACE = uuid.UUID("6f1c7a4e-2b1d-4a53-9a0e-5d3c1b2a7e90")


def stable_id(*parts: str) -> str:
    """Ids that stay the same across restarts, so demo data and tests can name them."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@dataclass(frozen=True)
class TaxCategory:
    id: str
    key: str
    name: str
    rate: Fraction
    # The countries the category has a rate for; None: every country (the sandbox default).
    countries: frozenset[str] | None = None

    def covers(self, country: str | None) -> bool:
        return self.countries is None or country is None or country in self.countries

    def tax_rate(self) -> dict[str, Any]:
        """The cart's `taxRate` object (the JSON number of the rate is only ever displayed)."""
        return {
            "name": self.name,
            "amount": float(self.rate),
            "includedInPrice": False,
            "country": "DE",
            "id": f"{self.key}-rate",
            "subRates": [],
        }

    def reference(self) -> dict[str, Any]:
        return {"typeId": "tax-category", "id": self.id}


@dataclass(frozen=True)
class Category:
    """A Category (https://docs.commercetools.com/api/projects/categories#category): `name`
    and `slug` are LocalizedStrings, `parent` the key of the parent category."""

    id: str
    key: str
    name: dict[str, str]
    slug: dict[str, str]
    order_hint: str
    parent: str | None = None
    description: dict[str, str] | None = None


@dataclass(frozen=True)
class Product:
    sku: str
    product_id: str
    product_key: str | None
    variant_id: int
    name: dict[str, str]
    prices: dict[str, int]
    tax_category: TaxCategory
    # Keys of the product's categories, in the order given (ProductProjection.categories).
    categories: tuple[str, ...] = ()
    # Only a published product has a current projection (Product Projections, "Current /
    # staged"); an unpublished one is served with `staged=true` only.
    published: bool = True
    slug: dict[str, str] | None = None

    def price(self, currency: str) -> int | None:
        return self.prices.get(currency)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Catalogue:
    products: dict[str, Product]
    tax_categories: dict[str, TaxCategory]
    categories: dict[str, Category] = field(default_factory=dict)
    # When the catalogue was seeded: `createdAt` / `lastModifiedAt` of what it serves.
    seeded_at: str = field(default_factory=_now)

    def product(self, sku: str) -> Product | None:
        return self.products.get(sku)

    def tax_category(self, reference: Any) -> TaxCategory | None:
        """By `{typeId: "tax-category", id | key}`."""
        if not isinstance(reference, dict):
            return None
        for category in self.tax_categories.values():
            if reference.get("id") == category.id or reference.get("key") == category.key:
                return category
        return None

    def category(self, id: str) -> Category | None:
        return next((c for c in self.categories.values() if c.id == id), None)

    def describe(self) -> dict[str, Any]:
        return {
            "taxCategories": [
                {"id": c.id, "key": c.key, "name": c.name, "rate": str(c.rate)}
                for c in self.tax_categories.values()
            ],
            "categories": [
                {
                    "id": c.id,
                    "key": c.key,
                    "name": c.name,
                    "slug": c.slug,
                    "parent": c.parent,
                    "orderHint": c.order_hint,
                }
                for c in self.categories.values()
            ],
            "products": [
                {
                    "sku": p.sku,
                    "productId": p.product_id,
                    "key": p.product_key,
                    "variantId": p.variant_id,
                    "name": p.name,
                    "prices": p.prices,
                    "taxCategory": p.tax_category.key,
                    "categories": list(p.categories),
                    "published": p.published,
                }
                for p in self.products.values()
            ],
        }


def _tax_category(key: str, rate: str, name: str) -> TaxCategory:
    return TaxCategory(stable_id("tax-category", key), key, name, Fraction(rate))


DEFAULT_TAX_CATEGORIES = (
    _tax_category("standard", "0.19", "Standard rate"),
    _tax_category("reduced", "0.07", "Reduced rate"),
    _tax_category("zero", "0", "Zero rate"),
)

# Categories of the default catalogue, named in two locales as a real catalogue would be.
DEFAULT_CATEGORIES: tuple[dict[str, Any], ...] = (
    {"key": "apparel", "name": {"en": "Apparel", "de": "Bekleidung"}},
    {"key": "tops", "name": {"en": "Tops", "de": "Oberteile"}, "parent": "apparel"},
    {"key": "home", "name": {"en": "Home & kitchen", "de": "Haus & Küche"}},
    {"key": "books", "name": {"en": "Books", "de": "Bücher"}},
    {"key": "gift-cards", "name": {"en": "Gift cards", "de": "Geschenkkarten"}},
)

DEFAULT_PRODUCTS: tuple[dict[str, Any], ...] = (
    {
        "sku": "SKU-TSHIRT",
        "name": {"en": "Organic T-shirt"},
        "prices": {"EUR": 1999, "USD": 2199, "JPY": 2980, "KWD": 6500},
        "taxCategory": "standard",
        "categories": ["apparel", "tops"],
    },
    {
        "sku": "SKU-HOODIE",
        "name": {"en": "Hoodie"},
        "prices": {"EUR": 4995, "USD": 5495, "JPY": 7480, "KWD": 16250},
        "taxCategory": "standard",
        "categories": ["apparel", "tops"],
    },
    {
        "sku": "SKU-MUG",
        "name": {"en": "Enamel mug"},
        "prices": {"EUR": 899, "USD": 999, "JPY": 1280, "KWD": 2900},
        "taxCategory": "standard",
        "categories": ["home"],
    },
    {
        "sku": "SKU-BOOK",
        "name": {"en": "Field guide (book)"},
        "prices": {"EUR": 2450, "USD": 2699, "JPY": 3600, "KWD": 7725},
        "taxCategory": "reduced",
        "categories": ["books"],
    },
    {
        "sku": "SKU-GIFTCARD",
        "name": {"en": "Gift card"},
        "prices": {"EUR": 5000, "USD": 5000, "JPY": 5000, "KWD": 15000},
        "taxCategory": "zero",
        "categories": ["gift-cards"],
    },
)


def build_catalogue(
    products: list[dict[str, Any]],
    tax_categories: list[dict[str, Any]] | None = None,
    base: Catalogue | None = None,
    categories: list[dict[str, Any]] | None = None,
) -> Catalogue:
    """A catalogue from drafts, optionally added to `base` (same SKU/key replaces)."""
    sections = _categories(categories or [], dict(base.categories) if base else {})
    taxes = dict(base.tax_categories) if base else {}
    for draft in tax_categories or []:
        if not isinstance(draft, dict) or not isinstance(draft.get("key"), str):
            raise invalid_input("Each tax category needs a 'key'.")
        key = draft["key"]
        countries = draft.get("countries")
        if countries is not None and (
            not isinstance(countries, list) or not all(isinstance(c, str) for c in countries)
        ):
            raise invalid_input("'countries' of a tax category must be a list of country codes.")
        taxes[key] = TaxCategory(
            str(draft.get("id") or stable_id("tax-category", key)),
            key,
            str(draft.get("name") or key),
            exact_rate(draft.get("rate", 0)),
            None if countries is None else frozenset(countries),
        )
    known = dict(base.products) if base else {}
    for draft in products:
        product = _product(draft, taxes, sections)
        known[product.sku] = product
    return Catalogue(known, taxes, sections)


def _product(
    draft: Any, categories: dict[str, TaxCategory], sections: dict[str, Category]
) -> Product:
    if not isinstance(draft, dict) or not isinstance(draft.get("sku"), str):
        raise invalid_input("Each product needs a 'sku'.")
    sku = draft["sku"]
    if "taxRate" in draft and "taxCategory" not in draft:
        rate = exact_rate(draft["taxRate"])
        key = f"rate-{rate.numerator}-{rate.denominator}"
        categories.setdefault(
            key, TaxCategory(stable_id("tax-category", key), key, f"{float(rate):.2%}", rate)
        )
    else:
        key = str(draft.get("taxCategory", "standard"))
    if key not in categories:
        raise invalid_input(f"Product '{sku}' names an unknown tax category '{key}'.")
    name = draft.get("name", sku)
    prices = _prices(sku, draft.get("prices"))
    in_categories = draft.get("categories") or []
    if not isinstance(in_categories, list) or not all(
        isinstance(c, str) and c in sections for c in in_categories
    ):
        raise invalid_input(f"Product '{sku}': 'categories' must name known category keys.")
    published = draft.get("published", True)
    if not isinstance(published, bool):
        raise invalid_input(f"Product '{sku}': 'published' must be a boolean.")
    return Product(
        sku=sku,
        product_id=str(draft.get("productId") or stable_id("product", sku)),
        product_key=draft.get("key"),
        variant_id=int(draft.get("variantId", 1)),
        name=name if isinstance(name, dict) else {"en": str(name)},
        prices=prices,
        tax_category=categories[key],
        categories=tuple(dict.fromkeys(in_categories)),
        published=published,
        slug=_localized(draft.get("slug"), "slug") if draft.get("slug") is not None else None,
    )


def _prices(sku: str, given: Any) -> dict[str, int]:
    """`{"EUR": 1999}` or a list of `{value: Money}` — minor units of each currency."""
    prices: dict[str, int] = {}
    items = given.items() if isinstance(given, dict) else []
    if isinstance(given, list):
        items = [
            (p["value"]["currencyCode"], p["value"]["centAmount"])
            for p in given
            if isinstance(p, dict) and isinstance(p.get("value"), dict)
        ]
    for currency, amount in items:
        fraction_digits(currency)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise invalid_input(f"Price of '{sku}' in {currency} must be whole minor units.")
        prices[currency] = amount
    if not prices:
        raise invalid_input(f"Product '{sku}' needs at least one price.")
    return prices


def default_catalogue() -> Catalogue:
    return build_catalogue(
        list(DEFAULT_PRODUCTS),
        [
            {"key": c.key, "id": c.id, "name": c.name, "rate": str(c.rate)}
            for c in DEFAULT_TAX_CATEGORIES
        ],
        categories=list(DEFAULT_CATEGORIES),
    )


# A slug: 2-256 of [A-Za-z0-9_-] (CategoryDraft.slug,
# https://docs.commercetools.com/api/projects/categories#categorydraft).
_SLUG = re.compile(r"^[A-Za-z0-9_\-]{2,256}$")


def slugify(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return slug if len(slug) >= 2 else f"{slug}--"[:2]


def _localized(value: Any, name: str) -> dict[str, str]:
    """A LocalizedString (`{"en": "..."}`); a plain string is taken as English."""
    if isinstance(value, str):
        value = {"en": value}
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise invalid_input(f"'{name}' must be a LocalizedString.")
    if name == "slug" and not all(_SLUG.match(v) for v in value.values()):
        raise invalid_input("A slug is 2-256 of A-Z a-z 0-9 _ -.")
    return dict(value)


def _categories(drafts: list[Any], known: dict[str, Category]) -> dict[str, Category]:
    """Categories from `{key, name, slug?, parent?, orderHint?, id?}` drafts; each slug
    defaults to the name per locale, made a valid slug. A parent must be known or given."""
    for number, draft in enumerate(drafts):
        if not isinstance(draft, dict) or not isinstance(draft.get("key"), str):
            raise invalid_input("Each category needs a 'key'.")
        key = draft["key"]
        name = _localized(draft.get("name", key), "name")
        slug = draft.get("slug")
        parent = draft.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise invalid_input(f"Category '{key}': 'parent' must be a category key.")
        known[key] = Category(
            id=str(draft.get("id") or stable_id("category", key)),
            key=key,
            name=name,
            slug=_localized(slug, "slug")
            if slug is not None
            else {locale: slugify(text) for locale, text in name.items()},
            order_hint=str(draft.get("orderHint") or f"0.{number + 1}"),
            parent=parent,
            description=_localized(draft["description"], "description")
            if draft.get("description") is not None
            else None,
        )
    for category in known.values():
        seen = {category.key}
        parent = category.parent
        while parent is not None:
            if parent not in known or parent in seen:
                raise invalid_input(f"Category '{category.key}' has an unknown or cyclic parent.")
            seen.add(parent)
            parent = known[parent].parent
    return known
