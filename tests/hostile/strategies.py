"""What a hostile caller sends: JSON of every shape, the wrong types where numbers belong,
absurd numbers, odd text, broken encodings and bodies. Used by every hostile test."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        '"',
        '\\"',
        'x")) or id is defined or (id = "x',
        "' or 1=1 --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "%2e%2e%2f",
        "\u00a0",
        "\u202e",
        "\x00",
        "\r\nX-Injected: 1",
        "²",
        "٣",
        "𝟘",
        "ü" * 300,
        "a" * 5000,
        "ada.hostile@example.com",
        "zoe@exämple.com",
        "+4915122334455",
        "0151 22334455",
        "NaN",
        "1e400",
        "true",
    ]
)
TEXT = st.one_of(ODD_TEXT, st.text(max_size=40))
NUMBERS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, 2**63, 2**63 - 1, 10**30, -(10**30)]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["5", "1e3", "", "0x10"]),
)
SCALARS = st.one_of(st.none(), NUMBERS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The right kind of value most of the time, anything JSON otherwise."""
    return st.one_of(value, value, JSON)


def loose_object(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """An object with some of `fields` (each possibly of the wrong type), maybe extra ones."""
    return (
        st.builds(
            lambda picked, extra: {**extra, **picked},
            st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()}),
            st.dictionaries(TEXT, JSON, max_size=2),
        ).map(lambda d: d)
        | JSON
    )


MONEY = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["centPrecision", "highPrecision", "x"]),
        "currencyCode": st.sampled_from(["EUR", "JPY", "KWD", "eur", "", "XXX"]),
        "centAmount": NUMBERS,
        "preciseAmount": NUMBERS,
        "fractionDigits": st.one_of(
            st.integers(min_value=-3, max_value=30), st.sampled_from([10**7, 2**63])
        ),
    },
)

# Raw bodies no JSON encoder produces.
RAW_BODIES = st.sampled_from(
    [
        b"",
        b"not json",
        b"[" * 50_000,
        b'{"a":' * 30_000,
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',
        b'{"a": ' + b"9" * 5000 + b"}",
        b"\xef\xbb\xbf{}",
        '{"a": 1}'.encode("utf-16"),
        b'{"a": "\xff\xfe"}',
        b"\x00\x00\x00",
        b"null",
        b"[]",
        b'"string"',
        b"{}",
    ]
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-16",
        "multipart/form-data; boundary=x",
        "",
    ]
)
HOSTILE_AUTH = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Bearer null",
            "Bearer undefined",
            "Bearer eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImEifQ.",
            "Bearer " + "A" * 8000,
            "Token x",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(
        lambda t: "Bearer " + t
    ),
)


def envelope(data: Any, message_id: Any = "m-1", attributes: Any = None) -> dict[str, Any]:
    """A Pub/Sub push envelope around `data` (JSON-encoded, then base64), as given."""
    encoded = (
        base64.b64encode(json.dumps(data).encode()).decode()
        if not isinstance(data, bytes)
        else base64.b64encode(data).decode()
    )
    return {
        "message": {
            "data": encoded,
            "attributes": attributes if attributes is not None else {},
            "messageId": message_id,
            "publishTime": "2026-11-23T12:00:00Z",
        },
        "subscription": "projects/hostile/subscriptions/event",
    }
