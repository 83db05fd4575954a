"""The stand-in's product catalogue: SKUs with per-currency prices and a tax category each.

Products are kept minimal (no product API): enough for carts to price line items the way
commercetools does. Set with `POST /_sandbox/products`; the default one prices in EUR, USD,
JPY (no minor unit) and KWD (three).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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
class Product:
    sku: str
    product_id: str
    product_key: str | None
    variant_id: int
    name: dict[str, str]
    prices: dict[str, int]
    tax_category: TaxCategory

    def price(self, currency: str) -> int | None:
        return self.prices.get(currency)


@dataclass(frozen=True)
class Catalogue:
    products: dict[str, Product]
    tax_categories: dict[str, TaxCategory]

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

    def describe(self) -> dict[str, Any]:
        return {
            "taxCategories": [
                {"id": c.id, "key": c.key, "name": c.name, "rate": str(c.rate)}
                for c in self.tax_categories.values()
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
                }
                for p in self.products.values()
            ],
        }


def _category(key: str, rate: str, name: str) -> TaxCategory:
    return TaxCategory(stable_id("tax-category", key), key, name, Fraction(rate))


DEFAULT_TAX_CATEGORIES = (
    _category("standard", "0.19", "Standard rate"),
    _category("reduced", "0.07", "Reduced rate"),
    _category("zero", "0", "Zero rate"),
)

DEFAULT_PRODUCTS: tuple[dict[str, Any], ...] = (
    {
        "sku": "SKU-TSHIRT",
        "name": {"en": "Organic T-shirt"},
        "prices": {"EUR": 1999, "USD": 2199, "JPY": 2980, "KWD": 6500},
        "taxCategory": "standard",
    },
    {
        "sku": "SKU-HOODIE",
        "name": {"en": "Hoodie"},
        "prices": {"EUR": 4995, "USD": 5495, "JPY": 7480, "KWD": 16250},
        "taxCategory": "standard",
    },
    {
        "sku": "SKU-MUG",
        "name": {"en": "Enamel mug"},
        "prices": {"EUR": 899, "USD": 999, "JPY": 1280, "KWD": 2900},
        "taxCategory": "standard",
    },
    {
        "sku": "SKU-BOOK",
        "name": {"en": "Field guide (book)"},
        "prices": {"EUR": 2450, "USD": 2699, "JPY": 3600, "KWD": 7725},
        "taxCategory": "reduced",
    },
    {
        "sku": "SKU-GIFTCARD",
        "name": {"en": "Gift card"},
        "prices": {"EUR": 5000, "USD": 5000, "JPY": 5000, "KWD": 15000},
        "taxCategory": "zero",
    },
)


def build_catalogue(
    products: list[dict[str, Any]],
    tax_categories: list[dict[str, Any]] | None = None,
    base: Catalogue | None = None,
) -> Catalogue:
    """A catalogue from drafts, optionally added to `base` (same SKU/key replaces)."""
    categories = dict(base.tax_categories) if base else {}
    for draft in tax_categories or []:
        if not isinstance(draft, dict) or not isinstance(draft.get("key"), str):
            raise invalid_input("Each tax category needs a 'key'.")
        key = draft["key"]
        countries = draft.get("countries")
        if countries is not None and (
            not isinstance(countries, list) or not all(isinstance(c, str) for c in countries)
        ):
            raise invalid_input("'countries' of a tax category must be a list of country codes.")
        categories[key] = TaxCategory(
            str(draft.get("id") or stable_id("tax-category", key)),
            key,
            str(draft.get("name") or key),
            exact_rate(draft.get("rate", 0)),
            None if countries is None else frozenset(countries),
        )
    known = dict(base.products) if base else {}
    for draft in products:
        product = _product(draft, categories)
        known[product.sku] = product
    return Catalogue(known, categories)


def _product(draft: Any, categories: dict[str, TaxCategory]) -> Product:
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
    return Product(
        sku=sku,
        product_id=str(draft.get("productId") or stable_id("product", sku)),
        product_key=draft.get("key"),
        variant_id=int(draft.get("variantId", 1)),
        name=name if isinstance(name, dict) else {"en": str(name)},
        prices=prices,
        tax_category=categories[key],
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
    )
