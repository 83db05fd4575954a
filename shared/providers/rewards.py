"""The rewards half of the provider port: what checkout, the order-creation check and the
in-store desk ask of a loyalty provider's account (docs/adr/0098-rewards-through-the-port.md).

Every caller does the same four things, whatever the provider:

1. find the member (`find_member`), from the commercetools customer's own record and the
   member id `MEMBER_ID_SOURCE` gives it (docs/adr/0010-member-identity.md), never from a
   cart field the shopper can write;
2. list the rewards the member can use now on a channel (`offers`): Yotpo's redemption
   options (https://loyaltyapi.yotpo.com/reference/fetch-active-redemption-options), Voyado's
   available reward vouchers (https://voyado.mintlify.app/docs/loyalty/vouchers);
3. decide the requested one by the provider's own pure rules (`decide`: Yotpo options by
   `shared/domain/checkout/redemption.py`, Voyado vouchers by
   `shared/domain/checkout/vouchers.py`), before anything is spent;
4. redeem it (`redeem`) and, when it is not used after all, give it back (`cancel`).

`redeem(..., deferred=True)` is a redemption whose spending the order completes: Yotpo holds
the points (`delay_points_deduction`, Create Redemption,
https://loyaltyapi.yotpo.com/reference/create-redemption) until the order-creation check
consumes them; Voyado redeems nothing before payment (its advice; the order path commits the
voucher, `Capabilities.redemption_commit_after_payment`), so a deferred Voyado redemption makes
no call. `deferred=False` spends now (the till; Yotpo checkout without delayed deduction).

An account is used on a view bounded by the caller's budget (`bounded`), like the order path's
`LoyaltyProvider.bounded`. Errors are the project's: TransientError (try again, fail open or
closed as the caller's ADR says), PermanentError (refused); `RewardGone` when the provider no
longer knows a redemption being cancelled.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, Self, TypeVar, runtime_checkable

from shared.domain.checkout.redemption import Approval, Channel, Rejection
from shared.domain.checkout.reward_state import RewardKind
from shared.domain.customers.member_identity import MemberIdentity
from shared.domain.providers.port import Capabilities
from shared.errors import PermanentError
from shared.providers.port import LoyaltyProvider, MemberState

ProviderT = TypeVar("ProviderT", bound=LoyaltyProvider)


class _Refused(PermanentError):
    """A provider's refusal; `status` is its HTTP status when it answered with one (the refusal
    records of Yotpo's cancellation requests keep it, service/cancellations.py)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RewardGone(_Refused):
    """The provider does not know the redemption (any more): nothing to give back."""


class NotReversible(_Refused):
    """The provider refuses to give the redemption back (already used on an order)."""


class AmbiguousMember(PermanentError):
    """Several of the provider's members hold the customer's key (two Voyado contacts with one
    email): nobody is redeemed for until someone merges them in the provider."""


@dataclass(frozen=True)
class RewardMember:
    """A commercetools customer as a member of the provider's program."""

    customer_id: str  # the commercetools customer id (what a seal binds, what a till knows)
    member_id: str  # the provider's reference on every later call (Yotpo id, Voyado contact id)
    email: str | None  # the customer record's own email (never a cart's `customerEmail`)
    balance: int | None  # points; None: the provider holds no points for the member
    profile: Mapping[str, Any] = field(default_factory=dict)  # the provider's own record
    # Which key found the member, and so names it on every later call: `member_id`, or its
    # `email` (a Yotpo member created from guest orders before the customer was synced).
    found_by: Literal["member_id", "email"] = "member_id"


@dataclass(frozen=True)
class RewardAsk:
    """What the caller asks for: which reward, where, in which currency, against what."""

    reward_id: str
    channel: Channel
    currency: str | None  # the redemption's currency (None: the program's own)
    points: int | None = None  # points to spend on a variable reward
    basket: int | None = None  # merchandise before the reward, minor units; None at the till
    now: datetime | None = None


