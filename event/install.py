"""Install/uninstall of the event app: the Subscription that feeds Connect's Pub/Sub topic.

`python -m event.install post-deploy` / `pre-undeploy` (the connect.yaml scripts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from event.routing import HANDLED_MESSAGE_TYPES
from shared.commercetools import CommercetoolsClient
from shared.install import Result, connect_variable, ensure_by_key, remove_by_key

SUBSCRIPTION_KEY = "yotpo-loyalty-events"


def subscription_draft(project_id: str, topic: str) -> dict[str, Any]:
    return {
        "key": SUBSCRIPTION_KEY,
        "destination": {"type": "GoogleCloudPubSub", "projectId": project_id, "topic": topic},
        "messages": [
            {"resourceTypeId": type_id, "types": sorted(types)}
            for type_id, types in sorted(HANDLED_MESSAGE_TYPES.items())
        ],
    }


def _changes(draft: dict[str, Any]) -> Any:
    def actions(existing: dict[str, Any]) -> list[dict[str, Any]]:
        result = []
        if existing.get("destination") != draft["destination"]:
            result.append({"action": "changeDestination", "destination": draft["destination"]})
        current = sorted(
            (m["resourceTypeId"], sorted(m.get("types") or []))
            for m in existing.get("messages") or []
        )
        wanted = sorted((m["resourceTypeId"], m["types"]) for m in draft["messages"])
        if current != wanted:
            result.append({"action": "setMessages", "messages": draft["messages"]})
        return result

    return actions


def post_deploy(ct: CommercetoolsClient, env: Mapping[str, str], settings: object = None) -> Result:
    draft = subscription_draft(
        connect_variable("CONNECT_GCP_PROJECT_ID", env),
        connect_variable("CONNECT_GCP_TOPIC_NAME", env),
    )
    return ensure_by_key(ct, "subscriptions", draft, _changes(draft))


def pre_undeploy(
    ct: CommercetoolsClient, env: Mapping[str, str], settings: object = None
) -> Result:
    return remove_by_key(ct, "subscriptions", SUBSCRIPTION_KEY)


if __name__ == "__main__":
    from event.settings import EventSettings
    from shared.install import run_script

    raise SystemExit(
        run_script(
            "event", EventSettings, {"post-deploy": post_deploy, "pre-undeploy": pre_undeploy}
        )
    )
