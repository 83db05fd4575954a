"""The cart's discount update actions: Direct Discounts, the 2026-09-17
`directDiscountsIgnoreCartDiscounts` flag and discount codes, with the CartDiscountValueDraft /
CartDiscountTarget checks they share with the Cart Discounts resource
(`discount_value_and_target`). Pure functions over cart JSON."""

from __future__ import annotations

from typing import Any

from sandbox.commercetools import discounts, predicates
from sandbox.commercetools.context import Context, MessageSink
from sandbox.commercetools.errors import ApiError, invalid_input, invalid_operation
from sandbox.commercetools.kinds import Resource, required, text
from sandbox.commercetools.money import money, parse_money

MAX_DISCOUNT_CODES = 10
PERMYRIAD = 10_000
# CartDiscountValueDraft and CartDiscountTarget, every documented kind (RAML
# types/cart-discount/CartDiscountValueDraft.raml, CartDiscountTarget.raml). The stand-in
# prices absolute, relative and fixed values on the lineItems, customLineItems, shipping and
# totalPrice targets; the other kinds are accepted, stored and served but change no price
# (see sandbox/commercetools/README.md).
DISCOUNT_VALUE_TYPES = frozenset({"absolute", "relative", "fixed", "giftLineItem"})
DISCOUNT_TARGETS = frozenset(
    {
        "lineItems",
        "customLineItems",
        "shipping",
        "totalPrice",
        "pattern",
        "multiBuyLineItems",
        "multiBuyCustomLineItems",
    }
)
PRICED_TARGETS = frozenset({"lineItems", "customLineItems", "shipping", "totalPrice"})
MULTI_BUY_TARGETS = frozenset({"multiBuyLineItems", "multiBuyCustomLineItems"})
SELECTION_MODES = frozenset({"Cheapest", "MostExpensive"})


