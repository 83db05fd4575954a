"""Part (a) of the oracle's collection: every draft and update action the connector builds,
from its own builder functions called on representative inputs (never copies of them)."""

from __future__ import annotations

import dataclasses
import inspect
import json
from datetime import UTC, datetime
from typing import Any

from event import install as event_install
from sandbox.commercetools.state import StandInConfig, StandInState
from service import install as service_install
from service.instore.models import OrderRequest
from service.instore.orders import import_draft
from shared.domain.checkout import cart as checkout
from shared.domain.customers.writeback_diff import (
    GroupPolicy,
    TypeTarget,
    member_state,
    plan_writeback,
)
from shared.domain.loyalty_fields import (
    CART_FIELD_DEFINITIONS,
    CUSTOMER_FIELD_DEFINITIONS,
    CartFields,
)
from shared.domain.loyalty_fields import CustomerFields as CF
from tests.oracle.sdk import Typed

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
OFFERED = [
    {
        "id": 1,
        "amount": 500,
        "discount_type": "fixed_amount",
        "discount_amount_cents": 500,
        "currency": "EUR",
    },
    {
        "id": 2,
        "amount": 1000,
        "discount_type": "percentage",
        "discount_percentage": 10,
        "cart_greater_than": 1000,
    },
]
REDEMPTION = {"id": 77, "reward_text": "YOTPO-ORACLE"}
# Direct discounts another integration may have put on the cart, one of each documented
# kind (RAML types/cart/DirectDiscount.raml: `target` is absent for giftLineItem).
FOREIGN_DISCOUNTS: dict[str, dict[str, Any]] = {
    "relative-lineItems": {
        "value": {"type": "relative", "permyriad": 500},
        "target": {"type": "lineItems", "predicate": "true"},
    },
    "giftLineItem": {
        "value": {
            "type": "giftLineItem",
            "product": {"typeId": "product", "id": "p-gift"},
            "variantId": 1,
        },
    },
    "multiBuyLineItems": {
        "value": {"type": "relative", "permyriad": 10000},
        "target": {
            "type": "multiBuyLineItems",
            "predicate": "true",
            "triggerQuantity": 3,
            "discountedQuantity": 1,
            "selectionMode": "Cheapest",
        },
    },
}


def _extension_changes(draft: dict[str, Any]) -> Any:
    """The install's diff builder, whichever of its signatures is current."""
    builder = service_install._extension_changes
    keywords = inspect.signature(builder).parameters
    given: dict[str, Any] = {}
    if "secret_changed" in keywords:
        given["secret_changed"] = True
    if "dependency_ids" in keywords:
        given["dependency_ids"] = []
    return builder(draft, **given)


def install_drafts() -> list[Typed]:
    draft = service_install.extension_draft(
        service_install.extension_url("https://service.example.com"), "Bearer s3cret", 2000
    )
    stored = {**draft, "id": "e-1", "version": 1, "triggers": [], "timeoutInMs": 1}
    stored["destination"] = {**draft["destination"], "url": "https://old.example.com/service"}
    subscription = event_install.subscription_draft("gcp-project", "topic")
    stored_subscription = {**subscription, "messages": [], "destination": {"type": "x"}}
    found: list[Typed] = [
        Typed("ExtensionDraft", draft, "service.install.extension_draft"),
        Typed(
            "ExtensionUpdateAction[]",
            _extension_changes(draft)(stored),
            "service.install._extension_changes",
        ),
        Typed("SubscriptionDraft", subscription, "event.install.subscription_draft"),
        Typed(
            "SubscriptionUpdateAction[]",
            event_install._changes(subscription)(stored_subscription),
            "event.install._changes",
        ),
    ]
    for name, definitions in (
        ("CART_FIELD_DEFINITIONS", CART_FIELD_DEFINITIONS),
        ("CUSTOMER_FIELD_DEFINITIONS", CUSTOMER_FIELD_DEFINITIONS),
    ):
        found.append(Typed("FieldDefinition[]", list(definitions), f"loyalty_fields.{name}"))
        found.append(
            Typed(
                "TypeUpdateAction[]",
                [{"action": "addFieldDefinition", "fieldDefinition": d} for d in definitions],
                f"addFieldDefinition of loyalty_fields.{name} (shared.install)",
            )
        )
    return found


