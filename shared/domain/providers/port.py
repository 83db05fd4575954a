"""The provider port, pure half: provider-neutral operations, capabilities, the renderer.

The planner decides *what* a loyalty provider must still be told about an order (how much was
earned, which refunds are due, the caps, the pinned order reference) and says it with the
neutral operations below. A provider's `PayloadRenderer` turns each one into that provider's
exact request body, which the ledger pins next to the operation (`LedgerOp.payload`): what was
sent is frozen at plan time, and a later version of a renderer cannot change an operation
already planned. The I/O half (sending, looking up) is `shared/providers/port.py`.

Every neutral operation has a `kind`, the same word the ledger uses for the operation
(`LedgerOp.kind`): "order", "refund", "customer", "reward_return", "redemption". One more kind,
"birthday", is sent by the customer sync alone (never planned into a ledger): a provider that
takes a member's date of birth on a call of its own declares it (Yotpo).

Money is integer minor units of the operation's currency everywhere here; a provider that
wants major-unit decimals (`Capabilities.amount_unit`) converts in its renderer.

Each provider also declares, per kind, how it deduplicates a repeated request (`DedupMode`),
so the reconciler knows what resending after an ambiguous outcome (a timeout, a reset
connection) may do. Design: ADR 0080 (neutral
operations, the port, capabilities, dedup modes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

# The ledger's operation kinds; the list only ever grows (old ledgers must keep validating).
# "birthday" is the customer sync's (`MemberBirthday`), never a ledger's.
OpKind = Literal["order", "refund", "customer", "reward_return", "redemption", "birthday"]
ORDER: OpKind = "order"
REFUND: OpKind = "refund"
CUSTOMER: OpKind = "customer"
REWARD_RETURN: OpKind = "reward_return"
REDEMPTION: OpKind = "redemption"
BIRTHDAY: OpKind = "birthday"
OP_KINDS: tuple[OpKind, ...] = (ORDER, REFUND, CUSTOMER, REWARD_RETURN, REDEMPTION, BIRTHDAY)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class DedupMode(StrEnum):
    """How a provider treats the same request arriving twice (ADR 0080)."""

    # The request carries a permanent unique key the provider ignores a repeat of
    # (Voyado's `uniqueReceiptId`): resending is always safe.
    NATURAL_KEY = "natural-key"
    # An `Idempotency-Key` header replays the first answer for a limited time
    # (`Capabilities.idempotency_ttl_seconds`; Voyado point transactions: 24 h).
    IDEMPOTENCY_KEY = "idempotency-key"
    # A repeat is refused with 409 meaning "already done" (Voyado voucher redeem); the adapter
    # reports it as `SendOutcome.DUPLICATE`.
    CONFLICT_ON_REPEAT = "conflict-on-repeat"
    # The request sets a state rather than adding to one (a member upsert): repeating it is
    # harmless.
    STATE_UPSERT = "state-upsert"
    # Nothing documented: a repeat may act twice (Yotpo orders, refunds, points adjustments).
    NONE = "none"


class Capabilities(BaseModel):
    """What a provider can do and how it behaves, as its adapter declares it."""

    model_config = _FROZEN

    provider: str
    # Per operation kind the provider accepts; a kind absent here is not supported.
    dedup: dict[OpKind, DedupMode]
    idempotency_ttl_seconds: int | None = None  # for kinds in IDEMPOTENCY_KEY mode
    amount_unit: Literal["minor", "major-decimal"] = "minor"
    tiers: bool = False
    referrals: bool = False
    partial_refunds: bool = True
    refund_lines_required: bool = False  # a reversal must name the returned lines
    cancel_redemption: bool = False
    redemption_commit_after_payment: bool = False
    # EARNING_TRIGGER values the provider can live with (a provider whose receipts are final
    # cannot earn on "created": the order may still be cancelled unpaid).
    earning_triggers: frozenset[str] = frozenset({"created", "paid", "shipped", "completed"})
    rate_limit_per_second: float = 10.0
    # An order must name a member the provider already holds (a Voyado receipt's contact): the
    # planner tells it of the member before the order's first earning operation.
    member_before_order: bool = False
    # Receipts cannot be updated once sent (Voyado: "Data sent to this endpoint cannot be
    # reversed or updated", https://developer.voyado.com/en/receipts/register-a-purchase.html):
    # an order that earns less after it was sent (an Order Edit, a line removed) is corrected
    # with a reversal of what went away (`shared/domain/orders/corrections.py`, ADR 0096); one
    # that grows is re-issued: its purchase reversed whole and the order recorded again as a new
    # order operation.
    corrects_changed_orders: bool = False

    def supports(self, kind: str) -> bool:
        return kind in self.dedup

    def dedup_mode(self, kind: str) -> DedupMode:
        """The kind's mode; NONE (the careful answer) for a kind not declared."""
        return self.dedup.get(kind, DedupMode.NONE)  # type: ignore[call-overload]


