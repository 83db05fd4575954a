"""Redemptions of the Yotpo stand-in: the active redemption options, Create Redemption (with
delayed points deduction), the customer's cancellation request and the merchant's approval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.yotpo.bodies import RedemptionCreate, email_or_422, truthy, validate
from sandbox.yotpo.core import EngineCore
from sandbox.yotpo.errors import ApiError
from sandbox.yotpo.state import Redemption
from sandbox.yotpo.views import customer_view, option_view
from sandbox.yotpo.webhooks import Webhook, cancellation_request_payload


class RedemptionsApi(EngineCore):
    """`GET /redemption_options`, `POST /redemptions`, the cancellation request and approval."""

    def redemption_options(self, guid: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """`is_offline=true`: "only offline redemption options will be returned"; otherwise
        all (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options)."""
        with self._lock:
            account = self._account(guid)
            options = account.program.redemption_options
            if truthy(query.get("is_offline")):
                options = [o for o in options if o.is_offline]
            customer_id = query.get("customer_id", "").strip() or None
            email = query.get("customer_email", "").strip() or None
            phone = query.get("phone_number", "").strip() or None
            if customer_id or email or phone:
                member = self._require_member(account, customer_id, email_or_422(email), phone)
                options = [o for o in options if o.amount <= member.points_balance]
            discount_type = query.get("discount_type", "").strip()
            if discount_type:
                options = [o for o in options if o.discount_type == discount_type]
            as_string = account.program.silent.amount_as_string
            return [option_view(o, amount_as_string=as_string) for o in options]

    def create_redemption(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = validate(RedemptionCreate, body)
        with self._lock:
            account = self._account(guid)
            member = self._require_member(
                account,
                request.customer_id,
                request.customer_email,
                request.phone_number,
                request.pos_account_id,
            )
            option = account.option(request.redemption_option_id)
            code, _ = account.currency(request.currency)
            if option.discount_type == "generic_variable":
                points = request.points_to_redeem
                if points is None:
                    raise ApiError(422, "points_to_redeem is required for a variable option")
                if points % option.amount:
                    raise ApiError(422, f"points_to_redeem must be a multiple of {option.amount}")
            else:
                points = option.amount
            # Yotpo's POS guide: with delayed deduction, a customer's unconsumed reward is
            # cancelled when the same customer redeems again (its points were never taken),
            # https://support.yotpo.com/docs/omnichannel-store-associate-managed-loyalty-pos-loyalty-interface
            for earlier in account.redemptions.values():
                if earlier.member_no == member.member_no and earlier.pending_delayed:
                    earlier.state = "cancelled"
                    earlier.cancel_reason = "replaced by a newer redemption of the same customer"
            if points > member.points_balance:
                raise ApiError(
                    422, f"not enough points: {points} needed, {member.points_balance} available"
                )
            now = self._now()
            redemption = Redemption(
                id=self._next_redemption,
                reward_text=f"LOY-{self._next_redemption:06d}",
                member_no=member.member_no,
                option=option,
                points=points,
                delayed=request.delay_points_deduction,
                currency=code,
                created_at=now,
            )
            self._next_redemption += 1
            account.redemptions[redemption.id] = redemption
            out: list[Webhook] = []
            if not redemption.delayed:
                redemption.points_deducted = True
                self._change_points(
                    account,
                    member,
                    -points,
                    out,
                    reason="redemption",
                    action=f"Redeemed {option.name}",
                    redemption_id=redemption.id,
                )
            result = redemption.answer()
        self._emit(out)
        return result

    def complete_cancellation(
        self, guid: str, redemption_id: int, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Approve Redemption Cancellation: the points come back (if they were taken) and the
        code stops working. `reward_text` is required
        (https://loyaltyapi.yotpo.com/reference/approve-redemption-cancellation)."""
        reward_text = str(body.get("reward_text") or "").strip()
        if not reward_text:
            raise ApiError(422, "reward_text is required")
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            redemption = account.redemptions.get(redemption_id)
            if redemption is None:
                raise ApiError(404, f"redemption {redemption_id} not found")
            if redemption.reward_text != reward_text:
                raise ApiError(422, "reward_text does not belong to this redemption")
            member = account.members[redemption.member_no]
            if redemption.state == "used":
                raise ApiError(422, "redemption was already used on an order")
            if (
                redemption.state == "active"
                and not redemption.cancellation_requested
                and account.program.silent.approval_without_request == "reject"
            ):
                raise ApiError(422, "no cancellation request for this redemption")
            if redemption.state == "active":
                redemption.state = "cancelled"
                redemption.cancel_reason = "cancellation approved"
                if redemption.points_deducted:
                    self._change_points(
                        account,
                        member,
                        redemption.points,
                        out,
                        reason="redemption_cancelled",
                        action="Redemption cancelled",
                        redemption_id=redemption.id,
                    )
            redemption.cancellation_requested = False
        self._emit(out)
        # The page documents no answer body.
        return {}

    def request_cancellation(self, guid: str, redemption_id: int) -> dict[str, Any]:
        """The customer asks to reverse a redemption (in Yotpo's own widgets): Yotpo sends
        `swell/point_redemption/cancellation_request` and waits for the merchant's approval
        (https://loyaltyapi.yotpo.com/reference/redemption-cancellation-request)."""
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            redemption = account.redemptions.get(redemption_id)
            if redemption is None:
                raise ApiError(404, f"redemption {redemption_id} not found")
            if redemption.state != "active":
                raise ApiError(422, f"redemption is {redemption.state}")
            redemption.cancellation_requested = True
            member = account.members[redemption.member_no]
            self._webhook(
                account,
                out,
                cancellation_request_payload(
                    customer_view(account, member), redemption.id, redemption.reward_text
                ),
            )
            result = redemption.as_dict(member)
        self._emit(out)
        return result
