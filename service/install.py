"""Install/uninstall of the service app: the cart API Extension and the loyalty cart fields.

`python -m service.install post-deploy` / `pre-undeploy` (the connect.yaml scripts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.commercetools import CommercetoolsClient
from shared.domain.loyalty_fields import CART_FIELD_DEFINITIONS, CartFields
from shared.install import (
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
# Only carts that ask for a reward or carry one reach the extension at all.
TRIGGER_CONDITION = (
    f"custom(fields({CartFields.REQUESTED_OPTION} is defined)) or "
    f"custom(fields({CartFields.REWARD_CODE} is defined))"
)


def extension_url(service_url: str) -> str:
    url = service_url.rstrip("/")
    return url if url.endswith(ENDPOINT) else url + ENDPOINT


def extension_draft(url: str, authorization: str, timeout_ms: int) -> dict[str, Any]:
    return {
        "key": EXTENSION_KEY,
        "destination": {
            "type": "HTTP",
            "url": url,
            "authentication": {"type": "AuthorizationHeader", "headerValue": authorization},
        },
        "triggers": [
            {
                "resourceTypeId": "cart",
                "actions": ["Create", "Update"],
                "condition": TRIGGER_CONDITION,
            }
        ],
        "timeoutInMs": timeout_ms,
    }


def _extension_changes(draft: dict[str, Any]) -> Any:
    def actions(existing: dict[str, Any]) -> list[dict[str, Any]]:
        result = []
        current = existing.get("destination") or {}
        stored_auth = (current.get("authentication") or {}).get("headerValue")
        wanted = draft["destination"]
        # commercetools may not return the secret; then only the URL can be compared.
        auth_differs = (
            stored_auth is not None and stored_auth != wanted["authentication"]["headerValue"]
        )
        if current.get("url") != wanted["url"] or auth_differs:
            result.append({"action": "changeDestination", "destination": wanted})
        if existing.get("triggers") != draft["triggers"]:
            result.append({"action": "changeTriggers", "triggers": draft["triggers"]})
        if existing.get("timeoutInMs") != draft["timeoutInMs"]:
            result.append({"action": "setTimeoutInMs", "timeoutInMs": draft["timeoutInMs"]})
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
    draft = extension_draft(
        extension_url(connect_variable("CONNECT_SERVICE_URL", env)),
        extension_authorization(settings),
        settings.extension_timeout_ms,
    )
    results["extension"] = ensure_by_key(ct, "extensions", draft, _extension_changes(draft))
    return results


def pre_undeploy(
    ct: CommercetoolsClient, env: Mapping[str, str], settings: ServiceSettings
) -> dict[str, Result]:
    # The fields stay: orders keep what the checkout recorded on them.
    return {"extension": remove_by_key(ct, "extensions", EXTENSION_KEY)}


if __name__ == "__main__":
    from service.settings import ServiceSettings
    from shared.install import run_script

    raise SystemExit(
        run_script(
            "service", ServiceSettings, {"post-deploy": post_deploy, "pre-undeploy": pre_undeploy}
        )
    )
