"""Cart Discounts and Discount Codes as resources, and which of them apply to a cart.

Sources: Cart Discounts API (https://docs.commercetools.com/api/projects/cartDiscounts),
Discount Codes API (https://docs.commercetools.com/api/projects/discountCodes), the cart
predicate language (https://docs.commercetools.com/api/projects/predicates and
https://docs.commercetools.com/api/predicates/predicate-operators) and the 2026-09-17 release
on Direct Discounts next to Cart Discounts
(https://docs.commercetools.com/api/releases/2026-09-17-added-controls-for-how-direct-discounts-interact-with-cart-discounts-and-best-deal-selection).

Pricing itself lives in `carts.py`; this module decides *which* discounts take part, in which
order (higher `sortOrder` first), and the `DiscountCodeState` of every code on a cart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sandbox.commercetools import predicates
from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.custom import custom_from_draft
from sandbox.commercetools.custom_actions import set_custom_field_action, set_custom_type_action
from sandbox.commercetools.errors import ApiError, invalid_input, invalid_operation
from sandbox.commercetools.kinds import (
    Action,
    Kind,
    Resource,
    checked_key,
    reference,
    required,
    set_key,
    set_or_drop,
    text,
)
from sandbox.commercetools.money import fraction_digits

STACKING_MODES = frozenset({"Stacking", "StopAfterThisDiscount"})
MAX_CART_DISCOUNTS_PER_CODE = 10  # "A Discount Code can apply up to 10 Cart Discounts."
_MONEY_STRING = re.compile(r'"(?P<amount>-?\d+(?:\.\d+)?) (?P<currency>[A-Z]{3})"')


# --- the cart predicate language (the subset the stand-in evaluates) -------------------------
def cart_predicate_view(cart: Resource) -> dict[str, Any]:
    """The fields a cart predicate names. MoneyString values (`"10.00 EUR"`) compare as minor
    units of the cart's currency; `totalPrice` is the total before Cart Discounts."""
    currency = cart["totalPrice"]["currencyCode"]
    merchandise = sum(
        int(i["price"]["value"]["centAmount"]) * i["quantity"] for i in cart["lineItems"]
    )
    custom = sum(int(i["money"]["centAmount"]) * i["quantity"] for i in cart["customLineItems"])
    address = cart.get("shippingAddress") or {}
    return {
        **cart,
        "currency": currency,
        "totalPrice": merchandise + custom,
        "country": cart.get("country") or address.get("country"),
        "customer": {"id": cart.get("customerId"), "email": cart.get("customerEmail")},
        "lineItemCount": sum(i["quantity"] for i in cart["lineItems"]),
        "customLineItemCount": sum(i["quantity"] for i in cart["customLineItems"]),
    }


def _money_literals(predicate: str, currency: str) -> str:
    digits = fraction_digits(currency)

    def replace(match: re.Match[str]) -> str:
        if match["currency"] != currency:
            return '"\u0000other-currency"'  # never comparable with a number: false
        return str(int(Fraction(match["amount"]) * 10**digits))

    return _MONEY_STRING.sub(replace, predicate)


def _always(predicate: str) -> bool:
    return predicate.strip().lower() in ("true", "1 = 1", "1=1", "true = true")


def check_cart_predicate(predicate: Any, field: str = "cartPredicate") -> str:
    if not isinstance(predicate, str) or not predicate.strip():
        raise invalid_input(f"'{field}' must be a predicate.", field=field)
    if not _always(predicate):
        try:
            predicates.parse(_money_literals(predicate, "EUR"))
        except predicates.PredicateError as exc:
            raise invalid_input(
                f"Malformed or unsupported cart predicate '{predicate}': {exc}", field=field
            ) from None
    return predicate


def cart_matches(predicate: str | None, cart: Resource) -> bool:
    if predicate is None or _always(predicate):
        return True
    view = cart_predicate_view(cart)
    try:
        return predicates.matches(_money_literals(predicate, view["currency"]), view)
    except predicates.PredicateError:
        return False


# --- shared field checks ------------------------------------------------------------------------
def _localized(value: Any, name: str, *, optional: bool = False) -> dict[str, str] | None:
    if value is None and optional:
        return None
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise invalid_input(f"'{name}' must be a LocalizedString.", field=name)
    return dict(value)


def _instant(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}T", value):
        raise invalid_input(f"'{name}' must be a DateTime.", field=name)
    return value


def _window(resource: Resource) -> None:
    since, until = resource.get("validFrom"), resource.get("validUntil")
    if since is not None and until is not None and since >= until:
        raise invalid_input("'validFrom' must be before 'validUntil'.")


def in_window(resource: Resource, now: str) -> bool:
    since, until = resource.get("validFrom"), resource.get("validUntil")
    return (since is None or since <= now) and (until is None or now < until)


