"""In-store loyalty: one API for POS and headless clients, and a store-associate page.

Yotpo's in-store guide asks every POS integrator to build the same steps: look the customer
up, show balance and VIP tier, list rewards usable in store, redeem one for a code, send the
in-store order with that code, send in-store refunds (also of orders bought online). The
connector offers them once, under `/loyalty` on the service app, for every store whatever its
loyalty provider: a key's store is served by `runtime.provider_for_store` (Yotpo, or another
provider of `LOYALTY_PROVIDERS` such as Voyado Engage), and members and rewards go through
that account's rewards port (`shared/providers/rewards.py`,
docs/adr/0098-rewards-through-the-port.md).

Design — exactly one path to the provider per kind of event:

- Orders and refunds NEVER go to the provider from this API. An in-store sale is imported into
  commercetools (`POST /orders/import`: the POS key's store, `paymentState` Paid, `orderState`
  Complete, the reward code in the connector's order field `loyaltyRewardCode`); commercetools
  emits `OrderImported` and the event app reconciles it like any order (ledger, exactly once,
  through the provider port).
  The receipt id is the order number: importing it again answers the existing order.
- An in-store refund, of an in-store or an online order (found by its order number), is a
  successful Refund transaction on the order's payment (a payment is created and added when
  the order has none), with `interactionId` `<key id>-<request id>`: a retried call finds its
  own transaction and adds nothing. The event app sends the provider's refund — keyed on the
  transaction id, capped at what the order earned.
- Redemptions ARE provider calls (they are not order events): a Yotpo redemption with
  immediate point deduction (`delay_points_deduction: false`, the code is used at the till), a
  Voyado voucher redeemed now; reversed by cancelling the unused redemption (reactivating the
  voucher), once. Each is idempotent on the client's `request_id`: the first answer is stored
  create-only (`version: 0`) as a custom object in `yotpo-loyalty-pos-requests` (key
  `<key id>-<request id>`); a concurrent duplicate that loses the race reverses its own
  redemption and returns the winner's answer.

Access: `Authorization: Bearer <secret>`, keys from `POS_API_KEYS`
(`{"<key id>": {"secret", "store"}}`), compared in constant time. A key acts for one store:
its loyalty account, the store its sales are imported into, the customers (storeless or of
that store) it may see, the orders it may refund (its store's, and storeless online orders of
its own account), and the redemptions it may reverse (those its store created: ids handed out
are random tokens, not the provider's). Sales are bounded (the total at most the lines, at
most `POS_MAX_ORDER_MINOR`). Lookups, redemptions and failed authentications are rate-limited
(per instance, shared by its workers). Answers never carry another customer's full email or a
phone number, nor commercetools' or the provider's error text
(docs/adr/0063-pos-keys-stay-in-their-store.md).

Known limit: a Yotpo redemption whose answer is lost in transit (timeout after Yotpo acted)
cannot be told from one never made — Yotpo has no idempotency key.
"""

from service.instore.api import register_instore
from service.instore.settings import InStoreSettings

__all__ = ["InStoreSettings", "register_instore"]