SEAL_KEY = b"oracle-seal-key-0123456789abcdef"
CONFIGS = {
    "stack": {},
    "exclusive": {"stacking": "exclusive"},
    "best-deal": {"best_deal": True},
    "custom-line-item": {"strategy": "custom-line-item", "tax_category_key": "standard"},
}


def _config(overrides: dict[str, Any]) -> checkout.CheckoutConfig:
    fields = {f.name for f in dataclasses.fields(checkout.CheckoutConfig)}
    extra = {"seal_key": SEAL_KEY} if "seal_key" in fields else {}
    return checkout.CheckoutConfig(**overrides, **extra)


def _facts(cart: dict[str, Any], config: checkout.CheckoutConfig) -> checkout.CartFacts:
    if "seal_key" in inspect.signature(checkout.cart_facts).parameters:
        return checkout.cart_facts(cart, getattr(config, "seal_key", b""))
    return checkout.cart_facts(cart)


def _approve(facts: checkout.CartFacts) -> checkout.Approval:
    approval = checkout.evaluate(facts, offered=OFFERED, balance=5000)
    settle = getattr(checkout, "settle_amount", None)
    if settle is not None:
        approval = settle(facts, approval, REDEMPTION)
    assert isinstance(approval, checkout.Approval), approval
    return approval


def _maintain(facts: checkout.CartFacts, config: Any, cancelled: bool) -> list[dict[str, Any]]:
    plan = getattr(checkout, "maintain_plan", None)
    if plan is not None:
        return list(plan(facts, config, cancelled=cancelled).actions)
    return checkout.maintain_actions(facts, config, cancelled=cancelled)


def _loyalty_cart(state: StandInState, direct: list[dict[str, Any]]) -> dict[str, Any]:
    """A cart on the stand-in (real prices and taxes) asking for reward option 1."""
    state.create(
        "types",
        {
            "key": "oracle-loyalty",
            "name": {"en": "loyalty"},
            "resourceTypeIds": ["order"],
            "fieldDefinitions": list(CART_FIELD_DEFINITIONS),
        },
    )
    cart = state.create(
        "carts",
        {
            "currency": "EUR",
            "customerId": "cust-1",
            "customerEmail": "sam@example.com",
            "lineItems": [{"sku": "SKU-HOODIE", "quantity": 2}, {"sku": "SKU-MUG"}],
            "custom": {
                "type": {"typeId": "type", "key": "oracle-loyalty"},
                "fields": {CartFields.REQUESTED_OPTION: "1"},
            },
        },
    )
    if direct:
        cart = state.update(
            "carts",
            ("id", cart["id"]),
            cart["version"],
            [{"action": "setDirectDiscounts", "discounts": direct}],
        )
    return cart


def checkout_actions(foreign: str | None) -> list[Typed]:
    """redeem and maintain actions on a real cart carrying one foreign direct discount:
    redeem on the requesting cart, the redeem actions applied by the stand-in, then maintain
    on that cart after a quantity change and after Yotpo cancelled the code."""
    direct = [FOREIGN_DISCOUNTS[foreign]] if foreign else []
    found = []
    for name, overrides in CONFIGS.items():
        config = _config(overrides)
        state = StandInState(StandInConfig())
        try:
            cart = _loyalty_cart(state, direct)
            facts = _facts(cart, config)
            actions = checkout.redeem_actions(facts, _approve(facts), REDEMPTION, config)
            where = f"({name}, foreign {foreign})"
            found.append(Typed("CartUpdateAction[]", actions, f"redeem_actions {where}"))
            applied = state.update("carts", ("id", cart["id"]), cart["version"], actions)
            line = applied["lineItems"][0]["id"]
            changed = state.update(
                "carts",
                ("id", cart["id"]),
                applied["version"],
                [{"action": "changeLineItemQuantity", "lineItemId": line, "quantity": 5}],
            )
            for cancelled in (False, True):
                maintained = _maintain(_facts(changed, config), config, cancelled)
                label = f"maintain {where} cancelled={cancelled}"
                found.append(Typed("CartUpdateAction[]", maintained, label))
        finally:
            state.close()
    return found


