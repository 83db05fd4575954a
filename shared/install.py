"""The one helper every post-deploy / pre-undeploy script uses.

Resources are found by key and changed in place: deleting and recreating an extension or a
subscription would leave live carts or messages without it for a while. Running a script twice
changes nothing the second time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

from shared.commercetools import CommercetoolsClient
from shared.errors import NotFoundError
from shared.logs import log_event

logger = logging.getLogger(__name__)

Result = Literal["created", "updated", "unchanged", "removed", "absent"]


class InstallError(Exception):
    """A deploy script cannot run: say what is missing."""


def connect_variable(name: str, env: Mapping[str, str] | None = None) -> str:
    """A variable Connect (or the deploy script) injects, e.g. CONNECT_SERVICE_URL."""
    value = (env if env is not None else os.environ).get(name, "").strip()
    if not value:
        raise InstallError(f"{name} is not set; Connect (or deploy/deploy.sh) provides it")
    return value


def ensure_by_key(
    ct: CommercetoolsClient,
    resource: str,
    draft: dict[str, Any],
    update_actions: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> Result:
    """Create `draft` if no resource has its key, else apply only the actions that differ."""
    key = draft["key"]
    try:
        existing = ct.get_by_key(resource, key)
    except NotFoundError:
        ct.create(resource, draft)
        log_event(logger, "install.created", resource=resource, key=key, outcome="created")
        return "created"
    actions = update_actions(existing)
    if not actions:
        log_event(logger, "install.unchanged", resource=resource, key=key, outcome="unchanged")
        return "unchanged"
    ct.update_by_key(resource, key, existing["version"], actions)
    log_event(
        logger,
        "install.updated",
        resource=resource,
        key=key,
        actions=[a["action"] for a in actions],
        outcome="updated",
    )
    return "updated"


def remove_by_key(ct: CommercetoolsClient, resource: str, key: str) -> Result:
    try:
        existing = ct.get_by_key(resource, key)
    except NotFoundError:
        return "absent"
    ct.delete_by_key(resource, key, existing["version"])
    log_event(logger, "install.removed", resource=resource, key=key, outcome="removed")
    return "removed"


Script = Callable[[CommercetoolsClient, Mapping[str, str], Any], Any]


def run_script(
    app_name: str,
    settings_cls: type,
    scripts: Mapping[str, Script],
    argv: list[str] | None = None,
) -> int:
    """`python -m <app>.install post-deploy|pre-undeploy`: load settings, run, report."""
    import argparse
    import sys

    from shared.boot import load_or_exit
    from shared.runtime import commercetools_client

    parser = argparse.ArgumentParser(prog=f"python -m {app_name}.install")
    parser.add_argument("step", choices=sorted(scripts))
    args = parser.parse_args(argv)
    settings = load_or_exit(app_name, settings_cls)
    try:
        result = scripts[args.step](commercetools_client(settings), os.environ, settings)
    except InstallError as exc:
        print(f"{app_name} {args.step}: {exc}", file=sys.stderr)
        return 2
    print(f"{app_name} {args.step}: {result}")
    return 0


def ensure_type_fields(
    ct: CommercetoolsClient,
    *,
    key: str,
    name: str,
    resource_type_ids: list[str],
    definitions: tuple[dict[str, Any], ...] | list[dict[str, Any]],
) -> Result:
    """Add the connector's field definitions to type `key` (a merchant's type keeps its own
    fields: a resource has one custom type, so we extend it rather than replace it)."""
    try:
        existing = ct.get_by_key("types", key)
    except NotFoundError:
        draft = {
            "key": key,
            "name": {"en": name},
            "resourceTypeIds": resource_type_ids,
            "fieldDefinitions": list(definitions),
        }
        ct.create("types", draft)
        log_event(logger, "install.created", resource="types", key=key, outcome="created")
        return "created"
    wrong = set(resource_type_ids) - set(existing.get("resourceTypeIds") or [])
    if wrong:
        raise InstallError(
            f"type {key} is not for {', '.join(sorted(wrong))}; configure a type that is"
        )
    present = {f["name"]: f for f in existing.get("fieldDefinitions") or []}
    clashes = [
        d["name"]
        for d in definitions
        if d["name"] in present and present[d["name"]]["type"]["name"] != d["type"]["name"]
    ]
    if clashes:
        raise InstallError(f"type {key} already has fields of another type: {', '.join(clashes)}")
    actions = [
        {"action": "addFieldDefinition", "fieldDefinition": d}
        for d in definitions
        if d["name"] not in present
    ]
    if not actions:
        return "unchanged"
    ct.update_by_key("types", key, existing["version"], actions)
    log_event(
        logger, "install.updated", resource="types", key=key, added=len(actions), outcome="updated"
    )
    return "updated"
