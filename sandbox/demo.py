"""`make run`: the whole connector end to end on the local sandbox, told as a timeline.

Starts the Pub/Sub emulator (when gcloud is installed; else the commercetools stand-in pushes
to the event app itself), the stand-ins and the three apps under gunicorn, installs the
Subscription and the API Extension with the apps' own install scripts, then plays a shop's
story and checks each step's outcome. Exits non-zero if any step went wrong.

`--provider voyado` (`make run PROVIDER=voyado`) plays the story in a store served by Voyado
Engage (`VoyadoStory`, `sandbox/demo_voyado.py`), with a Yotpo store beside it in the same
project. It plays what the connector does through the provider port and says plainly what
Voyado does not do and what is not through the port yet; it never stands in for the
connector. Both stories run their steps with `sandbox.demo_steps.StoryRunner`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from sandbox.demo_steps import (
    EMAIL,
    NotOffered,
    NotYetAvailable,
    Step,
    StoryRunner,
    sent_since,
)
from sandbox.demo_voyado import (
    CONTACT_WAIT_SECONDS,
    VOYADO_EMAIL,
    YOTPO_NEIGHBOUR_EMAIL,
    VoyadoStory,
    voyado_points,
)
from sandbox.stack import (
    YOTPO_GUID,
    SandboxStack,
    StackOptions,
    eventually,
)
from shared.domain.loyalty_fields import CartFields, CustomerFields
from shared.domain.money import format_minor
from shared.errors import CommercetoolsPermanentError, NotFoundError

POINTS_PER_EURO = 10
# The demo's program: 10 points per euro, so one order buys the €5 reward.
PROGRAM = {"points_per_unit": str(POINTS_PER_EURO)}
# What the narration shows of a body sent to Yotpo.
_YOTPO_KEYS = (
    "order_id",
    "id",
    "total_amount_cents",
    "currency_code",
    "currency",
    "coupon_code",
    "redemption_option_id",
)

__all__ = [
    "CONTACT_WAIT_SECONDS",
    "EMAIL",
    "PROGRAM",
    "VOYADO_EMAIL",
    "YOTPO_NEIGHBOUR_EMAIL",
    "NotOffered",
    "NotYetAvailable",
    "Step",
    "Story",
    "VoyadoStory",
    "main",
    "voyado_points",
]


class Story(StoryRunner):
    """The story in a Yotpo store, checked against the Yotpo stand-in's own state."""

    PROVIDER = "Yotpo"

    def __init__(self, stack: SandboxStack, out: Callable[[str], None] = print) -> None:
        super().__init__(stack, out)
        self.seen = 0

    # --- narration ---------------------------------------------------------------------------
    def member(self) -> dict[str, Any] | None:
        state = self.stack.yotpo_state()["accounts"][YOTPO_GUID]
        return next((c for c in state["customers"] if c["email"] == EMAIL), None)

    def sent(self) -> list[str]:
        found = sent_since(
            self.stack.yotpo_requests(self.seen), self.seen, provider="Yotpo", keys=_YOTPO_KEYS
        )
        self.seen = found.seen
        return found.lines

    def state(self) -> list[str]:
        member = self.member()
        if not member:
            return []
        return [f"Yotpo: {member['points_balance']} points, tier {member.get('vip_tier_name')}"]

    # --- the story ---------------------------------------------------------------------------
    def play(self) -> bool:
        self.step("Ada signs up in the shop", self.sign_up)
        self.step("Ada orders two hoodies and pays", self.first_order)
        self.step("On her next cart Ada asks for the €5 reward", self.redeem)
        self.step("Ada orders with the reward and pays", self.order_with_reward)
        self.step("Ada returns one hoodie: a partial refund", self.partial_refund)
        self.step("A second order is paid, then cancelled", self.cancelled_order)
        self.step(
            "Ada redeems in Yotpo's rewards page and uses the code at checkout",
            self.redeem_in_yotpo,
        )
        self.step("The nightly job writes balance and tier back to Ada", self.nightly_job)
        return self.all_ok

    def sign_up(self) -> str:
        self.customer = self.shop.sign_up(EMAIL, "Ada", "Lovelace")
        eventually(self.member, what="Yotpo member")
        return "Yotpo has a member with Ada's commercetools customer id"

    def yotpo_has(self, kind: str, key: str, value: str) -> bool:
        state = self.stack.yotpo_state()["accounts"][YOTPO_GUID]
        return any(item.get(key) == value for item in state[kind])

    def pay_and_wait(self, order: dict[str, Any]) -> int:
        self.shop.pay(order)
        order = self.shop.order(order["id"])
        number = order["orderNumber"]
        eventually(lambda: self.yotpo_has("orders", "order_id", number), what=f"order {number}")
        return order["taxedPrice"]["totalGross"]["centAmount"]

    def first_order(self) -> str:
        self.hoodies = self.shop.place_order(
            self.shop.cart([("SKU-HOODIE", 2)], customer=self.customer), order_number="DEMO-1"
        )
        gross = self.pay_and_wait(self.hoodies)
        balance = self.member()["points_balance"]
        expected = gross * POINTS_PER_EURO // 100
        assert balance == expected, f"expected {expected} points, Yotpo has {balance}"
        return (
            f"paid {format_minor(gross, 'EUR')}, earned {balance} points ({POINTS_PER_EURO} per €1)"
        )

    def redeem(self) -> str:
        cart = self.shop.cart([("SKU-BOOK", 2), ("SKU-MUG", 1)], customer=self.customer)
        before = cart["totalPrice"]["centAmount"]
        try:
            self.reward_cart = self.shop.request_reward(cart, 1)
        except CommercetoolsPermanentError as exc:
            raise AssertionError(f"the extension refused: {exc.errors}") from exc
        fields = self.reward_cart["custom"]["fields"]
        after = self.reward_cart["totalPrice"]["centAmount"]
        assert before - after == 500, f"discount {before - after}, expected 500"
        return (
            f"cart {format_minor(before, 'EUR')} → {format_minor(after, 'EUR')}, "
            f"code {fields[CartFields.REWARD_CODE]} (points leave only when it is used)"
        )

    def order_with_reward(self) -> str:
        before = self.member()["points_balance"]
        order = self.shop.place_order(self.reward_cart, order_number="DEMO-2")
        gross = self.pay_and_wait(order)
        balance = self.member()["points_balance"]
        earned = gross * POINTS_PER_EURO // 100
        expected = before - 500 + earned
        assert balance == expected, f"expected {expected} points, Yotpo has {balance}"
        return f"500 points spent on the reward, {earned} earned on {format_minor(gross, 'EUR')}"

    def partial_refund(self) -> str:
        before = self.member()["points_balance"]
        order = self.shop.order(self.hoodies["id"])
        line = order["lineItems"][0]
        one = line["taxedPrice"]["totalGross"]["centAmount"] // line["quantity"]
        self.shop.return_and_refund(order, 0, 1)
        self.shop.refund(order, one)
        eventually(
            lambda: self.stack.yotpo_state()["accounts"][YOTPO_GUID]["refunds"], what="refund"
        )
        after = self.member()["points_balance"]
        return f"refund of {format_minor(one, 'EUR')} took back {before - after} points"

    def cancelled_order(self) -> str:
        before = self.member()["points_balance"]
        order = self.shop.place_order(
            self.shop.cart([("SKU-GIFTCARD", 1)], customer=self.customer), order_number="DEMO-3"
        )
        self.pay_and_wait(order)
        self.shop.cancel(order)
        eventually(
            lambda: self.yotpo_has("refunds", "id", "DEMO-3-cancel"), what="cancellation refund"
        )
        assert self.member()["points_balance"] == before, "cancellation left points behind"
        return "points earned on payment were all taken back on cancellation"

    def redeem_in_yotpo(self) -> str:
        try:
            self.shop.ct.query("cart-discounts", limit=1)
        except NotFoundError:
            raise NotYetAvailable("the commercetools stand-in has no cart discounts") from None
        before = self.member()["points_balance"]
        answer = self.stack.widget_redeem({"customer_email": EMAIL, "redemption_option_id": 1})
        if answer.status_code == 404:
            raise NotYetAvailable("the Yotpo stand-in has no widget (sandbox/yotpo/widget.py)")
        body = answer.json()
        if answer.status_code == 502 and body.get("status") == 404:
            raise NotYetAvailable("the service app does not serve /yotpo/coupons yet")
        assert answer.status_code == 200, f"widget redemption failed: {body}"
        code = body["coupon_code"]
        cart = self.shop.cart([("SKU-BOOK", 2), ("SKU-MUG", 1)], customer=self.customer)
        full = cart["totalPrice"]["centAmount"]
        try:
            cart = self.shop.add_code(cart, code)
        except CommercetoolsPermanentError as exc:
            raise AssertionError(f"commercetools refused code {code}: {exc.errors}") from exc
        states = [c.get("state") for c in cart.get("discountCodes") or []]
        assert states == ["MatchesCart"], f"code {code} on the cart: {states}"
        off = full - cart["totalPrice"]["centAmount"]
        assert off == 500, f"the code took {off} off, expected 500"
        order = self.shop.place_order(cart, order_number="DEMO-4")
        gross = self.pay_and_wait(order)
        sent = next(
            o
            for o in self.stack.yotpo_state()["accounts"][YOTPO_GUID]["orders"]
            if o["order_id"] == "DEMO-4"
        )
        assert code in str(sent.get("coupon_code") or ""), f"coupon_code {sent.get('coupon_code')}"
        earned = gross * POINTS_PER_EURO // 100
        balance = self.member()["points_balance"]
        assert balance == before - 500 + earned, f"balance {balance}, before {before}"
        return (
            f"code {code} made in commercetools by the Create Coupons URL, took "
            f"{format_minor(off, 'EUR')} off; the order carried it to Yotpo, 500 points spent"
        )

    def nightly_job(self) -> str:
        response = requests.post(
            f"{self.stack.url('job')}/job", json={"task": "nightly"}, timeout=60
        )
        if response.status_code == 501:
            raise NotYetAvailable("the job app's write-back has not landed")
        response.raise_for_status()
        customer = self.shop.ct.get_by_id("customers", self.customer["id"])
        fields = (customer.get("custom") or {}).get("fields") or {}
        member = self.member()
        assert fields.get(CustomerFields.POINTS_BALANCE) == member["points_balance"]
        return (
            f"customer record: {fields.get(CustomerFields.POINTS_BALANCE)} points, "
            f"tier {fields.get(CustomerFields.VIP_TIER)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo")
    parser.add_argument(
        "--pubsub",
        choices=["auto", "emulator", "direct"],
        default="auto",
        help="deliver messages through the Pub/Sub emulator, or let the stand-in push",
    )
    parser.add_argument(
        "--provider",
        choices=["yotpo", "voyado"],
        default="yotpo",
        help="the loyalty provider of the story's store (voyado: a Yotpo store runs beside it)",
    )
    args = parser.parse_args(argv)
    stack = SandboxStack(
        StackOptions(pubsub=args.pubsub, yotpo_program=PROGRAM, provider=args.provider)
    )
    names = "Yotpo, Voyado" if args.provider == "voyado" else "Yotpo"
    print(f"Starting the sandbox: {names} and commercetools stand-ins, Pub/Sub, three apps ...")
    started = time.monotonic()
    try:
        stack.start()
        print(
            f"Ready in {time.monotonic() - started:.1f}s — delivery: {stack.pubsub_mode}; "
            f"logs in {stack.options.log_dir}"
        )
        for name in ("commercetools", "yotpo", "voyado", "event", "service", "job"):
            if name in stack.ports:
                print(f"  {name:<14}{stack.url(name)}")
        story = VoyadoStory(stack) if args.provider == "voyado" else Story(stack)
        ok = story.play()
    except KeyboardInterrupt:
        print("\nInterrupted; stopping everything.")
        return 130
    finally:
        stack.stop()
    print("\nAll steps behaved as expected." if ok else "\nSome steps did not behave as expected.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
