"""Custom objects of the commercetools stand-in: put (create or replace, `null` fields
dropped, the version checked against an existing object only), get and delete by container
and key (RAML `resources/custom-objects.raml`)."""

from __future__ import annotations

from typing import Any

from sandbox.commercetools.errors import invalid_input, invalid_json, not_found, required_field
from sandbox.commercetools.kinds import Kind, Resource
from sandbox.commercetools.state_core import StateCore

_CUSTOM_OBJECT_PART = "^[-_~.a-zA-Z0-9]+$"


class CustomObjectsMixin(StateCore):
    """`POST /custom-objects`, `GET` and `DELETE /custom-objects/{container}/{key}`."""

    def put_custom_object(self, draft: dict[str, Any]) -> tuple[Resource, bool]:
        """(object, created) for `{container, key, value, version?}`."""
        container, key = draft.get("container"), draft.get("key")
        for name, part in (("container", container), ("key", key)):
            if not isinstance(part, str) or not _valid_part(part):
                raise invalid_input(f"'{name}' must match {_CUSTOM_OBJECT_PART}.")
        if "value" not in draft:
            raise required_field("value")
        version = draft.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise invalid_json("'version' must be an integer.")
        kind = Kind("custom-objects", "key-value-document", lambda d, c: {})
        # "Fields within `value` that have `null` values are not saved." and an existing
        # object "will be replaced with the new value and the version is incremented"; the
        # version check applies to an existing object only (RAML resources/custom-objects.raml,
        # POST /{projectKey}/custom-objects).
        value = without_nulls(draft["value"])
        with self.store.lock:
            existing = self.store.find("custom-objects", "container/key", (container, key))
            if existing is None:
                resource = self._new({"container": container, "key": key, "value": value})
                deliveries = self._commit(kind, resource, [], created=True)
                created = True
            else:
                if version is not None:
                    self._check_version(existing, version)
                resource = {**existing, "value": value}
                self._advance(resource)
                deliveries = self._commit(kind, resource, [], old_version=existing["version"])
                created = False
        self._dispatch(deliveries)
        return resource, created

    def get_custom_object(self, container: str, key: str) -> Resource:
        found = self.store.find("custom-objects", "container/key", (container, key))
        if found is None:
            raise not_found(
                f"The CustomObject with container '{container}' and key '{key}' was not found."
            )
        return found

    def delete_custom_object(self, container: str, key: str, version: int | None) -> Resource:
        with self.store.lock:
            stored = self.get_custom_object(container, key)
            if version is not None:
                self._check_version(stored, version)
            self.store.remove("custom-objects", stored["id"])
            deliveries = self._deleted("key-value-document", stored)
        self._dispatch(deliveries)
        return stored


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _valid_part(value: str) -> bool:
    return bool(value) and all(c.isascii() and (c.isalnum() or c in "-_~.") for c in value)
