"""A stateful commercetools stub at the HTTP boundary (`responses`), for the coupon tests.

It answers the few endpoints coupons use with commercetools' documented shapes and errors:
`DuplicateField` (400) on a taken key or code, `ConcurrentModification` (409) on a stale
custom-object version (https://docs.commercetools.com/api/errors).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import responses

from shared.commercetools import CommercetoolsClient

API = "https://api.coupons.test"
AUTH = "https://auth.coupons.test"
PROJECT = "shop"
BASE = f"{API}/{PROJECT}"


def _error(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict, str]:
    body = {"statusCode": status, "message": message, "errors": [{"code": code, **extra}]}
    return status, {}, json.dumps(body)


def _ok(body: Any, status: int = 200) -> tuple[int, dict, str]:
    return status, {}, json.dumps(body)


class FakeCommercetools:
    def __init__(self, mock: responses.RequestsMock) -> None:
        self.custom_objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.resources: dict[str, dict[str, dict[str, Any]]] = {
            "cart-discounts": {},
            "discount-codes": {},
            "customers": {},
        }
        self.used_codes: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.failing: dict[str, int] = {}
        mock.add(
            responses.POST,
            f"{AUTH}/oauth/token",
            json={"access_token": "t", "expires_in": 3600, "token_type": "Bearer"},
        )
        pattern = re.compile(re.escape(BASE) + r"/.*")
        for method in (responses.GET, responses.POST, responses.DELETE):
            mock.add_callback(method, pattern, callback=self._dispatch)

    def client(self) -> CommercetoolsClient:
        return CommercetoolsClient(
            project_key=PROJECT,
            client_id="c",
            client_secret="s",
            scope=f"manage_project:{PROJECT}",
            api_url=API,
            auth_url=AUTH,
            max_retries=0,
        )

    def add_customer(self, email: str) -> dict[str, Any]:
        customer = {"id": str(uuid.uuid4()), "version": 1, "email": email}
        self.resources["customers"][customer["id"]] = customer
        return customer

    def created(self, resource: str) -> int:
        return self.calls[f"POST {resource}"]

    # --- dispatch ---------------------------------------------------------------------------
    def _dispatch(self, request: Any) -> tuple[int, dict, str]:
        url = urlsplit(request.url)
        parts = [unquote(p) for p in url.path[len(f"/{PROJECT}/") :].split("/")]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.loads(request.body) if request.body else None
        resource = parts[0]
        if len(parts) == 1 and request.method == "POST":
            self.calls[f"POST {resource}"] += 1
        failing = self.failing.get(resource, 0)
        if failing:
            self.failing[resource] = failing - 1
            return _error(503, "ServiceUnavailable", "unavailable")
        if resource == "custom-objects":
            return self._custom_object(request.method, parts[1:], body)
        if resource == "orders":
            return self._orders(query)
        if resource == "customers" and len(parts) == 1:
            return self._customers(query)
        return self._resource(request.method, resource, parts[1:], body)

    def _custom_object(self, method: str, rest: list[str], body: Any) -> tuple[int, dict, str]:
        if method == "GET":
            found = self.custom_objects.get((rest[0], rest[1]))
            return _ok(found) if found else _error(404, "ResourceNotFound", "not found")
        key = (body["container"], body["key"])
        current = self.custom_objects.get(key)
        version = body.get("version")
        if version is not None and (
            (version == 0 and current is not None)
            or (version != 0 and (current is None or current["version"] != version))
        ):
            return _error(
                409,
                "ConcurrentModification",
                "version mismatch",
                currentVersion=current["version"] if current else None,
            )
        stored = {
            "id": current["id"] if current else str(uuid.uuid4()),
            "container": key[0],
            "key": key[1],
            "value": body["value"],
            "version": (current["version"] + 1) if current else 1,
        }
        self.custom_objects[key] = stored
        return _ok(stored, 201 if current is None else 200)

    def _orders(self, query: dict[str, str]) -> tuple[int, dict, str]:
        match = re.search(r'id = "([^"]+)"', query.get("where", ""))
        used = bool(match and match.group(1) in self.used_codes)
        return _ok({"results": [{"id": "o1"}] if used else [], "count": int(used)})

    def _customers(self, query: dict[str, str]) -> tuple[int, dict, str]:
        emails = re.findall(r'"([^"]+)"', query.get("where", ""))
        found = [c for c in self.resources["customers"].values() if c["email"] in emails]
        return _ok({"results": found, "count": len(found)})

    def _resource(
        self, method: str, resource: str, rest: list[str], body: Any
    ) -> tuple[int, dict, str]:
        store = self.resources[resource]
        if not rest and method == "POST":
            for existing in store.values():
                for field in ("key", "code", "sortOrder"):
                    if field in body and existing.get(field) == body[field]:
                        return _error(400, "DuplicateField", f"{field} taken", field=field)
            created = {"id": str(uuid.uuid4()), "version": 1, **body}
            store[created["id"]] = created
            return _ok(created, 201)
        ident = rest[0]
        if ident.startswith("key="):
            found = next((r for r in store.values() if r.get("key") == ident[4:]), None)
        else:
            found = store.get(ident)
        if found is None:
            return _error(404, "ResourceNotFound", f"{resource} {ident} not found")
        if method == "POST":
            if body["version"] != found["version"]:
                return _error(
                    409, "ConcurrentModification", "stale", currentVersion=found["version"]
                )
            for action in body["actions"]:
                if action["action"] == "changeIsActive":
                    found["isActive"] = action["isActive"]
            found["version"] += 1
        return _ok(found)
