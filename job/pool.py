"""Work items on a few threads, finished in the order they were handed in.

Why threads: the job's Yotpo calls are spaced by the client's rate limiter, but one call plus
its commercetools reads and writes can take longer than the gap between two tokens (a Yotpo
answer in 300 ms against a 5 requests/s share leaves the share one third unused). With a few
items in flight the limiter, not the latency, sets the pace (Yotpo's documented bound is
10 requests/s per account: https://loyaltyapi.yotpo.com/reference/guidelines-and-conventions).

Why in order: the task's cursor (an id) may only move past an item whose work is finished,
or a crash would skip it for good. `OrderedPool` hands results back strictly in submission
order, so the caller moves its cursor exactly as it did with one item at a time; an item
finished out of order waits (bounded by `window`) until the ones before it are done.

With `workers=1` everything runs on the caller's thread, as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Done(Generic[R]):
    """A finished item: its result, or the exception it raised (re-raised by `result()`)."""

    def __init__(self, future: Future[R] | None = None, value: R | None = None) -> None:
        self._future = future
        self._value = value

    def result(self) -> R:
        if self._future is not None:
            return self._future.result()
        return self._value  # type: ignore[return-value]


class OrderedPool(Generic[T, R]):
    def __init__(self, workers: int, *, window: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._window = max(window or workers * 4, workers)
        self._executor = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
            if workers > 1
            else None
        )
        self._queue: deque[tuple[T, Future[R]]] = deque()

    def __enter__(self) -> OrderedPool[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            # Whatever is still queued belongs to a run that stopped: let it finish, not start.
            for _, future in self._queue:
                future.cancel()
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def submit(self, tag: T, work: Callable[[], R]) -> Iterator[tuple[T, _Done[R]]]:
        """Hand in one item; yields the items now finished at the head, in submission order."""
        if self._executor is None:
            try:
                value = work()
            except BaseException as exc:  # surfaced to the caller through result()
                failed: Future[R] = Future()
                failed.set_exception(exc)
                yield tag, _Done(failed)
                return
            yield tag, _Done(value=value)
            return
        self._queue.append((tag, self._executor.submit(work)))
        if len(self._queue) >= self._window:
            # Full: wait until the oldest item is done (others may finish meanwhile).
            wait([self._queue[0][1]])
        elif not self._queue[0][1].done():
            wait([f for _, f in self._queue], timeout=0, return_when=FIRST_COMPLETED)
        yield from self._head()

    def drain(self) -> Iterator[tuple[T, _Done[R]]]:
        """Every item still in flight, in submission order, waiting for each."""
        while self._queue:
            tag, future = self._queue.popleft()
            wait([future])
            yield tag, _Done(future)

    def _head(self) -> Iterator[tuple[T, _Done[R]]]:
        while self._queue and self._queue[0][1].done():
            tag, future = self._queue.popleft()
            yield tag, _Done(future)

    @property
    def in_flight(self) -> int:
        return len(self._queue)
