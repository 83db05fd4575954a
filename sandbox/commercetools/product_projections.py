"""Product Projections of the stand-in's catalogue: the read-only Product Projections API.

`GET /{projectKey}/product-projections` (query: `where`, `sort`, `limit`, `offset`,
`withTotal`, `expand`, `staged`) and `GET /{projectKey}/product-projections/{id}` /
`key={key}` (`staged`, `expand`), from
<https://docs.commercetools.com/api/projects/productProjections> and the RAML
`resources/product-projections.raml` of commercetools/commercetools-api-reference:

- The catalogue's SKUs that share a product id are one product; its lowest variant id is the
  `masterVariant`, the others its `variants`.
- "Only published Products have a current projected representation": `staged=false` (the
  default) serves published products only, `staged=true` every product. The catalogue has no
  unpublished changes, so both projections hold the same data (`hasStagedChanges: false`).
- Scopes (RAML `securedBy`): `view_products` or `view_published_products`; `manage_products`,
  `manage_project` and `view_project` grant it too (https://docs.commercetools.com/api/scopes).
  "When used with an API client that has the view_published_products:{projectKey} scope,
  this endpoint only returns published (current) product projections": such a token gets the
  current projections whatever `staged` says.
- `expand=categories[*]` puts each Category (https://docs.commercetools.com/api/projects/categories#category,
  with `ancestors` and `parent`) in the reference's `obj`; `categories[*].parent` and
  `categories[*].ancestors[*]` expand further. References that cannot be resolved (product
  type, tax category) stay unexpanded.
- Price selection (`priceCurrency`, `priceCountry`, `priceCustomerGroup`, `priceChannel`,
  ...), locale projection and store projection are not modelled: a request naming one is
  refused (400) rather than answered as if it had not been sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Unpack

from flask import Flask, g, jsonify, request

from sandbox.commercetools.cart_items import PRODUCT_TYPE_ID
from sandbox.commercetools.catalogue import Catalogue, Category, Product, slugify
from sandbox.commercetools.errors import invalid_input, not_found
from sandbox.commercetools.kinds import Resource
from sandbox.commercetools.money import money
from sandbox.commercetools.reads import PageQuery, ReadsMixin
from sandbox.commercetools.state_core import Ident

COLLECTION = "product-projections"
# Grants that see staged projections too; a token with only view_published_products does not.
STAGED_SCOPES = frozenset({"manage_project", "view_project", "manage_products", "view_products"})
# Query parameters of the endpoint (RAML traits priceSelecting, localeProjecting,
# storeProjecting) that the stand-in does not model.
UNMODELLED_PARAMETERS = (
    "priceCurrency",
    "priceCountry",
    "priceCustomerGroup",
    "priceCustomerGroupAssignments",
    "priceChannel",
    "priceRecurrencePolicy",
    "localeProjection",
    "storeProjection",
)


def category_resource(category: Category, catalogue: Catalogue) -> Resource:
    """The Category resource: `ancestors` root first, `parent` the direct one."""
    ancestors: list[dict[str, Any]] = []
    parent_key = category.parent
    while parent_key is not None:
        parent = catalogue.categories[parent_key]
        ancestors.insert(0, {"typeId": "category", "id": parent.id})
        parent_key = parent.parent
    resource: Resource = {
        "id": category.id,
        "version": 1,
        "createdAt": catalogue.seeded_at,
        "lastModifiedAt": catalogue.seeded_at,
        "key": category.key,
        "name": dict(category.name),
        "slug": dict(category.slug),
        "ancestors": ancestors,
        "orderHint": category.order_hint,
    }
    if ancestors:
        resource["parent"] = dict(ancestors[-1])
    if category.description is not None:
        resource["description"] = dict(category.description)
    return resource


def _variant(product: Product) -> Resource:
    return {
        "id": product.variant_id,
        "sku": product.sku,
        # The same price ids a line item of this variant carries (cart_items.add_line_item).
        "prices": [
            {
                "id": f"{product.product_id}-{product.variant_id}-{currency}",
                "value": money(currency, amount),
            }
            for currency, amount in product.prices.items()
        ],
        "images": [],
        "attributes": [],
        "assets": [],
    }


def projection(variants: list[Product], catalogue: Catalogue) -> Resource:
    """The ProductProjection of one product (its catalogue entries, master first)."""
    master = variants[0]
    category_keys = dict.fromkeys(k for v in variants for k in v.categories)
    found: Resource = {
        "id": master.product_id,
        "version": 1,
        "key": master.product_key,
        "createdAt": catalogue.seeded_at,
        "lastModifiedAt": catalogue.seeded_at,
        "productType": {"typeId": "product-type", "id": PRODUCT_TYPE_ID},
        "name": dict(master.name),
        "slug": dict(master.slug)
        if master.slug
        else {locale: slugify(text) for locale, text in master.name.items()},
        "categories": [
            {"typeId": "category", "id": catalogue.categories[key].id} for key in category_keys
        ],
        "categoryOrderHints": {},
        "searchKeywords": {},
        "hasStagedChanges": False,
        "published": master.published,
        "masterVariant": _variant(master),
        "variants": [_variant(v) for v in variants[1:]],
        "taxCategory": master.tax_category.reference(),
        "priceMode": "Embedded",
        "attributes": [],
    }
    return {k: v for k, v in found.items() if v is not None}


def projections(catalogue: Catalogue, *, staged: bool) -> list[Resource]:
    """Every product's projection; with `staged=False` only the published ones."""
    by_product: dict[str, list[Product]] = {}
    for product in catalogue.products.values():
        by_product.setdefault(product.product_id, []).append(product)
    found = []
    for variants in by_product.values():
        variants.sort(key=lambda v: v.variant_id)
        if staged or variants[0].published:
            found.append(projection(variants, catalogue))
    return found