def writeback_actions() -> list[Typed]:
    member = member_state(
        {
            "id": "c-1",
            "email": "sam@example.com",
            "points_balance": 420,
            "vip_tier_name": "Gold",
            "vip_tier_ends_at": "2027-11-23T10:00:00Z",
            "referral_code": {"code": "REF000042"},
        }
    )
    target = TypeTarget(type_id="type-loyalty", type_key="yotpo-loyalty-customer")
    groups = GroupPolicy({"Gold": "group-gold", "Silver": "group-silver"})
    customers = {
        "without custom type": {"id": "c-1", "version": 3, "email": "sam@example.com"},
        "stale fields, silver group": {
            "id": "c-1",
            "version": 7,
            "email": "sam@example.com",
            "custom": {
                "type": {"typeId": "type", "id": "type-loyalty"},
                "fields": {CF.POINTS_BALANCE: 1, CF.VIP_TIER: "Silver"},
            },
            "customerGroup": {"typeId": "customer-group", "id": "group-silver"},
        },
    }
    found = []
    for name, customer in customers.items():
        plan = plan_writeback(customer, member, target, groups, NOW)
        assert plan.actions, f"the write-back of a customer {name} changes something"
        found.append(
            Typed("CustomerUpdateAction[]", list(plan.actions), f"plan_writeback ({name})")
        )
    return found


def pos_drafts() -> list[Typed]:
    request = OrderRequest.model_validate(
        {
            "request_id": "s-1",
            "order_number": "BER-0001",
            "email": "linus@example.com",
            "currency": "EUR",
            "lines": [
                {"sku": "SKU-MUG", "name": "Mug", "quantity": 2, "unit_price_minor": 1250},
                {"name": "Gift wrap", "quantity": 1, "unit_price_minor": 300},
            ],
            "tax_minor": 400,
            "reward_code": "YOTPO-POS",
        }
    )
    draft = import_draft(
        request,
        store="berlin",
        customer_id="c-1",
        email="linus@example.com",
        type_key="yotpo-loyalty-order",
        completed_at=NOW,
    )
    return [Typed("OrderImportDraft", json.loads(json.dumps(draft)), "instore.import_draft")]


def coupon_drafts() -> list[Typed]:
    """The cart discount and discount code the Create Coupons URL makes, for every reward kind
    (`shared/domain/checkout/coupons.py`), bound and unbound to a customer."""
    from shared.domain.checkout.coupons import (
        IssuePlan,
        RewardOption,
        cart_discount_draft,
        discount_code_draft,
    )

    options = {
        "fixed": RewardOption(kind="fixed", amount={"EUR": 500, "JPY": 700}, minimum={"EUR": 2000}),
        "variable": RewardOption(kind="variable", amount={"KWD": 5000}),
        "percentage": RewardOption(kind="percentage", percentBp=1000, store="berlin"),
        "free_shipping": RewardOption(kind="free_shipping", stacking="stop"),
    }
    typed: list[Typed] = []
    for kind, option in options.items():
        currency = "KWD" if kind == "variable" else "EUR"
        plan = IssuePlan(
            option_id="7",
            option=option,
            currency=currency,
            amount=1250 if kind == "variable" else (500 if kind == "fixed" else None),
            code=f"YL-ORACLE-{kind.upper()}",
            customer_id="customer-ada" if kind != "free_shipping" else None,
            email_digest=None,
        )
        source = f"coupons.{kind}"
        typed.append(Typed("CartDiscountDraft", cart_discount_draft(plan), source))
        code = discount_code_draft(plan, "cd-1", customer_id=plan.customer_id, now=NOW)
        typed.append(Typed("DiscountCodeDraft", code, source))
    return typed
