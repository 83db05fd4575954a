"""How a Voyado call failed: transient (try again), permanent (it never will), and which."""

from __future__ import annotations

from shared.errors import ConnectorError, PermanentError, TransientError


class VoyadoError(ConnectorError):
    """`status` and Voyado's `error_code` (never the body text: it may echo personal data)."""

    def __init__(
        self, message: str, *, status: int | None = None, error_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class VoyadoTransientError(VoyadoError, TransientError):
    """Timeouts, connection errors, 5xx, 429 or a used-up time budget.

    `maybe_applied`: a write whose answer was lost (timeout, 5xx): Voyado may have acted, so a
    caller that cannot rely on a natural key or idempotency key checks before sending again.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message, status=status, error_code=error_code)
        self.maybe_applied = maybe_applied


class VoyadoRateLimited(VoyadoTransientError):
    """The key's rate limit stopped the call before anything was done; `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0, status: int | None = None):
        super().__init__(message, status=status)
        self.retry_after = max(0.0, retry_after)


class VoyadoPermanentError(VoyadoError, PermanentError):
    """A 4xx: Voyado refuses this request as it is (`error_code` says why)."""


class VoyadoAuthError(VoyadoPermanentError):
    """401/403: the API key is wrong, or the caller's IP is not on the key's allowlist
    (https://help.engage.voyado.com/hc/en-gb/articles/23405185859228-API-connections)."""


class AmbiguousContact(VoyadoPermanentError):
    """409 MultipleMatches: several contacts hold this key; someone must merge them in Engage
    (https://developer.voyado.com/en/contacts/identify-contact/find-contact.html)."""


class SvixVerificationError(PermanentError):
    """A webhook whose Svix signature or timestamp does not verify: refuse it, change nothing."""
