"""Independent calls of the checkout path at once, and work that runs after the answer.

A redemption waits for nothing but its loyalty provider, and for no call it does not need in
sequence: the member and the rewards offered to them are read at the same time
(service/extension.py). Each call runs in the caller's context (correlation id) on a small
shared pool; the caller's bounded clients keep every call inside the extension's budget
(`LOYALTY_CALL_BUDGET_MS`), so a hanging provider cannot pin a pool thread for longer.

`together` runs its first call on the caller's own thread: a call on the pool that waits for
the first one (a read both need) can never wait behind a full pool.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# gunicorn runs 4-8 threads per worker; two concurrent calls each is the most one request needs.
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="checkout-call")


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls concurrently; their results in order, or the first call's exception."""
    if len(calls) == 1:
        return [calls[0]()]
    futures = [start(call) for call in calls[1:]]
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


def start(call: Callable[[], T]) -> Future[T]:
    """Start `call` on the pool in the caller's context; its future."""
    return _POOL.submit(contextvars.copy_context().run, call)


def in_background(call: Callable[[], Any]) -> None:
    """Start `call` without waiting for it (its own errors are its own to log)."""
    start(call)
