"""How a resource kind is created and updated: pure functions over plain JSON objects.

An action function changes the (copied) resource in place and reports messages through
`emit(type, **fields)`; the stand-in assigns ids, versions and sequence numbers afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.errors import ApiError, invalid_input, invalid_json, required_field

Resource = dict[str, Any]
Build = Callable[[dict[str, Any], Context], Resource]
Action = Callable[[Resource, dict[str, Any], Context, MessageSink], None]
ApplyAll = Callable[[Resource, list[dict[str, Any]], Context, MessageSink], None]

_KEY = re.compile(r"^[A-Za-z0-9_\-]{2,256}$")


@dataclass(frozen=True)
class Kind:
    collection: str
    type_id: str
    build: Build
    actions: Mapping[str, Action] = field(default_factory=dict)
    # The message a creation emits, and the field of it holding the new resource.
    created_message: tuple[str, str] | None = None
    # Replaces the plain loop over `actions` when a kind checks or derives more (carts).
    apply_all: ApplyAll | None = None

    def apply(
        self, resource: Resource, actions: list[dict[str, Any]], ctx: Context, emit: MessageSink
    ) -> None:
        if self.apply_all is not None:
            self.apply_all(resource, actions, ctx, emit)
            return
        for action in actions:
            handler = self.actions.get(action.get("action", ""))
            if handler is None:
                raise unknown_action(action)
            handler(resource, action, ctx, emit)


def unknown_action(action: Any) -> ApiError:
    name = action.get("action") if isinstance(action, dict) else action
    return invalid_input(f"Unknown update action '{name}'.")


def required(draft: Mapping[str, Any], name: str) -> Any:
    value = draft.get(name)
    if value is None:
        raise required_field(name)
    return value


def text(draft: Mapping[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = draft.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        if value is None:
            raise required_field(name)
        raise invalid_json(f"'{name}' must be a string.")
    return value


def checked_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _KEY.match(value):
        raise invalid_input(
            f"'{value}' is not a valid key (2-256 of A-Z a-z 0-9 _ -).", field="key"
        )
    return value


def choice(value: Any, allowed: frozenset[str], name: str) -> str:
    if value not in allowed:
        raise invalid_json(
            f"Request body does not contain valid JSON: '{name}' must be one of "
            f"{', '.join(sorted(allowed))}."
        )
    return str(value)


def set_key(resource: Resource, action: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    key = checked_key(action.get("key"))
    if key is None:
        resource.pop("key", None)
    else:
        resource["key"] = key


def set_or_drop(resource: Resource, name: str, value: Any) -> None:
    if value is None:
        resource.pop(name, None)
    else:
        resource[name] = value


def reference(type_id: str, resource: Resource) -> dict[str, Any]:
    return {"typeId": type_id, "id": resource["id"]}
