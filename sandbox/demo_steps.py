"""The demo's step runner, shared by both stories (`sandbox.demo.Story` on Yotpo,
`sandbox.demo_voyado.VoyadoStory` on Voyado Engage).

A step runs its action, prints what the connector sent to the stand-ins meanwhile and the
member's state after it, and keeps the outcome: a step that shows what has not landed
(`NotYetAvailable`) or what the provider does not do (`NotOffered`) says so and is never
played; any other exception fails the step and the demo goes on (its exit code says so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.stack import SandboxStack
from sandbox.storefront import Storefront

# The shopper both stories follow.
EMAIL = "ada@example.com"


@dataclass
class Step:
    title: str
    outcome: str = ""
    ok: bool = True
    available: bool = True


class NotYetAvailable(Exception):
    """The capability this step shows has not landed yet: say so, never fake it."""


class NotOffered(Exception):
    """The provider does not do what this step shows (Voyado has no tiers): say so."""


@dataclass
class Sent:
    """The writes a stand-in saw since the last look (GETs left out), one line each."""

    lines: list[str]
    seen: int


def sent_since(
    requests: Iterable[Mapping[str, Any]],
    seen: int,
    *,
    provider: str,
    keys: tuple[str, ...],
    bare_when_empty: bool = False,
) -> Sent:
    """`connector → <provider>: METHOD path (k=v, ...) → status` for each write after `seen`.
    `bare_when_empty`: leave the brackets out when none of `keys` is in the body."""
    lines = []
    for request in requests:
        seen = max(seen, request["seq"])
        if request["method"] == "GET":
            continue
        body = request.get("json") or {}
        detail = ", ".join(f"{k}={body[k]}" for k in keys if k in body)
        shown = "" if bare_when_empty and not detail else f" ({detail})"
        lines.append(
            f"connector → {provider}: {request['method']} {request['path']}{shown} → "
            f"{request['status']}"
        )
    return Sent(lines, seen)


class StoryRunner:
    """What both stories share: the stack, a storefront, the output and the steps so far.
    A story adds `sent()` (the stand-ins' new writes) and `state()` (the member after a step)."""

    # Who `NotOffered` speaks of.
    PROVIDER = "the provider"

    def __init__(self, stack: SandboxStack, out: Callable[[str], None] = print) -> None:
        self.stack = stack
        self.shop = Storefront(stack.commercetools())
        self.out = out
        self.steps: list[Step] = []
        self.customer: dict[str, Any] = {}

    def sent(self) -> list[str]:
        return []

    def state(self) -> list[str]:
        return []

    def step(self, title: str, action: Callable[[], str]) -> None:
        self.out(f"\n▶ {title}")
        step = Step(title)
        try:
            step.outcome = action()
        except NotYetAvailable as exc:
            step.available = False
            step.outcome = f"not yet available: {exc}"
        except NotOffered as exc:
            step.available = False
            step.outcome = f"not offered by {self.PROVIDER}: {exc}"
        except Exception as exc:  # the demo reports and goes on; the exit code says it failed
            step.ok = False
            step.outcome = f"FAILED: {type(exc).__name__}: {exc}"
        for line in [*self.sent(), *self.state()]:
            self.out(f"    {line}")
        mark = "–" if not step.available else "✔" if step.ok else "✘"
        self.out(f"    {mark} {step.outcome}")
        self.steps.append(step)

    @property
    def all_ok(self) -> bool:
        return all(s.ok for s in self.steps)