class StoreLocation(BaseModel):
    """A physical store whose sales are imported as orders (setting INSTORE_STORES)."""

    model_config = _FROZEN

    address: str | None = None
    city: str | None = None
    state: str | None = None


class MemberRef(BaseModel):
    """Who an operation is about, as far as the order knows."""

    model_config = _FROZEN

    member_id: str | None = None  # the id the provider knows the member by (MEMBER_ID_SOURCE)
    email: str | None = None
    phone: str | None = None
    ct_customer_id: str | None = None
    has_account: bool = False  # a registered commercetools customer, not a guest
    # The customer's groups; None: not known, or not the connector's to send.
    tags: tuple[str, ...] | None = None
    opted_in: bool | None = None  # None: leave it to the provider's own settings


class Line(BaseModel):
    """One line item of an order as a provider sees it."""

    model_config = _FROZEN

    line_id: str  # the commercetools line item id
    item_id: str  # per ITEM_ID_SOURCE (sku or product id); refunds name items by it
    sku: str | None = None
    product_id: str | None = None
    name: str = ""
    unit_price_minor: int  # one unit before cart discounts
    quantity: int
    paid_total_minor: int  # what the line cost after every discount on it, tax included
    tax_minor: int | None = None  # None: taxes were not calculated
    tax_rate: Decimal | None = None  # e.g. 0.19; None: not known
    collections: tuple[str, ...] = ()
    product_type: str | None = None
    vendor: str | None = None


class ReturnedLine(BaseModel):
    """Units of one line given back (a return item), with their share when known."""

    model_config = _FROZEN

    line_id: str | None = None
    item_id: str
    quantity: int
    amount_minor: int | None = None


class MemberUpsert(BaseModel):
    """Make the provider's member carry this identity and profile: the customer sync sends a
    registered customer's whole profile; the planner only attaches the member id (a guest
    order's member gets the id of the customer the order was since assigned to) or names the
    order's member first. A field left None is not said: the provider keeps what it holds."""

    model_config = _FROZEN

    kind: Literal["customer"] = "customer"
    member_id: str | None = None  # None: a guest, known to the provider by email only
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    ct_customer_id: str | None = None
    # A registered commercetools customer (an account), not a guest.
    has_account: bool | None = None
    # When that account was opened (the customer's `createdAt`).
    account_created_at: datetime | None = None
    opted_in: bool | None = None
    tags: tuple[str, ...] | None = None
    birthday: str | None = None  # ISO date


class MemberBirthday(BaseModel):
    """The member's date of birth, for a provider that takes it on a call of its own
    (`Capabilities.supports("birthday")`; Yotpo's Set Customer Birthday). Sent after the
    member's upsert, which makes the member it names; a provider whose member carries the date
    (`MemberUpsert.birthday`) declares no such kind."""

    model_config = _FROZEN

    kind: Literal["birthday"] = "birthday"
    email: str  # the member, as the upsert just sent it
    born: date


