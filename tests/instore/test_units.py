"""The pure parts: key settings, authentication, the lookup throttle, the import draft, the
refund position and the request fingerprint."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from service.instore.access import Keyring, LookupThrottle, Principal, Throttle, worker_count
from service.instore.models import OrderRequest, RedemptionRequest, RefundRequest
from service.instore.orders import import_draft
from service.instore.phones import customer_numbers, normalise, spellings
from service.instore.refunds import own_transaction, position, refund_payment
from service.instore.replays import fingerprint, request_key
from service.instore.settings import parse_pos_keys
from shared.settings import SettingsError, load_settings
from tests.conftest import VALID_ENV
from tests.instore.conftest import Settings

SECRET = "a-long-enough-secret-1"


def settings_env(keys: object) -> dict[str, str]:
    raw = keys if isinstance(keys, str) else json.dumps(keys)
    return {**VALID_ENV, "EXTENSION_SECRET": "e" * 24, "POS_API_KEYS": raw}


# --- settings --------------------------------------------------------------------------------
def test_keys_are_read_per_id_with_their_store() -> None:
    settings = load_settings(Settings, settings_env({"till_1": {"secret": SECRET, "store": "b1"}}))
    (key,) = settings.pos_keys().values()
    assert key.store == "b1" and key.secret.get_secret_value() == SECRET
    assert SECRET in settings.secret_values()


def test_key_ids_may_contain_dashes() -> None:
    settings = load_settings(Settings, settings_env({"till-1": {"secret": SECRET, "store": "b1"}}))
    assert list(settings.pos_keys()) == ["till-1"]


def test_the_api_is_optional() -> None:
    env = settings_env("{}")
    del env["POS_API_KEYS"]
    assert load_settings(Settings, env).pos_keys() == {}


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({"till 1": {"secret": SECRET, "store": "b1"}}, "key ids are"),
        ({"till.1": {"secret": SECRET, "store": "b1"}}, "key ids are"),
        ({"t": {"secret": "short", "store": "b1"}}, "at least 16 characters"),
        ({"t": {"secret": SECRET}}, "t.store: Field required"),
        ({"t": {"secret": SECRET, "store": "b1", "x": 1}}, "Extra inputs"),
        (
            {"a": {"secret": SECRET, "store": "b1"}, "b": {"secret": SECRET, "store": "b2"}},
            "share one secret",
        ),
    ],
)
def test_malformed_keys_stop_start_up_without_showing_secrets(keys: object, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(Settings, settings_env(keys))
    text = str(caught.value)
    assert "POS_API_KEYS" in text and problem in text
    assert SECRET not in text and "short" not in text


def test_lookup_rate_must_be_positive() -> None:
    env = {**settings_env({"t": {"secret": SECRET, "store": "b1"}}), "POS_LOOKUPS_PER_SECOND": "0"}
    with pytest.raises(SettingsError, match="POS_LOOKUPS_PER_SECOND"):
        load_settings(Settings, env)


# --- access ----------------------------------------------------------------------------------
def test_bearer_secrets_name_their_key_and_store() -> None:
    keyring = Keyring(
        parse_pos_keys(
            json.dumps(
                {
                    "a": {"secret": SECRET, "store": "s1"},
                    "b": {"secret": SECRET + "-b", "store": "s2"},
                }
            )
        )
    )
    assert keyring.authenticate(f"Bearer {SECRET}") == Principal("a", "s1")
    assert keyring.authenticate(f"bearer {SECRET}-b") == Principal("b", "s2")
    for header in (None, "", SECRET, f"Basic {SECRET}", "Bearer ", f"Bearer {SECRET}x"):
        assert keyring.authenticate(header) is None
    assert not Keyring({}).configured


def test_the_throttle_refills_per_key() -> None:
    now = [100.0]
    throttle = LookupThrottle(2.0, clock=lambda: now[0])
    assert throttle.take("a") == 0 and throttle.take("a") == 0
    assert throttle.take("a") == pytest.approx(0.5)
    assert throttle.take("b") == 0  # every key has its own bucket
    now[0] += 0.5
    assert throttle.take("a") == 0
    assert throttle.take("a") > 0
    now[0] += 60
    assert throttle.take("a") == 0 and throttle.take("a") == 0 and throttle.take("a") > 0
    with pytest.raises(ValueError):
        LookupThrottle(0)


# --- the import draft ------------------------------------------------------------------------
def sale(**overrides: object) -> OrderRequest:
    body = {
        "request_id": "r1",
        "order_number": "T-1",
        "email": "a@example.com",
        "currency": "jpy",
        "lines": [
            {"sku": "SKU-1", "name": "Tea", "quantity": 2, "unit_price_minor": 1500},
            {"name": "Bag", "quantity": 1, "unit_price_minor": 10},
        ],
        **overrides,
    }
    return OrderRequest.model_validate(body)


def test_the_import_draft_of_a_sale() -> None:
    request = sale(tax_minor=273, reward_code="LOY-1")
    draft = import_draft(
        request,
        store="tokyo",
        customer_id="c-1",
        email="a@example.com",
        type_key="yotpo-loyalty-order",
        completed_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
    )
    money = {"type": "centPrecision", "currencyCode": "JPY", "fractionDigits": 0}
    assert draft["totalPrice"] == {**money, "centAmount": 3010}
    assert draft["store"] == {"typeId": "store", "key": "tokyo"}
    assert draft["customerId"] == "c-1" and draft["customerEmail"] == "a@example.com"
    states = (draft["paymentState"], draft["orderState"], draft["shipmentState"])
    assert states == ("Paid", "Complete", "Delivered")
    assert draft["completedAt"] == "2026-05-01T12:00:00Z"
    (line,) = draft["lineItems"]
    assert line["variant"] == {"sku": "SKU-1"} and line["quantity"] == 2
    assert line["price"]["value"] == {**money, "centAmount": 1500}
    (custom_line,) = draft["customLineItems"]
    assert custom_line["slug"] == "pos-line-2" and custom_line["money"]["centAmount"] == 10
    taxed = draft["taxedPrice"]
    assert taxed["totalGross"]["centAmount"] == 3010 and taxed["totalNet"]["centAmount"] == 2737
    assert taxed["totalTax"]["centAmount"] == 273
    assert draft["custom"] == {
        "type": {"typeId": "type", "key": "yotpo-loyalty-order"},
        "fields": {"loyaltyRewardCode": "LOY-1"},
    }


def test_the_tills_total_wins_over_the_lines() -> None:
    assert sale(total_minor=2500).total == 2500
    assert sale().total == 3010
    # One minor unit of rounding per line is tolerated (two lines here).
    assert sale(total_minor=3012).total == 3012


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (RefundRequest, {"request_id": "r", "order_number": "N-1", "amount_minor": True}),
        (RefundRequest, {"request_id": "r", "order_number": "N-1", "amount_minor": "5"}),
        (RefundRequest, {"request_id": "r", "order_number": "N-1", "amount_minor": 10**20}),
        (
            RedemptionRequest,
            {"request_id": "r", "customer_id": "c", "option_id": "4", "points": True},
        ),
        (RedemptionRequest, {"request_id": "r", "customer_id": "c", "option_id": "²"}),
        (RedemptionRequest, {"request_id": "r", "customer_id": "c", "option_id": "٤"}),
        (RedemptionRequest, {"request_id": "r", "customer_id": "c", "option_id": True}),
    ],
)
def test_numbers_are_strict(model: type, body: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        model.model_validate(body)


@pytest.mark.parametrize(
    "overrides",
    [
        {"lines": []},
        {"customer_id": "c-1"},  # and an email: exactly one
        {"email": None},
        {"email": "not-an-email"},
        {"total_minor": 0},
        {"total_minor": -5},
        {"tax_minor": 99999},
        {"currency": "EURO"},
        {"order_number": "has space"},
        {"request_id": "no/slash"},
        {"reward_code": "two words"},
        {"lines": [{"name": "x", "quantity": 0, "unit_price_minor": 1}]},
        {"lines": [{"name": "x", "quantity": 1, "unit_price_minor": -1}]},
        {"colour": "red"},
        # Numbers are strict integers with bounds: no booleans, strings, floats or 10^30.
        {"total_minor": True},
        {"total_minor": "2500"},
        {"total_minor": 2500.0},
        {"total_minor": 10**30},
        {"lines": [{"name": "x", "quantity": True, "unit_price_minor": 1}]},
        {"lines": [{"name": "x", "quantity": 1, "unit_price_minor": 10**25}]},
        {"lines": [{"name": "x", "quantity": 100_000, "unit_price_minor": 10**12}]},
        # The till's total is the lines after discounts, never more than them.
        {"total_minor": 3010 * 1000},
        {"total_minor": 3010 + 3},
    ],
)
def test_malformed_sales_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        sale(**overrides)


# --- refunds ---------------------------------------------------------------------------------
def money(amount: int, currency: str = "EUR") -> dict[str, object]:
    return {"currencyCode": currency, "centAmount": amount, "fractionDigits": 2}


def order(*payments: list[dict[str, object]], total: int = 10000) -> dict[str, object]:
    return {
        "id": "o-1",
        "totalPrice": money(total),
        "paymentInfo": {
            "payments": [
                {"typeId": "payment", "id": f"p-{n}", "obj": {"id": f"p-{n}", "transactions": t}}
                for n, t in enumerate(payments)
            ]
        },
    }


def txn(kind: str, amount: int, state: str = "Success", **extra: object) -> dict[str, object]:
    ident = f"{kind}-{amount}-{state}"
    return {"id": ident, "type": kind, "amount": money(amount), "state": state, **extra}


def test_refundable_is_what_was_charged_minus_refunds_that_did_not_fail() -> None:
    charged = order(
        [txn("Charge", 9000), txn("Refund", 1000), txn("Refund", 500, "Pending")],
        [txn("Refund", 700, "Failure"), txn("Charge", 300, "Failure")],
    )
    where = position(charged)
    assert (where.paid_minor, where.refunded_minor, where.refundable_minor) == (9000, 1500, 7500)
    assert refund_payment(charged)["id"] == "p-0"


def test_without_charges_the_order_total_is_what_was_paid() -> None:
    assert position(order()).refundable_minor == 10000
    assert refund_payment(order()) is None
    over = position(order([txn("Refund", 12000)]))
    assert over.refundable_minor == 0


def test_a_retry_finds_its_own_transaction() -> None:
    placed = order([txn("Charge", 100), txn("Refund", 50, interactionId="till-r1")])
    assert own_transaction(placed, "till-r1")["id"] == "Refund-50-Success"
    assert own_transaction(placed, "till-r2") is None


def test_fingerprints_ignore_the_request_id_only() -> None:
    a = fingerprint("redemption", {"request_id": "1", "customer_id": "c", "option_id": "4"})
    b = fingerprint("redemption", {"request_id": "2", "option_id": "4", "customer_id": "c"})
    assert a == b
    assert a != fingerprint("redemption", {"request_id": "1", "customer_id": "d", "option_id": "4"})
    assert a != fingerprint("reversal", {"request_id": "1", "customer_id": "c", "option_id": "4"})
    assert request_key(Principal("till_1", "s"), "abc-1") == "till_1-abc-1"


def test_request_keys_of_dashed_key_ids_never_collide() -> None:
    # "a" + "b-c" and "a-b" + "c" would both be "a-b-c" with one separator.
    assert request_key(Principal("a", "s"), "b-c") != request_key(Principal("a-b", "s"), "c")
    assert request_key(Principal("a-b", "s"), "c") == "a-b.c"
    keys = {
        request_key(Principal(k, "s"), r)
        for k in ("a", "a-b", "a-b-c", "b")
        for r in ("c", "b-c", "c-d", "x")
    }
    assert len(keys) == 16


# --- phones ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stored", "country", "expected"),
    [
        ("+49 171 765 4321", None, "+491717654321"),
        ("+49 (0)171 7654321", "DE", "+491717654321"),
        ("0049 171 7654321", None, "+491717654321"),
        ("0171 7654321", "DE", "+491717654321"),
        ("0171-765-4321", "DE", "+491717654321"),
        ("1717654321", "DE", "+491717654321"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("1 415 555 0100", "US", "+14155550100"),
        ("0171 7654321", None, None),  # national, and no country to complete it with
        ("0171", "DE", None),
        ("call me", "DE", None),
        ("٠١٧١٧٦٥٤٣٢١", "DE", None),  # non-ASCII digits are not a number we dial
    ],
)
def test_stored_phones_are_normalised_with_their_country(
    stored: str, country: str | None, expected: str | None
) -> None:
    assert normalise(stored, country) == expected


def test_a_lookup_asks_for_the_usual_spellings_and_keeps_only_real_matches() -> None:
    asked = spellings("+491717654321")
    for stored in ("+491717654321", "+49 171 7654321", "0171 7654321", "01717654321"):
        assert stored in asked
    assert len(asked) <= 60
    customer = {
        "addresses": [
            {"country": "DE", "phone": "0171 7654321"},
            {"country": "AT", "mobile": "0171 7654321"},  # the same digits in Austria: +43...
        ],
        "custom": {"fields": {"loyaltyPhoneNumber": "+1 415 555 0100"}},
    }
    assert customer_numbers(customer, "loyaltyPhoneNumber") == {
        "+491717654321",
        "+431717654321",
        "+14155550100",
    }


# --- throttles -------------------------------------------------------------------------------
def test_workers_share_an_instances_limit() -> None:
    now = [0.0]
    alone = Throttle(8.0, clock=lambda: now[0])
    shared = Throttle(8.0, share=4, clock=lambda: now[0])
    assert alone.rate == 8.0 and shared.rate == 2.0
    assert [shared.take("k") for _ in range(2)] == [0.0, 0.0]
    assert shared.take("k") > 0
    assert worker_count({"WEB_CONCURRENCY": "3"}) == 3
    assert worker_count({"WEB_CONCURRENCY": "nonsense"}) == worker_count({}) == 1


def test_blocked_reports_without_taking() -> None:
    now = [0.0]
    failures = Throttle(1 / 60, burst_seconds=60.0, clock=lambda: now[0])
    assert failures.blocked("1.2.3.4") == 0
    assert failures.take("1.2.3.4") == 0
    assert failures.blocked("1.2.3.4") == pytest.approx(60.0)
    assert failures.blocked("5.6.7.8") == 0
    now[0] = 60.0
    assert failures.blocked("1.2.3.4") == 0


def test_the_bearer_token_is_taken_exactly() -> None:
    keys = parse_pos_keys(json.dumps({"t": {"secret": SECRET, "store": "b1"}}))
    ring = Keyring(keys)
    assert ring.authenticate(f"Bearer {SECRET}") == Principal("t", "b1")
    assert ring.authenticate(f"bearer  {SECRET} ") == Principal("t", "b1")
    assert ring.authenticate(f"Bearer {SECRET}\u00a0") is None
    assert ring.authenticate(f"Bearer \u00a0{SECRET}") is None


# --- redemption codes (docs/adr/0090) ------------------------------------------------------
def test_every_redemption_code_has_a_status_at_the_till() -> None:
    from service.instore.problems import REDEMPTION_STATUS, redemption_problem
    from shared.domain.checkout.redemption import RedemptionError, Rejection

    assert set(REDEMPTION_STATUS) == set(RedemptionError)
    problem = redemption_problem(Rejection(RedemptionError.INVALID_POINTS, "a multiple of 10"))
    assert (problem.status, problem.code) == (400, "invalid_points")
    assert problem.message.endswith(": a multiple of 10")
    fixed = redemption_problem(RedemptionError.UNKNOWN_OPTION, "no such reward")
    assert (fixed.status, fixed.code, fixed.message) == (404, "unknown_option", "no such reward")


def test_the_description_names_every_code_a_till_receives() -> None:
    from service.instore.openapi import REDEEM_CODES, REVERSAL_CODES, openapi_document
    from shared.domain.checkout.redemption import RedemptionError

    document = openapi_document()
    schemas = document["components"]["schemas"]
    assert schemas["RedemptionError"]["enum"] == [code.value for code in RedemptionError]
    table = schemas["Problem"]["properties"]["error"]["description"]
    for code in REDEEM_CODES + REVERSAL_CODES:
        assert code.value in table
    redeem = document["paths"]["/loyalty/redemptions"]["post"]["responses"]
    assert "unknown_option" in redeem["404"]["description"]
    assert "invalid_points" in redeem["400"]["description"]
    assert "not_enough_points" in redeem["422"]["description"]
    reversal = document["paths"]["/loyalty/redemptions/{redemption_id}/reversal"]["post"]
    assert "not_reversible" in reversal["responses"]["409"]["description"]
