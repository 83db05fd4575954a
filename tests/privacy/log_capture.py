"""A pytest plugin (`-p tests.privacy.log_capture`) that writes every log record of a test run
through the project's own formatter — `shared.logs`' scrubbing filter and Cloud Logging's
structured handler, exactly what an app writes to stdout — into `$PRIVACY_LOG_FILE`, and every
secret value any settings object of the run held into `$PRIVACY_SECRETS_FILE`.

The handler is given no secret values: a secret that reaches a log line must not rely on
being recognised by value; key-based redaction and masking are what production relies on too.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest

_SECRETS: set[str] = set()


def _record_secrets(settings: Any) -> None:
    values = getattr(settings, "secret_values", None)
    if callable(values):
        _SECRETS.update(v for v in values() if isinstance(v, str) and len(v) >= 6)


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get("PRIVACY_LOG_FILE")
    if not path:
        return
    from google.cloud.logging.handlers import StructuredLogHandler

    import shared.settings
    from shared.logs import _ContextFilter

    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives for the whole run
    handler = StructuredLogHandler(stream=stream)
    handler.addFilter(_ContextFilter("privacy-scan", ()))
    handler.setLevel(logging.DEBUG)
    # Not flagged as the connector's handler: configure_logging() calls in tests keep it.
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    config._privacy_stream = stream  # type: ignore[attr-defined]

    original = shared.settings.load_settings

    def load_settings(cls: Any, env: Any = None) -> Any:
        settings = original(cls, env)
        _record_secrets(settings)
        return settings

    shared.settings.load_settings = load_settings  # type: ignore[assignment]


def pytest_unconfigure(config: pytest.Config) -> None:
    stream = getattr(config, "_privacy_stream", None)
    if stream is not None:
        stream.close()
    path = os.environ.get("PRIVACY_SECRETS_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(sorted(_SECRETS), out)
