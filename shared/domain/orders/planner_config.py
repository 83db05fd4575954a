"""The planner's settings (EARNING_TRIGGER, AMOUNT_BASE, ... see `shared/settings.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.domain.customers.customer_sync import CustomerSyncConfig
from shared.domain.providers.port import StoreLocation


class PlannerConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    earning_trigger: Literal["created", "paid", "shipped", "completed"] = "paid"
    yotpo_order_status: str = "paid"
    order_id_source: Literal["orderNumber", "id"] = "orderNumber"
    amount_base: Literal["total", "subtotal"] = "total"
    item_id_source: Literal["sku", "productId"] = "sku"
    locale: str = "en"
    refund_source: Literal["payments", "returns"] = "payments"
    return_reward_points_on_cancel: bool = True
    members: CustomerSyncConfig = CustomerSyncConfig()
    # Store key → location: imported orders of these stores are in-store sales.
    instore_stores: dict[str, StoreLocation] = {}
    item_vendor_attribute: str | None = None  # a variant attribute naming the vendor/brand
