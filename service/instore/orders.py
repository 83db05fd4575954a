"""In-store purchases become commercetools orders (Order Import), never direct provider calls.

commercetools emits `OrderImported`; the event app reconciles the order like any other, so
the store's loyalty provider (Yotpo, Voyado: through the provider port) hears of it exactly
once, through the ledger. The receipt id is the order number:
importing a number that exists answers the existing order instead of importing it again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from service.instore.access import Principal
from service.instore.commerce import CustomerDirectory, find_order, order_visible
from service.instore.models import OrderRequest
from service.instore.problems import Problem, conflict, refused
from shared.commercetools import CommercetoolsClient
from shared.domain.checkout.redemption import currency_refusal
from shared.domain.loyalty_fields import CartFields
from shared.domain.money import minor_units, typed_money
from shared.errors import CommercetoolsPermanentError, describe
from shared.logs import log_event
from shared.runtime import Runtime

logger = logging.getLogger(__name__)

IMPORT_PATH = "orders/import"
LOCALE = "en"
DEFAULT_MAX_ORDER_MINOR = 10_000_000


def import_draft(
    request: OrderRequest,
    *,
    store: str,
    customer_id: str | None,
    email: str,
    type_key: str,
    completed_at: datetime,
) -> dict[str, Any]:
    """The OrderImportDraft of one in-store sale. Pure.

    Paid, delivered and complete at once: the customer walked out with it. Lines with a SKU
    are line items (their variant found by SKU); lines without one are custom line items.
    The total is the till's: what the customer paid, after in-store discounts, and what the
    order earns on.
    """
    currency = request.currency
    line_items: list[dict[str, Any]] = []
    custom_line_items: list[dict[str, Any]] = []
    for number, line in enumerate(request.lines, start=1):
        name = {LOCALE: line.name}
        price = typed_money(currency, line.unit_price_minor)
        if line.sku:
            line_items.append(
                {
                    "name": name,
                    "variant": {"sku": line.sku},
                    "price": {"value": price},
                    "quantity": line.quantity,
                }
            )
        else:
            custom_line_items.append(
                {
                    "name": name,
                    "money": price,
                    "slug": f"pos-line-{number}",
                    "quantity": line.quantity,
                }
            )
    draft: dict[str, Any] = {
        "orderNumber": request.order_number,
        "customerEmail": email,
        "store": {"typeId": "store", "key": store},
        "totalPrice": typed_money(currency, request.total),
        "orderState": "Complete",
        "paymentState": "Paid",
        # Handed over at the till: whichever EARNING_TRIGGER the shop uses, the sale earns.
        "shipmentState": "Delivered",
        "completedAt": completed_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "origin": "Merchant",
    }
    if customer_id:
        draft["customerId"] = customer_id
    if line_items:
        draft["lineItems"] = line_items
    if custom_line_items:
        draft["customLineItems"] = custom_line_items
    if request.tax_minor is not None:
        net = request.total - request.tax_minor
        draft["taxedPrice"] = {
            "totalNet": typed_money(currency, net),
            "totalGross": typed_money(currency, request.total),
            "totalTax": typed_money(currency, request.tax_minor),
            "taxPortions": [
                {
                    "name": "in-store",
                    # A ratio, not money: what commercetools' TaxPortion wants.
                    "rate": round(request.tax_minor / net, 4) if net else 0,
                    "amount": typed_money(currency, request.tax_minor),
                }
            ],
        }
    if request.reward_code:
        draft["custom"] = {
            "type": {"typeId": "type", "key": type_key},
            "fields": {CartFields.REWARD_CODE: request.reward_code},
        }
    return draft


def _paid_total(order: dict[str, Any]) -> int:
    taxed = order.get("taxedPrice") or {}
    return minor_units(taxed.get("totalGross") or order["totalPrice"])


def order_answer(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order["id"],
        "order_number": order.get("orderNumber"),
        "status": "imported",
    }


class OrderDesk:
    def __init__(
        self,
        commercetools: CommercetoolsClient,
        runtime: Runtime,
        directory: CustomerDirectory,
        type_key: str,
        *,
        max_order_minor: int = DEFAULT_MAX_ORDER_MINOR,
    ) -> None:
        self._ct = commercetools
        self._runtime = runtime
        self._directory = directory
        self._type_key = type_key
        self._max_order_minor = max_order_minor

    def import_order(self, principal: Principal, request: OrderRequest) -> tuple[int, dict]:
        # A sale above the cap earns points no till should mint (POS_MAX_ORDER_MINOR).
        if max(request.total, request.lines_total) > self._max_order_minor:
            raise refused(
                "order_over_limit",
                f"an in-store sale may be at most {self._max_order_minor} minor units",
                max_order_minor=self._max_order_minor,
            )
        existing = find_order(self._ct, request.order_number)
        if existing is not None:
            return 200, self._same_sale(principal, request, existing)
        route = self._runtime.provider_for_store(principal.store)
        if route is not None and currency_refusal(request.currency, route.currencies):
            raise refused(
                "currency_not_enabled", f"the loyalty program does not use {request.currency}"
            )
        customer_id, email = self._customer(principal, request)
        draft = import_draft(
            request,
            store=principal.store,
            customer_id=customer_id,
            email=email,
            type_key=self._type_key,
            completed_at=datetime.now(UTC),
        )
        try:
            order = self._ct.post(IMPORT_PATH, draft)
        except CommercetoolsPermanentError as exc:
            if "DuplicateField" in exc.codes:
                # A concurrent copy of this request imported it first.
                winner = find_order(self._ct, request.order_number)
                if winner is not None:
                    return 200, self._same_sale(principal, request, winner)
            # commercetools' words (SKUs, project key) stay in the log, not on the till.
            log_event(
                logger,
                "pos.order_refused",
                level=logging.WARNING,
                key_id=principal.key_id,
                order_number=request.order_number,
                codes=list(exc.codes),
                error=describe(exc),
                outcome="refused",
            )
            raise Problem(
                422,
                "import_refused",
                "commercetools refused the order (an unknown SKU?); see the connector's logs",
                codes=sorted(set(exc.codes)),
            ) from None
        log_event(
            logger,
            "pos.order",
            key_id=principal.key_id,
            store=principal.store,
            order_id=order["id"],
            order_number=request.order_number,
            total_minor=request.total,
            currency=request.currency,
            reward_code_used=request.reward_code is not None,
            request_id=request.request_id,
            outcome="imported",
        )
        return 201, order_answer(order)

    def _customer(self, principal: Principal, request: OrderRequest) -> tuple[str | None, str]:
        if request.customer_id is not None:
            customer = self._directory.by_id(principal, request.customer_id)
            email = customer.get("email")
            if not isinstance(email, str) or not email:
                raise refused("no_email", "the customer has no email; Yotpo needs one")
            return str(customer["id"]), email
        assert request.email is not None  # the model requires one of the two
        found = self._directory.by_email(principal, request.email)
        if len(found) > 1:
            raise conflict("ambiguous_customer", "several customers have this email")
        if found:
            return str(found[0]["id"]), str(found[0]["email"])
        # A guest sale: Yotpo credits the member with this email (or makes one).
        return None, request.email

    def _same_sale(
        self, principal: Principal, request: OrderRequest, order: dict[str, Any]
    ) -> dict[str, Any]:
        """The existing order, when it is this sale; 409 when the number names another one."""
        store = (order.get("store") or {}).get("key")
        same = (
            store == principal.store
            and order["totalPrice"].get("currencyCode") == request.currency
            and _paid_total(order) == request.total
        )
        if not same:
            if not order_visible(order, principal, self._runtime):
                # Do not confirm that another store's order exists.
                raise conflict("order_number_taken", "this order number is already in use")
            raise conflict(
                "order_number_taken", "an order with this number exists and differs from this sale"
            )
        return order_answer(order)
