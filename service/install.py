"""Install/uninstall of the service app: the cart API Extension and the loyalty cart fields.

`python -m service.install post-deploy` / `pre-undeploy` (the connect.yaml scripts).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.commercetools import CommercetoolsClient
from shared.domain.loyalty_fields import CART_FIELD_DEFINITIONS, OWNED_CART_FIELDS, CartFields
from shared.errors import NotFoundError
from shared.install import (
    InstallError,
    Result,
    connect_variable,
    ensure_by_key,
    ensure_type_fields,
    remove_by_key,
)

if TYPE_CHECKING:
    from service.settings import ServiceSettings

EXTENSION_KEY = "yotpo-loyalty-checkout"
OWN_CART_TYPE_KEY = "yotpo-loyalty-order"
ENDPOINT = "/service"


def _any_field_defined(names: tuple[str, ...]) -> str:
    """`custom(fields(a is defined)) or ...`: `is defined` is safe on resources without custom
    fields, and a condition is a Query Predicate (ExtensionTrigger `condition`,
    https://docs.commercetools.com/api/projects/api-extensions#conditional-triggers;
    https://docs.commercetools.com/api/predicates/query)."""
    return " or ".join(f"custom(fields({name} is defined))" for name in names)


# Only carts that ask for a reward or carry any connector-owned field (or fields pretending to
# be ours) reach the extension at all: a forged owned field always wakes it, and it wipes them.
TRIGGER_CONDITION = _any_field_defined((CartFields.REQUESTED_OPTION, *OWNED_CART_FIELDS))
# Orders whose custom fields carry any connector-owned field: a sealed reward is consumed when
# the order is placed (service/order_guard.py); owned fields without a valid seal refuse it.
ORDER_TRIGGER_CONDITION = _any_field_defined(tuple(OWNED_CART_FIELDS))

# commercetools masks `headerValue` on read ("Partially hidden on retrieval for security
# reasons", AuthorizationHeaderAuthentication), so the deployed secret is recognised by a
# fingerprint the script keeps in a custom object of its own.
INSTALL_CONTAINER = "yotpo-loyalty-install"
SECRET_FINGERPRINT_KEY = "checkout-extension-authorization"
_FINGERPRINT_LABEL = b"yotpo-loyalty/extension-authorization-fingerprint/v1"


def extension_url(service_url: str) -> str:
    url = service_url.rstrip("/")
    return url if url.endswith(ENDPOINT) else url + ENDPOINT


def triggers() -> list[dict[str, Any]]:
    return [
        {
            "resourceTypeId": "cart",
            "actions": ["Create", "Update"],
            "condition": TRIGGER_CONDITION,
        },
        {"resourceTypeId": "order", "actions": ["Create"], "condition": ORDER_TRIGGER_CONDITION},
    ]


def extension_draft(
    url: str,
    authorization: str,
    timeout_ms: int,
    dependencies: tuple[str, ...] = (),
) -> dict[str, Any]:
    draft: dict[str, Any] = {
        "key": EXTENSION_KEY,
        "destination": {
            "type": "HTTP",
            "url": url,
            "authentication": {"type": "AuthorizationHeader", "headerValue": authorization},
        },
        "triggers": triggers(),
        "timeoutInMs": timeout_ms,
    }
    if dependencies:
        # Extensions without dependencies run concurrently and their actions are applied
        # together (Extension Chaining, https://docs.commercetools.com/api/releases/
        # 2026-05-04-added-extension-chaining-to-api-extensions-in-public-beta): a promotions
        # extension setting direct discounts at the same time would overwrite the reward.
        draft["dependencies"] = [{"typeId": "extension", "key": key} for key in dependencies]
    return draft


def secret_fingerprint(authorization: str) -> str:
    """A one-way fingerprint of the Authorization value (not the value: the custom object is
    readable with view_key_value_documents)."""
    return hmac.new(authorization.encode(), _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def _dependency_ids(ct: CommercetoolsClient, keys: tuple[str, ...]) -> list[str]:
    ids = []
    for key in keys:
        try:
            ids.append(ct.get_by_key("extensions", key)["id"])
        except NotFoundError:
            raise InstallError(
                f"EXTENSION_DEPENDENCIES names extension {key!r}, which does not exist"
            ) from None
    return ids


def _extension_changes(
    draft: dict[str, Any], *, secret_changed: bool, dependency_ids: list[str]
) -> Any:
    def actions(existing: dict[str, Any]) -> list[dict[str, Any]]:
        result = []
        current = existing.get("destination") or {}
        wanted = draft["destination"]
        if current.get("url") != wanted["url"] or secret_changed:
            result.append({"action": "changeDestination", "destination": wanted})
        if existing.get("triggers") != draft["triggers"]:
            result.append({"action": "changeTriggers", "triggers": draft["triggers"]})
        if existing.get("timeoutInMs") != draft["timeoutInMs"]:
            result.append({"action": "setTimeoutInMs", "timeoutInMs": draft["timeoutInMs"]})
        present = sorted(d.get("id", "") for d in existing.get("dependencies") or [])
        if present != sorted(dependency_ids):
            result.append(
                {"action": "setDependencies", "dependencies": draft.get("dependencies", [])}
            )
        return result

    return actions


def post_deploy(
    ct: CommercetoolsClient, env: Mapping[str, str], settings: ServiceSettings
) -> dict[str, Result]:
    from service.app import extension_authorization

    type_key = settings.cart_custom_type_key or OWN_CART_TYPE_KEY
    results = {
        "type": ensure_type_fields(
            ct,
            key=type_key,
            name="Loyalty (Yotpo) cart and order fields",
            resource_type_ids=["order"],
            definitions=CART_FIELD_DEFINITIONS,
        )
    }
    authorization = extension_authorization(settings)
    dependencies = settings.dependency_keys()
    draft = extension_draft(
        extension_url(connect_variable("CONNECT_SERVICE_URL", env)),
        authorization,
        settings.extension_timeout_ms,
        dependencies,
    )
    fingerprint = secret_fingerprint(authorization)
    stored = ct.get_custom_object(INSTALL_CONTAINER, SECRET_FINGERPRINT_KEY)
    stored_value = (stored or {}).get("value")
    known = stored_value.get("fingerprint") if isinstance(stored_value, dict) else None
    changes = _extension_changes(
        draft,
        # Unknown (first run of this release) counts as changed: one changeDestination, once.
        secret_changed=known != fingerprint,
        dependency_ids=_dependency_ids(ct, dependencies),
    )
    results["extension"] = ensure_by_key(ct, "extensions", draft, changes)
    if known != fingerprint:
        ct.put_custom_object(
            INSTALL_CONTAINER,
            SECRET_FINGERPRINT_KEY,
            {"fingerprint": fingerprint, "extensionKey": EXTENSION_KEY},
            version=None,
        )
    return results


def pre_undeploy(
    ct: CommercetoolsClient, env: Mapping[str, str], settings: ServiceSettings
) -> dict[str, Result]:
    # The fields stay: orders keep what the checkout recorded on them.
    removed = remove_by_key(ct, "extensions", EXTENSION_KEY)
    stored = ct.get_custom_object(INSTALL_CONTAINER, SECRET_FINGERPRINT_KEY)
    if stored is not None:
        ct.delete_custom_object(INSTALL_CONTAINER, SECRET_FINGERPRINT_KEY)
    return {"extension": removed}


if __name__ == "__main__":
    from service.settings import ServiceSettings
    from shared.install import run_script

    raise SystemExit(
        run_script(
            "service", ServiceSettings, {"post-deploy": post_deploy, "pre-undeploy": pre_undeploy}
        )
    )
