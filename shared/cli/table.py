"""Plain-text tables that never cut a reason short: the last column wraps instead."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence


def terminal_width(default: int = 100) -> int:
    return max(shutil.get_terminal_size((default, 24)).columns, 60)


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int | None = None
) -> str:
    """Columns padded to their widest cell; the last column wrapped to the room left.

    Every character of every cell is shown: a failure reason is what the operator needs.
    """
    width = width or terminal_width()
    table = [list(headers), *[[str(c) for c in row] for row in rows]]
    fixed = len(headers) - 1
    widths = [max(len(row[i]) for row in table) for i in range(fixed)]
    lead = sum(widths) + 2 * fixed
    room = max(width - lead, 30)
    lines: list[str] = []
    for index, row in enumerate(table):
        left = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:fixed]))
        last = row[fixed] if fixed < len(row) else ""
        chunks = textwrap.wrap(last, room, break_long_words=True, break_on_hyphens=False) or [""]
        prefix = f"{left}  " if fixed else ""
        lines.append(f"{prefix}{chunks[0]}".rstrip())
        for chunk in chunks[1:]:
            lines.append(f"{' ' * len(prefix)}{chunk}".rstrip())
        if index == 0:
            lines.append("-" * min(width, max(lead + len(headers[-1]), len(lines[0]))))
    return "\n".join(lines)
