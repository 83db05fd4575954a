"""Points and VIP tiers of the Yotpo stand-in: Adjust Points and the VIP tier list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.yotpo.bodies import PointsAdjust, validate
from sandbox.yotpo.core import EngineCore
from sandbox.yotpo.errors import ApiError
from sandbox.yotpo.views import customer_view, tier_view
from sandbox.yotpo.webhooks import Webhook


class PointsApi(EngineCore):
    """`POST /points/adjust`, `GET /vip_tiers`."""

    def adjust_points(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = validate(PointsAdjust, body)
        out: list[Webhook] = []
        with self._lock:
            account = self._account(guid)
            member = self._require_member(account, request.customer_id, request.customer_email)
            delta = request.point_adjustment_amount
            if member.points_balance + delta < 0:
                raise ApiError(422, "adjustment would make the points balance negative")
            self._change_points(
                account,
                member,
                delta,
                out,
                reason="adjustment",
                earned=delta if request.apply_adjustment_to_points_earned else 0,
                action=request.history_title or "Points adjustment",
            )
            self._refresh_tier(account, member, out)
            result = customer_view(account, member, referral=False, history=False)
        self._emit(out)
        return result

    def vip_tiers(self, guid: str) -> list[dict[str, Any]]:
        with self._lock:
            account = self._account(guid)
            return [tier_view(t) for t in account.tiers_by_rank()]
