"""The answers the loyalty API refuses with: an HTTP status, a stable code and a reason.

Redemption refusals use the codes of `RedemptionError`, the same codes the online checkout
answers (docs/adr/0090-one-set-of-redemption-rules.md); `REDEMPTION_STATUS` is their HTTP
status at the till.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.checkout.redemption import MESSAGES, RedemptionError, Rejection


class Problem(Exception):
    """A refusal the caller can act on; nothing was changed when one is raised."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def not_found(code: str, message: str, **extra: Any) -> Problem:
    return Problem(404, code, message, **extra)


def invalid(code: str, message: str, **extra: Any) -> Problem:
    return Problem(400, code, message, **extra)


def conflict(code: str, message: str, **extra: Any) -> Problem:
    return Problem(409, code, message, **extra)


def refused(code: str, message: str, **extra: Any) -> Problem:
    """422: well-formed, but the loyalty rules (or the order's state) do not allow it."""
    return Problem(422, code, message, **extra)


def request_id_reused() -> Problem:
    return conflict(
        "request_id_reused",
        "this request_id was already used for a different request; use a new one",
    )


# The till's HTTP status for each redemption code: 404 for what does not exist, 400 for a
# request the terminal must correct, 409 for a state that forbids it, 422 for the rules.
REDEMPTION_STATUS: Mapping[RedemptionError, int] = {
    RedemptionError.UNKNOWN_OPTION: 404,
    RedemptionError.UNKNOWN_REDEMPTION: 404,
    RedemptionError.INVALID_POINTS: 400,
    RedemptionError.NOT_REVERSIBLE: 409,
    RedemptionError.CUSTOMER_REQUIRED: 422,
    RedemptionError.NOT_ELIGIBLE: 422,
    RedemptionError.NOT_ENOUGH_POINTS: 422,
    RedemptionError.BELOW_MINIMUM: 422,
    RedemptionError.CURRENCY_NOT_ENABLED: 422,
    RedemptionError.CURRENCY_NOT_SUPPORTED: 422,
    RedemptionError.DISCOUNT_CODE_CONFLICT: 422,
    RedemptionError.REWARD_NO_LONGER_AVAILABLE: 422,
    RedemptionError.REDEMPTION_REFUSED: 422,
    RedemptionError.UNAVAILABLE: 503,
}


def redemption_problem(refusal: Rejection | RedemptionError, message: str | None = None) -> Problem:
    """A redemption refusal as the till receives it: the shared code, its status here, and a
    fixed message (the rule's own detail appended; never upstream text)."""
    rejection = refusal if isinstance(refusal, Rejection) else Rejection(refusal)
    text = message or MESSAGES[rejection.error]
    if message is None and rejection.detail:
        text = f"{text.rstrip('.')}: {rejection.detail}"
    return Problem(REDEMPTION_STATUS[rejection.error], rejection.error.value, text)
