from __future__ import annotations

import pytest

# Captures the scanned suites' log lines during the main run, for tests/privacy to scan.
pytest_plugins = ["tests.privacy.log_capture"]

VALID_ENV = {
    "CTP_PROJECT_KEY": "demo-project",
    "CTP_CLIENT_ID": "client-id",
    "CTP_CLIENT_SECRET": "ctp-very-secret-value",
    "CTP_SCOPE": "manage_project:demo-project",
    "CTP_REGION": "europe-west1.gcp",
    "YOTPO_GUID": "guid-123",
    "YOTPO_API_KEY": "yotpo-very-secret-key",
}


@pytest.fixture
def valid_env() -> dict[str, str]:
    return dict(VALID_ENV)