class ProductProjectionsMixin(ReadsMixin):
    """Reads of the catalogue as Product Projections; Category references expand from it."""

    def query_product_projections(
        self, *, staged: bool, **params: Unpack[PageQuery]
    ) -> dict[str, Any]:
        with self.store.lock:
            return self.expanded_page(projections(self.catalogue, staged=staged), params)

    def product_projection(
        self, ident: Ident, *, staged: bool, expand: list[str] | None = None
    ) -> Resource:
        field, value = ident
        with self.store.lock:
            for found in projections(self.catalogue, staged=staged):
                if found.get(field) == value:
                    self._expand(found, expand or [])
                    return found
        raise not_found(f"The Resource with {field} '{value}' was not found.")

    def _resolve_into(self, reference: dict[str, Any]) -> None:
        # Categories live in the catalogue, not in the store of writable resources.
        if reference.get("typeId") == "category" and isinstance(reference.get("id"), str):
            category = self.catalogue.category(reference["id"])
            if category is not None:
                reference["obj"] = category_resource(category, self.catalogue)
            return
        super()._resolve_into(reference)


def _staged(scopes: frozenset[str]) -> bool:
    raw = request.args.get("staged", "false").lower()
    if raw not in ("true", "false"):
        raise invalid_input("Malformed parameter: staged: expected true or false.")
    return raw == "true" and bool(scopes & STAGED_SCOPES)


def _refuse_unmodelled() -> None:
    named = [p for p in UNMODELLED_PARAMETERS if p in request.args]
    if named:
        raise invalid_input(
            f"The commercetools stand-in does not model {', '.join(named)} on product projections."
        )


def register_routes(
    app: Flask,
    state: ProductProjectionsMixin,
    project: str,
    *,
    query_params: Callable[[], dict[str, Any]],
    ident: Callable[[str], Ident],
) -> None:
    """The Product Projections endpoints; the app's own helpers parse paging and idents."""

    @app.get(f"/{project}/{COLLECTION}")
    def query_product_projections() -> Any:
        _refuse_unmodelled()
        page = state.query_product_projections(staged=_staged(g.grant.scopes), **query_params())
        state.observe(
            "ProductProjectionPagedQueryResponse", page, f"{request.method} {request.path}"
        )
        return jsonify(page)

    @app.get(f"/{project}/{COLLECTION}/<raw>")
    def get_product_projection(raw: str) -> Any:
        _refuse_unmodelled()
        found = state.product_projection(
            ident(raw), staged=_staged(g.grant.scopes), expand=request.args.getlist("expand")
        )
        state.observe("ProductProjection", found, f"{request.method} {request.path}")
        return jsonify(found)
