"""The Yotpo contract fixtures (`tests/contracts/yotpo/*.json`): one file per endpoint or
webhook the connector uses, each naming the documentation page it comes from.

The client's tests (`test_client_contract.py`) send the fixture requests and read the fixture
answers; the stand-in's tests (`test_standin_contract.py`) answer the same requests and must
produce the same shapes; the webhook receiver's tests (`tests/webhooks/`) take the same
payloads. One set of fixtures, so the three cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from tests.contracts.fixture_files import fresh, load_folder

FIXTURES = Path(__file__).parent / "yotpo"


@cache
def _load_all() -> dict[str, dict[str, Any]]:
    return load_folder(FIXTURES)


def fixture(name: str) -> dict[str, Any]:
    return fresh(_load_all()[name])


def endpoint_names() -> list[str]:
    return [n for n, f in _load_all().items() if f["kind"] == "endpoint"]


def webhook_names() -> list[str]:
    return [n for n, f in _load_all().items() if f["kind"] == "webhook"]


def all_names() -> list[str]:
    return list(_load_all())


def request_path(f: dict[str, Any], **params: Any) -> str:
    """The fixture's path with its `{placeholders}` filled (fixture values unless given)."""
    values = {**f.get("path_params", {}), **params}
    return f["path"].format(**values)


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


def same_kind(expected: Any, actual: Any, loose: frozenset[str] = frozenset()) -> list[str]:
    """Where `actual` has another JSON type than `expected` (keys of `expected` only; keys in
    `loose` may be a string or a number, where the docs and real answers disagree)."""
    problems: list[str] = []

    def walk(e: Any, a: Any, at: str) -> None:
        if e is None or a is None:
            return
        if at.rsplit(".", 1)[-1] in loose and shape(e) in ("string", "number"):
            if shape(a) not in ("string", "number"):
                problems.append(f"{at}: expected a string or number, got {a!r}")
            return
        if isinstance(e, dict):
            if not isinstance(a, dict):
                problems.append(f"{at}: expected an object, got {type(a).__name__}")
                return
            for key, value in e.items():
                if key in a:
                    walk(value, a[key], f"{at}.{key}")
            return
        if isinstance(e, list):
            if not isinstance(a, list):
                problems.append(f"{at}: expected an array, got {type(a).__name__}")
            elif e and a:
                walk(e[0], a[0], f"{at}[0]")
            return
        if shape(e) != shape(a):
            problems.append(f"{at}: expected {shape(e)}, got {shape(a)} ({a!r})")

    walk(expected, actual, "$")
    return problems
