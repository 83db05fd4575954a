from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.world import World, start_world


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    try:
        yield started
    finally:
        started.close()


# Where Voyado's documentation is silent the stand-in plays either answer
# (sandbox/voyado/README.md): what POST /receipts answers, and whether a receipt naming an
# unknown contact or store fails at once or only in the batch. The connector is tested under
# each answer of each setting.
VOYADO_SILENT_PROFILES: dict[str, dict[str, Any]] = {
    "default-answers": {"receipt_answer": "202-empty", "receipt_references": "sync"},
    "other-answers": {"receipt_answer": "200-empty", "receipt_references": "batch"},
}


@pytest.fixture(params=sorted(VOYADO_SILENT_PROFILES))
def voyado_world(request: pytest.FixtureRequest) -> Iterator[World]:
    """A world with the Voyado stand-in too: store `VOYADO_STORE` on Voyado, the rest on
    Yotpo."""
    started = start_world(voyado=True, voyado_silent=VOYADO_SILENT_PROFILES[request.param])
    try:
        yield started
    finally:
        started.close()
