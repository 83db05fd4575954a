"""Loading one API's contract fixtures: one JSON file per endpoint or webhook, named for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_folder(folder: Path) -> dict[str, dict[str, Any]]:
    """Every fixture in `folder` by name; a fixture's `name` must be its file's stem."""
    found = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        assert data["name"] == path.stem, f"{path.name}: name must match the file"
        found[path.stem] = data
    return found


def fresh(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy per use: tests fill placeholders and ids in."""
    return json.loads(json.dumps(data))
