"""Voyado Engage's renderer: the exact Voyado request of each neutral operation (pure).

- order → a PURCHASE receipt, `POST /api/v3/receipts`
  (https://developer.voyado.com/en/receipts/receipts---field-definitions.html,
  https://developer.voyado.com/en/transactions/register-a-purchase.html);
- refund → a RETURN receipt with its own `uniqueReceiptId`, negative quantities and total,
  positive prices (https://developer.voyado.com/en/transactions/register-a-return.html); a
  refund by amount also buys the returned units back at their reduced price (PURCHASE items
  in the same receipt), so it never uses up units (`allocate_reversal`);
- customer → a contact draft, found first and created only when missing
  (https://developer.voyado.com/en/contacts/create-contact.html: "always check if the contact
  already exists");
- reward_return → one point transaction row (`POST /api/v2/point-accounts/transactions`, the
  SDK generated from Voyado's OpenAPI, PointAccountsService.md);
- redemption → a reward voucher redeem, after payment
  (https://developer.voyado.com/en/points-and-vouchers/redeem-a-voucher.html); its undo on
  cancellation is a reactivation (`render_reactivation`,
  https://developer.voyado.com/en/points-and-vouchers/reactivate-a-voucher.html).

Amounts: Voyado takes decimal major units with VAT ("A decimal point (.) is always used as
decimal separator", field definitions). The neutral operations carry integer minor units; they
become decimal *strings* with the currency's own fraction digits here ("123.45" SEK, "1234"
JPY, "1.234" KWD), so the pinned body is plain JSON that no float ever touched. The client
writes them as JSON numbers (`shared/voyado/numbers.py`, `receipt_numbers`). What a receipt's
items are worth (the discount spread, a reversal's allocation) is computed in
`voyado_allocation.py`; its names are importable from here too.

Receipts are immutable ("Data sent to this endpoint cannot be reversed or updated",
register-a-purchase) and deduplicated for good on `uniqueReceiptId`: the purchase's id is the
order operation's provider reference (the pinned one, `{ref}-r{n}` for a re-issue, `{ref}-{n}`
after a move), and every reversal gets its own deterministic id (`{purchase}:refund:{id}`,
`{purchase}:cancel`, `{purchase}:moved`), naming the purchase it takes from: a return has "no
actual connection" to a purchase in Voyado (register-a-return), so that id is the only link. An
order that changes after it was sent is therefore corrected with return receipts, never by
sending the purchase again; one that grew is re-issued, a return of everything its purchase
still holds and a new purchase of the order as it is now (ADR 0096). Design and the return
strategy: docs/adr/0085-voyado-engage.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.providers.port import (
    AnyNeutralOp,
    Capabilities,
    DedupMode,
    MemberRef,
    MemberUpsert,
    OrderRecorded,
    PointsReturned,
    RedemptionCommitted,
    Reversal,
    UnsupportedOperation,
)
from shared.domain.providers.rendering import (
    points_returned_text,
    put_given,
    render_kind,
)
from shared.domain.providers.voyado_allocation import (
    ORDER_TOTAL_SKU,
    PURCHASE,
    RETURN,
    PurchaseLine,
    Returned,
    ReturnItem,
    allocate_reversal,
    major,
    purchase_lines,
    returned_so_far,
    spread_discount,
)

__all__ = [
    "ACTION",
    "ACTION_REACTIVATE",
    "ACTION_REDEEM",
    "CONTACT",
    "LOOKUP",
    "ORDER_REF",
    "ORDER_TOTAL_SKU",
    "PROVIDER",
    "PURCHASE",
    "RETURN",
    "ROW",
    "SOURCE",
    "STORE_EXTERNAL_ID",
    "VOUCHER_ID",
    "VOYADO_CAPABILITIES",
    "MatchKeyType",
    "PurchaseLine",
    "ReturnItem",
    "Returned",
    "VoyadoRenderConfig",
    "VoyadoRenderer",
    "allocate_reversal",
    "major",
    "points_description",
    "purchase_lines",
    "returned_so_far",
    "reversal_receipt_id",
    "spread_discount",
]

PROVIDER = "voyado"

# Pinned-body fields of the operations that are not one Voyado body as such.
ACTION = "action"
ACTION_REDEEM = "redeem"
ACTION_REACTIVATE = "reactivate"
VOUCHER_ID = "voucherId"
ORDER_REF = "orderRef"
CONTACT = "contact"
LOOKUP = "lookup"
SOURCE = "source"
STORE_EXTERNAL_ID = "storeExternalId"
ROW = "row"

VOYADO_CAPABILITIES = Capabilities(
    provider=PROVIDER,
    dedup={
        # "If a receipt already exists with the same uniqueReceiptId this will be seen as a
        # duplicate and ignored" (field definitions): no time limit is stated.
        "order": DedupMode.NATURAL_KEY,
        "refund": DedupMode.NATURAL_KEY,
        # Idempotency-Key "Optional, lasts for 24 hours" (PointAccountsService.md).
        "reward_return": DedupMode.IDEMPOTENCY_KEY,
        # 409 RewardVoucherAlreadyRedeemed on a second redeem (redeem-a-voucher page).
        "redemption": DedupMode.CONFLICT_ON_REPEAT,
        # Creating a contact has no key; the adapter looks the contact up first.
        "customer": DedupMode.NONE,
    },
    idempotency_ttl_seconds=24 * 3600,
    amount_unit="major-decimal",
    # No tier or level read API in the public docs or the OpenAPI SDK (the point follower page
    # mentions only "member level functionality",
    # https://developer.voyado.com/en/points-and-vouchers/point-follower.html).
    tiers=False,
    referrals=False,
    partial_refunds=True,
    # Points come back through return matching of returned items (register-a-return).
    refund_lines_required=True,
    # A redeemed voucher can be reactivated, at most 3 times by default
    # (https://help.engage.voyado.com/hc/en-gb/articles/19293868797084).
    cancel_redemption=True,
    # "redeem the promotion after the payment has been successfully processed"
    # (https://developer.voyado.com/en/promotions/introduction-to-promotions.html).
    redemption_commit_after_payment=True,
    # Receipts are final: an order recorded on "created" may still be cancelled unpaid.
    earning_triggers=frozenset({"paid", "shipped", "completed"}),
    # "Keep below 50 requests per second" (https://developer.voyado.com/en/api/api-rate-limit.html).
    rate_limit_per_second=50.0,
    # Receipts are final: an order that earns less after it was sent is corrected with a
    # return receipt, one that grew is re-issued as a new purchase after its old one is
    # returned (https://developer.voyado.com/en/receipts/register-a-purchase.html, ADR 0096).
    corrects_changed_orders=True,
    # A receipt's contact must exist: unknown, it is refused or dropped in the batch
    # (https://developer.voyado.com/en/receipts/introduction-to-receipts.html), so the contact
    # is found or created first (ADR 0085).
    member_before_order=True,
)

MatchKeyType = Literal["email", "externalId", "mobilePhone"]


class VoyadoRenderConfig(BaseModel):
    """Per tenant: where receipts are filed and how contacts are matched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Partner prerequisite: "at least one store (storeExternalId)"
    # (https://partner-integrations.voyado.com/docs/ecom/integrating-your-ecom).
    default_store_external_id: str = Field(min_length=1)
    # commercetools store key → Voyado storeExternalId.
    stores: dict[str, str] = Field(default_factory=dict)
    contact_type: str = "Member"
    # The receipt's `contact.matchKeyType` tried first; the others follow when the operation
    # does not carry that key. Email by default: every contact the connector finds or creates
    # holds it, while an externalId exists only on contacts the connector created.
    match_key: MatchKeyType = "email"
    # The tenant's `customKey`: "either a contact's memberNumber or externalId, depending on
    # how your tenant is set up" (find-contact page). The connector's member id is sent as
    # externalId; it is a lookup key only where customKey means externalId.
    custom_key_is_external_id: bool = True
    payment_type: str = "card"
    payment_description: str = "commercetools"
    # "a source string identifies the integration" (partner prerequisites).
    source: str = "commercetools"
    point_definition_id: int = 1

    def store_for(self, store_key: str | None) -> str:
        if store_key and store_key in self.stores:
            return self.stores[store_key]
        return self.default_store_external_id


