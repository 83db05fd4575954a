"""The configured clients of one app process (the only long-lived state the apps hold).

Every commercetools store is served by one loyalty provider account (ADR 0080): its own entry,
else `default`. Yotpo accounts come from YOTPO_ACCOUNTS (or YOTPO_GUID/YOTPO_API_KEY); other
providers from LOYALTY_PROVIDERS (`ProviderSettings`). `provider_for_store` (a store) and
`provider_account` (an account key, as a webhook or a stored record names it) answer for every
path, whatever the provider: orders, checkout, in-store, webhooks and write-back. The Yotpo-only
look-ups (`yotpo_for_store`, `yotpo_client`) serve Yotpo's own features: widget coupons and
reward codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from shared.commercetools import CommercetoolsClient
from shared.providers.port import LoyaltyProvider
from shared.providers.registry import ProviderContext, factory
from shared.providers.yotpo import YotpoProvider
from shared.ratelimit import ARRIVAL_GUARD_SECONDS, RateLimiter, process_rate, rate_sharers
from shared.settings import DEFAULT_ACCOUNT, ConnectorSettings, ProviderSettings, YotpoAccount
from shared.yotpo import YotpoClient


@dataclass(frozen=True)
class YotpoRoute:
    """The Yotpo account that serves a commercetools store, and its client."""

    key: str
    account: YotpoAccount
    client: YotpoClient


@dataclass(frozen=True)
class ProviderRoute:
    """The provider account that serves a commercetools store."""

    key: str  # the account key: `default` or a store key
    provider: LoyaltyProvider
    currencies: frozenset[str] = frozenset()  # empty: whatever the account accepts
    yotpo: YotpoRoute | None = None  # set when the provider is Yotpo (its client's own calls)


@dataclass(frozen=True)
class Runtime:
    commercetools: CommercetoolsClient
    routes: dict[str, YotpoRoute]  # Yotpo accounts by key
    # Accounts of other providers by key (LOYALTY_PROVIDERS); never a key of `routes`.
    providers: dict[str, ProviderRoute] = field(default_factory=dict)
    _yotpo_providers: dict[str, ProviderRoute] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _account_key(self, store_key: str | None) -> str | None:
        """The account serving a store: its own, else `default`, else None."""
        for key in (store_key, DEFAULT_ACCOUNT):
            if key and (key in self.routes or key in self.providers):
                return key
        return None

    def provider_for_store(self, store_key: str | None) -> ProviderRoute | None:
        """The provider account of a store (None: no account, the order is skipped)."""
        key = self._account_key(store_key)
        if key is None:
            return None
        if key in self.providers:
            return self.providers[key]
        return self._yotpo_provider(self.routes[key])

    def provider_account(self, key: str) -> ProviderRoute | None:
        """The provider account configured under `key` (`default` or a store key), None when
        there is none. Unlike `provider_for_store`, no fallback to `default`: a key that names an
        account (a webhook's `?account=`, a stored record's `account`) must name that one."""
        if key in self.providers:
            return self.providers[key]
        route = self.routes.get(key)
        return self._yotpo_provider(route) if route is not None else None

    def provider_routes(self) -> list[ProviderRoute]:
        """Every configured account, Yotpo's first."""
        return [self._yotpo_provider(r) for r in self.routes.values()] + list(
            self.providers.values()
        )

    def _yotpo_provider(self, route: YotpoRoute) -> ProviderRoute:
        found = self._yotpo_providers.get(route.key)
        if found is None or found.yotpo is not route:
            found = ProviderRoute(
                key=route.key,
                provider=YotpoProvider(route.key, route.client),
                currencies=frozenset(route.account.currencies),
                yotpo=route,
            )
            self._yotpo_providers[route.key] = found
        return found

    def yotpo_for_store(self, store_key: str | None) -> YotpoRoute | None:
        """A store's own Yotpo account, else the default one, else None (the order is
        skipped). None too when the store (or, for a store without its own, `default`) is
        served by another provider: its carts and sales are not Yotpo's."""
        key = self._account_key(store_key)
        return self.routes.get(key) if key is not None else None

    def yotpo_route(self, key: str) -> YotpoRoute | None:
        return self.routes.get(key)

    def yotpo_client(self, key: str) -> YotpoClient | None:
        """The client of an account key (`default` or a store key), for callers that are
        told the account rather than a store (Yotpo's webhooks carry `?account=`)."""
        route = self.routes.get(key)
        return route.client if route is not None else None


