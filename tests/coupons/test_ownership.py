"""Orders carrying a code issued to someone else are flagged; settings are checked at start."""

from __future__ import annotations

import json
import logging

import pytest
import responses
from pydantic import ValidationError

from service.coupons import CouponSettings
from shared.checkout.coupon_codes import flag_foreign_codes, order_codes
from shared.domain.checkout.coupons import ISSUED_CONTAINER, code_key, email_digest
from shared.yotpo import YotpoClient
from tests.coupons.fakes import FakeCommercetools

YOTPO = "https://yotpo.owner.test/api/v2"


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _code(i: int, key: str, code: str) -> dict:
    return {
        "discountCode": {
            "typeId": "discount-code",
            "id": f"d{i}",
            "obj": {"key": key, "code": code},
        }
    }


def order(*codes: tuple[str, str], customer_id: str = "c-ada", email: str = "ada@example.com"):
    return {
        "id": "o-1",
        "customerId": customer_id,
        "customerEmail": email,
        "discountCodes": [_code(i, k, c) for i, (k, c) in enumerate(codes)],
    }


def test_only_connector_issued_codes_are_looked_at():
    given = order((code_key("YL-1"), "YL-1"), ("summer", "SUMMER10"), ("x", ""))
    assert order_codes(given) == ["YL-1"]


def test_a_widget_code_of_another_customer_is_flagged_from_the_record(mock, caplog):
    fake = FakeCommercetools(mock)
    fake.custom_objects[(ISSUED_CONTAINER, code_key("YL-EVE"))] = {
        "version": 1,
        "value": {"customerId": "c-eve", "emailDigest": email_digest("eve@example.com")},
    }
    fake.custom_objects[(ISSUED_CONTAINER, code_key("YL-ADA"))] = {
        "version": 1,
        "value": {"customerId": "c-ada", "emailDigest": email_digest("ada@example.com")},
    }
    given = order((code_key("YL-EVE"), "YL-EVE"), (code_key("YL-ADA"), "YL-ADA"))
    with caplog.at_level(logging.WARNING):
        assert flag_foreign_codes(fake.client(), None, given) == ["YL-EVE"]
    assert "YL-EVE" not in caplog.text  # the voucher is never logged whole


def test_a_batch_code_is_checked_with_yotpo(mock):
    fake = FakeCommercetools(mock)
    mock.add(
        responses.GET,
        f"{YOTPO}/redemption_codes",
        json={"code": "YS-1", "customer_email": "eve@example.com"},
    )
    yotpo = YotpoClient(guid="g", api_key="k", api_url=YOTPO, max_retries=0)
    given = order((code_key("YS-1"), "YS-1"))
    assert flag_foreign_codes(fake.client(), yotpo, given) == ["YS-1"]
    sent = [c.request for c in mock.calls if "redemption_codes" in c.request.url]
    assert "code=YS-1" in sent[0].url


def test_an_unanswered_lookup_never_blocks_the_order(mock):
    fake = FakeCommercetools(mock)
    mock.add(responses.GET, f"{YOTPO}/redemption_codes", status=503)
    yotpo = YotpoClient(guid="g", api_key="k", api_url=YOTPO, max_retries=0, sleep=lambda s: None)
    assert flag_foreign_codes(fake.client(), yotpo, order((code_key("YS-2"), "YS-2"))) == []


def test_settings_refuse_short_secrets_and_bad_rewards():
    with pytest.raises(ValidationError, match="at least 16"):
        CouponSettings.model_validate({"yotpo_coupon_secret": "short"})
    with pytest.raises(ValidationError, match=r"1\.amount"):
        CouponSettings.model_validate(
            {"coupon_rewards": json.dumps({"1": {"kind": "fixed", "amount": {"EUR": 1.5}}})}
        )
    ok = CouponSettings.model_validate(
        {"coupon_rewards": json.dumps({"1": {"kind": "free_shipping"}})}
    )
    assert ok.reward_options()["1"].kind == "free_shipping"
