"""Messages as commercetools records them, and the notifications subscriptions receive.

A message is `{id, version: 1, sequenceNumber, resource, resourceVersion,
resourceUserProvidedIdentifiers, type, createdAt, lastModifiedAt, ...its own fields}`. The
notification put on a Pub/Sub topic is the message plus `notificationType: "Message"` and
`projectKey`; change subscriptions get `ResourceCreated` / `ResourceUpdated` /
`ResourceDeleted` instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

Resource = dict[str, Any]

# Which user-given identifiers a message names its resource by.
_IDENTIFIER_FIELDS = ("key", "orderNumber", "customerNumber", "sku", "slug")


@dataclass(frozen=True)
class MessageDraft:
    type: str
    payload: dict[str, Any] = field(default_factory=dict)


def user_provided_identifiers(resource: Resource) -> dict[str, Any]:
    return {name: resource[name] for name in _IDENTIFIER_FIELDS if resource.get(name) is not None}


def build_message(
    draft: MessageDraft,
    *,
    type_id: str,
    resource: Resource,
    sequence_number: int,
    id: str,
    now: str,
) -> dict[str, Any]:
    return {
        "id": id,
        "version": 1,
        "sequenceNumber": sequence_number,
        "resource": {"typeId": type_id, "id": resource["id"]},
        "resourceVersion": resource["version"],
        "resourceUserProvidedIdentifiers": user_provided_identifiers(resource),
        "type": draft.type,
        "createdAt": now,
        "lastModifiedAt": now,
        **copy.deepcopy(draft.payload),
    }


# What a MessageDeliveryPayload keeps when the message's own fields are left out (RAML
# types/subscription/MessageDeliveryPayload.raml): the envelope, without `type`.
_ENVELOPE_FIELDS = (
    "id",
    "version",
    "sequenceNumber",
    "resource",
    "resourceVersion",
    "resourceUserProvidedIdentifiers",
    "createdAt",
    "lastModifiedAt",
)
PAYLOAD_TOO_LARGE = "Payload too large."


def message_notification(
    message: dict[str, Any], project_key: str, *, left_out: str | None = None
) -> dict[str, Any]:
    """The notification of one message; with `left_out` (a reason), the payload is not
    included: "the reason as well as the value of the `type` field is placed into the
    notification" as `payloadNotIncluded: {reason, payloadType}` and `type` is absent
    (https://docs.commercetools.com/api/releases/2018-06-08-payloadnotincluded; RAML
    PayloadNotIncluded.raml example `{"reason": "Payload too large.", ...}`)."""
    if left_out is None:
        return {"notificationType": "Message", "projectKey": project_key, **message}
    envelope = {k: copy.deepcopy(message[k]) for k in _ENVELOPE_FIELDS if k in message}
    return {
        "notificationType": "Message",
        "projectKey": project_key,
        **envelope,
        "payloadNotIncluded": {"reason": left_out, "payloadType": message["type"]},
    }


def change_notification(
    change: str,
    *,
    type_id: str,
    resource: Resource,
    project_key: str,
    now: str,
    old_version: int | None = None,
) -> dict[str, Any]:
    """ResourceCreated / ResourceUpdated / ResourceDeleted for a change subscription."""
    notification: dict[str, Any] = {
        "notificationType": change,
        "projectKey": project_key,
        "resource": {"typeId": type_id, "id": resource["id"]},
        "resourceUserProvidedIdentifiers": user_provided_identifiers(resource),
        "version": resource["version"],
        "modifiedAt": now,
    }
    if old_version is not None:
        notification["oldVersion"] = old_version
    return notification


def wants_message(subscription: Resource, message: dict[str, Any]) -> bool:
    type_id = message["resource"]["typeId"]
    for wanted in subscription.get("messages") or []:
        if wanted["resourceTypeId"] == type_id:
            types = wanted.get("types") or []
            if not types or message["type"] in types:
                return True
    return False


def wants_change(subscription: Resource, type_id: str) -> bool:
    return any(c["resourceTypeId"] == type_id for c in subscription.get("changes") or [])
