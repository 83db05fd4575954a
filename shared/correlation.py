"""The correlation id that follows one message or cart through every log line and outgoing call."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

HEADER = "X-Correlation-ID"
# The id travels in HTTP headers (ours and every outgoing call's) and in log lines. Whatever a
# caller or a message sends, only these characters and this length survive: a newline or a
# 70 KB message id must not break a header (RFC 9110 §5.5 field values) or a request.
MAX_LENGTH = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/+=~-]")

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def safe_correlation_id(value: str | None) -> str | None:
    """`value` reduced to a header-safe token of at most MAX_LENGTH characters (None if empty)."""
    if not value:
        return None
    cleaned = _UNSAFE.sub("", str(value)[: MAX_LENGTH * 4])[:MAX_LENGTH]
    return cleaned or None


def new_correlation_id(prefix: str = "ytp") -> str:
    return f"{prefix}-{uuid.uuid4()}"


def current_correlation_id() -> str | None:
    return _current.get()


def correlation_id() -> str:
    """The id of the work in progress; work started outside any scope gets a fresh one."""
    value = _current.get()
    if value is None:
        value = new_correlation_id()
        _current.set(value)
    return value


@contextmanager
def correlation_scope(value: str | None) -> Iterator[str]:
    """Run a block of work under `value` (or a new id), restoring the previous one afterwards."""
    token = _current.set(safe_correlation_id(value) or new_correlation_id())
    try:
        yield _current.get() or ""
    finally:
        _current.reset(token)


def bind_correlation_id(value: str | None) -> Token[str | None]:
    """Set the id for the rest of this context (a request); pair with `unbind_correlation_id`."""
    return _current.set(safe_correlation_id(value) or new_correlation_id())


def unbind_correlation_id(token: Token[str | None]) -> None:
    _current.reset(token)
