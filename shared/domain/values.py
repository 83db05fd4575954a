"""Reading one value out of JSON someone else wrote (a cart, an order, a webhook body).

One rule for the whole connector: a field's text is a non-blank string, stripped; anything else
(a number, a boolean, an object, a blank string) is no text at all. Where a field may also come
as a number (ids some APIs send as integers), the caller says so. Too long is never silently
accepted: the caller says whether to cut it (display text) or to refuse it (identifiers).
"""

from __future__ import annotations

import re
from typing import Any, Literal


def text(
    value: Any,
    *,
    limit: int | None = None,
    numbers: bool = False,
    too_long: Literal["cut", "refuse"] = "cut",
) -> str | None:
    """The stripped text of `value`, or None.

    `numbers=True` also reads an int (never a bool) as its decimal text. Over `limit`
    characters, `too_long="cut"` keeps the first `limit`, `"refuse"` answers None.
    """
    if isinstance(value, str):
        raw = value
    elif numbers and isinstance(value, int) and not isinstance(value, bool):
        raw = str(value)
    else:
        return None
    stripped = raw.strip()
    if not stripped:
        return None
    if limit is not None and len(stripped) > limit:
        return stripped[:limit] if too_long == "cut" else None
    return stripped


# ASCII digits only, and few: `str.isdigit` also takes "²", which `int` refuses, and `int`
# refuses strings past 4,300 digits; either would raise instead of answering None.
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def integer(value: Any, *, strings: bool = False) -> int | None:
    """A whole number: an int (never a bool) or an integral float; with `strings=True` also
    a short decimal string ("42", " -7 "). None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if strings:
        digits = text(value)
        if digits is not None and _INTEGER.fullmatch(digits):
            return int(digits)
    return None