@dataclass(frozen=True)
class Redeemed:
    """A redemption the provider made (or, deferred at Voyado, the voucher it will be)."""

    redemption_id: str  # Yotpo's redemption id; Voyado's voucher id
    code: str | None  # what is entered where it is used: Yotpo's `reward_text`, a voucher number
    # The provider's answer as it came (Yotpo's carries the converted amount and currency the
    # discount is settled from, `shared.domain.checkout.cart.settle_amount`).
    answer: Mapping[str, Any] = field(default_factory=dict)
    deferred: bool = False  # made with `deferred=True`: the order completes (or made no) call


@dataclass(frozen=True)
class CodedApproval(Approval):
    """An approval of a reward that already has its code (a Voyado voucher's number), so a
    deferred redemption can name it without another call."""

    code: str | None = None


@dataclass(frozen=True)
class RewardView:
    """One reward as a person is shown it (the till), whatever the provider; amounts in minor
    units of `currency`."""

    id: str
    name: str | None
    description: str
    cost_text: str | None
    points: int | None  # what redeeming it spends (per step when variable); 0: already paid
    kind: RewardKind
    amount_minor: int | None
    percentage: Any
    minimum_minor: int | None
    currency: str | None
    offline: bool  # usable in stores
    expires_at: str | None = None  # ISO 8601, when the provider says (a Voyado voucher)


class RewardsCache(Protocol):
    """A short-lived cache of lists the program changes rarely (`service/options_cache.py`'s
    `OptionsCache` is one). Keys: `in_store_key(account_key)` → the in-store-only reward ids
    as `[{"id": ...}, ...]`; `account_key` → the program's whole catalogue."""

    def fresh(self, key: str) -> list[dict[str, Any]] | None:
        """The cached list, None when absent or stale (no loading)."""
        ...

    def get(self, key: str, load: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The cached list, else `load()`'s (kept when it succeeds)."""
        ...


def in_store_key(account_key: str) -> str:
    return f"{account_key}#offline"


@dataclass(frozen=True)
class RewardsSetup:
    """How a caller wants an account's rewards read (each caller keeps the calls it makes).

    - `base_currency`: the program's base currency, `program_currency(REWARD_BASE_CURRENCY,
      route.currencies)` (ADR 0023); Yotpo's option amounts are in it.
    - `full_member`: `find_member` reads what a person is shown (Yotpo's referral code,
      Voyado's points balance); without it only what redeeming needs (checkout).
    - `cache`: where the in-store-only reward ids and the catalogue are kept between calls
      (None: asked each time they are needed).
    """

    base_currency: str | None = None
    full_member: bool = False
    cache: RewardsCache | None = None


class RewardsAdapter(Generic[ProviderT]):
    """What every rewards adapter holds the same way: the order path's adapter of the account
    (`LoyaltyProvider`: its client, rate limiter and budget) and the caller's `RewardsSetup`.
    The subclass adds its provider's calls and rules."""

    def __init__(self, provider: ProviderT, setup: RewardsSetup | None = None) -> None:
        self._provider = provider
        self._setup = setup or RewardsSetup()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._provider!r})"

    @property
    def provider(self) -> str:
        return self._provider.name

    @property
    def account_key(self) -> str:
        return self._provider.account_key

    @property
    def capabilities(self) -> Capabilities:
        return self._provider.capabilities

    def bounded(self, budget_seconds: float) -> Self:
        bounded = self._provider.bounded(budget_seconds)
        return type(self)(bounded, self._setup)  # type: ignore[arg-type]


