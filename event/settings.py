"""Settings of the event app: the shared ones plus how orders earn and refund."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.settings import ConnectorSettings


class EventSettings(ConnectorSettings):
    app_name: ClassVar[str] = "event"

    earning_trigger: Literal["created", "paid", "shipped", "completed"] = Field(
        default="paid", description="When an order earns points: created, paid, shipped, completed"
    )
    yotpo_order_status: str = Field(
        default="paid",
        min_length=1,
        description="Order status sent to Yotpo; must match the account's earning status regex",
    )
    order_id_source: Literal["orderNumber", "id"] = Field(
        default="orderNumber", description="Order id sent to Yotpo: orderNumber (else id) or id"
    )
    amount_base: Literal["total", "subtotal"] = Field(
        default="total", description="Points base: order total, or merchandise subtotal"
    )
    item_id_source: Literal["sku", "productId"] = Field(
        default="sku", description="Line item id sent to Yotpo: sku or productId"
    )
    item_name_locale: str = Field(default="en", description="Locale of item names sent to Yotpo")
    refund_source: Literal["payments", "returns"] = Field(
        default="payments",
        description="Refunds from Refund payment transactions (payments) or refunded returns",
    )
    max_delivery_attempts: int = Field(
        default=10, ge=1, description="Transient failures of one message before it is dead-lettered"
    )
    ledger_lease_seconds: int = Field(
        default=60, ge=5, description="After this, a crashed worker's pending Yotpo call is redone"
    )
    event_deadline_seconds: float = Field(
        default=8.0, gt=0, le=9.5, description="Time budget of one delivery (Pub/Sub waits 10 s)"
    )