def _positive_int(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_input(f"'{name}' must be a positive integer.")
    return value


def _checked_predicate(predicate: Any) -> str:
    if not isinstance(predicate, str):
        raise invalid_input("A discount target needs a 'predicate'.")
    if not is_always(predicate):
        try:
            predicates.parse(predicate)
        except predicates.PredicateError as exc:
            raise invalid_input(f"Malformed target predicate '{predicate}': {exc}") from None
    return predicate


def _discount_value(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in DISCOUNT_VALUE_TYPES:
        raise invalid_input(
            f"A discount 'value' must be one of {', '.join(sorted(DISCOUNT_VALUE_TYPES))}."
        )
    if value["type"] == "relative":
        permyriad = value.get("permyriad")
        if (
            isinstance(permyriad, bool)
            or not isinstance(permyriad, int)
            or not 0 <= permyriad <= PERMYRIAD
        ):
            raise invalid_input("'permyriad' must be an integer between 0 and 10000.")
        checked: dict[str, Any] = {"type": "relative", "permyriad": permyriad}
        if value.get("applicationMode") is not None:
            checked["applicationMode"] = value["applicationMode"]
        return checked
    if value["type"] == "giftLineItem":
        product = value.get("product")
        if not isinstance(product, dict) or not isinstance(
            product.get("id") or product.get("key"), str
        ):
            raise invalid_input("A giftLineItem value needs a 'product' reference.")
        gift: dict[str, Any] = {
            "type": "giftLineItem",
            "product": {
                "typeId": "product",
                **{k: product[k] for k in ("id", "key") if k in product},
            },
            "variantId": _positive_int(value.get("variantId"), "variantId"),
        }
        for channel in ("supplyChannel", "distributionChannel"):
            if value.get(channel) is not None:
                gift[channel] = value[channel]
        return gift
    amounts = value.get("money")
    if not isinstance(amounts, list) or not amounts:
        raise invalid_input(f"An {value['type']} discount needs a 'money' list.")
    checked = {"type": value["type"], "money": [money(*parse_money(m, "money")) for m in amounts]}
    if value.get("applicationMode") is not None:
        checked["applicationMode"] = value["applicationMode"]
    return checked


def _discount_target(target: Any, value: dict[str, Any]) -> dict[str, Any] | None:
    # DirectDiscountDraft.target: "If `value` is set to `giftLineItem`, this must not be set."
    if value["type"] == "giftLineItem":
        if target is not None:
            raise invalid_input("A giftLineItem discount must not have a 'target'.")
        return None
    if not isinstance(target, dict) or target.get("type") not in DISCOUNT_TARGETS:
        raise invalid_input(f"A discount 'target' must be one of {sorted(DISCOUNT_TARGETS)}.")
    kind = target["type"]
    checked: dict[str, Any] = {"type": kind}
    if kind in ("lineItems", "customLineItems"):
        checked["predicate"] = _checked_predicate(target.get("predicate", "true"))
    elif kind in MULTI_BUY_TARGETS:
        # "not allowed for MultiBuyLineItemsTarget and MultiBuyCustomLineItemsTarget"
        # (CartDiscountValueAbsolute, RAML).
        if value["type"] == "absolute":
            raise invalid_input(f"An absolute discount cannot target {kind}.")
        checked["predicate"] = _checked_predicate(target.get("predicate"))
        checked["triggerQuantity"] = _positive_int(target.get("triggerQuantity"), "triggerQuantity")
        checked["discountedQuantity"] = _positive_int(
            target.get("discountedQuantity"), "discountedQuantity"
        )
        if checked["discountedQuantity"] > checked["triggerQuantity"]:
            raise invalid_input("'discountedQuantity' cannot exceed 'triggerQuantity'.")
        occurrence = _positive_int(target.get("maxOccurrence"), "maxOccurrence", optional=True)
        if occurrence is not None:
            checked["maxOccurrence"] = occurrence
        mode = target.get("selectionMode")
        if mode not in SELECTION_MODES:
            raise invalid_input("'selectionMode' must be Cheapest or MostExpensive.")
        checked["selectionMode"] = mode
    elif kind == "pattern":
        conditions = target.get("triggerPattern")
        effects = target.get("targetPattern")
        if not isinstance(conditions, list) or not isinstance(effects, list) or not effects:
            raise invalid_input("A pattern target needs 'triggerPattern' and 'targetPattern'.")
        checked["triggerPattern"] = conditions
        checked["targetPattern"] = effects
        for optional in ("maxOccurrence", "selectionMode"):
            if target.get(optional) is not None:
                checked[optional] = target[optional]
    return checked


def discount_value_and_target(
    value: Any, target: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A CartDiscountValueDraft and CartDiscountTarget, checked (Direct and Cart Discounts)."""
    checked = _discount_value(value)
    return checked, _discount_target(target, checked)


def _direct_discount(draft: Any, ctx: Context) -> dict[str, Any]:
    if not isinstance(draft, dict):
        raise invalid_input("A direct discount must be an object.")
    value, target = discount_value_and_target(draft.get("value"), draft.get("target"))
    discount: dict[str, Any] = {"id": ctx.new_id(), "value": value}
    if target is not None:
        discount["target"] = target
    if "participateInBestDealSelection" in draft:
        discount["participateInBestDealSelection"] = bool(draft["participateInBestDealSelection"])
    return discount


def is_always(predicate: Any) -> bool:
    return isinstance(predicate, str) and predicate.strip().lower() in ("true", "1 = 1", "1=1")


def ignores_cart_discounts(cart: Resource) -> bool:
    return bool(cart.get("directDiscountsIgnoreCartDiscounts", True))


def set_direct_discounts(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    discounts = act.get("discounts")
    if not isinstance(discounts, list):
        raise invalid_input("'discounts' must be a list.")
    # CartSetDirectDiscountsAction: "Adds a DirectDiscount, but only if no DiscountCode has
    # been added to the Cart" - which since the 2026-09-17 release holds while the cart's
    # directDiscountsIgnoreCartDiscounts is true ("If `false`, Cart Discounts, Discount
    # Codes, and Direct Discounts apply"): https://docs.commercetools.com/api/releases/2026-09-17-added-controls-for-how-direct-discounts-interact-with-cart-discounts-and-best-deal-selection
    if discounts and cart["discountCodes"] and ignores_cart_discounts(cart):
        raise invalid_operation(
            "A Direct Discount can only be added to a Cart without Discount Codes while "
            "directDiscountsIgnoreCartDiscounts is true."
        )
    cart["directDiscounts"] = [_direct_discount(d, ctx) for d in discounts]


def set_ignore_cart_discounts(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    value = required(act, "directDiscountsIgnoreCartDiscounts")
    if not isinstance(value, bool):
        raise invalid_input("'directDiscountsIgnoreCartDiscounts' must be a boolean.")
    # "The value can be set to `true` only if the Cart does not have both `discountCodes`
    # and `directDiscounts`." (Set DirectDiscountsIgnoreCartDiscounts, 2026-09-17 release)
    if value and cart["discountCodes"] and cart["directDiscounts"]:
        raise invalid_operation(
            "directDiscountsIgnoreCartDiscounts can be set to true only if the Cart does not "
            "have both discountCodes and directDiscounts."
        )
    cart["directDiscountsIgnoreCartDiscounts"] = value


def add_discount_code(cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink) -> None:
    code = text(act, "code")
    found = ctx.discount_code(code or "")
    if found is None:
        raise ApiError.single(
            400,
            "DiscountCodeNonApplicable",
            f"The discount code '{code}' was not found.",
            discountCode=code,
            reason="DoesNotExist",
        )
    reference = {"typeId": "discount-code", "id": found["id"]}
    if any(c["discountCode"] == reference for c in cart["discountCodes"]):
        return
    # "A Discount Code can be added only if no DirectDiscount has been applied to the Cart"
    # (CartAddDiscountCodeAction) while directDiscountsIgnoreCartDiscounts is true: "If
    # `true`, ... Discount Codes cannot be added." (2026-09-17 release, see above).
    if cart["directDiscounts"] and ignores_cart_discounts(cart):
        raise invalid_operation(
            "A Discount Code cannot be added to a Cart with Direct Discounts while "
            "directDiscountsIgnoreCartDiscounts is true."
        )
    refusal = discounts.code_refusal(found, cart, ctx)
    if refusal is not None:
        raise refusal
    if len(cart["discountCodes"]) >= MAX_DISCOUNT_CODES:
        raise invalid_operation(f"A cart can hold at most {MAX_DISCOUNT_CODES} discount codes.")
    # The state is evaluated with the cart's prices (discounts.evaluate, on recalculation).
    cart["discountCodes"].append({"discountCode": reference, "state": "MatchesCart"})


def remove_discount_code(
    cart: Resource, act: dict[str, Any], ctx: Context, emit: MessageSink
) -> None:
    given = required(act, "discountCode")
    wanted = given.get("id") if isinstance(given, dict) else None
    kept = [c for c in cart["discountCodes"] if c["discountCode"]["id"] != wanted]
    if len(kept) == len(cart["discountCodes"]):
        raise invalid_operation(f"The cart does not hold the discount code '{wanted}'.")
    cart["discountCodes"] = kept
