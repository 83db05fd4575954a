"""The OpenAPI description matches the app's real routes, both ways, and holds together."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from service.instore.openapi import PREFIX
from tests.instore.conftest import Shop

_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - _IGNORED_METHODS:
            found.add((path, method.lower()))
    return found


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_every_documented_operation_exists_and_every_route_is_documented(shop: Shop) -> None:
    response = shop.client.get("/loyalty/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert documented(document) == routes(shop.app)


def test_the_description_holds_together(shop: Shop) -> None:
    document = shop.client.get("/loyalty/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    for path, item in document["paths"].items():
        in_path = set(re.findall(r"{([a-z_]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, (path, method)
            assert operation["responses"], (path, method)
            for status in operation["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", status), (path, method, status)
