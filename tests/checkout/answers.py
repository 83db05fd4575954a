"""What commercetools does with an API Extension's answer on a cart, for tests that call the
extension directly (no stand-in in between): the update actions applied to the cart."""

from __future__ import annotations

from typing import Any


def apply_answer(obj: dict[str, Any], actions: list[dict[str, Any]]) -> int:
    """Apply the answer's `setCustomField` and `setDirectDiscounts` to `obj` in place; the cart's
    direct discounts' total (minor units), for the caller to price the cart with."""
    fields = dict(obj["custom"]["fields"])
    for action in actions:
        if action["action"] == "setCustomField":
            if "value" in action:
                fields[action["name"]] = action["value"]
            else:
                fields.pop(action["name"], None)
        elif action["action"] == "setDirectDiscounts":
            obj["directDiscounts"] = action["discounts"]
    obj["custom"] = {**obj["custom"], "fields": fields}
    return sum(d["value"]["money"][0]["centAmount"] for d in obj.get("directDiscounts") or [])
