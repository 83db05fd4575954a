"""Run the in-process end-to-end and integration suites with every log record captured through
the project's formatter, then look for what must never be there: a full email address (ASCII
or not), a phone number, a secret any of the run's settings held, an API key."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Suites that run the real apps in this process (the demo and Pub/Sub tests run them as
# separate processes, whose stdout the same formatter writes).
SUITES = ["tests/integration", "tests/instore", "tests/e2e/test_pull_mode.py", "tests/hostile"]
# Any address with a visible local part: masked ones read `j***@example.com`.
EMAIL = re.compile(r"[\w.%+\-']+(?:@|%40)[\w\-]+(?:\.[\w\-]+)+")
PHONE = re.compile(r"(?:\+|%2B)\s?\d(?:[\s\-.()/]?\d){6,14}")
# Values the tests use as credentials, whether or not a settings object carried them.
KNOWN_SECRETS = ["sandbox-api-key", "extension-secret-value", "berlin-till-secret-0123456789"]


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str], str]:
    work = tmp_path_factory.mktemp("privacy")
    log_file, secrets_file = work / "log.jsonl", work / "secrets.json"
    env = {
        **os.environ,
        "PRIVACY_LOG_FILE": str(log_file),
        "PRIVACY_SECRETS_FILE": str(secrets_file),
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
    summary = (run.stdout.strip().splitlines() or [""])[-1]
    return lines, secrets + KNOWN_SECRETS, summary


def test_the_run_logged_a_lot(captured: tuple[list[str], list[str], str]) -> None:
    lines, secrets, summary = captured
    assert len(lines) > 1000, f"only {len(lines)} log lines captured ({summary})"
    print(f"privacy scan: {len(lines)} log lines, {len(secrets)} secrets; inner run: {summary}")
    assert all(json.loads(line) for line in lines[:50])  # the project's JSON lines
    assert len(secrets) >= 5


def test_no_email_phone_or_secret_in_any_log_line(
    captured: tuple[list[str], list[str], str],
) -> None:
    lines, secrets, summary = captured
    found: dict[str, list[str]] = {"email": [], "phone": [], "secret": []}
    for line in lines:
        for match in EMAIL.finditer(line):
            found["email"].append(match.group(0))
        for match in PHONE.finditer(line):
            found["phone"].append(match.group(0))
        for secret in secrets:
            if secret in line:
                found["secret"].append(secret[:3] + "…")
    leaks = {kind: sorted(set(values))[:10] for kind, values in found.items() if values}
    assert not leaks, f"in {len(lines)} lines ({summary}): {leaks}"


@pytest.mark.parametrize(
    "line",
    [
        '"httpRequest": {"requestUrl": "http://x/loyalty/customers?email=ada.lovelace@example.com"}',
        '"path": "/p/customers?where=addresses(phone+=+\\"%2B4915111111111\\")"',
        '"message": "lookup zoe.lookup@exämple.com"',
        '"detail": "+49 171 765 4321"',
    ],
)
def test_the_scan_finds_the_leaks_the_review_found(line: str) -> None:
    assert EMAIL.search(line) or PHONE.search(line)


def test_the_scan_passes_masked_values() -> None:
    line = '"email": "a***@example.com", "phone": "+***", "total": 1234567, "at": "2026-12-01"'
    assert not EMAIL.search(line) and not PHONE.search(line)
