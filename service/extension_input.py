"""The extension's request body: the same strict JSON as `shared.webapp.json_body`, faster.

commercetools sends the whole cart (30 lines with variants are ~40 KB) on every update that
reaches the extension, and most of them do not concern loyalty: parsing must cost little more
than a do-nothing extension's `json.loads`. The base app's nesting check walks every node in
Python; here the depth is measured on the body's brackets alone (strings removed and every
other byte deleted, then nested pairs peeled, at C speed), which gives the same answer for
any valid JSON text.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from shared.webapp import MAX_JSON_DEPTH

_PAIR = re.compile(rb"\[\]|\{\}")
# Where service/fast_path.py leaves the body it parsed (a WSGI environ key no header can set:
# header keys all start with "HTTP_").
PARSED_BODY_ENVIRON = "connector.extension_body"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BodyError(ValueError):
    """Not an acceptable JSON object; the message says why, never echoing the input."""


def _refuse_constant(name: str) -> Any:
    raise BodyError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError("a number is too large")
    return value


def nesting_depth(raw: bytes, limit: int | None = None) -> int:
    """The deepest bracket nesting of a valid JSON text (brackets inside strings do not count);
    with `limit`, counting stops at `limit + 1`.

    Escaped backslashes, then escaped quotes, are dropped; what is left between quotes is
    string content; of the rest only the brackets are kept. In valid JSON they nest properly,
    so each round of removing adjacent pairs peels exactly one level. Every step runs at C
    speed; a 30-line cart needs about six rounds over a few hundred bytes."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    depth = 0
    while brackets and (limit is None or depth <= limit):
        brackets = _PAIR.sub(b"", brackets)  # one pass: "{[]}" loses "[]" only
        depth += 1
    return depth


def json_content_type(content_type: str | None) -> bool:
    """No Content-Type, or a JSON one in UTF-8 (as `shared.webapp` requires)."""
    if not content_type:
        return True
    mimetype, _, params = content_type.partition(";")
    mimetype = mimetype.strip().lower()
    json_type = mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return json_type and charset in ("utf-8", "utf8")


def parse_body(raw: bytes) -> dict[str, Any]:
    """Strict JSON: UTF-8 without BOM, finite numbers, bounded nesting, an object."""
    if not raw:
        raise BodyError("the body is empty")
    if raw.startswith(b"\xef\xbb\xbf"):
        raise BodyError("the body starts with a byte order mark")
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    except RecursionError:
        raise BodyError("the JSON is nested too deeply") from None
    except BodyError:
        raise
    except ValueError as exc:
        # json.JSONDecodeError, and int() refusing thousands of digits.
        raise BodyError(f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BodyError("not a JSON object")
    # Only on text json.loads accepted: its strings are terminated and its escapes valid.
    if nesting_depth(raw, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BodyError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def extension_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx that says why (never an HTML page, never a 500)."""
    if not json_content_type(request.content_type):
        raise UnsupportedMediaType("the request body must be application/json (UTF-8)")
    parsed = request.environ.get(PARSED_BODY_ENVIRON)
    if isinstance(parsed, dict):
        # service/fast_path.py already parsed this very body, by the same rules.
        return parsed
    try:
        return parse_body(request.get_data(cache=True))
    except BodyError as exc:
        raise BadRequest(f"request body must be a JSON object: {exc}") from None