def _stores(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(s, dict) and isinstance(s.get("key"), str) for s in value
    ):
        raise invalid_input("'stores' must be StoreResourceIdentifiers with a 'key'.")
    return [{"typeId": "store", "key": s["key"]} for s in value]


def _sort_order(value: Any) -> str:
    # "Value between 0 and 1 ... It is unique among all CartDiscounts" (CartDiscount.sortOrder).
    if not isinstance(value, str):
        raise invalid_input("'sortOrder' must be a decimal string between 0 and 1.")
    try:
        number = Fraction(value)
    except ValueError:
        raise invalid_input(f"'sortOrder' '{value}' is not a decimal.") from None
    if not 0 < number < 1 or value.endswith("0") or not re.fullmatch(r"0\.\d+", value):
        raise invalid_input(
            f"'sortOrder' '{value}' must be a decimal between 0 and 1 without trailing zeros.",
            field="sortOrder",
        )
    return value


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_input(f"'{name}' must be a non-negative integer.", field=name)
    return value


# --- cart discounts -----------------------------------------------------------------------------
def _value_and_target(draft: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    # The same value and target shapes as a Direct Discount (one validator for both).
    from sandbox.commercetools.carts import discount_value_and_target

    return discount_value_and_target(draft.get("value"), draft.get("target"))


def build_cart_discount(draft: dict[str, Any], ctx: Context) -> Resource:
    value, target = _value_and_target(draft)
    stacking = draft.get("stackingMode", "Stacking")
    if stacking not in STACKING_MODES:
        raise invalid_input("'stackingMode' must be Stacking or StopAfterThisDiscount.")
    discount: Resource = {
        "key": checked_key(draft.get("key")),
        "name": _localized(draft.get("name"), "name"),
        "description": _localized(draft.get("description"), "description", optional=True),
        "value": value,
        "cartPredicate": check_cart_predicate(draft.get("cartPredicate")),
        "target": target,
        "sortOrder": _sort_order(required(draft, "sortOrder")),
        "stores": _stores(draft.get("stores")),
        "isActive": bool(draft.get("isActive", True)),
        "validFrom": _instant(draft.get("validFrom"), "validFrom"),
        "validUntil": _instant(draft.get("validUntil"), "validUntil"),
        "requiresDiscountCode": bool(draft.get("requiresDiscountCode", False)),
        "references": [],
        "stackingMode": stacking,
        "recurringOrderScope": {"type": "AnyOrder"},
    }
    return _finished(discount, draft, ctx, "cart-discount")


def _finished(resource: Resource, draft: dict[str, Any], ctx: Context, type_id: str) -> Resource:
    """A drafted discount (or code) with its custom fields, without null fields, its validity
    window checked."""
    if draft.get("custom") is not None:
        resource["custom"] = custom_from_draft(draft["custom"], ctx, type_id)
    resource = {k: v for k, v in resource.items() if v is not None}
    _window(resource)
    return resource


def _setter(field: str, check: Any) -> Action:
    def action(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
        set_or_drop(d, field, check(act.get(field), field))
        _window(d)

    return action


def _change_value(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    value, target = _value_and_target({"value": act.get("value"), "target": d.get("target")})
    d["value"] = value
    set_or_drop(d, "target", target)


def _change_target(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    _, target = _value_and_target({"value": d["value"], "target": act.get("target")})
    set_or_drop(d, "target", target)


def _change_cart_predicate(
    d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    d["cartPredicate"] = check_cart_predicate(act.get("cartPredicate"))


def _change_is_active(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    value = required(act, "isActive")
    if not isinstance(value, bool):
        raise invalid_input("'isActive' must be a boolean.")
    d["isActive"] = value


def _change_sort_order(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    d["sortOrder"] = _sort_order(required(act, "sortOrder"))


def _change_requires_code(
    d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    d["requiresDiscountCode"] = bool(required(act, "requiresDiscountCode"))


def _change_stacking(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    mode = required(act, "stackingMode")
    if mode not in STACKING_MODES:
        raise invalid_input("'stackingMode' must be Stacking or StopAfterThisDiscount.")
    d["stackingMode"] = mode


def _change_name(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    d["name"] = _localized(act.get("name"), "name")


def _set_description(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    set_or_drop(d, "description", _localized(act.get("description"), "description", optional=True))


def _set_valid_from_and_until(
    d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    set_or_drop(d, "validFrom", _instant(act.get("validFrom"), "validFrom"))
    set_or_drop(d, "validUntil", _instant(act.get("validUntil"), "validUntil"))
    _window(d)


def _set_stores(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    d["stores"] = _stores(act.get("stores"))


def _add_store(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    (store,) = _stores([required(act, "store")])
    if store not in d["stores"]:
        d["stores"].append(store)


def _remove_store(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    (store,) = _stores([required(act, "store")])
    if store not in d["stores"]:
        raise invalid_operation(f"The Cart Discount is not in the store '{store['key']}'.")
    d["stores"].remove(store)


CART_DISCOUNTS = Kind(
    "cart-discounts",
    "cart-discount",
    build_cart_discount,
    {
        "changeValue": _change_value,
        "changeTarget": _change_target,
        "changeCartPredicate": _change_cart_predicate,
        "changeIsActive": _change_is_active,
        "changeSortOrder": _change_sort_order,
        "changeRequiresDiscountCode": _change_requires_code,
        "changeStackingMode": _change_stacking,
        "changeName": _change_name,
        "setDescription": _set_description,
        "setValidFrom": _setter("validFrom", _instant),
        "setValidUntil": _setter("validUntil", _instant),
        "setValidFromAndUntil": _set_valid_from_and_until,
        "setStores": _set_stores,
        "addStore": _add_store,
        "removeStore": _remove_store,
        "setKey": set_key,
        "setCustomType": set_custom_type_action("cart-discount"),
        "setCustomField": set_custom_field_action,
    },
)


# --- discount codes -----------------------------------------------------------------------------
def _cart_discount_refs(value: Any, ctx: Context) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise invalid_input("'cartDiscounts' must list at least one Cart Discount.")
    if len(value) > MAX_CART_DISCOUNTS_PER_CODE:
        raise invalid_input(
            f"A Discount Code can apply at most {MAX_CART_DISCOUNTS_PER_CODE} Cart Discounts."
        )
    return [reference("cart-discount", ctx.resolve("cart-discount", r)) for r in value]


def _groups(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise invalid_input("'groups' must be a list of strings.")
    return list(value)


def build_discount_code(draft: dict[str, Any], ctx: Context) -> Resource:
    code = text(draft, "code")
    if not code or len(code) > 64:
        raise invalid_input("A discount code has 1 to 64 characters.", field="code")
    cart_predicate = draft.get("cartPredicate")
    result: Resource = {
        "key": checked_key(draft.get("key")),
        "code": code,
        "name": _localized(draft.get("name"), "name", optional=True),
        "description": _localized(draft.get("description"), "description", optional=True),
        "cartDiscounts": _cart_discount_refs(draft.get("cartDiscounts"), ctx),
        "cartPredicate": None if cart_predicate is None else check_cart_predicate(cart_predicate),
        "isActive": bool(draft.get("isActive", True)),
        "references": [],
        "maxApplications": _count(draft.get("maxApplications"), "maxApplications"),
        "maxApplicationsPerCustomer": _count(
            draft.get("maxApplicationsPerCustomer"), "maxApplicationsPerCustomer"
        ),
        "groups": _groups(draft.get("groups")),
        "validFrom": _instant(draft.get("validFrom"), "validFrom"),
        "validUntil": _instant(draft.get("validUntil"), "validUntil"),
        "stores": [],
    }
    return _finished(result, draft, ctx, "discount-code")


def _change_cart_discounts(
    d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    d["cartDiscounts"] = _cart_discount_refs(act.get("cartDiscounts"), ctx)


def _set_code_predicate(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    given = act.get("cartPredicate")
    set_or_drop(d, "cartPredicate", None if given is None else check_cart_predicate(given))


def _change_groups(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    d["groups"] = _groups(required(act, "groups"))


def _set_name(d: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    set_or_drop(d, "name", _localized(act.get("name"), "name", optional=True))


DISCOUNT_CODES = Kind(
    "discount-codes",
    "discount-code",
    build_discount_code,
    {
        "changeIsActive": _change_is_active,
        "changeCartDiscounts": _change_cart_discounts,
        "changeGroups": _change_groups,
        "setCartPredicate": _set_code_predicate,
        "setMaxApplications": _setter("maxApplications", _count),
        "setMaxApplicationsPerCustomer": _setter("maxApplicationsPerCustomer", _count),
        "setValidFrom": _setter("validFrom", _instant),
        "setValidUntil": _setter("validUntil", _instant),
        "setValidFromAndUntil": _set_valid_from_and_until,
        "setName": _set_name,
        "setDescription": _set_description,
        "setKey": set_key,
        "setCustomType": set_custom_type_action("discount-code"),
        "setCustomField": set_custom_field_action,
    },
)


# --- which discounts apply to a cart --------------------------------------------------------------
@dataclass(frozen=True)
class Applied:
    """One discount taking part in pricing: its reference, value, target, and whether it
    stops the discounts after it (`stackingMode: StopAfterThisDiscount`)."""

    reference: dict[str, Any]
    value: dict[str, Any]
    target: dict[str, Any] | None
    stops: bool = False


def _store_matches(discount: Resource, cart: Resource) -> bool:
    stores = discount.get("stores") or []
    key = (cart.get("store") or {}).get("key")
    return not stores or any(s["key"] == key for s in stores)


def _usable(discount: Resource | None, cart: Resource, now: str) -> bool:
    return (
        discount is not None
        and discount["isActive"]
        and in_window(discount, now)
        and _store_matches(discount, cart)
    )


def code_refusal(code: Resource, cart: Resource, ctx: Context) -> ApiError | None:
    """Why Add DiscountCode refuses the code outright (DiscountCodeNonApplicable): "If the
    related Cart Discounts are inactive or invalid, or belong to a different Store than the
    Cart" (CartAddDiscountCodeAction), or the code is outside its validity period."""
    now = ctx.now()
    fields = {"discountCode": code["code"], "discountCodeId": code["id"]}
    if not in_window(code, now):
        return ApiError.single(
            400,
            "DiscountCodeNonApplicable",
            f"The discountCode {code['id']} cannot be applied to the cart.",
            reason="TimeRangeNonApplicable",
            **fields,
            **{k: code[k] for k in ("validFrom", "validUntil") if k in code},
            validityCheckTime=now,
        )
    discounts = [ctx.cart_discount(r["id"]) for r in code["cartDiscounts"]]
    if not any(_usable(d, cart, now) for d in discounts):
        return ApiError.single(
            400,
            "DiscountCodeNonApplicable",
            f"The discountCode {code['id']} cannot be applied to the cart.",
            **fields,
        )
    return None


def evaluate(cart: Resource, ctx: Context) -> list[Applied]:
    """Set each code's DiscountCodeState on `cart` and return the Cart Discounts that apply,
    in application order (higher sortOrder first; a StopAfterThisDiscount stops the rest)."""
    now = ctx.now()
    by_code: dict[str, str] = {}  # cart discount id -> the code that unlocks it
    codes = []
    for entry in cart.get("discountCodes") or []:
        code = ctx.discount_code_by_id(entry["discountCode"]["id"])
        state = _code_state(code, cart, ctx, now)
        entry["state"] = state
        codes.append((entry, code))
        if state == "MatchesCart" and code is not None:
            for ref in code["cartDiscounts"]:
                by_code.setdefault(ref["id"], code["id"])
    candidates = []
    for discount in ctx.cart_discounts():
        if not _usable(discount, cart, now) or not cart_matches(discount["cartPredicate"], cart):
            continue
        if discount["requiresDiscountCode"] and discount["id"] not in by_code:
            continue
        candidates.append(discount)
    candidates.sort(key=lambda d: Fraction(d["sortOrder"]), reverse=True)
    applied: list[Applied] = []
    reached: set[str] = set()
    for discount in candidates:
        reached.add(discount["id"])
        applied.append(
            Applied(
                {"typeId": "cart-discount", "id": discount["id"]},
                discount["value"],
                discount.get("target"),
                discount["stackingMode"] == "StopAfterThisDiscount",
            )
        )
        if discount["stackingMode"] == "StopAfterThisDiscount":
            break
    for entry, code in codes:
        if entry["state"] == "MatchesCart" and code is not None:
            unlocked = [
                r["id"] for r in code["cartDiscounts"] if by_code.get(r["id"]) == code["id"]
            ]
            if unlocked and not any(i in reached for i in unlocked):
                entry["state"] = "ApplicationStoppedByPreviousDiscount"
    return applied


def _code_state(code: Resource | None, cart: Resource, ctx: Context, now: str) -> str:
    """DiscountCodeState (https://docs.commercetools.com/api/projects/carts#discountcodestate)."""
    if code is None or not code["isActive"]:
        return "NotActive"
    discounts = [ctx.cart_discount(r["id"]) for r in code["cartDiscounts"]]
    if not any(d is not None and d["isActive"] for d in discounts):
        return "NotActive"
    if not in_window(code, now) or not any(_usable(d, cart, now) for d in discounts):
        return "NotValid"
    total, mine = ctx.code_applications(code["id"], cart.get("customerId"))
    if code.get("maxApplications") is not None and total >= code["maxApplications"]:
        return "MaxApplicationReached"
    limit = code.get("maxApplicationsPerCustomer")
    if limit is not None and cart.get("customerId") and mine >= limit:
        return "MaxApplicationReached"
    if not cart_matches(code.get("cartPredicate"), cart):
        return "DoesNotMatchCart"
    if not any(
        _usable(d, cart, now) and cart_matches(d["cartPredicate"], cart)  # type: ignore[index]
        for d in discounts
    ):
        return "DoesNotMatchCart"
    return "MatchesCart"
