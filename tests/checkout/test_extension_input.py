"""The extension's fast body check gives the same nesting depth as walking the parsed JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.extension_input import nesting_depth

_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\/abc\n\u00e9\u2028'), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_the_bracket_count_matches_the_parsed_depth(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_depth(raw) == depth(value)


def test_brackets_and_escapes_inside_strings_do_not_count() -> None:
    assert nesting_depth(json.dumps({"a": '[[[{{\\"'}).encode()) == 1
    assert nesting_depth(json.dumps(["\\", ["\\\\", '\\"']]).encode()) == 2
    assert nesting_depth(b"[" * 70 + b"]" * 70) == 70
