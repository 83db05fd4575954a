"""The Voyado Engage contract fixtures (`tests/contracts/voyado/*.json`): one file per endpoint
or webhook, each naming the documentation page it comes from (`source`, and `also`).

The stand-in's tests (`tests/sandbox/test_voyado_*.py`) send each fixture's request to the
running stand-in and compare the answer with the fixture's; the Voyado client's tests can send
the same requests and read the same answers, so client and stand-in are checked against one
description of Voyado without sharing code.

Request values may hold `{placeholders}` (e.g. `{contactId}`); `fill` substitutes them. A
string that is only a placeholder takes the value's own JSON type.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from tests.contracts.fixture_files import fresh, load_folder

FIXTURES = Path(__file__).parent / "voyado"
_ONLY = re.compile(r"^\{(\w+)\}$")
_ANY = re.compile(r"\{(\w+)\}")


@cache
def _load_all() -> dict[str, dict[str, Any]]:
    return load_folder(FIXTURES)


def fixture(name: str) -> dict[str, Any]:
    return fresh(_load_all()[name])


def all_names() -> list[str]:
    return list(_load_all())


def endpoint_names() -> list[str]:
    return [n for n, f in _load_all().items() if f["kind"] == "endpoint"]


def webhook_names() -> list[str]:
    return [n for n, f in _load_all().items() if f["kind"] == "webhook"]


def placeholders(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    if isinstance(value, str):
        return set(_ANY.findall(value))
    return set()


def fill(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: fill(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, params) for v in value]
    if isinstance(value, str):
        whole = _ONLY.match(value)
        if whole and whole.group(1) in params:
            return params[whole.group(1)]
        return _ANY.sub(lambda m: str(params.get(m.group(1), m.group(0))), value)
    return value


def request_path(f: dict[str, Any], params: dict[str, Any]) -> str:
    return str(fill(f["path"], params))


def shape(value: Any) -> Any:
    """A JSON value reduced to its type skeleton (None matches anything)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"


def differences(expected: Any, actual: Any, at: str = "$") -> list[str]:
    """Where `actual` lacks a key of `expected` or has another JSON type (None in `expected`
    or `actual` matches anything)."""
    if expected is None or actual is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{at}: expected an object, got {type(actual).__name__}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{at}.{key}: missing")
            else:
                problems += differences(value, actual[key], f"{at}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{at}: expected an array, got {type(actual).__name__}"]
        if expected and actual:
            return differences(expected[0], actual[0], f"{at}[0]")
        return []
    if shape(expected) != shape(actual):
        return [f"{at}: expected {shape(expected)}, got {shape(actual)} ({actual!r})"]
    return []
