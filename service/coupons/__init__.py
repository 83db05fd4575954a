"""Yotpo's Create/Cancel Coupons URLs on the service app (rewards redeemed in Yotpo's widgets)."""

from service.coupons.api import CANCEL_PATH, CREATE_PATH, coupons_blueprint, register_coupons
from service.coupons.settings import CouponRewardsSettings, CouponSettings

__all__ = [
    "CANCEL_PATH",
    "CREATE_PATH",
    "CouponRewardsSettings",
    "CouponSettings",
    "coupons_blueprint",
    "register_coupons",
]
