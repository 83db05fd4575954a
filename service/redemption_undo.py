"""Giving back a redemption the connector made, and saying how it went.

The cart extension (a reward left the cart, an orphan after a lost answer), the order guard (a
surplus immediate redemption) and the in-store desk (a code nobody was shown) each give a
redemption back through the store's rewards account (`RewardsAccount.cancel`,
shared/providers/rewards.py: Yotpo's approve-cancellation call,
https://loyaltyapi.yotpo.com/reference/approve-redemption-cancellation; a Voyado voucher's
reactivation). When that fails the points stay spent for a code nobody can use: the failure
is logged `needs_operator`, never raised, because the caller has already decided its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.errors import PermanentError, TransientError, describe
from shared.logs import log_event

CANCEL_ERRORS: tuple[type[Exception], ...] = (TransientError, PermanentError, ValueError)


def give_back(
    logger: logging.Logger,
    cancel: Callable[[], object],
    *,
    failed: str,
    done: str | None = None,
    errors: tuple[type[Exception], ...] = CANCEL_ERRORS,
    failed_level: int = logging.WARNING,
    done_level: int = logging.INFO,
    done_outcome: str = "cancelled",
    **fields: Any,
) -> bool:
    """Run `cancel`; log `failed` (with the error, `needs_operator`) when it raises one of
    `errors`, else `done` (when given). True when the redemption was given back."""
    try:
        cancel()
    except errors as exc:
        log_event(
            logger,
            failed,
            level=failed_level,
            **fields,
            error=describe(exc),
            outcome="needs_operator",
        )
        return False
    if done is not None:
        log_event(logger, done, level=done_level, **fields, outcome=done_outcome)
    return True
