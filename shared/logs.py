"""Operator logs: one JSON line per event on stdout, in Cloud Logging's structured format.

Every line carries the app, the correlation id of the work in progress, and whatever fields
the caller adds (`outcome`, `attempt`, `retry`, ...). Email addresses are masked and known
secret values redacted in the message and in every field, whatever the caller passed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any

from google.cloud.logging.handlers import StructuredLogHandler

from shared.correlation import current_correlation_id

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
_SECRET_KEYS = re.compile(r"(api[_-]?key|secret|password|authorization|token)", re.I)
REDACTED = "[redacted]"


def mask_email(text: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: enough to recognise, not to contact."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


class _Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Short values would redact innocent substrings; real secrets are long.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        return mask_email(value)

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, str | bytes) and _SECRET_KEYS.search(key) and value:
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(key, v) for v in value]
        return value


class _ContextFilter(logging.Filter):
    def __init__(self, app: str, secrets: Iterable[str]) -> None:
        super().__init__()
        self._app = app
        self._scrub = _Scrubber(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            # Keep tracebacks on the same JSON line; the structured formatter drops exc_info.
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            record.exc_info = None
            record.exc_text = None
        record.msg = self._scrub.text(message)
        record.args = ()
        fields = dict(getattr(record, "json_fields", None) or {})
        fields.setdefault("app", self._app)
        fields.setdefault("logger", record.name)
        correlation = current_correlation_id()
        if correlation and "correlation_id" not in fields:
            fields["correlation_id"] = correlation
        record.json_fields = {k: self._scrub.value(k, v) for k, v in fields.items()}
        return True


def configure_logging(
    app: str,
    *,
    secrets: Iterable[str] = (),
    level: int | str = logging.INFO,
    stream: IO[str] | None = None,
) -> None:
    """Route the root logger to one structured JSON line per record on `stream` (stdout)."""
    handler = StructuredLogHandler(stream=stream or sys.stdout)
    handler.addFilter(_ContextFilter(app, secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_connector_handler", False):
            root.removeHandler(old)
    handler._connector_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # The library announces itself once per process; that line is noise for operators.
    import google.cloud.logging_v2 as logging_v2

    logging_v2._instrumentation_emitted = True
    for noisy in ("urllib3", "werkzeug", "google.api_core", "google.auth"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_event(
    logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log one operator event: `event` names what happened, fields say how it ended."""
    logger.log(level, event, extra={"json_fields": {"event": event, **fields}}, stacklevel=2)


def log_failure(
    logger: logging.Logger, event: str, exc: BaseException, *, outcome: str, **fields: Any
) -> None:
    """Log a failed piece of work: WARNING if retrying may help (transient), else ERROR."""
    from shared.errors import TransientError, describe

    transient = isinstance(exc, TransientError)
    logger.log(
        logging.WARNING if transient else logging.ERROR,
        event,
        extra={
            "json_fields": {
                "event": event,
                **fields,
                "error": describe(exc),
                "failure": "transient" if transient else "permanent",
                "outcome": outcome,
            }
        },
        stacklevel=2,
    )