def commercetools_client(
    settings: ConnectorSettings,
    *,
    timeout: float = 10.0,
    max_retries: int = 3,
    session: requests.Session | None = None,
) -> CommercetoolsClient:
    return CommercetoolsClient(
        timeout=timeout,
        max_retries=max_retries,
        session=session,
        project_key=settings.ctp_project_key,
        client_id=settings.ctp_client_id,
        client_secret=settings.ctp_client_secret.get_secret_value(),
        scope=settings.ctp_scope,
        api_url=settings.api_url,
        auth_url=settings.auth_url,
    )


def build_runtime(
    settings: ConnectorSettings,
    *,
    yotpo_rate_per_second: float | None = None,
    sessions: Callable[[str], requests.Session] | None = None,
    ct_timeout: float = 10.0,
    ct_max_retries: int = 3,
) -> Runtime:
    """The clients of one process. The job passes its lower Yotpo rate (its share of the
    limit) and `sessions` (a session factory by service name, to count its calls).

    Without one, the process runs at its share of the account's rate: every process spends
    the same account (`shared.ratelimit.process_rate`, YOTPO_RATE_SHARERS / WEB_CONCURRENCY).
    """
    session = sessions or (lambda _service: None)
    commercetools = commercetools_client(
        settings, timeout=ct_timeout, max_retries=ct_max_retries, session=session("commercetools")
    )
    # Stores that share one Yotpo account share one client, so they share its rate limit
    # (Yotpo's limit is per account: 10 requests/s, guidelines-and-conventions). Other
    # processes spend the same account; the client reads `ratelimit-remaining` for that.
    rate = yotpo_rate_per_second or process_rate(
        settings.yotpo_rate_limit_per_second, rate_sharers(settings)
    )
    clients: dict[tuple[str, str], YotpoClient] = {}
    routes: dict[str, YotpoRoute] = {}
    for key, account in settings.accounts().items():
        identity = (account.guid, account.api_url)
        if identity not in clients:
            clients[identity] = YotpoClient(
                guid=account.guid,
                api_key=account.api_key.get_secret_value(),
                api_url=account.api_url,
                rate_limit_per_second=rate,
                limiter=RateLimiter(rate, guard_seconds=ARRIVAL_GUARD_SECONDS),
                session=session("yotpo"),
            )
        routes[key] = YotpoRoute(key=key, account=account, client=clients[identity])
    providers = _other_providers(
        settings,
        # The job runs at its share of every account's rate, whatever the provider.
        share=(rate / settings.yotpo_rate_limit_per_second) if yotpo_rate_per_second else None,
        session=session,
    )
    return Runtime(commercetools=commercetools, routes=routes, providers=providers)


def _other_providers(
    settings: ConnectorSettings,
    *,
    share: float | None,
    session: Callable[[str], requests.Session | None],
) -> dict[str, ProviderRoute]:
    """LOYALTY_PROVIDERS' accounts, each built by its provider's factory (registry)."""
    if not isinstance(settings, ProviderSettings):
        return {}
    sharers = rate_sharers(settings)

    def rate_share(documented: float) -> float:
        return documented * share if share is not None else process_rate(documented, sharers)

    context = ProviderContext(rate_share=rate_share, session=session)
    providers: dict[str, ProviderRoute] = {}
    for key, account in settings.provider_accounts().items():
        provider = factory(account.provider).build(key, account.options, context)
        currencies = getattr(account.options, "currencies", None) or frozenset()
        providers[key] = ProviderRoute(
            key=key, provider=provider, currencies=frozenset(c.upper() for c in currencies)
        )
    return providers
