"""The provider port, I/O half: what the reconciler and the write-back ask of a loyalty
provider's adapter (rewards redeemed at checkout and the till: `shared/providers/rewards.py`).

An adapter wraps its provider's client (its own rate limiter, time budget and error taxonomy)
and pairs it with the provider's pure renderer (`shared/domain/providers/`). The reconciler
only ever sends bodies the renderer produced and the ledger pinned: `send(kind, payload)`
takes the pinned body, never a neutral operation, so what is sent is what the ledger shows.

Errors are the project's (`shared/errors.py`): a `TransientError` means "try again later"
(the operation is handed back), a `PermanentError` means "this will never work" (the operation
fails and is recorded). A provider's rate limit is `ProviderRateLimited` (or Yotpo's own
`YotpoRateLimited`): nothing was done, and `retry_after` says when to come back.
Design: ADR 0080.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from shared.domain.providers.port import Capabilities, OpKind, PayloadRenderer
from shared.errors import TransientError


class SendOutcome(StrEnum):
    SENT = "sent"  # the provider accepted the request now
    # The provider says it already had it (409 on repeat, a replayed idempotent answer, a
    # `was_applied` look-up that found it): done, nothing new happened.
    DUPLICATE = "duplicate"


class ProviderRateLimited(TransientError):
    """The provider's rate limit (or the client's own limiter) stopped a call before it was
    made or done: nothing happened. `retry_after`: seconds until a call may go again."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, retry_after)


class MemberState(BaseModel):
    """What the write-back copies from the provider onto the commercetools customer."""

    model_config = ConfigDict(frozen=True)

    member_id: str | None = None
    email: str | None = None
    points_balance: int | None = None
    tier: str | None = None
    tier_ends_at: datetime | None = None
    referral_code: str | None = None
    referral_link: str | None = None
    raw: dict[str, Any] = {}  # the provider's own answer, for callers that need more


@runtime_checkable
class LoyaltyProvider(Protocol):
    """One provider account, as the connector's order path uses it."""

    @property
    def name(self) -> str:
        """The provider's registry name ("yotpo", "voyado"); `LedgerOp.provider`."""
        ...

    @property
    def account_key(self) -> str:
        """The configured account this adapter talks to (`default` or a store key)."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def renderer(self) -> PayloadRenderer: ...

    def send(
        self, kind: OpKind, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> SendOutcome:
        """Send one pinned body. `idempotency_key` is the ledger operation's key (stable for
        the operation's whole life); a provider without idempotency keys ignores it. A 409
        that means "already done" (CONFLICT_ON_REPEAT) is `DUPLICATE`, never an error.
        Raises TransientError / PermanentError (shared.errors); an unknown kind is permanent."""
        ...

    def was_applied(self, kind: OpKind, payload: Mapping[str, Any]) -> bool | None:
        """Whether the provider already holds this operation: True, False, or None when it
        cannot tell (no look-up for this kind). Raises TransientError when the look-up fails."""
        ...

    def member_state(
        self,
        *,
        member_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> MemberState | None:
        """The member's balance, tier and referral (None: the provider does not know it)."""
        ...

    def bounded(self, budget_seconds: float, *, max_retries: int | None = None) -> LoyaltyProvider:
        """The same adapter (same session, same rate limiter) whose calls, waits and retries
        included, end within `budget_seconds`."""
        ...

    def paused_until(self) -> float | None:
        """The monotonic time until which the provider told this account to hold off (a 429's
        reset), None when it did not."""
        ...
