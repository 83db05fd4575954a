"""Custom fields: a Type reference plus values checked against its field definitions."""

from __future__ import annotations

from typing import Any

from sandbox.commercetools.context import Context
from sandbox.commercetools.errors import ApiError, invalid_input, invalid_operation
from sandbox.commercetools.money import money, parse_money

# A Type for orders also serves carts: cart fields carry over to the order.
_SERVES = {"order": {"order", "cart"}}

FIELD_TYPES = frozenset(
    {
        "String",
        "Number",
        "Boolean",
        "DateTime",
        "Date",
        "Time",
        "LocalizedString",
        "Money",
        "Enum",
        "LocalizedEnum",
        "Reference",
        "Set",
    }
)


def custom_from_draft(draft: Any, ctx: Context, resource_type_id: str) -> dict[str, Any] | None:
    """The stored `custom` of a `{type: {key | id}, fields}` draft (None when absent)."""
    if draft is None:
        return None
    if not isinstance(draft, dict) or not isinstance(draft.get("type"), dict):
        raise invalid_input("'custom' needs a 'type' reference.")
    type_ = ctx.resolve("type", draft["type"])
    served = set().union(*(_SERVES.get(t, {t}) for t in type_.get("resourceTypeIds") or []))
    if resource_type_id not in served:
        raise invalid_operation(
            f"Type '{type_.get('key') or type_['id']}' is not for resources of type "
            f"'{resource_type_id}'."
        )
    fields = draft.get("fields") or {}
    if not isinstance(fields, dict):
        raise invalid_input("'custom.fields' must be an object.")
    checked = {name: field_value(type_, name, value) for name, value in fields.items()}
    return {
        "type": {"typeId": "type", "id": type_["id"]},
        "fields": {k: v for k, v in checked.items() if v is not None},
    }


def set_custom_type(
    resource: dict[str, Any], action: dict[str, Any], ctx: Context, type_id: str
) -> None:
    if action.get("type") is None:
        resource.pop("custom", None)
        return
    resource["custom"] = custom_from_draft(
        {"type": action["type"], "fields": action.get("fields")}, ctx, type_id
    )


def set_custom_field(resource: dict[str, Any], action: dict[str, Any], ctx: Context) -> None:
    custom = resource.get("custom")
    name = action.get("name")
    if not isinstance(name, str):
        raise invalid_input("'name' is required.")
    if not custom:
        raise invalid_operation("This resource has no custom type; use setCustomType first.")
    type_ = ctx.resolve("type", custom["type"])
    value = field_value(type_, name, action.get("value"))
    if value is None:
        custom["fields"].pop(name, None)
    else:
        custom["fields"][name] = value


def field_value(type_: dict[str, Any], name: str, value: Any) -> Any:
    definition = next(
        (d for d in type_.get("fieldDefinitions") or [] if d.get("name") == name), None
    )
    if definition is None:
        raise invalid_operation(
            f"The field '{name}' is not defined in type '{type_.get('key') or type_['id']}'."
        )
    if value is None:
        return None
    return _checked(definition["type"], value, name)


def _checked(field_type: dict[str, Any], value: Any, name: str) -> Any:
    kind = field_type.get("name")
    problem = ApiError.single(
        400,
        "InvalidField",
        f"The value '{value}' is not valid for field '{name}'.",
        field=name,
        invalidValue=value,
        allowedValues=[],
    )
    if kind == "Set":
        if not isinstance(value, list):
            raise problem
        return [_checked(field_type.get("elementType") or {}, v, name) for v in value]
    if kind in ("String", "DateTime", "Date", "Time"):
        ok = isinstance(value, str)
    elif kind == "Number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "Boolean":
        ok = isinstance(value, bool)
    elif kind == "LocalizedString":
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    elif kind == "Money":
        try:
            currency, cents = parse_money(value, name)
        except ApiError:
            raise problem from None
        return money(currency, cents)
    elif kind in ("Enum", "LocalizedEnum"):
        keys = {v.get("key") for v in field_type.get("values") or []}
        ok = isinstance(value, str) and value in keys
    elif kind == "Reference":
        ok = isinstance(value, dict) and isinstance(value.get("id"), str)
    else:
        ok = True
    if not ok:
        raise problem
    return value
