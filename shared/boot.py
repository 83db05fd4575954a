"""Start-up of an app process: settings, logging, then the app — or one clear failure."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from flask import Flask

from shared.logs import configure_logging, log_event
from shared.settings import ConnectorSettings, SettingsError, load_settings

logger = logging.getLogger(__name__)

# gunicorn's "worker failed to boot" code: the master stops instead of respawning forever.
BOOT_ERROR_EXIT = 3

S = TypeVar("S", bound=ConnectorSettings)


def load_or_exit(app_name: str, settings_cls: type[S]) -> S:
    try:
        settings = load_settings(settings_cls)
    except SettingsError as exc:
        configure_logging(app_name)
        log_event(logger, "startup.failed", level=logging.CRITICAL, problems=exc.problems)
        print(f"{app_name}: {exc}", file=sys.stderr)
        raise SystemExit(BOOT_ERROR_EXIT) from None
    configure_logging(app_name, secrets=settings.secret_values(), level=settings.log_level)
    return settings


def boot(app_name: str, settings_cls: type[S], factory: Callable[[S], Flask]) -> Flask:
    settings = load_or_exit(app_name, settings_cls)
    app = factory(settings)
    # Boot-time objects (modules, settings, clients) leave the cyclic collector's view, so a
    # full collection walks only what requests allocate: measured in `python -m bench service`,
    # worker pauses of 100-122 ms became 1-5 ms (https://docs.python.org/3/library/gc.html#gc.freeze).
    gc.collect()
    gc.freeze()
    log_event(logger, "startup.ready", outcome="ok")
    return app
