"""Logging for an operator command: JSON lines on stderr, at a level a terminal can bear."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import TextIO

from shared.logs import configure_logging

# At a terminal the INFO lines (one per HTTP call) drown the command's own output; warnings
# and errors still show. LOG_LEVEL, when set, always wins.
TERMINAL_LEVEL = logging.WARNING


def cli_log_level(configured: str, *, stream: TextIO | None = None) -> str:
    stream = stream or sys.stderr
    if os.environ.get("LOG_LEVEL"):
        return configured
    if bool(getattr(stream, "isatty", lambda: False)()):
        return logging.getLevelName(TERMINAL_LEVEL)
    return configured


def configure_cli_logging(
    app: str, *, secrets: Iterable[str], level: str, stream: TextIO | None = None
) -> None:
    """Structured logs of a command to stderr (never stdout, which holds the results)."""
    stream = stream or sys.stderr
    configure_logging(
        app, secrets=secrets, level=cli_log_level(level, stream=stream), stream=stream
    )
