"""The demo's story in a store served by Voyado Engage (`python -m sandbox.demo --provider
voyado`, `make run PROVIDER=voyado`), with a Yotpo store beside it in the same project.

It plays what the connector does through the provider port, checked against the Voyado
stand-in's own state, and says plainly what Voyado does not do (`NotOffered`: no tier API)
and what is not through the port yet (`NotYetAvailable`); it never stands in for the connector.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests

from sandbox.demo_steps import EMAIL, NotOffered, StoryRunner, sent_since
from sandbox.stack import (
    VOYADO_POINTS_PER_EURO,
    VOYADO_STORE,
    VOYADO_VOUCHER_EUR,
    VOYADO_VOUCHER_STEP_POINTS,
    YOTPO_GUID,
    SandboxStack,
    eventually,
)
from shared.domain.loyalty_fields import CustomerFields
from shared.domain.money import format_minor
from shared.domain.providers.voyado import VOYADO_CAPABILITIES
from shared.errors import CommercetoolsPermanentError

VOYADO_EMAIL = EMAIL
YOTPO_NEIGHBOUR_EMAIL = "bob@example.com"
# How long the story waits for the connector to make Ada's Voyado contact from her sign-up.
CONTACT_WAIT_SECONDS = 10.0


def voyado_points(paid_minor: int, points_per_euro: int = VOYADO_POINTS_PER_EURO) -> int:
    """What the stand-in's points model gives one EUR line: floor(gross paid × rate)."""
    return int(Decimal(paid_minor) * points_per_euro // 100)


class VoyadoStory(StoryRunner):
    """The story in a store on Voyado Engage (`VOYADO_STORE`), checked against the Voyado
    stand-in's own state (`/_sandbox/state`, `/_sandbox/contacts/{id}`), with one order in
    a Yotpo store beside it: one project, one provider per store."""

    PROVIDER = "Voyado"

    def __init__(self, stack: SandboxStack, out: Callable[[str], None] = print) -> None:
        super().__init__(stack, out)
        self.seen_voyado = 0
        self.seen_yotpo = 0
        self.contact_id: str | None = None

    # --- narration ---------------------------------------------------------------------------
    def contact(self) -> dict[str, Any] | None:
        """Ada's contact in Voyado (found by her email), or None."""
        for contact in self.stack.voyado_state()["contacts"]:
            if (contact.get("attributes") or {}).get("email") == VOYADO_EMAIL:
                return contact
        return None

    def balance(self) -> Decimal:
        assert self.contact_id is not None, "Ada has no Voyado contact"
        return Decimal(str(self.stack.voyado_contact(self.contact_id)["balance"]))

    def receipt(self, unique_id: str) -> dict[str, Any] | None:
        """A receipt Voyado applied (its batch ran), by uniqueReceiptId."""
        for receipt in self.stack.voyado_state()["receipts"]:
            if receipt["uniqueReceiptId"] == unique_id and receipt.get("processedAt"):
                return receipt
        return None

    def receipts_of(self, order_ref: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.stack.voyado_state()["receipts"]
            if r["uniqueReceiptId"] == order_ref or r["uniqueReceiptId"].startswith(f"{order_ref}:")
        ]

    def sent(self) -> list[str]:
        voyado = sent_since(
            self.stack.voyado_requests(self.seen_voyado),
            self.seen_voyado,
            provider="Voyado",
            keys=("uniqueReceiptId", "totalGrossPrice", "currency", "contactType"),
            bare_when_empty=True,
        )
        yotpo = sent_since(
            self.stack.yotpo_requests(self.seen_yotpo),
            self.seen_yotpo,
            provider="Yotpo",
            keys=("order_id", "id"),
        )
        self.seen_voyado, self.seen_yotpo = voyado.seen, yotpo.seen
        return [*voyado.lines, *yotpo.lines]

    def state(self) -> list[str]:
        if self.contact_id is None:
            return []
        return [f"Voyado: {self.balance()} points (Ada)"]

    # --- the story ---------------------------------------------------------------------------
    def play(self) -> bool:
        self.out(
            f"\nThe story plays in store {VOYADO_STORE!r}, served by Voyado Engage "
            f"({VOYADO_POINTS_PER_EURO} points per €1); every other store stays on Yotpo. "
            "Refunds come from refunded return items (REFUND_SOURCE=returns): Voyado takes "
            "points back by returned unit."
        )
        self.step(f"Ada signs up in store {VOYADO_STORE!r}", self.sign_up)
        if self.contact_id is None:
            self.out("\nWithout a Voyado contact nothing else can be told to Voyado; stopping.")
            return False
        self.step("Ada orders two hoodies and a mug and pays", self.first_order)
        self.step("Ada uses her reward voucher at checkout", self.voucher_checkout)
        self.step("Ada returns one hoodie: a partial refund", self.partial_refund)
        self.step("A second order is paid, then cancelled", self.cancelled_order)
        self.step("Voyado tells the connector Ada's balance changed", self.balance_webhook)
        self.step("Bob orders in a store on Yotpo, in the same project", self.yotpo_neighbour)
        self.step("Ada's VIP tier", self.tiers)
        self.step("The nightly job runs", self.nightly_job)
        return self.all_ok

    def sign_up(self) -> str:
        created = self.shop.ct.create(
            "customers",
            {
                "email": VOYADO_EMAIL,
                "firstName": "Ada",
                "lastName": "Lovelace",
                "password": "x1!",
                "stores": [{"typeId": "store", "key": VOYADO_STORE}],
            },
        )
        self.customer = created.get("customer", created)
        try:
            found = eventually(self.contact, timeout=CONTACT_WAIT_SECONDS, what="Voyado contact")
        except AssertionError:
            found = None
        yotpo = self.stack.yotpo_state()["accounts"][YOTPO_GUID]["customers"]
        assert not any(c["email"] == VOYADO_EMAIL for c in yotpo), (
            f"a customer of store {VOYADO_STORE!r} became a Yotpo member"
        )
        assert isinstance(found, dict), (
            "the connector made no Voyado contact from the sign-up in store "
            f"{VOYADO_STORE!r} within {CONTACT_WAIT_SECONDS}s"
        )
        self.contact_id = found["id"]
        return f"the connector made Ada a Voyado contact (contact {self.contact_id})"

    def pay_and_wait(self, order: dict[str, Any]) -> dict[str, Any]:
        """Pay, then wait for Voyado to have applied the order's purchase receipt."""
        self.shop.pay(order)
        order = self.shop.order(order["id"])
        number = order["orderNumber"]
        eventually(lambda: self.receipt(number), what=f"Voyado receipt {number}")
        return order

    def first_order(self) -> str:
        before = self.balance()
        cart = self.shop.cart(
            [("SKU-HOODIE", 2), ("SKU-MUG", 1)], customer=self.customer, store=VOYADO_STORE
        )
        self.order = self.pay_and_wait(self.shop.place_order(cart, order_number="DEMO-V1"))
        receipt = self.receipt("DEMO-V1")
        assert receipt is not None
        gross = self.order["taxedPrice"]["totalGross"]["centAmount"]
        assert Decimal(str(receipt["totalGrossPrice"])) * 100 == gross, (
            f"receipt total {receipt['totalGrossPrice']}, order {gross} cents"
        )
        expected = sum(
            voyado_points(line["taxedPrice"]["totalGross"]["centAmount"])
            for line in self.order["lineItems"]
        )
        earned = Decimal(str(receipt["points"]))
        assert earned == expected, f"expected {expected} points, Voyado gave {earned}"
        assert len(self.receipts_of("DEMO-V1")) == 1, "more than one receipt for DEMO-V1"
        # The tenant's step model turns every VOYADO_VOUCHER_STEP_POINTS into a voucher.
        vouchers = len(self.vouchers("Available"))
        assert vouchers == expected // VOYADO_VOUCHER_STEP_POINTS, f"{vouchers} vouchers"
        assert self.balance() == before + earned - vouchers * VOYADO_VOUCHER_STEP_POINTS
        return (
            f"a PURCHASE receipt DEMO-V1 of {format_minor(gross, 'EUR')} matched to Ada by "
            f"email; Voyado gave {earned} points and turned {VOYADO_VOUCHER_STEP_POINTS} of "
            f"them into a €{VOYADO_VOUCHER_EUR} reward voucher"
        )

    def vouchers(self, status: str) -> list[dict[str, Any]]:
        assert self.contact_id is not None
        found = self.stack.voyado_contact(self.contact_id)["vouchers"]
        return [v for v in found if v["status"] == status]

    def voucher_checkout(self) -> str:
        (voucher,) = self.vouchers("Available")
        cart = self.shop.cart(
            [("SKU-BOOK", 2), ("SKU-MUG", 1)], customer=self.customer, store=VOYADO_STORE
        )
        before = cart["totalPrice"]["centAmount"]
        try:
            cart = self.shop.request_reward(cart, voucher["id"])
        except CommercetoolsPermanentError as exc:
            raise AssertionError(f"the extension refused: {exc.errors}") from exc
        off = before - cart["totalPrice"]["centAmount"]
        value = int(Decimal(str(voucher["value"]["amount"])) * 100)
        assert off == value, f"the voucher took {off} off, it is worth {value}"
        assert self.vouchers("Available"), "the voucher was spent before the order was paid"
        order = self.shop.place_order(cart, order_number="DEMO-V2")
        assert self.vouchers("Available"), "the voucher was spent before the order was paid"
        order = self.pay_and_wait(order)
        eventually(lambda: self.vouchers("Redeemed"), what="the voucher redeemed in Voyado")
        redeems = [
            r
            for r in self.stack.voyado_requests(0)
            if r["method"] == "POST" and r["path"].endswith(f"/{voucher['id']}/redeem")
        ]
        assert len(redeems) == 1, f"{len(redeems)} redeem calls"
        receipt = self.receipt("DEMO-V2")
        assert receipt is not None
        gross = order["taxedPrice"]["totalGross"]["centAmount"]
        assert Decimal(str(receipt["totalGrossPrice"])) * 100 == gross
        return (
            f"voucher {voucher['voucherNumber']} took {format_minor(off, 'EUR')} off the cart "
            f"(checked against Ada's available vouchers, nothing spent); once DEMO-V2 was paid "
            f"the connector redeemed it in Voyado, once; the receipt of "
            f"{format_minor(gross, 'EUR')} earned {receipt['points']} points"
        )

    def partial_refund(self) -> str:
        before = self.balance()
        order = self.shop.order(self.order["id"])
        line = order["lineItems"][0]
        one = line["taxedPrice"]["totalGross"]["centAmount"] // line["quantity"]
        # The return item is marked refunded (what the connector reads with
        # REFUND_SOURCE=returns) and the money goes back on the payment, as a shop does it.
        self.shop.return_and_refund(order, 0, 1)
        self.shop.refund(order, one)

        def returned() -> list[dict[str, Any]]:
            return [
                r
                for r in self.receipts_of("DEMO-V1")
                if r["uniqueReceiptId"] != "DEMO-V1" and r.get("processedAt")
            ]

        (receipt,) = eventually(returned, what="Voyado return receipt")  # type: ignore[misc]
        assert Decimal(str(receipt["totalGrossPrice"])) * 100 == -one, (
            f"return receipt total {receipt['totalGrossPrice']}, refund {one} cents"
        )
        taken = before - self.balance()
        # A refund is a delta: it takes back what its amount earned (the per-line floor of
        # Voyado's points model can make that one point more).
        expected = voyado_points(one)
        items = ", ".join(f"{i['sku']} {i['quantity']}" for i in receipt["items"])
        assert abs(taken - expected) <= 1, (
            f"the {format_minor(one, 'EUR')} refund took back {taken} points, not {expected} "
            f"(return receipt items: {items})"
        )
        return (
            f"a RETURN receipt {receipt['uniqueReceiptId']} of {format_minor(one, 'EUR')} "
            f"(the hoodie, quantity -1) took back {taken} points"
        )

    def cancelled_order(self) -> str:
        before = self.balance()
        cart = self.shop.cart([("SKU-GIFTCARD", 1)], customer=self.customer, store=VOYADO_STORE)
        order = self.pay_and_wait(self.shop.place_order(cart, order_number="DEMO-V3"))
        earned = self.balance() - before
        assert earned > 0, "the second order earned nothing"
        self.shop.cancel(order)
        eventually(lambda: self.receipt("DEMO-V3:cancel"), what="Voyado cancellation receipt")
        assert self.balance() == before, f"cancellation left {self.balance() - before} points"
        return f"{earned} points earned on payment, all taken back by RETURN receipt DEMO-V3:cancel"

    def yotpo_neighbour(self) -> str:
        bob = self.shop.sign_up(YOTPO_NEIGHBOUR_EMAIL, "Bob", "Builder")
        order = self.shop.place_order(
            self.shop.cart([("SKU-MUG", 1)], customer=bob), order_number="DEMO-Y1"
        )
        self.shop.pay(order)
        account = YOTPO_GUID

        def on_yotpo() -> bool:
            orders = self.stack.yotpo_state()["accounts"][account]["orders"]
            return any(o["order_id"] == "DEMO-Y1" for o in orders)

        eventually(on_yotpo, what="Yotpo order DEMO-Y1")
        yotpo_orders = {
            o["order_id"] for o in self.stack.yotpo_state()["accounts"][account]["orders"]
        }
        leaked = sorted(n for n in yotpo_orders if n.startswith("DEMO-V"))
        assert not leaked, f"Voyado store orders reached Yotpo: {leaked}"
        assert not self.receipts_of("DEMO-Y1"), "the Yotpo store's order reached Voyado"
        return "DEMO-Y1 went to Yotpo and only there; the Voyado store's orders went only to Voyado"

    def tiers(self) -> str:
        if not VOYADO_CAPABILITIES.tiers:
            raise NotOffered(
                "Voyado Engage documents no tier or level API; the connector shows none"
            )
        raise AssertionError("the Voyado adapter claims tiers; this story does not show them")

    def customer_balance(self) -> Any:
        customer = self.shop.ct.get_by_id("customers", self.customer["id"])
        return ((customer.get("custom") or {}).get("fields") or {}).get(
            CustomerFields.POINTS_BALANCE
        )

    def balance_webhook(self) -> str:
        """Voyado's point.balance.updated (Svix) reaches the service app, which reads the
        balance fresh from Voyado and writes it onto the customer (service/voyado_webhooks.py)."""
        voyado = self.balance()

        def written() -> bool:
            shown = self.customer_balance()
            return shown is not None and Decimal(str(shown)) == voyado

        eventually(written, what="Ada's balance on her customer")
        mine = [
            d
            for d in self.stack.voyado_webhooks()
            if d["topic"] == "point.balance.updated"
            and d["body"]["payload"].get("contactId") == self.contact_id
        ]
        delivered = [d for d in mine if d["delivered"]]
        assert delivered, "no point.balance.updated was delivered"
        assert all(d["delivered"] for d in mine if d["finished"]), "a webhook was refused"
        return (
            f"{len(delivered)} point.balance.updated webhooks verified (Svix signature); "
            f"Ada's customer shows {self.customer_balance()} points, as Voyado has them"
        )

    def nightly_job(self) -> str:
        response = requests.post(
            f"{self.stack.url('job')}/job", json={"task": "nightly"}, timeout=60
        )
        response.raise_for_status()
        shown = self.customer_balance()
        assert shown is not None and Decimal(str(shown)) == self.balance(), (
            f"after the nightly run the customer shows {shown}, Voyado has {self.balance()}"
        )
        return f"the nightly run left Ada's {shown} points as Voyado has them"
