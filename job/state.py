"""A task's lock and cursor: one custom object (container `yotpo-loyalty-job`) per task.

Nothing stops a scheduler from starting two runs at once (two instances, a retry, an operator's
manual run), so every run first takes the task's lock: a compare-and-set on the object's
version, which exactly one of two racing runners wins. The lock carries an expiry, renewed at
each checkpoint, so a crashed run frees it without an operator. The cursor lives in the same
object and is only ever written together with the lock (same compare-and-set): a runner that
lost its lock — it stalled past the expiry and someone took over — finds out at its next
checkpoint (409) and stops, so two runners never move one cursor.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.commercetools import CommercetoolsClient
from shared.domain.customers.writeback_diff import format_datetime, parse_datetime
from shared.errors import ConcurrentModificationError, TransientError
from shared.logs import log_event

logger = logging.getLogger(__name__)

JOB_CONTAINER = "yotpo-loyalty-job"
DEFAULT_LOCK_LEASE_SECONDS = 120.0


class AlreadyRunning(Exception):
    """Another runner holds the task's lock (not an error: the work is being done)."""

    def __init__(self, key: str, expires_at: str | None) -> None:
        super().__init__(f"{key} is already running (lock until {expires_at or 'now'})")
        self.expires_at = expires_at


class LockLost(TransientError):
    """Our lock expired and another runner took the task over: stop without writing."""


class TaskCheckpoint:
    def __init__(
        self,
        commercetools: CommercetoolsClient,
        key: str,
        *,
        lease_seconds: float = DEFAULT_LOCK_LEASE_SECONDS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        owner: str | None = None,
    ) -> None:
        self._ct = commercetools
        self.key = key
        self._lease = timedelta(seconds=lease_seconds)
        self._now = now
        self.owner = owner or uuid.uuid4().hex
        self._version: int | None = None

    def peek(self) -> dict[str, Any]:
        """The cursor as stored, without taking the lock (dry runs, status)."""
        found = self._ct.get_custom_object(JOB_CONTAINER, self.key)
        return dict((found or {}).get("value", {}).get("cursor") or {})

    def acquire(self) -> dict[str, Any]:
        """Take the lock; the stored cursor (empty the first time). Raises AlreadyRunning."""
        found = self._ct.get_custom_object(JOB_CONTAINER, self.key)
        value = (found or {}).get("value") or {}
        version = int(found["version"]) if found else 0
        lock = value.get("lock") or None
        if lock and lock.get("owner") != self.owner:
            expires = parse_datetime(lock.get("expiresAt"))
            if expires is not None and expires > self._now():
                raise AlreadyRunning(self.key, lock.get("expiresAt"))
            log_event(
                logger,
                "job.lock_taken_over",
                level=logging.WARNING,
                task=self.key,
                expired_at=lock.get("expiresAt"),
                outcome="taken_over",
            )
        cursor = dict(value.get("cursor") or {})
        try:
            self._version = self._write(cursor, locked=True, version=version)
        except ConcurrentModificationError:
            raise AlreadyRunning(self.key, None) from None
        return cursor

    def save(self, cursor: dict[str, Any]) -> None:
        """Store the cursor and renew the lock. Raises LockLost if someone else wrote."""
        self._version = self._guarded_write(cursor, locked=True)

    def release(self, cursor: dict[str, Any]) -> None:
        """Store the final cursor and free the lock."""
        self._version = self._guarded_write(cursor, locked=False)
        self._version = None

    def _guarded_write(self, cursor: dict[str, Any], *, locked: bool) -> int:
        if self._version is None:
            raise RuntimeError("the lock is not held")
        try:
            return self._write(cursor, locked=locked, version=self._version)
        except ConcurrentModificationError:
            self._version = None
            raise LockLost(f"{self.key}: another runner took the lock over") from None

    def _write(self, cursor: dict[str, Any], *, locked: bool, version: int) -> int:
        lock = (
            {"owner": self.owner, "expiresAt": format_datetime(self._now() + self._lease)}
            if locked
            else None
        )
        stored = self._ct.put_custom_object(
            JOB_CONTAINER, self.key, {"lock": lock, "cursor": cursor}, version=version
        )
        return int(stored["version"])
