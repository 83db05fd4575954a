"""Operator logs: one JSON line per event on stdout, in Cloud Logging's structured format.

Every line carries the app, the correlation id of the work in progress, and whatever fields
the caller adds (`outcome`, `attempt`, `retry`, ...). Email addresses (Unicode ones too) and
phone numbers are masked and known secret values redacted in the message, in every field and
in the `httpRequest` block google-cloud-logging adds from the Flask request — whose URL keeps
only its path: query strings carry emails, phones and, from careless callers, secrets
(docs/adr/0061-log-scrubbing.md).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from google.cloud.logging.handlers import StructuredLogHandler

from shared.correlation import current_correlation_id

# \w is Unicode-aware for str patterns: `zoë@exämple.com` is an address too (RFC 6531).
_EMAIL = re.compile(r"([\w.%+\-'])[\w.%+\-']{0,63}(?:@|%40)([\w\-]+(?:\.[\w\-]+)+)")
# International numbers (E.164: "+" and up to 15 digits) however they are spelled: with
# separators, URL-encoded (%2B), or in a query predicate. Seven digits or more, so ordinary
# counts and amounts are left alone.
_PHONE = re.compile(
    r"(?:\+|%2B|%2b)\s*\d(?:[\s\-.()/]|%20){0,3}(?:\d(?:[\s\-.()/]|%20){0,3}){5,15}\d"
)
PHONE_MASK = "+***"
_SECRET_KEYS = re.compile(r"(api[_-]?key|secret|password|authorization|token)", re.I)
REDACTED = "[redacted]"


def _email_mask(match: re.Match[str]) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def mask_email(text: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: enough to recognise, not to contact."""
    # Every match holds "@" or "%40"; most log values hold neither, and a substring test costs
    # a fraction of a regex scan (every log line passes each of its fields through here).
    if "@" not in text and "%40" not in text:
        return text
    return _EMAIL.sub(_email_mask, text)


def mask_phone(text: str) -> str:
    """`+49 151 1234567` (or `%2B4915112...`) -> `+***`."""
    if "+" not in text and "%2" not in text:  # every match starts with "+", "%2B" or "%2b"
        return text
    return _PHONE.sub(PHONE_MASK, text)


def mask_personal(text: str) -> str:
    """Emails and phone numbers masked."""
    return mask_phone(mask_email(text))


def url_without_query(url: str) -> str:
    """`scheme://host/path`: the query and fragment dropped (they carry personal data)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class _Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Short values would redact innocent substrings; real secrets are long.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return mask_personal(value)

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, str | bytes) and _SECRET_KEYS.search(key) and value:
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.value(str(k), v) for k, v in value.items()}
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
        # Keys are scrubbed too: a field named after data (an email as a dict key) leaks as
        # surely as a value; the secret-key rule still reads the original name.
        record.json_fields = {
            self._scrub.text(str(k)): self._scrub.value(str(k), v) for k, v in fields.items()
        }
        self._scrub_http_request(record)
        return True

    def _scrub_http_request(self, record: logging.LogRecord) -> None:
        """google-cloud-logging's CloudLoggingFilter (which runs before this one) copies the
        Flask request into `_http_request`, URL and all, and renders `_http_request_str`:
        keep the path only and scrub the rest."""
        http = getattr(record, "_http_request", None)
        if not isinstance(http, Mapping):
            return
        cleaned: dict[str, Any] = {}
        for name, value in http.items():
            if name == "requestUrl" and isinstance(value, str):
                value = url_without_query(value)
            cleaned[name] = self._scrub.value(str(name), value)
        record._http_request = cleaned
        record._http_request_str = json.dumps(cleaned, ensure_ascii=False)


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
