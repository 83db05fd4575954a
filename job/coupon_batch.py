"""Batches of in-store custom-coupon codes: made in commercetools, then uploaded to Yotpo.

A Custom Coupon reward hands out codes the merchant uploaded beforehand ("CSV uploads currently
support up to 10 000 codes per file", https://support.yotpo.com/docs/creating-a-redeemable-custom-coupon-reward;
API: `POST /redemption_codes {redemption_option_id, codes}`, at most 10,000 codes a call). This
command makes each code a single-use Discount Code bound to the reward's one Cart Discount, then
uploads them in chunks of 10,000.

    python -m job coupon-batch --batch-id spring-27 --option 21 --count 25000 [--prefix SHOP]
        [--budget SECONDS]

Resumable: the batch's state (its parameters, a random seed the codes derive from, how many
codes exist and how many Yotpo has) is a custom object in `yotpo-loyalty-coupon-batches`
written with optimistic concurrency, so a second runner stops instead of doubling the work and
an interrupted run continues where it stopped. Exit 0 done, 3 budget used up (run it again),
2 bad arguments, 1 failure.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from shared.checkout.coupon_codes import CouponIssuer, CouponRewardsSettings, upload_codes
from shared.commercetools import CommercetoolsClient
from shared.domain.checkout.coupons import (
    BATCH_CONTAINER,
    YOTPO_UPLOAD_LIMIT,
    IssuePlan,
    RewardOption,
    batch_code,
    chunks,
    discount_code_draft,
)
from shared.errors import CommercetoolsPermanentError, ConcurrentModificationError
from shared.logs import log_event
from shared.settings import ConnectorSettings
from shared.yotpo import YotpoClient

logger = logging.getLogger(__name__)

# Progress is saved this often while codes are created, so a crash redoes at most this many
# look-ups (creating a code twice is impossible: its key is taken).
SAVE_EVERY = 200


class BatchError(Exception):
    """The batch cannot go on as asked (bad parameters, another runner, a refused draft)."""


class CouponBatchSettings(ConnectorSettings, CouponRewardsSettings):
    app_name: ClassVar[str] = "job"


class CouponBatch:
    def __init__(
        self,
        ct: CommercetoolsClient,
        yotpo: YotpoClient,
        options: Mapping[str, RewardOption],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        upload_limit: int = YOTPO_UPLOAD_LIMIT,
    ) -> None:
        self._ct = ct
        self._yotpo = yotpo
        self._options = options
        self._monotonic = monotonic
        self._now = now
        self._limit = upload_limit

    def run(
        self,
        batch_id: str,
        option_id: str,
        count: int,
        *,
        prefix: str = "YS",
        budget_seconds: float | None = None,
    ) -> dict[str, Any]:
        option = self._options.get(option_id)
        if option is None:
            raise BatchError(f"redemption option {option_id} is not in COUPON_REWARDS")
        if option.kind == "variable":
            raise BatchError("variable rewards have no fixed value to pre-make codes for")
        deadline = None if budget_seconds is None else self._monotonic() + budget_seconds
        state, version = self._state(batch_id, option_id, count, prefix)
        currency = sorted(option.amount)[0] if option.amount else "EUR"
        template = IssuePlan(
            option_id=option_id,
            option=option,
            currency=currency,
            amount=option.amount.get(currency),
            code="BATCH",
            customer_id=None,
            email_digest=None,
        )
        discount = CouponIssuer(self._ct).ensure_cart_discount(template)
        seed = bytes.fromhex(state["seed"])
        for start, end in chunks(count, self._limit):
            if state["uploaded"] >= end:
                continue
            for index in range(max(start, state["created"]), end):
                if deadline is not None and self._monotonic() > deadline:
                    version = self._save(batch_id, state, version)
                    return self._summary(batch_id, state, "budget_exhausted")
                code = batch_code(seed, batch_id, index, prefix)
                self._create(template.model_copy(update={"code": code}), discount["id"])
                state["created"] = index + 1
                if state["created"] % SAVE_EVERY == 0:
                    version = self._save(batch_id, state, version)
            version = self._save(batch_id, state, version)
            codes = [batch_code(seed, batch_id, i, prefix) for i in range(start, end)]
            upload_codes(self._yotpo, option_id, codes)
            state["uploaded"] = end
            version = self._save(batch_id, state, version)
            log_event(
                logger, "coupon.batch_uploaded", batch_id=batch_id, upto=end, outcome="uploaded"
            )
        state["status"] = "complete"
        self._save(batch_id, state, version)
        return self._summary(batch_id, state, "complete")

    def _state(
        self, batch_id: str, option_id: str, count: int, prefix: str
    ) -> tuple[dict[str, Any], int]:
        stored = self._ct.get_custom_object(BATCH_CONTAINER, batch_id)
        if stored is not None:
            state = dict(stored["value"])
            asked = {"optionId": option_id, "count": count, "prefix": prefix}
            differs = [k for k, v in asked.items() if state.get(k) != v]
            if differs:
                raise BatchError(
                    f"batch {batch_id} exists with other {', '.join(differs)}; use a new --batch-id"
                )
            return state, int(stored["version"])
        state = {
            "optionId": option_id,
            "count": count,
            "prefix": prefix,
            # The codes derive from this; it lives only where the codes themselves live.
            "seed": secrets.token_hex(32),
            "created": 0,
            "uploaded": 0,
            "status": "running",
        }
        return state, self._save(batch_id, state, 0)

    def _save(self, batch_id: str, state: dict[str, Any], version: int) -> int:
        try:
            saved = self._ct.put_custom_object(BATCH_CONTAINER, batch_id, state, version=version)
        except ConcurrentModificationError:
            raise BatchError(f"another run is working on batch {batch_id}") from None
        return int(saved["version"])

    def _create(self, plan: IssuePlan, cart_discount_id: str) -> None:
        draft = discount_code_draft(plan, cart_discount_id, customer_id=None, now=self._now())
        try:
            self._ct.create("discount-codes", draft)
        except CommercetoolsPermanentError as exc:
            if not (exc.status == 400 and "DuplicateField" in exc.codes):
                raise
            # Made before an interruption; anything else by that code is not ours.
            self._ct.get_by_key("discount-codes", draft["key"])

    @staticmethod
    def _summary(batch_id: str, state: Mapping[str, Any], outcome: str) -> dict[str, Any]:
        return {
            "batch_id": batch_id,
            "outcome": outcome,
            "count": state["count"],
            "created": state["created"],
            "uploaded": state["uploaded"],
        }


def parser() -> argparse.ArgumentParser:
    cmd = argparse.ArgumentParser(prog="python -m job coupon-batch", description=__doc__)
    cmd.add_argument("--batch-id", required=True, help="names the batch; reuse it to resume")
    cmd.add_argument("--option", required=True, help="Yotpo redemption option id")
    cmd.add_argument("--count", type=int, required=True, help="codes in the batch")
    cmd.add_argument("--prefix", default="YS", help="code prefix (A-Z 0-9)")
    cmd.add_argument("--store", help="store key whose Yotpo account gets the codes")
    cmd.add_argument("--budget", type=float, help="stop after this many seconds")
    return cmd


def main(
    argv: list[str] | None = None,
    *,
    settings: CouponBatchSettings | None = None,
    ct: CommercetoolsClient | None = None,
    yotpo: YotpoClient | None = None,
    out: Callable[[str], None] = print,
) -> int:
    args = parser().parse_args(argv)
    if not (1 <= args.count <= 1_000_000) or not args.prefix.isalnum():
        print("coupon-batch: --count 1..1000000, --prefix letters and digits", file=sys.stderr)
        return 2
    if settings is None:
        from shared.boot import load_or_exit

        settings = load_or_exit("job", CouponBatchSettings)
    if ct is None or yotpo is None:
        from shared.runtime import build_runtime

        runtime = build_runtime(settings)
        route = runtime.yotpo_for_store(args.store)
        if route is None:
            print("coupon-batch: no Yotpo account for that store", file=sys.stderr)
            return 2
        ct, yotpo = ct or runtime.commercetools, yotpo or route.client
    batch = CouponBatch(ct, yotpo, settings.reward_options())
    try:
        summary = batch.run(
            args.batch_id,
            str(args.option),
            args.count,
            prefix=args.prefix.upper(),
            budget_seconds=args.budget,
        )
    except BatchError as exc:
        print(f"coupon-batch: {exc}", file=sys.stderr)
        return 1
    import json

    out(json.dumps(summary))
    return 3 if summary["outcome"] == "budget_exhausted" else 0
