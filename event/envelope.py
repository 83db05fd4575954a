"""The Pub/Sub push envelope and the commercetools notification inside it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class EnvelopeError(ValueError):
    """The body is not a Pub/Sub push envelope carrying a commercetools notification."""


class PushMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    data: str = Field(min_length=1)
    attributes: dict[str, str] = Field(default_factory=dict)
    message_id: str = Field(alias="messageId", min_length=1)
    publish_time: str | None = Field(default=None, alias="publishTime")


class PushEnvelope(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    message: PushMessage
    subscription: str = ""
    delivery_attempt: int | None = Field(default=None, alias="deliveryAttempt")


class Delivery(BaseModel):
    """One delivery of one commercetools notification."""

    message_id: str
    subscription: str
    delivery_attempt: int | None
    notification: dict[str, Any]

    @property
    def notification_type(self) -> str:
        return str(self.notification.get("notificationType", ""))

    @property
    def message_type(self) -> str:
        return str(self.notification.get("type", ""))

    @property
    def resource(self) -> tuple[str, str]:
        ref = self.notification.get("resource") or {}
        return str(ref.get("typeId", "")), str(ref.get("id", ""))

    @property
    def reference(self) -> dict[str, Any]:
        """What identifies this delivery for operators (dead letters, logs)."""
        type_id, resource_id = self.resource
        return {
            "messageId": self.message_id,
            "notificationId": self.notification.get("id"),
            "type": self.message_type or self.notification_type,
            "resource": {"typeId": type_id, "id": resource_id},
            "sequenceNumber": self.notification.get("sequenceNumber"),
            "resourceVersion": self.notification.get("resourceVersion"),
        }


def parse_delivery(body: Any) -> Delivery:
    try:
        envelope = PushEnvelope.model_validate(body)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors(include_input=False))
        raise EnvelopeError(f"not a Pub/Sub push envelope (check: {fields})") from None
    try:
        decoded = base64.b64decode(envelope.message.data, validate=True)
        notification = json.loads(decoded)
    except (binascii.Error, ValueError):
        raise EnvelopeError("message.data is not base64-encoded JSON") from None
    if not isinstance(notification, dict):
        raise EnvelopeError("message.data must decode to a JSON object")
    attempt = envelope.delivery_attempt
    if attempt is None:
        raw = envelope.message.attributes.get("googclient_deliveryattempt")
        attempt = int(raw) if raw and raw.isdigit() else None
    return Delivery(
        message_id=envelope.message.message_id,
        subscription=envelope.subscription,
        delivery_attempt=attempt,
        notification=notification,
    )
