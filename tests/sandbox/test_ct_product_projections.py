"""The stand-in's Product Projections (https://docs.commercetools.com/api/projects/productProjections)
and the catalogue's Categories (https://docs.commercetools.com/api/projects/categories)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.commercetools import StandInState, create_app
from sandbox.commercetools.catalogue import stable_id
from sandbox.serving import ServerThread
from shared.commercetools import CommercetoolsClient
from shared.domain.orders.order_view import product_collections
from shared.domain.predicates import literal_list
from tests.sandbox.test_commercetools_standin import PROJECT, Api, basic, new_state

SHIRT = stable_id("product", "SKU-TSHIRT")
MUG = stable_id("product", "SKU-MUG")


@pytest.fixture
def api() -> Iterator[Api]:
    state: StandInState = new_state()
    api = Api(create_app(state).test_client(), state)
    seeded = api.client.post(
        "/_sandbox/products",
        json={
            "categories": [
                {"key": "outdoor", "name": {"en": "Outdoor", "de": "Draußen"}},
                {
                    "key": "tents",
                    "name": {"en": "Tents & shelters", "de": "Zelte"},
                    "slug": {"en": "tents", "de": "zelte"},
                    "parent": "outdoor",
                },
            ],
            "products": [
                {
                    "sku": "TENT-2",
                    "productId": "p-tent",
                    "key": "tent",
                    "variantId": 1,
                    "name": {"en": "Tent for two", "de": "Zelt für zwei"},
                    "prices": {"EUR": 19900},
                    "categories": ["tents"],
                },
                {
                    "sku": "TENT-4",
                    "productId": "p-tent",
                    "key": "tent",
                    "variantId": 2,
                    "name": {"en": "Tent for four"},
                    "prices": {"EUR": 29900},
                    "categories": ["tents", "outdoor"],
                },
                {
                    "sku": "DRAFT-1",
                    "productId": "p-draft",
                    "name": "Not yet on sale",
                    "prices": {"EUR": 100},
                    "published": False,
                },
            ],
        },
    )
    assert seeded.status_code == 200, seeded.json
    yield api
    state.close()


def _scoped(api: Api, scope: str) -> dict[str, str]:
    issued = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": f"{scope}:{PROJECT}"},
        headers=basic("client", "secret"),
    )
    assert issued.status_code == 200, issued.json
    return {"Authorization": f"Bearer {issued.json['access_token']}"}


def _ids(page: dict[str, Any]) -> list[str]:
    return [p["id"] for p in page["results"]]


def test_the_query_the_connector_sends_answers_its_categories_by_key(api: Api) -> None:
    # What shared/orders/reconciler.py `_collections` sends.
    page = api.get(
        "product-projections",
        where=f"id in {literal_list(['p-tent', SHIRT])}",
        expand="categories[*]",
        limit=2,
        withTotal="false",
    )
    assert sorted(_ids(page)) == sorted(["p-tent", SHIRT])
    assert page["count"] == 2 and page["limit"] == 2 and page["offset"] == 0
    assert "total" not in page
    assert product_collections(page["results"]) == {
        "p-tent": ("tents", "outdoor"),
        SHIRT: ("apparel", "tops"),
    }
    tent = next(p for p in page["results"] if p["id"] == "p-tent")
    tents = tent["categories"][0]["obj"]
    assert tents["name"] == {"en": "Tents & shelters", "de": "Zelte"}
    assert tents["slug"] == {"en": "tents", "de": "zelte"}
    outdoor_id = stable_id("category", "outdoor")
    assert tents["parent"] == {"typeId": "category", "id": outdoor_id}
    assert tents["ancestors"] == [{"typeId": "category", "id": outdoor_id}]


def test_variants_of_one_product_make_one_projection(api: Api) -> None:
    tent = api.get("product-projections/p-tent")
    assert tent["key"] == "tent"
    assert tent["masterVariant"]["sku"] == "TENT-2"
    assert [v["sku"] for v in tent["variants"]] == ["TENT-4"]
    assert tent["masterVariant"]["prices"][0]["value"] == {
        "type": "centPrecision",
        "currencyCode": "EUR",
        "centAmount": 19900,
        "fractionDigits": 2,
    }
    # Without `expand` a category is a plain reference.
    assert tent["categories"][0] == {"typeId": "category", "id": stable_id("category", "tents")}
    assert tent["slug"] == {"en": "tent-for-two", "de": "zelt-f-r-zwei"}
    assert api.get("product-projections/key=tent")["id"] == "p-tent"


def test_only_published_products_have_a_current_projection(api: Api) -> None:
    current = api.get("product-projections", limit=500)
    staged = api.get("product-projections", limit=500, staged="true")
    assert "p-draft" not in _ids(current)
    assert "p-draft" in _ids(staged)
    assert current["total"] == staged["total"] - 1
    status, body = api.error("GET", "product-projections/p-draft")
    assert status == 404 and body["errors"][0]["code"] == "ResourceNotFound"
    assert api.get("product-projections/p-draft", staged="true")["published"] is False
    status, _ = api.error("GET", "product-projections", staged="maybe")
    assert status == 400


def test_view_published_products_sees_current_projections_only(api: Api) -> None:
    headers = _scoped(api, "view_published_products")
    answer = api.client.get(
        f"/{PROJECT}/product-projections", query_string={"staged": "true"}, headers=headers
    )
    assert answer.status_code == 200
    assert "p-draft" not in _ids(answer.json)
    for scope in ("view_products", "manage_products"):
        staged = api.client.get(
            f"/{PROJECT}/product-projections",
            query_string={"staged": "true", "limit": 500},
            headers=_scoped(api, scope),
        )
        assert staged.status_code == 200 and "p-draft" in _ids(staged.json)


def test_other_scopes_are_refused(api: Api) -> None:
    headers = _scoped(api, "view_orders")
    answer = api.client.get(f"/{PROJECT}/product-projections", headers=headers)
    assert answer.status_code == 403
    assert answer.json["errors"][0]["code"] == "insufficient_scope"
    one = api.client.get(f"/{PROJECT}/product-projections/p-tent", headers=headers)
    assert one.status_code == 403
    # manage_products does not reach orders.
    orders = api.client.get(f"/{PROJECT}/orders", headers=_scoped(api, "manage_products"))
    assert orders.status_code == 403


def test_predicates_sorting_and_paging_apply_to_projections(api: Api) -> None:
    by_slug = api.get("product-projections", where='slug(en = "tent-for-two")')
    assert _ids(by_slug) == ["p-tent"]
    in_category = api.get(
        "product-projections",
        where=f'categories(id = "{stable_id("category", "home")}")',
    )
    assert _ids(in_category) == [MUG]
    first = api.get("product-projections", sort="id asc", limit=2)
    second = api.get("product-projections", sort="id asc", limit=2, offset=2)
    assert _ids(first) == sorted(_ids(first)) and not set(_ids(first)) & set(_ids(second))
    status, body = api.error("GET", "product-projections", where="id in (")
    assert status == 400 and body["errors"][0]["code"] == "InvalidInput"
    status, _ = api.error("GET", "product-projections", limit=501)
    assert status == 400


def test_nested_category_expansion(api: Api) -> None:
    tent = api.get("product-projections/p-tent", expand="categories[*].parent")
    parent = tent["categories"][0]["obj"]["parent"]
    assert parent["obj"]["key"] == "outdoor"
    tent = api.get("product-projections/p-tent", expand="categories[*].ancestors[*]")
    (ancestor,) = tent["categories"][0]["obj"]["ancestors"]
    assert ancestor["obj"]["name"] == {"en": "Outdoor", "de": "Draußen"}
    assert "obj" not in tent["productType"]  # no product type resource to expand


def test_what_is_not_modelled_is_refused_not_ignored(api: Api) -> None:
    status, body = api.error("GET", "product-projections", priceCurrency="EUR")
    assert status == 400 and "priceCurrency" in body["message"]
    status, _ = api.error("POST", "product-projections", {"name": {"en": "x"}})
    assert status == 404  # read-only API


@pytest.mark.parametrize(
    "body",
    [
        {"products": [{"sku": "X", "prices": {"EUR": 1}, "categories": ["nope"]}]},
        {"products": [{"sku": "X", "prices": {"EUR": 1}, "categories": [{"key": "home"}]}]},
        {"products": [{"sku": "X", "prices": {"EUR": 1}, "published": "yes"}]},
        {"categories": [{"key": "a", "parent": "missing"}]},
        {"categories": [{"key": "a", "parent": "b"}, {"key": "b", "parent": "a"}]},
        {"categories": [{"key": "a", "slug": {"en": "not a slug"}}]},
        {"categories": [{"name": "no key"}]},
        {"categories": "home"},
    ],
)
def test_bad_catalogue_drafts_are_refused(api: Api, body: dict[str, Any]) -> None:
    answer = api.client.post("/_sandbox/products", json=body)
    assert answer.status_code == 400, answer.json
    # Nothing was changed by the refused draft.
    assert api.get("product-projections/p-tent")["key"] == "tent"


def test_the_connectors_client_reads_them_over_http() -> None:
    state = new_state()
    server = ServerThread(create_app(state)).start()
    try:
        client = CommercetoolsClient(
            project_key=PROJECT,
            client_id="c",
            client_secret="s",
            scope=f"view_published_products:{PROJECT}",
            api_url=server.url,
            auth_url=server.url,
        )
        found = client.query(
            "product-projections",
            where=f"id in {literal_list([MUG])}",
            expand=["categories[*]"],
            limit=1,
        )
        assert product_collections(found["results"]) == {MUG: ("home",)}
        assert client.get_by_id("product-projections", MUG)["name"] == {"en": "Enamel mug"}
    finally:
        server.stop()
        state.close()
