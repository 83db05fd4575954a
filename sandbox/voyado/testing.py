"""In-process helper for tests and the demo: the stand-in on a free loopback port.

with VoyadoServer() as voyado:
    contact = voyado.seed_contact(email="jane@example.com")
    requests.post(f"{voyado.url}/api/v2/receipts", json=..., headers=voyado.headers())
    voyado.process()
    voyado.contact_state(contact["id"])["balance"]
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.serving import ServerThread
from sandbox.voyado.app import create_app
from sandbox.voyado.config import DEFAULT_API_KEY, DEFAULT_STORE, SandboxConfig, default_config
from sandbox.voyado.engine import Clock, VoyadoEngine, _utc_now
from sandbox.voyado.webhooks import SvixDispatcher

USER_AGENT = "VoyadoSandboxTests/1.0"


class VoyadoServer:
    """A `VoyadoEngine` served by `ServerThread`; a context manager."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Clock = _utc_now,
        dispatcher: SvixDispatcher | None = None,
        port: int = 0,
    ) -> None:
        self.config = config or default_config()
        self.engine = VoyadoEngine(self.config, clock=clock, dispatcher=dispatcher)
        self._server = ServerThread(create_app(self.engine), port=port)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> VoyadoServer:
        self._server.start()
        return self

    def stop(self) -> None:
        # Release hanging requests first so the server's threads can finish.
        self.engine.close()
        self._server.stop()

    def __enter__(self) -> VoyadoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def headers(api_key: str = DEFAULT_API_KEY, **extra: str) -> dict[str, str]:
        """The three headers Voyado requires (api-authentication page)."""
        return {
            "apikey": api_key,
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            **extra,
        }

    def tenant_name(self, tenant: str | None) -> str:
        return tenant or self.engine.default_tenant()

    def seed_contact(
        self, tenant: str | None = None, *, allow_duplicate: bool = False, **attributes: Any
    ) -> dict[str, Any]:
        """Create a contact directly (duplicates allowed on request, for MultipleMatches)."""
        return self.engine.create_contact(
            self.tenant_name(tenant), attributes, {}, allow_duplicate=allow_duplicate or None
        )

    def process(self, tenant: str | None = None) -> int:
        """Apply every pending receipt now (the batch Voyado runs every 15 minutes)."""
        return self.engine.process_pending(tenant)

    def contact_state(self, contact_id: str, tenant: str | None = None) -> dict[str, Any]:
        return self.engine.contact_state(self.tenant_name(tenant), contact_id)

    def wait_webhooks(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        self.engine.dispatcher.wait_idle(timeout)
        return self.engine.dispatcher.deliveries()


class FakeClock:
    """A settable clock for `VoyadoEngine(clock=...)`: frozen until moved."""

    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


def receipt(
    contact_id: str,
    unique_receipt_id: str,
    lines: list[tuple[str, int, str]],
    *,
    store: str = DEFAULT_STORE,
    currency: str = "SEK",
    kind: str = "PURCHASE",
    match_key_type: str = "contactId",
    **extra: Any,
) -> dict[str, Any]:
    """A receipt body as the field-definitions page describes it. `lines` are
    (sku, quantity, grossPaidPrice as a decimal string); for a RETURN give positive quantities
    and prices: the builder writes them the documented way (negative quantity, positive price,
    negative total)."""
    sign = -1 if kind == "RETURN" else 1
    items = []
    total = Decimal(0)
    for sku, quantity, price in lines:
        amount = Decimal(price)
        total += amount
        items.append(
            {
                "type": kind,
                "sku": sku,
                "quantity": sign * quantity,
                "grossPaidPrice": amount,
                "taxAmount": (amount / 5).quantize(Decimal("0.01")),
                "taxPercent": Decimal(25),
                "articleNumber": sku,
                "articleName": f"Article {sku}",
            }
        )
    return {
        "contact": {"matchKey": contact_id, "matchKeyType": match_key_type},
        "uniqueReceiptId": unique_receipt_id,
        "createdDate": "2026-12-01T10:00:00+01:00",
        "storeExternalId": store,
        "currency": currency,
        "totalGrossPrice": sign * total,
        "paymentMethods": [{"type": "card", "value": sign * total}],
        "items": items,
        **extra,
    }
