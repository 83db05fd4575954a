"""The two update actions every customizable resource of the stand-in takes the same way:
`setCustomType` and `setCustomField`
(https://docs.commercetools.com/api/projects/custom-fields#update-actions), as `Action`s for
a resource's action table."""

from __future__ import annotations

from typing import Any

from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.custom import set_custom_field, set_custom_type
from sandbox.commercetools.kinds import Action, Resource


def set_custom_type_action(type_id: str) -> Action:
    """`setCustomType` on a resource whose types are for `type_id` (ResourceTypeId)."""

    def action(resource: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
        set_custom_type(resource, act, ctx, type_id)

    return action


def set_custom_field_action(
    resource: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    set_custom_field(resource, act, ctx)
