"""Literals of commercetools' query predicate language. Pure.

One escaping rule for every predicate the connector writes, whether it is sent as a `where`
(`shared.commercetools` re-exports these) or stored in a draft (a Discount Code's
`cartPredicate`, built in the pure core): inside double quotes a backslash and a double quote
are escaped with a backslash, so no value can close the literal and add a clause
(https://docs.commercetools.com/api/predicates/query#string-literals).
"""

from __future__ import annotations

from collections.abc import Iterable


def literal(value: str) -> str:
    """`value` as a string literal of the predicate language: `say "hi"` → `"say \\"hi\\""`."""
    if not isinstance(value, str):
        raise TypeError("predicate literals are built from strings only")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def literal_list(values: Iterable[str]) -> str:
    """`("a", "b")`: the right-hand side of an `in` predicate, each value a `literal`."""
    return "(" + ", ".join(literal(v) for v in values) + ")"


def after_id(where: str | None, last_id: str | None) -> str | None:
    """`where` narrowed to resources after `last_id` in id order: an id cursor's page.

    Paging by id rather than offset, because commercetools stops offsets at 10,000
    (https://docs.commercetools.com/api/general-concepts#offset).
    """
    cursor = f"id > {literal(last_id)}" if last_id else None
    if where and cursor:
        return f"({where}) and {cursor}"
    return cursor or where