class OrderRecorded(BaseModel):
    """An order that earns: the provider records it under its member."""

    model_config = _FROZEN

    kind: Literal["order"] = "order"
    ct_order_id: str
    order_ref: str  # the provider's order reference, pinned in the ledger
    # The earning base (AMOUNT_BASE); a re-issue's: the most the order was told it is worth —
    # what it earns is the ledger operation's `amount_cents` (ADR 0096).
    amount_minor: int
    discount_minor: int = 0
    # The merchandise's share, gross, of a discount on the order's total price
    # (`discountOnTotalPrice`) that no line's paid total carries: a provider that records the
    # lines spreads it over them (Voyado, https://developer.voyado.com/en/receipts/discounts.html).
    order_discount_minor: int = 0
    # What the shopper was to pay for the whole order when it was recorded (`taxedPrice.
    # totalGross`, shipping included): the whole a refund by payment is a share of, kept so an
    # order edited afterwards does not change what its refunds are worth (ADR 0096). None in
    # operations recorded before.
    total_gross_minor: int | None = None
    currency: str
    created_at: datetime
    status: str  # the order status word told to the provider (YOTPO_ORDER_STATUS)
    lines: tuple[Line, ...] = ()
    coupon_codes: tuple[str, ...] = ()
    member: MemberRef
    channel: Literal["online", "offline"] | None = None
    store_key: str | None = None
    location: StoreLocation | None = None  # an in-store sale's store
    clerk_employee_id: str | None = None
    clerk_name: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    # Facts order rules can match (store key, channel); never anything the shopper wrote.
    tags: tuple[str, ...] = ()


class Reversal(BaseModel):
    """Points taken back from an order already recorded (a delta, never a new total)."""

    model_config = _FROZEN

    kind: Literal["refund"] = "refund"
    refund_ref: str  # the reversal's own id, unique per order
    order_ref: str  # the provider order it takes from
    amount_minor: int  # in the order's earning terms
    currency: str
    # "changed": the order earns less than it was recorded with, or its purchase is returned
    # whole before a re-issue (ADR 0096).
    reason: Literal["refund", "return", "cancel", "moved", "changed"]
    lines: tuple[ReturnedLine, ...] = ()  # when known (REFUND_SOURCE=returns, a change)
    ct_order_id: str | None = None
    member: MemberRef | None = None


class PointsReturned(BaseModel):
    """Points spent on a reward given back, because the order that used it was cancelled."""

    model_config = _FROZEN

    kind: Literal["reward_return"] = "reward_return"
    member_id: str
    points: int
    order_ref: str


class RedemptionCommitted(BaseModel):
    """A reward the order used, committed once the order is paid (a provider that redeems on
    use, such as a Voyado voucher); providers whose order carries the code need none."""

    model_config = _FROZEN

    kind: Literal["redemption"] = "redemption"
    redemption_ref: str
    order_ref: str
    code: str | None = None
    member: MemberRef | None = None


AnyNeutralOp = (
    MemberUpsert | OrderRecorded | Reversal | PointsReturned | RedemptionCommitted | MemberBirthday
)
# For fields and validation: the union, told apart by `kind`.
NeutralOp = Annotated[AnyNeutralOp, Field(discriminator="kind")]


class UnsupportedOperation(ValueError):
    """A renderer was asked for a kind its provider does not accept."""


@runtime_checkable
class PayloadRenderer(Protocol):
    """Turns neutral operations into one provider's exact request bodies (pure)."""

    @property
    def capabilities(self) -> Capabilities: ...

    def render(self, op: AnyNeutralOp) -> dict[str, Any]:
        """The exact body to send and pin in the ledger; raises UnsupportedOperation."""
        ...


@runtime_checkable
class ReversalRenderer(Protocol):
    """How a renderer whose provider needs refund lines (`Capabilities.refund_lines_required`)
    is called for a `Reversal`: with what it reverses — the purchase (the order operation it
    takes from), the pinned bodies of the reversals of that purchase before it (not those the
    provider refused), and the reversal's date (when it was planned). Other kinds, and other
    providers, are rendered with `render(op)` alone."""

    def render(
        self,
        op: AnyNeutralOp,
        *,
        purchase: OrderRecorded | None = None,
        earlier: Iterable[Mapping[str, Any]] = (),
        at: datetime | None = None,
    ) -> dict[str, Any]: ...