def _moment(value: datetime) -> str:
    # "ISO8601 with Time Zone Designators" (field definitions): a naive time is taken as UTC.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


# --- the renderer ----------------------------------------------------------------------------


class VoyadoRenderer:
    """Neutral operations → Voyado request bodies, for one tenant's `VoyadoRenderConfig`."""

    def __init__(self, config: VoyadoRenderConfig) -> None:
        self._config = config

    @property
    def config(self) -> VoyadoRenderConfig:
        return self._config

    @property
    def capabilities(self) -> Capabilities:
        return VOYADO_CAPABILITIES

    def render(
        self,
        op: AnyNeutralOp,
        *,
        purchase: OrderRecorded | None = None,
        earlier: Iterable[Mapping[str, Any]] = (),
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """The body of `op`. A reversal renders best with its context: the purchase it takes
        from, the pinned bodies of the reversals sent before it, and its date (see
        `render_reversal`); the other kinds need none."""

        def reversal(op: Reversal) -> dict[str, Any]:
            return self.render_reversal(op, purchase=purchase, earlier=earlier, at=at)

        return render_kind(
            "Voyado",
            op,
            (
                (OrderRecorded, self.render_purchase),
                (Reversal, reversal),
                (MemberUpsert, self.render_contact),
                (PointsReturned, self.render_points),
                (RedemptionCommitted, self.render_redeem),
            ),
        )

    # --- contacts ----------------------------------------------------------------------------
    def _contact_key(self, member: MemberRef) -> dict[str, str]:
        """The receipt's `contact` matchKey / matchKeyType (field definitions)."""
        keys: dict[MatchKeyType, str | None] = {
            "email": member.email,
            "externalId": member.member_id,
            "mobilePhone": member.phone,
        }
        order: list[MatchKeyType] = [self._config.match_key] + [
            k for k in ("email", "externalId", "mobilePhone") if k != self._config.match_key
        ]
        for kind in order:
            value = keys[kind]
            if value:
                return {
                    "matchKey": value,
                    "matchKeyType": kind,
                    "contactType": self._config.contact_type,
                }
        raise UnsupportedOperation("a Voyado receipt needs the member's email, id or phone")

    def render_contact(self, op: MemberUpsert) -> dict[str, Any]:
        """The contact draft, and the keys to look it up by before creating it."""
        draft = put_given(
            {"contactType": self._config.contact_type},
            (
                ("email", op.email),
                ("mobilePhone", op.phone),
                ("externalId", op.member_id),
                ("firstName", op.first_name),
                ("lastName", op.last_name),
                ("birthDay", op.birthday),
            ),
        )
        if op.opted_in is not None:
            # Contact preferences as the create-contact page shows them.
            draft["preferences"] = {"acceptsEmail": op.opted_in}
        lookup: dict[str, str] = {}
        if op.email:
            lookup["email"] = op.email
        if op.member_id and self._config.custom_key_is_external_id:
            lookup["customKey"] = op.member_id
        if op.phone:
            lookup["mobilePhone"] = op.phone
        return {
            CONTACT: draft,
            LOOKUP: lookup,
            SOURCE: self._config.source,
            STORE_EXTERNAL_ID: self._config.default_store_external_id,
        }

    # --- receipts ----------------------------------------------------------------------------
    def render_purchase(
        self, op: OrderRecorded, *, order_discount_minor: int | None = None
    ) -> dict[str, Any]:
        """The PURCHASE receipt. `order_discount_minor` (default: the operation's own): a
        discount on the order's total price that no line's paid total carries, spread over the
        lines ("The discount ... should be evenly spread out across all line-items",
        https://developer.voyado.com/en/receipts/discounts.html)."""
        if order_discount_minor is None:
            order_discount_minor = op.order_discount_minor
        lines = purchase_lines(op, order_discount_minor)
        items = [
            {
                "type": PURCHASE,
                "sku": line.sku,
                "articleNumber": line.article_number,
                "articleName": line.name,
                **({"articleGroup": line.article_group} if line.article_group else {}),
                "quantity": line.quantity,
                "grossPaidPrice": major(line.paid_minor, op.currency),
                "taxAmount": major(line.tax_minor, op.currency),
                "taxPercent": line.tax_percent,
                "awardsBonus": True,
            }
            for line in lines
        ]
        total = sum(line.paid_minor for line in lines)
        return self._receipt(
            member=op.member,
            unique_id=op.order_ref,
            receipt_number=op.ct_order_id,
            created_at=op.created_at,
            store_key=op.store_key,
            currency=op.currency,
            total_minor=total,
            items=items,
        )

    def render_reversal(
        self,
        op: Reversal,
        *,
        purchase: OrderRecorded | None = None,
        earlier: Iterable[Mapping[str, Any]] = (),
        returned: Mapping[str, Returned] | None = None,
        at: datetime | None = None,
        order_discount_minor: int | None = None,
    ) -> dict[str, Any]:
        """The RETURN receipt of a reversal.

        With `purchase` (the order operation it takes from) the returned items are the
        purchase's own items, worth what they were paid (`allocate_reversal`); what earlier
        return receipts took comes from their pinned bodies (`earlier`) or is given as
        `returned`. Without the purchase, only returned lines that carry their amounts can be
        rendered. `at`: the receipt's date (default: the purchase's).
        """
        if returned is None:
            returned = returned_so_far(earlier, op.currency)
        member = op.member or (purchase.member if purchase is not None else None)
        if member is None:
            raise UnsupportedOperation("a Voyado return needs the member it belongs to")
        moment = at or (purchase.created_at if purchase is not None else None)
        if moment is None:
            raise UnsupportedOperation("a Voyado return needs its date (at=) or its purchase")
        if purchase is not None:
            # The purchase's lines exactly as its receipt was rendered (same discount spread).
            if order_discount_minor is None:
                order_discount_minor = purchase.order_discount_minor
            lines = purchase_lines(purchase, order_discount_minor)
            returned_items = allocate_reversal(op, lines, returned)
        else:
            returned_items = self._items_without_purchase(op)
        if not returned_items:
            raise UnsupportedOperation("nothing of the purchase is left to return")
        currency = op.currency
        items = [
            {
                "type": entry.type,
                "sku": entry.line.sku,
                "articleNumber": entry.line.article_number,
                "articleName": entry.line.name,
                **({"articleGroup": entry.line.article_group} if entry.line.article_group else {}),
                # "The quantity field has to be negative ... The grossPaidPrice on a return
                # should be sent as a positive value" (register-a-return); the units bought
                # back by a refund by amount are a purchase like any other.
                "quantity": -entry.quantity if entry.type == RETURN else entry.quantity,
                "grossPaidPrice": major(entry.paid_minor, currency),
                "taxAmount": major(entry.tax_minor, currency),
                "taxPercent": entry.line.tax_percent,
                **({"awardsBonus": True} if entry.type == PURCHASE else {}),
            }
            for entry in returned_items
        ]
        total = sum(entry.signed_minor for entry in returned_items)
        return self._receipt(
            member=member,
            unique_id=reversal_receipt_id(op),
            receipt_number=op.ct_order_id,
            created_at=moment,
            store_key=purchase.store_key if purchase is not None else None,
            currency=currency,
            total_minor=-total,
            items=items,
        )

    @staticmethod
    def _items_without_purchase(op: Reversal) -> list[ReturnItem]:
        if op.reason in ("cancel", "moved") or not op.lines:
            raise UnsupportedOperation(
                "a Voyado return without returned lines needs its purchase (purchase=)"
            )
        items = []
        for wanted in op.lines:
            if wanted.amount_minor is None:
                raise UnsupportedOperation("a returned line without its amount needs purchase=")
            if wanted.quantity <= 0 or wanted.amount_minor < 0:
                continue
            line = PurchaseLine(
                sku=wanted.item_id,
                line_id=wanted.line_id,
                article_number=wanted.item_id,
                name=wanted.item_id,
                quantity=wanted.quantity,
                paid_minor=wanted.amount_minor,
                tax_minor=0,
                tax_percent="0",
            )
            items.append(ReturnItem(line, wanted.quantity, wanted.amount_minor, 0))
        return items

    def _receipt(
        self,
        *,
        member: MemberRef,
        unique_id: str,
        receipt_number: str | None,
        created_at: datetime,
        store_key: str | None,
        currency: str,
        total_minor: int,
        items: list[dict[str, Any]],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "contact": self._contact_key(member),
            "uniqueReceiptId": unique_id,
            "createdDate": _moment(created_at),
            "storeExternalId": self._config.store_for(store_key),
            "currency": currency.upper(),
            "totalGrossPrice": major(total_minor, currency),
            "paymentMethods": [
                {
                    "type": self._config.payment_type,
                    "description": self._config.payment_description,
                    "value": major(total_minor, currency),
                }
            ],
            "items": items,
        }
        if receipt_number:
            body["receiptNumber"] = receipt_number
        return body

    # --- points and vouchers -----------------------------------------------------------------
    def render_points(self, op: PointsReturned) -> dict[str, Any]:
        """One point transaction row; the adapter fills `contactId` after finding the contact
        by `lookup`, and matches `description` when it must check whether the row landed."""
        lookup = {"customKey": op.member_id} if self._config.custom_key_is_external_id else {}
        if not lookup:
            raise UnsupportedOperation(
                "points go to a contact found by its externalId (customKey); this tenant's "
                "customKey is not the externalId"
            )
        return {
            LOOKUP: lookup,
            ROW: {
                "amount": op.points,
                "definitionId": self._config.point_definition_id,
                "source": self._config.source,
                "description": points_description(op),
            },
        }

    @staticmethod
    def render_redeem(op: RedemptionCommitted) -> dict[str, Any]:
        return {ACTION: ACTION_REDEEM, VOUCHER_ID: op.redemption_ref, ORDER_REF: op.order_ref}

    @staticmethod
    def render_reactivation(op: RedemptionCommitted) -> dict[str, Any]:
        """The undo of a committed redemption (the order was cancelled)."""
        return {
            ACTION: ACTION_REACTIVATE,
            VOUCHER_ID: op.redemption_ref,
            ORDER_REF: op.order_ref,
        }


def reversal_receipt_id(op: Reversal) -> str:
    """The return receipt's own `uniqueReceiptId`, deterministic per reversal."""
    if op.reason == "cancel":
        return f"{op.order_ref}:cancel"
    if op.reason == "moved":
        return f"{op.order_ref}:moved"
    return f"{op.order_ref}:refund:{op.refund_ref}"


def points_description(op: PointsReturned) -> str:
    """The description a points row carries: unique per operation, what `was_applied` looks
    for in the account's history."""
    return points_returned_text(op.order_ref)
