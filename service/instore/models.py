"""Request bodies of the loyalty API, validated at the boundary (unknown fields are refused).

Numbers are strict integers (`true` is not 1, `"5"` is not 5, `5.0` is not 5) with upper
bounds: a POS key is a shared secret typed into a web page, and what it sends becomes points.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

# A request id names one POS operation; it becomes part of custom object keys and
# transaction interaction ids, hence the safe alphabet.
RequestId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,100}$")]
CustomerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,100}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# In-store receipt ids: printable, no spaces or quotes (they travel in URLs and predicates).
PosOrderNumber = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:#\-]{0,99}$")]
# Orders bought online may carry any order number the shop chose.
AnyOrderNumber = Annotated[str, StringConstraints(min_length=1, max_length=256)]
REWARD_ID_PATTERN = (
    r"^(?:[0-9]{1,18}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
RewardCode = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,64}$")]
# Far above any real sale, far below what overflows commercetools' 64-bit cent amounts.
MAX_MINOR = 10**15
MAX_POINTS = 10**9
Minor = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR)]
PositiveMinor = Annotated[StrictInt, Field(gt=0, le=MAX_MINOR)]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def checked_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("is not an email address")
    return value


class RedemptionRequest(_Body):
    request_id: RequestId
    customer_id: CustomerId
    # A Yotpo option id (ASCII digits only: `\d` would take "٣" or "²", which int() reads
    # differently or not at all) or a Voyado reward voucher id (a GUID). Which one the store's
    # program takes is the provider's to say (`RewardsAccount.id_refusal`).
    option_id: Annotated[str, StringConstraints(pattern=REWARD_ID_PATTERN)]
    points: Annotated[StrictInt, Field(gt=0, le=MAX_POINTS)] | None = None
    currency: Currency | None = None

    @field_validator("option_id", mode="before")
    @classmethod
    def _option_as_text(cls, value: Any) -> Any:
        # Yotpo's option ids are integers; terminals may send them either way.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    _currency = field_validator("currency", mode="before")(_upper)


class ReversalRequest(_Body):
    request_id: RequestId


class OrderLine(_Body):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]
    unit_price_minor: Minor


class OrderRequest(_Body):
    request_id: RequestId
    order_number: PosOrderNumber
    customer_id: CustomerId | None = None
    email: str | None = None
    currency: Currency
    lines: list[OrderLine] = Field(min_length=1, max_length=500)
    total_minor: PositiveMinor | None = None
    tax_minor: Minor | None = None
    reward_code: RewardCode | None = None

    _currency = field_validator("currency", mode="before")(_upper)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else checked_email(value)

    @model_validator(mode="after")
    def _consistent(self) -> OrderRequest:
        if (self.customer_id is None) == (self.email is None):
            raise ValueError("give exactly one of customer_id and email")
        if self.lines_total > MAX_MINOR:
            raise ValueError("the lines add up to more than any sale can be")
        if self.total_minor is not None and self.total_minor > self.lines_total + len(self.lines):
            # The till's total is the lines after in-store discounts: never more than the lines
            # (one minor unit per line of rounding allowed).
            raise ValueError("total_minor cannot exceed the sum of the lines")
        if self.total <= 0:
            raise ValueError("the order total must be positive")
        if self.tax_minor is not None and self.tax_minor > self.total:
            raise ValueError("tax_minor cannot exceed the order total")
        return self

    @property
    def lines_total(self) -> int:
        return sum(line.quantity * line.unit_price_minor for line in self.lines)

    @property
    def total(self) -> int:
        """What the customer paid: the till's total (after in-store discounts), else the lines."""
        return self.total_minor if self.total_minor is not None else self.lines_total


class RefundRequest(_Body):
    request_id: RequestId
    order_number: AnyOrderNumber
    amount_minor: PositiveMinor
