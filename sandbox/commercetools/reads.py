"""Reads of the commercetools stand-in: get by id or key, query (`where`, `sort`, `limit` up to
500, `offset` up to 10 000, `withTotal`) and reference expansion
(<https://docs.commercetools.com/api/general-concepts>; the offset limit:
<https://docs.commercetools.com/api/releases/2019-02-21-updated-offset-limit>)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypedDict, Unpack

from sandbox.commercetools.errors import invalid_input
from sandbox.commercetools.kinds import Resource
from sandbox.commercetools.predicates import PredicateError, matches_all
from sandbox.commercetools.state_core import Ident, StateCore
from sandbox.commercetools.store import COLLECTION_OF_TYPE

MAX_LIMIT = 500
MAX_OFFSET = 10_000


class PageQuery(TypedDict, total=False):
    """A query's page parameters (`where`, `sort`, `limit`, `offset`, `withTotal`, `expand`,
    https://docs.commercetools.com/api/general-concepts#query)."""

    where: list[str] | None
    sort: list[str] | None
    limit: int
    offset: int
    with_total: bool
    expand: list[str] | None


class ReadsMixin(StateCore):
    """`GET /{resources}/{id}`, `GET /{resources}/key={key}`, `GET /{resources}`."""

    def get(self, collection: str, ident: Ident, expand: list[str] | None = None) -> Resource:
        with self.store.lock:
            resource = self.load(collection, ident)
            self._expand(resource, expand or [])
        return resource

    def query(
        self, collection: str, *, container: str | None = None, **params: Unpack[PageQuery]
    ) -> dict[str, Any]:
        with self.store.lock:
            candidates = [
                _queryable(collection, r)
                for r in self.store.scan(collection)
                if container is None or r.get("container") == container
            ]
            return self.expanded_page(candidates, params, serve=lambda r: _served(collection, r))

    def expanded_page(
        self,
        candidates: list[Resource],
        params: PageQuery,
        serve: Callable[[Resource], Resource] | None = None,
    ) -> dict[str, Any]:
        """One page of `candidates` (`select_page`), each result served (`serve`) and its
        references expanded; the caller holds the store's lock."""
        page = select_page(
            candidates,
            where=params.get("where"),
            sort=params.get("sort"),
            limit=params.get("limit", 20),
            offset=params.get("offset", 0),
            with_total=params.get("with_total", True),
        )
        if serve is not None:
            page["results"] = [serve(r) for r in page["results"]]
        for resource in page["results"]:
            self._expand(resource, params.get("expand") or [])
        return page

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


def select_page(
    candidates: list[Resource],
    *,
    where: list[str] | None,
    sort: list[str] | None,
    limit: int,
    offset: int,
    with_total: bool,
) -> dict[str, Any]:
    """One page of a query over `candidates`: `{limit, offset, count, total?, results}`
    (PagedQueryResponse), the results deep copies in `sort` order."""
    if not 0 <= limit <= MAX_LIMIT:
        raise invalid_input(f"The limit must be between 0 and {MAX_LIMIT}.")
    if not 0 <= offset <= MAX_OFFSET:
        raise invalid_input(f"The offset must be between 0 and {MAX_OFFSET}.")
    orderings = [_ordering(s) for s in sort or []]
    try:
        selected = [r for r in candidates if matches_all(where or [], r)]
    except PredicateError as exc:
        raise invalid_input(f"Malformed parameter: where: {exc}") from None
    for path, descending in reversed(orderings):
        selected.sort(key=lambda r, p=path: _sort_key(r, p), reverse=descending)
    page = [copy.deepcopy(r) for r in selected[offset : offset + limit]]
    result: dict[str, Any] = {"limit": limit, "offset": offset, "count": len(page)}
    if with_total:
        result["total"] = len(selected)
    result["results"] = page
    return result


_QUERY_ONLY_FIELDS = ("lowercaseEmail",)


def _served(collection: str, resource: Resource) -> Resource:
    """A query result without the fields only predicates see."""
    if collection != "customers":
        return resource
    return {k: v for k, v in resource.items() if k not in _QUERY_ONLY_FIELDS}


def _queryable(collection: str, resource: Resource) -> Resource:
    """What a query predicate sees: `lowercaseEmail` is a query-only field of customers
    (not in the Customer representation; the JVM SDK's CustomerQueryModel says so)."""
    if collection == "customers" and isinstance(resource.get("email"), str):
        return {**resource, "lowercaseEmail": resource["email"].lower()}
    return resource


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
