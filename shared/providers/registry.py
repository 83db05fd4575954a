"""Provider name → factory: how the runtime turns a configured account into a `LoyaltyProvider`.

Each adapter module defines one `FACTORY` (a `ProviderFactory`): the model its settings entry
is validated with, and a `build` that makes the adapter. The registry imports an adapter module
only when its name is configured (`PROVIDER_MODULES`), so the settings can validate an entry
without importing every client, and adding a provider is one module plus one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from pydantic import BaseModel, SecretStr

from shared.providers.port import LoyaltyProvider

# Registry name → the module holding its `FACTORY`.
PROVIDER_MODULES: dict[str, str] = {
    "yotpo": "shared.providers.yotpo",
    "voyado": "shared.providers.voyado",
}


@dataclass(frozen=True)
class ProviderContext:
    """What a factory gets from the process besides its account."""

    # A provider's documented rate (requests/s per account) → this process's share of it.
    rate_share: Callable[[float], float]
    # A session by service name ("yotpo", "voyado"...), to count or pool calls; None: default.
    session: Callable[[str], requests.Session | None]


@dataclass(frozen=True)
class ProviderFactory:
    name: str
    # Validates one settings entry (the LOYALTY_PROVIDERS value without "provider").
    account_model: type[BaseModel]
    build: Callable[[str, Any, ProviderContext], LoyaltyProvider]

    def account(self, raw: Mapping[str, Any]) -> BaseModel:
        return self.account_model.model_validate(dict(raw))


class UnknownProvider(ValueError):
    pass


def factory(name: str) -> ProviderFactory:
    """The factory of provider `name`; UnknownProvider when none is registered or its module
    is not there (yet)."""
    module_name = PROVIDER_MODULES.get(name)
    if module_name is None:
        raise UnknownProvider(f"unknown provider {name!r} (known: {', '.join(PROVIDER_MODULES)})")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UnknownProvider(f"provider {name!r} is not installed ({module_name})") from None
    found = getattr(module, "FACTORY", None)
    if not isinstance(found, ProviderFactory) or found.name != name:
        raise UnknownProvider(f"{module_name} defines no FACTORY for provider {name!r}")
    return found


def secret_values(account: BaseModel) -> list[str]:
    """Every secret an account model holds (for the log scrubber), at any depth."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)

    walk(account)
    return [v for v in found if v]
