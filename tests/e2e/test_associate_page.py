"""The store-associate page in a real headless browser (Debian's chromium via Playwright),
against the service app served locally with both stand-ins: the associate's whole flow.

Needs `apt-get install chromium` and `pip install playwright` (no `playwright install`: the
system browser is used). Fails — not skips — without them. The screenshot lands in
`test-artifacts/associate.png`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from sandbox.serving import ServerThread
from service.install import OWN_CART_TYPE_KEY
from shared.domain.loyalty_fields import CART_FIELD_DEFINITIONS
from shared.install import ensure_type_fields
from tests.instore.conftest import BERLIN_SECRET, build_app
from tests.integration.world import GUID, World, start_world

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TABLET = {"width": 1024, "height": 768}


@pytest.fixture
def served() -> Iterator[tuple[World, str]]:
    world = start_world()
    server = None
    try:
        ensure_type_fields(
            world.ct,
            key=OWN_CART_TYPE_KEY,
            name="Loyalty (Yotpo) cart and order fields",
            resource_type_ids=["order"],
            definitions=CART_FIELD_DEFINITIONS,
        )
        server = ServerThread(build_app(world)).start()
        yield world, server.url
    finally:
        if server is not None:
            server.stop()
        world.close()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET)
            context.set_default_timeout(10_000)
            yield context.new_page()
        finally:
            browser.close()


def seed(world: World) -> dict[str, str]:
    """A member with 1500 points and one paid online order to refund in the store."""
    shop = world.storefront
    customer = shop.sign_up("maria.store@example.com", "Maria", "Kunde")
    world.yotpo.upsert_customer(GUID, {"id": customer["id"], "email": customer["email"]})
    world.yotpo.adjust_points(
        GUID, {"customer_id": customer["id"], "point_adjustment_amount": 1500}
    )
    cart = shop.cart([("SKU-HOODIE", 1)], customer=customer)
    shop.pay(shop.place_order(cart, order_number="WEB-2001"))
    return customer


def test_the_associate_flow_in_a_real_browser(served: tuple[World, str], page: Page) -> None:
    world, url = served
    customer = seed(world)

    page.goto(f"{url}/loyalty/associate")
    expect(page).to_have_title(re.compile("store associate"))
    expect(page.locator("#key-state")).to_have_text("No API key entered")

    # Every control is reachable by its label: the page works with assistive technology.
    page.get_by_label("Store API key").fill(BERLIN_SECRET)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-state")).to_have_text("API key in use")
    assert page.evaluate("sessionStorage.getItem('loyalty.apiKey')") == BERLIN_SECRET

    page.get_by_label("Search by").select_option("email")
    page.get_by_label("Email or phone").fill("maria.store@example.com")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#points-balance")).to_have_text("1500")
    expect(page.locator("#vip-tier")).to_have_text("Bronze")
    expect(page.locator("#customer-email")).to_have_text("(m***@example.com)")
    expect(page.locator("#customer-name")).to_have_text("Maria Kunde")

    rewards = page.get_by_role("list", name="Rewards usable in store")
    expect(rewards.get_by_role("listitem")).to_have_count(1)
    rewards.get_by_role("button", name="Redeem €10 in-store reward").click()
    code = page.locator("#reward-code")
    expect(code).to_have_text(re.compile(r"^LOY-\d+$"))
    expect(page.locator("#points-balance")).to_have_text("500")
    expect(page.locator("#code-value")).to_contain_text("10.00 EUR off")
    assert world.yotpo_customer(customer["email"])["points_balance"] == 500
    font_size = page.eval_on_selector("#reward-code", "e => getComputedStyle(e).fontSize")
    assert float(font_size.removesuffix("px")) >= 40  # large enough to read across a counter

    page.get_by_role("button", name="Copy code").click()
    expect(page.locator("#status")).to_have_text(re.compile(r"^Code (copied|selected)"))

    page.get_by_label("Order number (in-store or online)").fill("WEB-2001")
    page.get_by_label("Amount refunded").fill("10.00")
    page.get_by_role("button", name="Record refund").click()
    expect(page.locator("#status")).to_have_text(re.compile(r"^Refund of 10\.00 EUR recorded"))
    expect(page.locator("#refund-order-info")).to_contain_text("10.00 EUR refunded")

    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "associate.png"), full_page=True)

    page.get_by_role("button", name="Undo reward").click()
    expect(page.locator("#status")).to_have_text("Reward undone; the points are back.")
    expect(page.locator("#points-balance")).to_have_text("1500")
    expect(page.locator("#code-card")).to_be_hidden()

    (redemption,) = world.yotpo_account()["redemptions"]
    assert redemption["status"] == "cancelled"
    order = world.storefront.order(
        world.ct.query("orders", where='orderNumber = "WEB-2001"')["results"][0]["id"]
    )
    refunds = [
        t
        for p in order["paymentInfo"]["payments"]
        for t in p["obj"]["transactions"]
        if t["type"] == "Refund"
    ]
    assert [t["amount"]["centAmount"] for t in refunds] == [1000]
    assert world.yotpo_orders() == []  # the page, like the API, never sends orders to Yotpo


def test_a_wrong_key_is_reported_in_the_page(served: tuple[World, str], page: Page) -> None:
    _, url = served
    page.goto(f"{url}/loyalty/associate")
    page.get_by_label("Store API key").fill("not-the-right-key-at-all")
    page.get_by_role("button", name="Use key").click()
    page.get_by_label("Email or phone").fill("someone@example.com")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#status")).to_have_text(re.compile("missing or unknown API key"))
    expect(page.locator("#customer-card")).to_be_hidden()


def test_an_in_store_sale_is_recorded_with_the_reward_code(
    served: tuple[World, str], page: Page
) -> None:
    world, url = served
    customer = seed(world)
    page.goto(f"{url}/loyalty/associate")
    page.get_by_label("Store API key").fill(BERLIN_SECRET)
    page.get_by_label("Till currency").fill("EUR")
    page.get_by_role("button", name="Use key").click()
    page.get_by_label("Email or phone").fill("maria.store@example.com")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#points-balance")).to_have_text("1500")
    rewards = page.get_by_role("list", name="Rewards usable in store")
    rewards.get_by_role("button", name="Redeem €10 in-store reward").click()
    code = page.locator("#reward-code")
    expect(code).to_have_text(re.compile(r"^LOY-\d+$"))
    reward_code = code.text_content()

    page.get_by_label("Receipt number").fill("BER-7001")
    page.get_by_label("Items total").fill("64,99")
    page.get_by_label("Amount paid (after the reward)").fill("54.99")
    page.get_by_role("button", name="Record sale").click()
    expect(page.locator("#status")).to_have_text("Sale BER-7001 recorded. Points follow shortly.")
    expect(page.locator("#sale-info")).to_contain_text("54.99 EUR recorded")
    expect(page.locator("#code-card")).to_be_hidden()  # used on the sale: no undo from here

    (order,) = world.ct.query("orders", where='orderNumber = "BER-7001"')["results"]
    assert order["store"]["key"] == "berlin"
    assert order["customerId"] == customer["id"]
    assert order["totalPrice"]["centAmount"] == 5499
    assert order["custom"]["fields"]["loyaltyRewardCode"] == reward_code
    assert world.yotpo_orders() == []  # the event app sends it, never the page

    # A repeat click is the same sale, not a second one.
    page.get_by_role("button", name="Record sale").click()
    expect(page.locator("#status")).to_have_text("Sale BER-7001 recorded. Points follow shortly.")
    assert len(world.ct.query("orders", where='orderNumber = "BER-7001"')["results"]) == 1


def test_a_sale_above_its_items_is_refused_in_the_page(
    served: tuple[World, str], page: Page
) -> None:
    world, url = served
    page.goto(f"{url}/loyalty/associate")
    page.get_by_label("Store API key").fill(BERLIN_SECRET)
    page.get_by_role("button", name="Use key").click()
    page.get_by_label("Receipt number").fill("BER-7002")
    page.get_by_label("Customer email (if no customer is selected)").fill("walk-in@example.com")
    page.get_by_label("Items total").fill("10.00")
    page.get_by_label("Amount paid (after the reward)").fill("100.00")
    page.get_by_role("button", name="Record sale").click()
    expect(page.locator("#status")).to_have_text(re.compile("at most the items total"))
    assert world.ct.query("orders", where='orderNumber = "BER-7002"')["results"] == []
