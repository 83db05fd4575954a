"""What pure resource logic may ask of the stand-in: time, ids, and lookups of other data."""

from __future__ import annotations

from typing import Any, Protocol

from sandbox.commercetools.catalogue import Product, TaxCategory


class Context(Protocol):
    def now(self) -> str:
        """The current instant as commercetools writes it (`2024-05-01T10:00:00.000Z`)."""
        ...

    def new_id(self) -> str: ...

    def resolve(self, type_id: str, reference: Any) -> dict[str, Any]:
        """The resource a `{typeId, id | key}` reference names; ReferencedResourceNotFound."""
        ...

    def product(self, sku: str) -> Product | None: ...

    def tax_category(self, reference: Any) -> TaxCategory | None: ...

    def discount_code(self, code: str) -> dict[str, Any] | None: ...

    def discount_code_by_id(self, id: str) -> dict[str, Any] | None: ...

    def cart_discount(self, id: str) -> dict[str, Any] | None: ...

    def cart_discounts(self) -> list[dict[str, Any]]:
        """Every Cart Discount of the project."""
        ...

    def code_applications(self, code_id: str, customer_id: str | None) -> tuple[int, int]:
        """(orders that used the code, of them by this customer)."""
        ...

    def ignore_cart_discounts_default(self) -> bool:
        """`directDiscountsIgnoreCartDiscounts` of a cart whose draft does not set it."""
        ...


class MessageSink(Protocol):
    def __call__(self, message_type: str, **payload: Any) -> None: ...
