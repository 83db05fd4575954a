"""Failure classes shared by clients and apps.

Every failure is either *transient* (the same work may succeed later: answer non-2xx so
Pub/Sub redelivers, or retry locally) or *permanent* (retrying cannot help: record, log,
acknowledge). Apps decide what to do by catching these two bases only.
"""

from __future__ import annotations

from collections.abc import Sequence


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class TransientError(ConnectorError):
    """Retrying the same work later may succeed (timeouts, 5xx, 429, lost races)."""


class PermanentError(ConnectorError):
    """Retrying the same work cannot succeed until someone fixes data or configuration."""


# --- commercetools -----------------------------------------------------------------------


class CommercetoolsError(ConnectorError):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        codes: Sequence[str] = (),
        errors: Sequence[dict] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.codes = tuple(codes)
        self.errors = tuple(errors)


class CommercetoolsTransientError(CommercetoolsError, TransientError):
    """Connection errors, timeouts, 5xx (after the client's own bounded retries)."""


class CommercetoolsPermanentError(CommercetoolsError, PermanentError):
    """A 4xx other than 404/409: the request itself is wrong (codes carry the reasons)."""


class NotFoundError(CommercetoolsPermanentError):
    """404: the resource does not exist (callers often treat this as an expected answer)."""


class ConcurrentModificationError(CommercetoolsError, TransientError):
    """409 ConcurrentModification: someone else wrote first; re-read and start again."""

    def __init__(self, message: str, *, current_version: int | None, **kwargs) -> None:
        super().__init__(message, status=409, **kwargs)
        self.current_version = current_version


# --- Yotpo -------------------------------------------------------------------------------


class YotpoError(ConnectorError):
    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class YotpoTransientError(YotpoError, TransientError):
    """Timeouts, connection errors, 5xx, 408, 429, or a caller's time budget running out."""


class YotpoPermanentError(YotpoError, PermanentError):
    """4xx other than 408/409/429: Yotpo refuses this request as it is."""


class YotpoAuthError(YotpoPermanentError):
    """401/403: the account's GUID or API key is wrong."""


def describe(exc: BaseException) -> str:
    """An error as operators read it in logs, dead letters and answers: its class and message."""
    return f"{type(exc).__name__}: {exc}"
