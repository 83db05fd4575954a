"""The reconciler end to end: the real event app against both stand-ins.

`world` starts both stand-ins per test; `checkout` (the service app in front of them, for
rewards sealed at checkout) is the integration suite's own fixture, shared rather than copied.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_service_app import checkout  # noqa: F401  (a fixture)
from tests.integration.world import World, start_world


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()
