"""What the providers' renderers share (pure): picking the method that renders an operation's
kind, putting the given fields into a body, and the one text a points return carries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from shared.domain.providers.port import AnyNeutralOp, UnsupportedOperation

Body = dict[str, Any]
KindRenderers = Iterable[tuple[type, Callable[[Any], Body]]]


def render_kind(provider: str, op: AnyNeutralOp, renderers: KindRenderers) -> Body:
    """The body of `op` from the first renderer whose operation class it is; a kind the
    provider has no request for is `UnsupportedOperation` (the planner never plans it)."""
    for op_class, render in renderers:
        if isinstance(op, op_class):
            return render(op)
    raise UnsupportedOperation(f"{provider} has no {op.kind!r} operation")


def is_given(value: object) -> bool:
    """Given, even when false or empty (`False` opts a member out; `""` clears a name)."""
    return value is not None


def put_given(
    body: Body,
    fields: Iterable[tuple[str, object]],
    *,
    given: Callable[[object], bool] = bool,
) -> Body:
    """`body` with each (field, value) whose value is `given` (default: truthy) set on it."""
    for field, value in fields:
        if given(value):
            body[field] = value
    return body


def points_returned_text(order_ref: str) -> str:
    """The shopper-visible line of points given back for a cancelled order; unique per order,
    so a provider's history can be searched for it (Voyado's `was_applied`)."""
    return f"Points returned: order {order_ref} was cancelled"
