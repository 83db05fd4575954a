"""The ordered pool: several in flight, results strictly in the order handed in."""

from __future__ import annotations

import threading
import time

import pytest

from job.pool import OrderedPool


def _collect(pool: OrderedPool, items: list[tuple[int, float]]) -> list[int]:
    seen: list[int] = []
    for tag, delay in items:
        for done_tag, done in pool.submit(tag, lambda d=delay, t=tag: (time.sleep(d), t)[1]):
            assert done.result() == done_tag
            seen.append(done_tag)
    for done_tag, done in pool.drain():
        assert done.result() == done_tag
        seen.append(done_tag)
    return seen


@pytest.mark.parametrize("workers", [1, 4])
def test_results_come_back_in_submission_order(workers):
    # The first item is the slowest: later ones finish first but wait their turn.
    items = [(0, 0.05), *[(n, 0.0) for n in range(1, 12)]]
    with OrderedPool(workers, window=6) as pool:
        assert _collect(pool, items) == list(range(12))


def test_items_really_run_at_once_up_to_the_worker_count():
    running, peak, lock = 0, 0, threading.Lock()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    with OrderedPool(3) as pool:
        for n in range(9):
            list(pool.submit(n, work))
        list(pool.drain())
    assert peak == 3


def test_an_exception_reaches_the_caller_in_its_turn():
    def boom() -> None:
        raise ValueError("refused")

    with OrderedPool(2) as pool:
        results = list(pool.submit(0, boom)) + list(pool.drain())
    ((tag, done),) = results
    assert tag == 0
    with pytest.raises(ValueError, match="refused"):
        done.result()


def test_the_window_bounds_what_is_held():
    with OrderedPool(2, window=3) as pool:
        for n in range(20):
            list(pool.submit(n, lambda: time.sleep(0.001)))
            assert pool.in_flight < 3
        list(pool.drain())
