"""What the cart extension and the order-creation handler share about a store's rewards:
its rewards account (`shared/providers/rewards.py`, docs/adr/0098-rewards-through-the-port.md),
how a redemption is made with its provider (`RedemptionMode`, the one place a provider
difference is stated: `Capabilities.redemption_commit_after_payment`), and the commercetools
customer a member is found from.

The member is found from the customer *record* (its `externalId` or custom field for
`MEMBER_ID_SOURCE`, docs/adr/0010-member-identity.md; its own email), never from a cart's or
order's `customerEmail`, which the shopper can set (My Carts `setCustomerEmail`,
https://docs.commercetools.com/api/projects/me-carts). The record is read on the checkout's
quick commercetools client (short timeout, no retry) and only when it is needed: when the
identity source needs it, or when the provider must look its member up (a Voyado contact by
email), then while the look-up starts (`PendingCustomer`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from service.concurrent_calls import start
from service.options_cache import OptionsCache
from service.settings import ServiceSettings
from shared.commercetools import CommercetoolsClient
from shared.domain import values
from shared.domain.checkout.cart import AppliedReward, CheckoutConfig
from shared.domain.checkout.redemption import program_currency
from shared.domain.customers.member_identity import MemberIdentity
from shared.domain.providers.port import Capabilities
from shared.errors import NotFoundError, PermanentError
from shared.providers.rewards import Redeemed, RewardMember, RewardsAccount, rewards_account
from shared.runtime import ProviderRoute, commercetools_client

# The customer read on the redemption path: a few hundred milliseconds at most, no retry, so
# what is left of the budget still covers the provider's calls.
CUSTOMER_READ_TIMEOUT = 0.5


# --- how a provider's checkout redemption is made (the one place the difference is stated) --


@dataclass(frozen=True)
class RedemptionMode:
    """How the checkout redeems with one provider, from its capabilities and the config.

    - `after_payment` (`Capabilities.redemption_commit_after_payment`, Voyado): nothing is
      redeemed before the order is paid (Voyado's advice, docs/adr/0095); the cart applies the
      reward, the order-creation check claims it, the event app redeems it after payment.
    - `deferred`: what `RewardsAccount.redeem` is told at the cart: after payment, or Yotpo's
      delayed deduction (`DELAY_POINTS_DEDUCTION`, Create Redemption
      https://loyaltyapi.yotpo.com/reference/create-redemption) holding the points until the
      order-creation check consumes them.
    - `redeemed_at_cart`: the provider holds something for this cart (a code, held or spent
      points): given back when the reward leaves the cart, and its code can be cancelled by
      the provider (the cancelled-codes look-up).
    - `consumed_at_placement`: the seal's `delayed`; the order-creation check redeems the
      reward again with immediate deduction (docs/adr/0022).
    """

    after_payment: bool
    deferred: bool
    redeemed_at_cart: bool
    consumed_at_placement: bool


def redemption_mode(capabilities: Capabilities | None, config: CheckoutConfig) -> RedemptionMode:
    """`capabilities` None (no account serves the store any more): a reward found on a cart
    is treated as one the provider holds, so it is still given back when it goes."""
    after_payment = capabilities is not None and capabilities.redemption_commit_after_payment
    return RedemptionMode(
        after_payment=after_payment,
        deferred=after_payment or config.delay_points_deduction,
        redeemed_at_cart=not after_payment,
        consumed_at_placement=config.delay_points_deduction and not after_payment,
    )


def given_back(reward: AppliedReward, mode: RedemptionMode) -> Redeemed:
    """A sealed reward as the redemption the provider made for it, to cancel."""
    if reward.redemption_id is None:
        raise ValueError("the reward has no redemption id")
    return Redeemed(
        redemption_id=reward.redemption_id,
        code=reward.code or None,
        deferred=reward.delayed or mode.after_payment,
    )


def still_offered(reward_id: str, offers: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the provider still lists `reward_id` among the member's rewards (ids compared
    as text, case-insensitively: Voyado's GUIDs may come back in either case)."""
    wanted = reward_id.lower()
    return any(
        (values.text(o.get("id"), limit=256, numbers=True) or "").lower() == wanted
        for o in offers
        if isinstance(o, Mapping)
    )


# --- the member ------------------------------------------------------------------------------


class MemberNotFound(PermanentError):
    """The checkout's customer does not exist in commercetools (deleted, or never was)."""


def read_customer(commercetools: CommercetoolsClient, customer_id: str) -> dict[str, Any] | None:
    """The commercetools customer record (None: no such customer). Raises TransientError."""
    try:
        return commercetools.get_by_id("customers", customer_id)
    except NotFoundError:
        return None


class PendingCustomer(Mapping[str, Any]):
    """A commercetools customer whose record is being read: its `id` now, every other field
    (its own `email`) once the read is done. A provider's member look-up can start with the
    id while commercetools answers (a Voyado contact by customKey, docs/adr/0095) and waits
    for the record only when it needs the email. A customer commercetools does not know has
    no fields but its id. Reading a field raises what the read raised (TransientError)."""

    def __init__(self, customer_id: str, read: Future[dict[str, Any] | None]) -> None:
        self._id = customer_id
        self._read = read

    def _record(self) -> Mapping[str, Any]:
        found = self._read.result()
        if not isinstance(found, Mapping) or str(found.get("id")) != self._id:
            return {}
        return found

    def __getitem__(self, key: str) -> Any:
        if key == "id":
            return self._id
        return self._record()[key]

    def __iter__(self) -> Iterator[str]:
        yield "id"
        yield from (k for k in self._record() if k != "id")

    def __len__(self) -> int:
        return 1 + sum(1 for k in self._record() if k != "id")


class MemberLookup:
    """The commercetools customer of a checkout, as a provider's member look-up takes it.

    With the default `MEMBER_ID_SOURCE=id` the member id is the customer id itself: no I/O.
    Otherwise the customer is read from commercetools (its `externalId` or custom field is not
    on the cart, and the cart's own fields are the shopper's to write), with a short timeout
    and no retry.
    """

    def __init__(
        self, identity: MemberIdentity, commercetools: CommercetoolsClient | None = None
    ) -> None:
        self._identity = identity
        self._ct = commercetools

    @property
    def identity(self) -> MemberIdentity:
        return self._identity

    @property
    def reads(self) -> bool:
        """Whether finding the member costs a commercetools read."""
        return self._identity.needs_customer

    def record(self, customer_id: str) -> dict[str, Any]:
        """The customer record (only when `reads`). Raises TransientError (commercetools
        unavailable) or MemberNotFound."""
        if self._ct is None:
            raise PermanentError("no commercetools client to read the customer")
        found = read_customer(self._ct, customer_id)
        if found is None or str(found.get("id")) != customer_id:
            raise MemberNotFound("the checkout's customer does not exist")
        return found

    def customer(
        self,
        rewards: RewardsAccount,
        customer_id: str,
        records: CommercetoolsClient | None,
    ) -> tuple[Mapping[str, Any], RewardMember | None]:
        """The customer to find the member of, and the member as the id alone names it
        (`RewardsAccount.presumed`; None: the provider must look the member up).

        The record is read when the identity needs it, or when the provider must look the
        member up (then it may need the record's own email; the read runs while the look-up
        starts, `PendingCustomer`) and `records` can read it. Raises TransientError /
        PermanentError."""
        if self.reads:
            customer: Mapping[str, Any] = self.record(customer_id)
            return customer, rewards.presumed(customer, self._identity)
        bare = {"id": customer_id}
        presumed = rewards.presumed(bare, self._identity)
        if presumed is not None or records is None:
            return bare, presumed
        return PendingCustomer(
            customer_id, start(lambda: read_customer(records, customer_id))
        ), None


def member_lookup(
    settings: ServiceSettings, commercetools: CommercetoolsClient | None = None
) -> MemberLookup:
    """The lookup the cart and order extensions share. Pass the checkout's commercetools client
    (short timeout, no retry; its token is already warm); without one, a client of its own is
    made when the identity source needs the customer."""
    identity = settings.member_identity()
    if not identity.needs_customer:
        return MemberLookup(identity)
    if commercetools is None:
        timeout = min(CUSTOMER_READ_TIMEOUT, settings.loyalty_call_budget_ms / 3000)
        commercetools = commercetools_client(settings, timeout=timeout, max_retries=0)
    return MemberLookup(identity, commercetools)


class StoreRewards:
    """The rewards account of a store's provider, as the cart and order extensions read it:
    with the program's base currency (`REWARD_BASE_CURRENCY`, else the account's one
    currency, docs/adr/0023) and the cached program lists (`OptionsCache`)."""

    def __init__(self, options: OptionsCache, base_currency: str | None) -> None:
        self._options = options
        self._base_currency = base_currency
        # Made once per account, not per cart: the routes live as long as the process.
        self._made: dict[str, tuple[object, RewardsAccount | None]] = {}

    def of(self, route: ProviderRoute | None) -> RewardsAccount | None:
        """The route's rewards account (no I/O), None when it has none."""
        if route is None:
            return None
        made = self._made.get(route.key)
        if made is not None and made[0] is route.provider:
            return made[1]
        account = rewards_account(
            route.provider,
            base_currency=program_currency(self._base_currency, route.currencies),
            cache=self._options,
        )
        self._made[route.key] = (route.provider, account)
        return account
