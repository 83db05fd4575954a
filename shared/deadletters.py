"""Failure records: how often a message failed, and the messages given up on (dead letters).

A message that fails transiently is retried by Pub/Sub; its record counts the attempts when the
push carries no delivery attempt of its own. A message that failed permanently, or transiently
too often, becomes a dead letter: acknowledged (no poison loop), kept with its notification and
error so an operator can fix the cause and replay it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.commercetools import CommercetoolsClient
from shared.errors import ConcurrentModificationError

DEAD_LETTER_CONTAINER = "yotpo-loyalty-dead-letters"
_KEY_UNSAFE = re.compile(r"[^-_~.a-zA-Z0-9]")
_WRITE_ATTEMPTS = 5


class FailureRecord(BaseModel):
    message_id: str
    reference: dict[str, Any]
    notification: dict[str, Any]
    status: Literal["retrying", "dead"] = "retrying"
    failure: Literal["transient", "permanent"] = "transient"
    attempts: int = 0
    error: str = ""
    first_seen: datetime = Field(default_factory=lambda: datetime.now(UTC))
    last_seen: datetime = Field(default_factory=lambda: datetime.now(UTC))


def record_key(message_id: str) -> str:
    """The custom-object key of a message's record: a readable prefix and a hash of the id.

    Keys allow only `[-_~.a-zA-Z0-9]`, at most 256 characters
    (https://docs.commercetools.com/api/projects/custom-objects). Replacing the other
    characters alone would give `a b` and `a_b` one record; the hash of the whole
    id keeps every message id apart.
    """
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{_KEY_UNSAFE.sub('_', message_id[:64])}.{digest}"


def _legacy_key(message_id: str) -> str:
    """The key records had before the hash (still read, so old dead letters can be replayed)."""
    return _KEY_UNSAFE.sub("_", message_id)[:256] or "unknown"


class DeadLetterStore:
    def __init__(self, commercetools: CommercetoolsClient) -> None:
        self._ct = commercetools

    def count_failure(
        self,
        message_id: str,
        reference: dict[str, Any],
        notification: dict[str, Any],
        error: str,
    ) -> FailureRecord:
        """Count one more transient failure of this message; the updated record."""
        return self._update(
            message_id,
            reference,
            notification,
            lambda r: r.model_copy(update={"attempts": r.attempts + 1, "error": error}),
        )

    def bury(
        self,
        message_id: str,
        reference: dict[str, Any],
        notification: dict[str, Any],
        *,
        error: str,
        failure: Literal["transient", "permanent"],
        attempts: int,
    ) -> FailureRecord:
        return self._update(
            message_id,
            reference,
            notification,
            lambda r: r.model_copy(
                update={
                    "status": "dead",
                    "failure": failure,
                    "error": error,
                    "attempts": max(attempts, r.attempts),
                }
            ),
        )

    def dead_letters(self) -> Iterator[FailureRecord]:
        # The per-container endpoint: querying across containers is deprecated
        # (https://docs.commercetools.com/api/projects/custom-objects).
        for obj in self._ct.iterate(
            f"custom-objects/{DEAD_LETTER_CONTAINER}", where='value(status = "dead")'
        ):
            yield FailureRecord.model_validate(obj["value"])

    def forget(self, message_id: str) -> None:
        """Drop the record once the message went through (no-op when there is none)."""
        for key in (record_key(message_id), _legacy_key(message_id)):
            found = self._ct.get_custom_object(DEAD_LETTER_CONTAINER, key)
            # A legacy key may belong to another id that sanitised alike: check whose it is.
            if found is not None and (found.get("value") or {}).get("message_id") == message_id:
                self._ct.delete_custom_object(DEAD_LETTER_CONTAINER, key)

    def _update(
        self,
        message_id: str,
        reference: dict[str, Any],
        notification: dict[str, Any],
        change: Callable[[FailureRecord], FailureRecord],
    ) -> FailureRecord:
        key = record_key(message_id)
        for _ in range(_WRITE_ATTEMPTS):
            found = self._ct.get_custom_object(DEAD_LETTER_CONTAINER, key)
            if found is None:
                current = FailureRecord(
                    message_id=message_id, reference=reference, notification=notification
                )
                version = 0
            else:
                current = FailureRecord.model_validate(found["value"])
                version = int(found["version"])
            updated = change(current).model_copy(update={"last_seen": datetime.now(UTC)})
            try:
                self._ct.put_custom_object(
                    DEAD_LETTER_CONTAINER, key, updated.model_dump(mode="json"), version=version
                )
            except ConcurrentModificationError:
                continue
            return updated
        raise ConcurrentModificationError(
            f"failure record {key} kept changing under us", current_version=None
        )
