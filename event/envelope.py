"""The Pub/Sub push envelope and the commercetools notification inside it.

Two kinds of bad input, two answers. A body that is not a Pub/Sub push envelope at all is a
400 (`EnvelopeError`): Pub/Sub never sends one. An envelope whose message cannot be read —
data that is not base64 JSON, JSON nested deeper than the parser goes, not an object — is a
*malformed message*: it is parsed into a `Delivery` with `malformed` set, so the processor can
dead-letter and acknowledge it; answering 4xx would make Pub/Sub deliver it forever.
Everything from the envelope that reaches a log line, a header or a custom-object key is
bounded and sanitised here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.domain import values

# A Pub/Sub message id is a decimal number; anything else is kept readable but bounded.
_ID_UNSAFE = re.compile(r"[^-_.a-zA-Z0-9]")
_ID_SHOWN = 64
# googclient_deliveryattempt is a small positive decimal integer; int() also takes "²" and
# 5,000-digit strings, which must not become an exception (or a slow conversion).
_ATTEMPT = re.compile(r"^[0-9]{1,9}$")


class EnvelopeError(ValueError):
    """The body is not a Pub/Sub push envelope carrying a commercetools notification."""


def _lenient_attempt(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 10**9 else None
    if isinstance(value, str) and _ATTEMPT.match(value):
        return int(value) or None
    return None


class PushMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    data: str = Field(min_length=1)
    attributes: dict[str, Any] = Field(default_factory=dict)
    message_id: str = Field(alias="messageId", min_length=1)
    publish_time: str | None = Field(default=None, alias="publishTime")

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {}

    @field_validator("publish_time", mode="before")
    @classmethod
    def _publish_time(cls, value: Any) -> Any:
        return value if isinstance(value, str) else None


class PushEnvelope(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    message: PushMessage
    subscription: str = ""
    delivery_attempt: int | None = Field(default=None, alias="deliveryAttempt")

    @field_validator("delivery_attempt", mode="before")
    @classmethod
    def _attempt(cls, value: Any) -> int | None:
        return _lenient_attempt(value)

    @field_validator("subscription", mode="before")
    @classmethod
    def _subscription(cls, value: Any) -> str:
        return _text(value, 512)


def safe_message_id(message_id: str) -> str:
    """The message id as it may appear in a header or a log line: safe characters, bounded.

    A real Pub/Sub id passes unchanged; anything else keeps a readable prefix plus a hash of
    the whole id, so two ids never look alike after sanitising.
    """
    if len(message_id) <= _ID_SHOWN and not _ID_UNSAFE.search(message_id):
        return message_id
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{_ID_UNSAFE.sub('_', message_id[:32])}~{digest}"


def correlation_for(message_id: str) -> str:
    """The correlation id of a delivery without one of its own (what operators search by)."""
    return f"msg-{safe_message_id(message_id)}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = 256) -> str:
    # Operators' references (logs, dead letters) always carry the field: "" when absent.
    return values.text(value, limit=limit) or ""


class Delivery(BaseModel):
    """One delivery of one commercetools notification."""

    message_id: str
    subscription: str
    delivery_attempt: int | None
    notification: dict[str, Any]
    publish_time: datetime | None = None
    # Why the message cannot be read (None: it can). Set by `parse_delivery`.
    malformed: str | None = None

    @property
    def safe_id(self) -> str:
        return safe_message_id(self.message_id)

    @property
    def notification_type(self) -> str:
        return _text(self.notification.get("notificationType"))

    @property
    def message_type(self) -> str:
        payload_missing = _dict(self.notification.get("payloadNotIncluded"))
        return _text(self.notification.get("type")) or _text(payload_missing.get("payloadType"))

    @property
    def resource(self) -> tuple[str, str]:
        ref = _dict(self.notification.get("resource"))
        return _text(ref.get("typeId")), _text(ref.get("id"))

    @property
    def reference(self) -> dict[str, Any]:
        """What identifies this delivery for operators (dead letters, logs); bounded."""
        type_id, resource_id = self.resource
        sequence = self.notification.get("sequenceNumber")
        version = self.notification.get("resourceVersion")
        return {
            "messageId": self.safe_id,
            "notificationId": _text(self.notification.get("id")) or None,
            "type": self.message_type or self.notification_type,
            "resource": {"typeId": type_id, "id": resource_id},
            "sequenceNumber": sequence if isinstance(sequence, int) else None,
            "resourceVersion": version if isinstance(version, int) else None,
        }


def _publish_time(text: str | None) -> datetime | None:
    if not text:
        return None
    # RFC 3339 with up to nanoseconds ("2021-02-26T19:13:55.749123456Z"); Python takes 6 digits.
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        return None
    fraction = (match.group(2) or "")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    try:
        parsed = datetime.fromisoformat(f"{match.group(1)}{fraction}{zone}")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def decode_notification(data: bytes | str) -> tuple[dict[str, Any], str | None]:
    """(notification, None), or ({}, why it cannot be read)."""
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else data
    except (binascii.Error, ValueError):
        return {}, "message data is not base64"
    try:
        notification = json.loads(raw)
    except RecursionError:
        return {}, "message data is JSON nested too deeply"
    except ValueError:  # includes UnicodeDecodeError
        return {}, "message data is not JSON"
    if not isinstance(notification, dict):
        return {}, "message data is not a JSON object"
    return notification, None


def parse_delivery(body: Any) -> Delivery:
    try:
        envelope = PushEnvelope.model_validate(body)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors(include_input=False))
        raise EnvelopeError(f"not a Pub/Sub push envelope (check: {fields})") from None
    notification, malformed = decode_notification(envelope.message.data)
    attempt = envelope.delivery_attempt
    if attempt is None:
        attempt = _lenient_attempt(envelope.message.attributes.get("googclient_deliveryattempt"))
    return Delivery(
        message_id=envelope.message.message_id,
        subscription=envelope.subscription,
        delivery_attempt=attempt,
        notification=notification,
        publish_time=_publish_time(envelope.message.publish_time),
        malformed=malformed,
    )
