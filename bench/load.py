"""A small closed-loop load generator: N calls over C threads, latencies and throughput."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LoadResult:
    latencies: list[float]
    seconds: float
    errors: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    def summary(self, unit: str = "req") -> str:
        return (
            f"{len(self.latencies)} {unit} in {self.seconds:.1f}s = {self.rate:.0f} {unit}/s; "
            f"latency p50 {self.percentile(50) * 1000:.1f} ms, "
            f"p99 {self.percentile(99) * 1000:.1f} ms; errors {self.errors}"
        )


def run_load(calls: list[Callable[[], bool]], concurrency: int) -> LoadResult:
    """Run every call once, `concurrency` at a time; a call returns False when it failed."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    queue = iter(calls)

    def worker() -> None:
        nonlocal errors
        while True:
            with lock:
                call = next(queue, None)
            if call is None:
                return
            started = time.perf_counter()
            ok = call()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(latencies, time.perf_counter() - started, errors)
