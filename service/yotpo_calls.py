"""Yotpo calls on the checkout path: independent ones at once, and the cancellation call.

A redemption waits for nothing but Yotpo, and for no Yotpo call it does not need in sequence:
the customer and the options offered to them are read at the same time. Each call runs in the
caller's context (correlation id) on a small shared pool; the bounded client view keeps every
call inside the extension's budget, so a hanging Yotpo cannot pin a pool thread for longer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from shared.domain.checkout.reward_state import AppliedReward
from shared.yotpo import YotpoClient

T = TypeVar("T")

# gunicorn runs 4-8 threads per worker; two concurrent calls each is the most one request needs.
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="yotpo-call")


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls concurrently; their results in order, or the first call's exception."""
    if len(calls) == 1:
        return [calls[0]()]
    futures = [_POOL.submit(contextvars.copy_context().run, call) for call in calls[1:]]
    first_error: BaseException | None = None
    results: list[Any] = []
    try:
        results.append(calls[0]())
    except BaseException as exc:
        first_error = exc
    for future in futures:
        try:
            results.append(future.result())
        except BaseException as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return results


def in_background(call: Callable[[], Any]) -> None:
    """Start `call` without waiting for it (its own errors are its own to log)."""
    _POOL.submit(contextvars.copy_context().run, call)


def cancel_redemption(client: YotpoClient, reward: AppliedReward) -> Any:
    """Yotpo's approve-cancellation call for a redemption the connector created:
    `POST /redemptions/{id}/cancellation_completed` with the code as `reward_text`
    (https://loyaltyapi.yotpo.com/reference/approve-redemption-cancellation)."""
    if reward.redemption_id is None:
        raise ValueError("the reward has no Yotpo redemption id")
    return client.cancel_redemption(reward.redemption_id, reward_text=reward.code or None)
