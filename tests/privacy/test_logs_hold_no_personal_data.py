"""Scan every log record the in-process end-to-end and integration suites wrote, through the
project's formatter, for what must never be there: a full email address (ASCII or not), a
phone number, a secret any of the run's settings held, an API key.

In a run that holds all of those suites (`make test`, plain `pytest`) the records were captured
while they ran, earlier in this session (pytest collects `tests/` alphabetically, so they come
first); otherwise — `pytest tests/privacy` alone, `-k`, a single file — the suites are re-run in
a subprocess here, so the scan never passes on nothing (`tests/privacy/log_capture.py`)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.privacy.log_capture import SUITES, PrivacyCapture, session_capture
from tests.privacy.scan import EMAIL, PHONE, find_leaks

ROOT = Path(__file__).resolve().parents[2]
# Values the tests use as credentials, whether or not a settings object carried them.
KNOWN_SECRETS = ["sandbox-api-key", "extension-secret-value", "berlin-till-secret-0123456789"]


@dataclass(frozen=True)
class Captured:
    lines: list[str]
    secrets: list[str]
    summary: str


def _rerun_suites(work: Path, why: str) -> Captured:
    log_file, secrets_file = work / "log.jsonl", work / "secrets.json"
    summary_file = work / "summary.txt"
    env = {
        **os.environ,
        "PRIVACY_LOG_FILE": str(log_file),
        "PRIVACY_SECRETS_FILE": str(secrets_file),
        "PRIVACY_SUMMARY_FILE": str(summary_file),
        "HOSTILE_EXAMPLES": "10",
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.privacy.log_capture",
            "-p",
            "no:cacheprovider",
            *SUITES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    lines = log_file.read_text(encoding="utf-8").splitlines() if log_file.exists() else []
    secrets = json.loads(secrets_file.read_text()) if secrets_file.exists() else []
    inner = summary_file.read_text(encoding="utf-8") if summary_file.exists() else ""
    last = (run.stdout.strip().splitlines() or [""])[-1]
    return Captured(lines, secrets + KNOWN_SECRETS, f"re-run ({why}): {inner or last}")


@pytest.fixture(scope="module")
def captured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    capture = session_capture(request.config)
    if capture is None:
        return _rerun_suites(tmp_path_factory.mktemp("privacy"), "capture plugin not active")
    complete, why = capture.in_session_verdict()
    if not complete:
        return _rerun_suites(tmp_path_factory.mktemp("privacy"), why)
    secrets = sorted(capture.secrets) + KNOWN_SECRETS
    return Captured(capture.lines(), secrets, f"this session: {capture.summary()}")


def test_the_run_logged_a_lot(captured: Captured) -> None:
    lines, secrets, summary = captured.lines, captured.secrets, captured.summary
    assert len(lines) > 1000, f"only {len(lines)} log lines captured ({summary})"
    print(f"privacy scan: {len(lines)} log lines, {len(secrets)} secrets; {summary}")
    assert all(json.loads(line) for line in lines[:50])  # the project's JSON lines
    assert len(secrets) >= 5


def test_no_email_phone_or_secret_in_any_log_line(captured: Captured) -> None:
    leaks = find_leaks(captured.lines, captured.secrets)
    assert not leaks, f"in {len(captured.lines)} lines ({captured.summary}): {leaks}"


@pytest.mark.parametrize(
    "line",
    [
        '"httpRequest": {"requestUrl": "http://x/loyalty/customers?email=ada.lovelace@example.com"}',
        '"path": "/p/customers?where=addresses(phone+=+\\"%2B4915111111111\\")"',
        '"message": "lookup zoe.lookup@exämple.com"',
        '"detail": "+49 171 765 4321"',
    ],
)
def test_the_scan_finds_every_known_leak_shape(line: str) -> None:
    assert EMAIL.search(line) or PHONE.search(line)


def test_the_scan_passes_masked_values() -> None:
    line = '"email": "a***@example.com", "phone": "+***", "total": 1234567, "at": "2026-12-01"'
    assert not EMAIL.search(line) and not PHONE.search(line)


def test_the_scanner_reports_each_kind_of_leak_and_passes_masked_lines() -> None:
    secret = "till-secret-0123456789"
    lines = [
        json.dumps({"message": "member found", "email": "jane.doe@example.com"}),
        json.dumps({"requestUrl": "/customers?email=jane.doe%40example.com"}),
        json.dumps({"message": "sms sent", "to": "+49 151 2345 6789"}),
        json.dumps({"message": "signing", "header": f"Bearer {secret}"}),
        json.dumps({"email": "j***@example.com", "phone": "+***", "total": 1234567}),
    ]
    leaks = find_leaks(lines, [secret])
    assert leaks == {
        "email": ["jane.doe%40example.com", "jane.doe@example.com"],
        "phone": ["+49 151 2345 6789"],
        "secret": ["til…"],
    }
    assert find_leaks(lines[-1:], [secret]) == {}


def _capture(args: list[str], **options: list[str]) -> PrivacyCapture:
    config = SimpleNamespace(
        rootpath=ROOT,
        args=args,
        invocation_params=SimpleNamespace(dir=ROOT),
        getoption=lambda name: options.get(name),
    )
    capture = PrivacyCapture(config, io.StringIO(), ROOT / "unused.jsonl", own_file=False)  # type: ignore[arg-type]
    for suite in SUITES:
        capture.collected[suite] = {f"{suite}/test_a.py::test_one", f"{suite}/test_a.py::test_two"}
        capture.finished[suite] = set(capture.collected[suite])
    return capture


def test_the_capture_stands_for_the_suites_only_when_all_of_them_ran() -> None:
    assert _capture(["tests"]).in_session_verdict() == (True, "")
    assert _capture([str(ROOT)]).in_session_verdict() == (True, "")
    assert _capture([*SUITES, "tests/privacy"]).in_session_verdict() == (True, "")

    assert not _capture(["tests/privacy"]).in_session_verdict()[0]
    assert not _capture(["tests/integration", "tests/privacy"]).in_session_verdict()[0]
    narrowed = ["tests/integration/test_event_app.py", *SUITES[1:], "tests/privacy"]
    assert not _capture(narrowed).in_session_verdict()[0]
    by_node = [*SUITES[:3], "tests/hostile/test_probe.py::test_one"]
    assert not _capture(by_node).in_session_verdict()[0]
    assert not _capture(["tests"], ignore=["tests/hostile"]).in_session_verdict()[0]

    deselected = _capture(["tests"])
    deselected.deselected["tests/instore"] = 3  # -k, -m, --deselect, --lf
    assert "deselected" in deselected.in_session_verdict()[1]

    pending = _capture(["tests"])
    pending.finished["tests/hostile"].pop()  # the privacy tests ran first (reordered)
    assert "not run yet" in pending.in_session_verdict()[1]

    empty = _capture(["tests"])
    empty.collected["tests/e2e/test_pull_mode.py"] = set()
    assert "no test" in empty.in_session_verdict()[1]
