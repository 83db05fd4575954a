from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.world import World, start_world


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()
