"""Both stand-ins, started once per module and reset before each test (as tests/instore does)."""

from __future__ import annotations

from tests.instore.conftest import stand_ins, world

__all__ = ["stand_ins", "world"]
