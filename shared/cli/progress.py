"""A one-line progress bar with rate and ETA, redrawn in place; silent when not a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


def duration(seconds: float) -> str:
    """`45s`, `3m07s`, `2h05m`: an ETA as people say it."""
    seconds = max(int(seconds), 0)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class ProgressBar:
    """`[#########.......]  1234/5000 orders  41.2/s  ETA 1m31s` on one terminal line.

    Drawn only when the stream is a terminal (a file or a pipe gets nothing: the command's
    summary says the same at the end). Redrawn at most every `every_seconds`.
    """

    def __init__(
        self,
        total: int | None,
        *,
        unit: str = "orders",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        every_seconds: float = 0.5,
        enabled: bool | None = None,
    ) -> None:
        self._stream = stream or sys.stdout
        tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self.enabled = tty if enabled is None else enabled
        self._total = total
        self._unit = unit
        self._clock = clock
        self._started = clock()
        self._every = every_seconds
        self._shown_at = -1e9
        self._start_count: int | None = None
        self.count = 0

    def step(self, count: int | None = None) -> None:
        self.count = self.count + 1 if count is None else count
        if self._start_count is None:
            # A resumed run starts at its cursor: the rate counts only this run's work.
            self._start_count = self.count if count is not None else 0
        if self.enabled and self._clock() - self._shown_at >= self._every:
            self._show()

    def rate(self) -> float:
        elapsed = max(self._clock() - self._started, 1e-9)
        return (self.count - (self._start_count or 0)) / elapsed

    def line(self) -> str:
        rate = self.rate()
        total = self._total
        parts = []
        if total:
            filled = min(BAR_WIDTH, int(BAR_WIDTH * self.count / total))
            parts.append("[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
            parts.append(f"{self.count}/{total} {self._unit}")
        else:
            parts.append(f"{self.count} {self._unit}")
        parts.append(f"{rate:.1f}/s")
        if total is not None and rate > 0 and total >= self.count:
            parts.append(f"ETA {duration((total - self.count) / rate)}")
        return "  ".join(parts)

    def _show(self) -> None:
        self._shown_at = self._clock()
        # \r + erase-line: a log line on the same terminal cannot leave half a bar behind.
        self._stream.write("\r\x1b[2K" + self.line())
        self._stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self._show()
            self._stream.write("\n")
            self._stream.flush()
