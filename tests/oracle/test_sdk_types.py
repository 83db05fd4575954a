"""The oracle nobody here wrote: commercetools' TypeScript SDK types every payload.

(a) every draft and update action the connector's builders produce, and (b) every resource,
message and extension call the stand-in takes or serves in a short end-to-end scenario, are
written as typed literals and compiled with `tsc --noEmit` (see tests/oracle/sdk.py).
"""

from __future__ import annotations

import re

import pytest

from tests.oracle import builders
from tests.oracle.scenario import run_scenario
from tests.oracle.sdk import TOOLS, Typed, typecheck


def _report(errors: list[str]) -> str:
    return "the SDK types refuse:\n  " + "\n  ".join(errors)


def test_the_oracle_refuses_an_invented_a_misspelt_and_a_missing_field():
    # A check that cannot fail is no check: each of these must be a compile error.
    errors = typecheck(
        [
            Typed(
                "CartUpdateAction[]",
                [{"action": "setCustomField", "name": "x", "valu": 1}],
                "misspelt value",
            ),
            Typed(
                "ExtensionDraft",
                {"destination": {"type": "HTTP", "url": "u"}, "triggers": [], "inventd": 1},
                "invented field",
            ),
            Typed("SubscriptionDraft", {"messages": []}, "missing destination"),
            Typed(
                "CartUpdateAction[]",
                [{"action": "setDirectDiscountsIgnoreCartDiscount", "value": True}],
                "unknown action",
            ),
        ]
    )
    sources = {e.split(": ", 1)[0] for e in errors}
    assert sources == {
        "CartUpdateAction[] from misspelt value",
        "ExtensionDraft from invented field",
        "SubscriptionDraft from missing destination",
        "CartUpdateAction[] from unknown action",
    }, errors


def test_the_allowlist_of_newer_fields_cites_a_release_note_for_each():
    text = (TOOLS / "sdk-next.ts").read_text()
    blocks = re.split(r"\n(?=// --- )", text)
    entries = [b for b in blocks if b.startswith("// --- ")]
    assert entries, "the allowlist has no dated entry"
    for block in entries:
        assert re.search(r"https://docs\.commercetools\.com/api/releases/\S+", block), block
    # The allowlisted 2026-09-17 fields type-check; without the allowlist they would not.
    assert not typecheck(
        [
            Typed(
                "CartUpdateAction[]",
                [
                    {
                        "action": "setDirectDiscountsIgnoreCartDiscounts",
                        "directDiscountsIgnoreCartDiscounts": False,
                    }
                ],
                "2026-09-17 action",
            )
        ]
    )


def test_install_drafts_writeback_and_pos_drafts_conform():
    entries = (
        builders.install_drafts()
        + builders.writeback_actions()
        + builders.pos_drafts()
        + builders.coupon_drafts()
    )
    errors = typecheck(entries)
    assert not errors, _report(errors)


@pytest.mark.parametrize("foreign", [None, *builders.FOREIGN_DISCOUNTS])
def test_checkout_actions_conform(foreign):
    errors = typecheck(builders.checkout_actions(foreign))
    assert not errors, _report(errors)


def test_everything_the_standin_takes_and_serves_in_a_scenario_conforms():
    observed = run_scenario()
    kinds = {o.type_name for o in observed}
    # The scenario really went through the connector: its drafts, its extension's answer,
    # the resources and messages it read.
    for expected in (
        "ExtensionDraft",
        "SubscriptionDraft",
        "TypeDraft",
        "CartDraft",
        "CartUpdateAction[]",
        "ExtensionInput",
        "Cart",
        "Order",
        "Payment",
        "PaymentUpdateAction[]",
        "Message",
        "CustomObject",
        "CustomObjectDraft",
        "OrderImportDraft",
        "CartDiscountDraft",
        "CartDiscount",
        "DiscountCodeDraft",
        "DiscountCode",
        "MyCartDraft",
        "MyCartUpdateAction[]",
        "MessageNotification",
        "CustomerGroupDraft",
        "PaymentDraft",
        "OrderUpdateAction[]",
        # The event app's read of its items' categories (shared/orders/reconciler.py).
        "ProductProjectionPagedQueryResponse",
    ):
        assert expected in kinds, f"the scenario produced no {expected}: {sorted(kinds)}"
    left_out = [
        o.payload
        for o in observed
        if o.type_name == "MessageNotification" and "payloadNotIncluded" in o.payload
    ]
    assert left_out and all("type" not in n for n in left_out)
    entries = [Typed(o.type_name, o.payload, o.where) for o in observed]
    errors = typecheck(entries)
    assert not errors, _report(errors)
