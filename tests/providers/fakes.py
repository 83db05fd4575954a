"""A provider at the port's level, for the reconciler's dedup strategies and per-store routing.

`FakeProvider` keeps what it "holds" by idempotency key and can be told to act and then lose
the answer (`ambiguous_next`), which is the outcome the dedup modes exist for. It is no stand-in
for a real provider: its behaviour is whatever the test declares in its `Capabilities`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from shared.domain.providers.port import (
    AnyNeutralOp,
    Capabilities,
    DedupMode,
    OpKind,
    UnsupportedOperation,
)
from shared.errors import TransientError
from shared.providers.port import MemberState, SendOutcome
from shared.providers.registry import ProviderContext, ProviderFactory

NAME = "fake"


def capabilities(**dedup: DedupMode) -> Capabilities:
    modes = {"order": DedupMode.NONE, "refund": DedupMode.NONE, **dedup}
    return Capabilities(
        provider=NAME,
        dedup=modes,
        idempotency_ttl_seconds=3600,
        earning_triggers=frozenset({"paid", "shipped", "completed"}),
    )


class FakeRenderer:
    def __init__(self, caps: Capabilities) -> None:
        self._caps = caps

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def render(self, op: AnyNeutralOp) -> dict[str, Any]:
        if not self._caps.supports(op.kind):
            raise UnsupportedOperation(op.kind)
        return {"fake": op.kind, **op.model_dump(mode="json", exclude={"kind"})}


class LostAnswer(TransientError):
    """The request was made and acted on; the answer never arrived (a read timeout)."""


@dataclass
class FakeProvider:
    caps: Capabilities
    account_key: str = "default"
    ambiguous_next: int = 0  # act, then raise LostAnswer, this many times
    applied_answer: bool | None = None  # what was_applied says (None: cannot tell)
    sends: list[tuple[str, str]] = field(default_factory=list)  # (kind, idempotency key)
    held: dict[str, dict[str, Any]] = field(default_factory=dict)  # what it acted on, by key
    applied_calls: list[str] = field(default_factory=list)
    acted: int = 0  # how many times it acted (a repeat without dedup acts again)
    built_rate: float | None = None  # the rate its factory was given

    @property
    def name(self) -> str:
        return NAME

    @property
    def capabilities(self) -> Capabilities:
        return self.caps

    @property
    def renderer(self) -> FakeRenderer:
        return FakeRenderer(self.caps)

    def send(
        self, kind: OpKind, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> SendOutcome:
        self.sends.append((kind, idempotency_key))
        mode = self.caps.dedup_mode(kind)
        repeat = idempotency_key in self.held
        if repeat and mode == DedupMode.CONFLICT_ON_REPEAT:
            return SendOutcome.DUPLICATE
        if not (repeat and mode in (DedupMode.IDEMPOTENCY_KEY, DedupMode.NATURAL_KEY)):
            self.acted += 1
        self.held[idempotency_key] = dict(payload)
        if self.ambiguous_next:
            self.ambiguous_next -= 1
            raise LostAnswer("read timed out after the request was sent")
        return SendOutcome.SENT

    def was_applied(self, kind: OpKind, payload: Mapping[str, Any]) -> bool | None:
        self.applied_calls.append(kind)
        return self.applied_answer

    def member_state(self, **_: Any) -> MemberState | None:
        return None

    def bounded(self, budget_seconds: float, *, max_retries: int | None = None) -> FakeProvider:
        return self

    def paused_until(self) -> float | None:
        return None


class FakeAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    api_key: SecretStr
    currencies: frozenset[str] = frozenset()


def _build(key: str, account: FakeAccount, context: ProviderContext) -> FakeProvider:
    return FakeProvider(capabilities(), account_key=key, built_rate=context.rate_share(100.0))


FACTORY = ProviderFactory(name=NAME, account_model=FakeAccount, build=_build)
