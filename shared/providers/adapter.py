"""What every provider adapter holds the same way: one account key and the client serving it.

The port (`shared.providers.port.LoyaltyProvider`) asks each adapter for its name, account
key, capabilities, client and the limiter's pause (`paused_until`: the moment a rate-limit
answer lets calls start again). Those are the same for every provider; the subclass names its
provider and capabilities and adds its calls.
"""

from __future__ import annotations

from typing import ClassVar, Generic, Protocol, TypeVar

from shared.domain.providers.port import Capabilities


class _Limited(Protocol):
    @property
    def limiter(self) -> object: ...


ClientT = TypeVar("ClientT", bound=_Limited)


class AccountAdapter(Generic[ClientT]):
    """One account of one provider (`account_key`: `default` or a store key) and its client."""

    PROVIDER: ClassVar[str]
    CAPABILITIES: ClassVar[Capabilities]

    def __init__(self, account_key: str, client: ClientT) -> None:
        self._key = account_key
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._key!r}, {self._client!r})"

    @property
    def name(self) -> str:
        return self.PROVIDER

    @property
    def account_key(self) -> str:
        return self._key

    @property
    def capabilities(self) -> Capabilities:
        return self.CAPABILITIES

    @property
    def client(self) -> ClientT:
        return self._client

    def paused_until(self) -> float | None:
        paused = getattr(self._client.limiter, "paused_until", None)
        return paused if isinstance(paused, int | float) else None
