"""A pytest plugin, registered for every run by `tests/conftest.py`, that writes every log record
emitted while a test of the scanned suites runs through the project's own formatter —
`shared.logs`' scrubbing filter and Cloud Logging's structured handler, exactly what an app
writes to stdout — into a per-session file (`$PRIVACY_LOG_FILE` if set), and keeps every
secret value any settings object of the run held (written to `$PRIVACY_SECRETS_FILE` if set)
and how many tests of each scanned suite ran and failed (`$PRIVACY_SUMMARY_FILE`).

The capturing handler is attached only around the test protocol (setup, call, teardown) of an
item under one of `SUITES`, so every other suite runs with the root logger's level and handlers
exactly as without the plugin. `tests/privacy` reads what the session captured when every test
of every scanned suite ran before it, and re-runs the suites in a subprocess otherwise
(`PrivacyCapture.in_session_verdict`).

The handler is given no secret values: a secret that reaches a log line must not rely on
being recognised by value; key-based redaction and masking are what production relies on too.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

import pytest
from google.cloud.logging.handlers import StructuredLogHandler

# Suites that run the real apps in this process (the demo, Pub/Sub and gunicorn tests run them
# as separate processes, whose stdout the same formatter writes; those are out of scope).
SUITES = ("tests/integration", "tests/instore", "tests/e2e/test_pull_mode.py", "tests/hostile")

_KEY = pytest.StashKey["PrivacyCapture"]()


class _CaptureHandler(StructuredLogHandler):
    """Cloud Logging's structured handler without its once-per-process diagnostic line: that
    line flips a library-wide flag, and the run's other handlers must behave as without us."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.StreamHandler.emit(self, record)


class PrivacyCapture:
    """What one pytest session captured, and whether the scanned suites ran in full."""

    def __init__(self, config: pytest.Config, stream: IO[str], path: Path, own_file: bool) -> None:
        from shared.logs import _ContextFilter

        self._config = config
        self._stream = stream
        self.path = path
        self._own_file = own_file
        self._start = stream.tell()
        self.handler = _CaptureHandler(stream=stream)
        self.handler.addFilter(_ContextFilter("privacy-scan", ()))
        self.handler.setLevel(logging.DEBUG)
        self.secrets: set[str] = set()
        self.collected: dict[str, set[str]] = {suite: set() for suite in SUITES}
        self.finished: dict[str, set[str]] = {suite: set() for suite in SUITES}
        self.failed: dict[str, set[str]] = {suite: set() for suite in SUITES}
        self.deselected: dict[str, int] = {suite: 0 for suite in SUITES}

    # -- which suite a test belongs to -------------------------------------------------------

    def suite_of(self, path: Path | None) -> str | None:
        if path is None:
            return None
        root = self._config.rootpath
        for suite in SUITES:
            base = root / suite
            if path == base or base in path.parents:
                return suite
        return None

    # -- hooks ---------------------------------------------------------------------------------

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            suite = self.suite_of(item.path)
            if suite:
                self.deselected[suite] += 1

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            suite = self.suite_of(item.path)
            if suite:
                self.collected[suite].add(item.nodeid)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        suite = self.suite_of(item.path)
        if suite is None:
            return (yield)
        root = logging.getLogger()
        level = root.level
        # First in line: the connector's own handler (configure_logging) redacts its secrets by
        # value and rewrites the record; the capture must see the record before that happens.
        root.handlers.insert(0, self.handler)
        root.setLevel(logging.DEBUG)
        try:
            return (yield)
        finally:
            root.removeHandler(self.handler)
            # A level the test set itself (configure_logging) stays, as it would without us.
            if root.level == logging.DEBUG:
                root.setLevel(level)
            self._stream.flush()
            self.finished[suite].add(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            suite = self.suite_of(self._config.rootpath / report.nodeid.split("::", 1)[0])
            if suite:
                self.failed[suite].add(report.nodeid)

    # -- what the privacy tests read -----------------------------------------------------------

    def in_session_verdict(self) -> tuple[bool, str]:
        """(True, "") when every test of every scanned suite ran in this session before now;
        else (False, why). Anything narrower than the whole suites — an argument naming a file
        or test inside one, `-k`/`-m`/`--deselect`/`--lf`, `--ignore`, a reordering that puts
        the privacy tests first — is not enough to stand for the scan."""
        config = self._config
        missing = [suite for suite in SUITES if not self._covered_by_args(suite)]
        if missing:
            return False, f"not all of the suites were selected: {', '.join(missing)}"
        for suite, count in self.deselected.items():
            if count:
                return False, f"{count} tests of {suite} were deselected"
        ignored = [str(p) for p in (config.getoption("ignore") or [])]
        ignored += [str(p) for p in (config.getoption("ignore_glob") or [])]
        if ignored:
            return False, f"--ignore given: {', '.join(ignored)}"
        for suite in SUITES:
            if not self.collected[suite]:
                return False, f"no test of {suite} was collected"
            pending = self.collected[suite] - self.finished[suite]
            if pending:
                return False, f"{len(pending)} tests of {suite} have not run yet"
        return True, ""

    def _covered_by_args(self, suite: str) -> bool:
        base = self._config.rootpath / suite
        here = self._config.invocation_params.dir
        for arg in self._config.args:
            if "::" in arg:
                continue
            path = (here / arg).resolve()
            if path == base or path in base.parents:
                return True
        return False

    def lines(self) -> list[str]:
        self._stream.flush()
        with open(self.path, encoding="utf-8") as source:
            source.seek(self._start)
            return source.read().splitlines()

    def summary(self) -> str:
        parts = []
        for suite in SUITES:
            ran, failed = len(self.finished[suite]), len(self.failed[suite])
            parts.append(f"{suite}: {ran} ran, {failed} failed")
        return "; ".join(parts)

    def close(self) -> None:
        self._stream.close()
        if self._own_file:
            self.path.unlink(missing_ok=True)


def session_capture(config: pytest.Config) -> PrivacyCapture | None:
    return config.stash.get(_KEY, None)


def _record_secrets(capture: PrivacyCapture, settings: Any) -> None:
    values = getattr(settings, "secret_values", None)
    if callable(values):
        capture.secrets.update(v for v in values() if isinstance(v, str) and len(v) >= 6)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker sees only part of the run
        return
    import shared.settings

    named = os.environ.get("PRIVACY_LOG_FILE")
    if named:
        path, own_file = Path(named), False
    else:
        fd, name = tempfile.mkstemp(prefix="privacy-log-", suffix=".jsonl")
        os.close(fd)
        path, own_file = Path(name), True
    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives for the whole run
    capture = PrivacyCapture(config, stream, path, own_file)
    config.stash[_KEY] = capture
    config.pluginmanager.register(capture, "privacy-capture")

    original = shared.settings.load_settings

    def load_settings(cls: Any, env: Any = None) -> Any:
        settings = original(cls, env)
        _record_secrets(capture, settings)
        return settings

    shared.settings.load_settings = load_settings  # type: ignore[assignment]
    config._privacy_original_load_settings = original  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    capture = config.stash.get(_KEY, None)
    if capture is None:
        return
    original = getattr(config, "_privacy_original_load_settings", None)
    if original is not None:
        import shared.settings

        shared.settings.load_settings = original
    capture.close()
    path = os.environ.get("PRIVACY_SECRETS_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(sorted(capture.secrets), out)
    path = os.environ.get("PRIVACY_SUMMARY_FILE")
    if path:
        Path(path).write_text(capture.summary(), encoding="utf-8")
