"""Orders and refunds of the Yotpo stand-in: Create Order (points earned, spend, reward codes
used on the order) and Create Refund (cumulative proportional reversal)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sandbox.yotpo.arithmetic import earned_points, share, to_base_minor
from sandbox.yotpo.bodies import OrderCreate, RefundCreate, validate
from sandbox.yotpo.core import EngineCore
from sandbox.yotpo.errors import ApiError
from sandbox.yotpo.state import Account, Member, OrderRecord, RefundRecord, iso
from sandbox.yotpo.webhooks import Webhook


class OrdersApi(EngineCore):
    """`POST /orders`, `POST /refunds`."""

    def create_order(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = validate(OrderCreate, body)
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            code, currency = account.currency(request.currency_code)
            _, base = account.currency(None)
            silent = account.program.silent
            if silent.missing_ip_ua == "reject" and not request.ignore_ip_ua:
                missing = [
                    name for name in ("ip_address", "user_agent") if getattr(request, name) is None
                ]
                if missing:
                    raise ApiError(
                        422, f"{' and '.join(missing)} required unless ignore_ip_ua is true"
                    )
            previous = account.latest_order.get(request.order_id)
            if previous is not None:
                account.duplicate_orders[request.order_id] += 1
                if silent.duplicate_order_id == "reject":
                    raise ApiError(422, f"order {request.order_id} already exists")
                if silent.duplicate_order_id == "ignore":
                    return {}
            member = self._member_for_order(account, request.customer_id, request.customer_email)
            processed = request.status is None or bool(
                re.search(account.program.earn_status_regex, request.status)
            )
            tier = account.tier(member.tier_id)
            points = (
                earned_points(
                    request.total_amount_cents,
                    currency.fraction_digits,
                    account.program.points_per_unit,
                    tier.points_multiplier if tier else 1,
                )
                if processed
                else 0
            )
            record = OrderRecord(
                seq=self._next_order,
                order_id=request.order_id,
                member_no=member.member_no,
                currency=code,
                total_amount_cents=request.total_amount_cents,
                status=request.status,
                processed=processed,
                points_earned=points,
                spend_base_cents=(
                    to_base_minor(request.total_amount_cents, currency, base) if processed else 0
                ),
                coupon_code=request.coupon_code,
                created_at=self._now(),
            )
            self._next_order += 1
            account.orders.append(record)
            account.latest_order[request.order_id] = record
            if processed:
                member.total_spend_cents += record.spend_base_cents
                member.total_purchases += 1
                self._change_points(
                    account,
                    member,
                    points,
                    out,
                    reason="order",
                    earned=points,
                    action="Made a purchase",
                    order_id=request.order_id,
                )
                for coupon in request.coupon_codes():
                    self._use_code(account, member, record, coupon, out)
                self._refresh_tier(account, member, out)
        self._emit(out)
        # The reference documents no answer body for Create Order.
        return {}

    def create_refund(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """ "Requests are processed asynchronously. A HTTP 200 success response acknowledges the
        receipt of the request" (https://loyaltyapi.yotpo.com/reference/create-refund): a refund
        that cannot be applied is answered 200 and kept under `refunds_failed` in the state."""
        request = validate(RefundCreate, body)
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            if request.id is not None and request.id in account.refunds:
                account.duplicate_refunds[request.id] += 1
                if account.program.silent.duplicate_refund_id == "ignore":
                    return {}
                request = request.model_copy(update={"id": f"{request.id}#{len(account.refunds)}"})
            problem = self._refund_problem(account, request)
            if problem is not None:
                account.failed_refunds.append(
                    {**request.model_dump(mode="json"), "reason": problem, "at": iso(self._now())}
                )
                return {}
            order = account.latest_order[request.order_id]
            refunded = order.refunded_cents + request.total_amount_cents
            member = account.members[order.member_no]
            # Cumulative shares: the sum over all refunds of an order reverses exactly what the
            # order earned once it is fully refunded, whatever the rounding of each step.
            total = order.total_amount_cents
            points = share(order.points_earned, refunded, total) - order.points_reversed
            spend = share(order.spend_base_cents, refunded, total) - order.spend_reversed_cents
            fully_refunded_now = order.processed and refunded == total and total > 0
            order.refunded_cents = refunded
            order.points_reversed += points
            order.spend_reversed_cents += spend
            refund = RefundRecord(
                id=request.id or f"sandbox-refund-{len(account.refunds) + 1}",
                order_id=order.order_id,
                order_seq=order.seq,
                total_amount_cents=request.total_amount_cents,
                currency=order.currency,
                points_reversed=points,
                spend_reversed_cents=spend,
                created_at=self._now(),
            )
            account.refunds[refund.id] = refund
            member.total_spend_cents = max(0, member.total_spend_cents - spend)
            if fully_refunded_now:
                member.total_purchases = max(0, member.total_purchases - 1)
            # Reversing earned points may take the balance below zero when they were spent.
            self._change_points(
                account,
                member,
                -points,
                out,
                reason="refund",
                earned=-points,
                action="Refund",
                order_id=order.order_id,
            )
            self._refresh_tier(account, member, out)
        self._emit(out)
        return {}

    @staticmethod
    def _refund_problem(account: Account, request: RefundCreate) -> str | None:
        order = account.latest_order.get(request.order_id)
        if order is None:
            return f"order {request.order_id} not found"
        if request.currency is not None and request.currency.upper() != order.currency:
            return f"refund currency {request.currency} differs from order {order.currency}"
        refunded = order.refunded_cents + request.total_amount_cents
        if refunded > order.total_amount_cents:
            return f"refunds ({refunded}) would exceed the order total ({order.total_amount_cents})"
        return None

    def _use_code(
        self,
        account: Account,
        member: Member,
        order: OrderRecord,
        code: str,
        out: list[Webhook],
    ) -> None:
        redemption = next(
            (
                r
                for r in account.redemptions.values()
                if r.reward_text == code and r.member_no == member.member_no
            ),
            None,
        )
        if redemption is None or redemption.state != "active":
            return  # an unknown, used or cancelled code takes nothing
        redemption.state = "used"
        redemption.used_by_order = order.order_id
        order.redemption_id = redemption.id
        if not redemption.points_deducted:
            redemption.points_deducted = True
            self._change_points(
                account,
                member,
                -redemption.points,
                out,
                reason="redemption",
                action=f"Redeemed {redemption.option.name}",
                redemption_id=redemption.id,
                order_id=order.order_id,
            )