@runtime_checkable
class RewardsAccount(Protocol):
    """One provider account's rewards, as checkout, the order check and the till use them."""

    @property
    def provider(self) -> str: ...

    @property
    def account_key(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def bounded(self, budget_seconds: float) -> RewardsAccount:
        """The same account (same session and rate limiter) whose calls end within the budget."""
        ...

    def id_refusal(self, reward_id: str | None) -> Rejection | None:
        """Pure, before any call: why `reward_id` cannot name one of this provider's rewards
        (Yotpo: not an option id; Voyado: not a voucher GUID), None when it can."""
        ...

    def state(self, member: RewardMember) -> MemberState:
        """Pure: what the member's record (`find_member`'s profile) says of balance, tier and
        referral, as the port names them; a field the provider does not have is None."""
        ...

    def tiers(self) -> Sequence[Mapping[str, Any]]:
        """The program's tiers (`name`, `rank`); empty, without a call, for a provider without
        tiers (`capabilities.tiers`)."""
        ...

    def view(self, offer: Mapping[str, Any], *, currency: str | None) -> RewardView:
        """Pure: one of `offers` as a person is shown it (`currency`: the till's, else the
        program's)."""
        ...

    def find_member(
        self, customer: Mapping[str, Any], identity: MemberIdentity
    ) -> RewardMember | None:
        """The member `customer` (the commercetools customer record, or at least its `id` and
        own `email`) is, with balance and profile; None when the provider knows no such member.
        Raises TransientError / PermanentError (e.g. two Voyado contacts hold one key)."""
        ...

    def presumed(
        self, customer: Mapping[str, Any], identity: MemberIdentity
    ) -> RewardMember | None:
        """The member as the member id alone names it (balance None, no I/O), so `offers` can
        be read at the same time as `find_member`; None when the provider must find the member
        first (a Voyado contact id). When `find_member` then finds the member by another key
        (`found_by`), read the offers again with that member."""
        ...

    def offers(
        self, member: RewardMember, *, channel: Channel, in_store_only: bool = False
    ) -> Sequence[Mapping[str, Any]]:
        """The rewards `member` can use now on `channel`, as the provider lists them. Online:
        never an in-store-only one. `in_store_only` (the till's list): only those."""
        ...

    def decide(
        self, member: RewardMember, offers: Sequence[Mapping[str, Any]], ask: RewardAsk
    ) -> Approval | Rejection:
        """The requested reward's terms by the provider's rules, or why it is refused. May read
        the program's whole catalogue to tell an unknown reward from an unaffordable one."""
        ...

    def redeem(
        self, member: RewardMember, approval: Approval, ask: RewardAsk, *, deferred: bool
    ) -> Redeemed:
        """Redeem the approved reward (see the module docstring for `deferred`)."""
        ...

    def cancel(self, redeemed: Redeemed) -> int | None:
        """Give a redemption back; the points returned when the provider says. A deferred
        Voyado redemption was never made: nothing to call. Raises RewardGone, NotReversible,
        TransientError."""
        ...


# Provider name → the module whose `REWARDS(provider, setup)` makes its rewards account. A
# provider whose module is missing here offers no rewards through the connector.
REWARDS_MODULES: dict[str, str] = {
    "yotpo": "shared.providers.yotpo_rewards",
    "voyado": "shared.providers.voyado_rewards",
}

RewardsFactory = Callable[[Any, RewardsSetup], RewardsAccount]


def rewards_account(
    provider: Any,
    *,
    base_currency: str | None = None,
    full_member: bool = False,
    cache: RewardsCache | None = None,
) -> RewardsAccount | None:
    """The rewards of a `LoyaltyProvider` account (shared/providers/port.py), on the same client
    and rate limiter; None when the provider offers no rewards to redeem through the connector.
    The keywords are `RewardsSetup`'s.
    """
    name = getattr(provider, "name", None)
    module_name = REWARDS_MODULES.get(name) if isinstance(name, str) else None
    if module_name is None:
        return None
    make: RewardsFactory | None = getattr(importlib.import_module(module_name), "REWARDS", None)
    if make is None:
        return None
    setup = RewardsSetup(
        base_currency=base_currency.upper() if base_currency else None,
        full_member=full_member,
        cache=cache,
    )
    return make(provider, setup)
