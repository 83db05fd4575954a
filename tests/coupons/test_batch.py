"""`python -m job coupon-batch`: codes made in commercetools, uploaded to Yotpo, resumable."""

from __future__ import annotations

import json

import pytest
import responses

from job.coupon_batch import BatchError, CouponBatch, CouponBatchSettings, main
from shared.domain.checkout.coupons import BATCH_CONTAINER, parse_reward_options
from shared.errors import YotpoTransientError
from shared.yotpo import YotpoClient
from tests.coupons.fakes import FakeCommercetools

YOTPO = "https://yotpo.coupons.test/api/v2"
OPTIONS = parse_reward_options('{"21": {"kind": "fixed", "amount": {"EUR": 1000}}}')


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def fake(mock):
    return FakeCommercetools(mock)


@pytest.fixture
def uploads(mock):
    """Bodies Yotpo accepted; `fail_on` holds the numbers of upload calls that answer 500."""
    sent: list[dict] = []
    fail_on: set[int] = set()
    calls = {"n": 0}

    def answer(request):
        calls["n"] += 1
        if calls["n"] in fail_on:
            return 500, {}, json.dumps({"error": "down"})
        sent.append(json.loads(request.body))
        return 200, {}, json.dumps({"success": True})

    mock.add_callback(responses.POST, f"{YOTPO}/redemption_codes", callback=answer)
    return sent, fail_on


def yotpo() -> YotpoClient:
    return YotpoClient(guid="g", api_key="k", api_url=YOTPO, max_retries=0, sleep=lambda s: None)


def test_batch_makes_codes_and_uploads_them_in_chunks(fake, uploads):
    sent, _ = uploads
    summary = CouponBatch(fake.client(), yotpo(), OPTIONS, upload_limit=10).run("b1", "21", 25)
    assert summary["outcome"] == "complete" and summary["uploaded"] == 25
    assert [len(s["codes"].split(",")) for s in sent] == [10, 10, 5]
    assert all(s["redemption_option_id"] == 21 for s in sent)
    codes = {c["code"] for c in fake.resources["discount-codes"].values()}
    assert codes == {code for s in sent for code in s["codes"].split(",")}
    assert len(codes) == 25
    assert len(fake.resources["cart-discounts"]) == 1
    assert all(c["maxApplications"] == 1 for c in fake.resources["discount-codes"].values())


def test_an_interrupted_batch_resumes_without_duplicates(fake, uploads):
    sent, fail_on = uploads
    fail_on.add(2)  # Yotpo fails the second upload
    batch = CouponBatch(fake.client(), yotpo(), OPTIONS, upload_limit=10)
    with pytest.raises(YotpoTransientError):
        batch.run("b3", "21", 25)
    stored = fake.custom_objects[(BATCH_CONTAINER, "b3")]["value"]
    assert stored["created"] == 20 and stored["uploaded"] == 10
    made = fake.created("discount-codes")
    summary = batch.run("b3", "21", 25)
    assert summary["outcome"] == "complete"
    assert fake.created("discount-codes") - made == 5  # only the codes not made yet
    assert [len(s["codes"].split(",")) for s in sent] == [10, 10, 5]
    assert len({c for s in sent for c in s["codes"].split(",")}) == 25
    # A finished batch run again does nothing.
    assert batch.run("b3", "21", 25)["outcome"] == "complete"
    assert len(sent) == 3


def test_a_batch_id_reused_with_other_parameters_is_refused(fake, uploads):
    batch = CouponBatch(fake.client(), yotpo(), OPTIONS, upload_limit=10)
    batch.run("b4", "21", 5)
    with pytest.raises(BatchError, match="count"):
        batch.run("b4", "21", 6)
    with pytest.raises(BatchError, match="not in COUPON_REWARDS"):
        batch.run("b5", "99", 6)


def test_budget_stops_and_the_next_run_continues(fake, uploads):
    sent, _ = uploads
    ticks = iter(range(1000))
    batch = CouponBatch(
        fake.client(), yotpo(), OPTIONS, upload_limit=10, monotonic=lambda: next(ticks)
    )
    first = batch.run("b6", "21", 12, budget_seconds=5)
    assert first["outcome"] == "budget_exhausted" and first["uploaded"] == 0
    rest = CouponBatch(fake.client(), yotpo(), OPTIONS, upload_limit=10).run("b6", "21", 12)
    assert rest["outcome"] == "complete"
    assert sum(len(s["codes"].split(",")) for s in sent) == 12
    assert fake.created("discount-codes") == 12


def test_main_reports_json_and_exit_codes(fake, uploads):
    settings = CouponBatchSettings.model_validate(
        {
            "ctp_project_key": "shop",
            "ctp_client_id": "c",
            "ctp_client_secret": "s",
            "ctp_scope": "manage_project:shop",
            "ctp_region": "europe-west1.gcp",
            "yotpo_guid": "g",
            "yotpo_api_key": "k",
            "coupon_rewards": '{"21": {"kind": "fixed", "amount": {"EUR": 1000}}}',
        }
    )
    lines: list[str] = []
    args = ["--batch-id", "b7", "--option", "21", "--count", "3"]
    code = main(args, settings=settings, ct=fake.client(), yotpo=yotpo(), out=lines.append)
    assert code == 0 and json.loads(lines[-1])["uploaded"] == 3
    bad = ["--batch-id", "b8", "--option", "21", "--count", "0"]
    assert main(bad, settings=settings, ct=fake.client(), yotpo=yotpo()) == 2
    other = ["--batch-id", "b7", "--option", "21", "--count", "4"]
    assert main(other, settings=settings, ct=fake.client(), yotpo=yotpo()) == 1
