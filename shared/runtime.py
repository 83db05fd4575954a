"""The configured clients of one app process (the only long-lived state the apps hold)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import requests

from shared.commercetools import CommercetoolsClient
from shared.ratelimit import ARRIVAL_GUARD_SECONDS, RateLimiter, process_rate, rate_sharers
from shared.settings import DEFAULT_ACCOUNT, ConnectorSettings, YotpoAccount
from shared.yotpo import YotpoClient


@dataclass(frozen=True)
class YotpoRoute:
    """The Yotpo account that serves a commercetools store, and its client."""

    key: str
    account: YotpoAccount
    client: YotpoClient


@dataclass(frozen=True)
class Runtime:
    commercetools: CommercetoolsClient
    routes: dict[str, YotpoRoute]

    def yotpo_for_store(self, store_key: str | None) -> YotpoRoute | None:
        """A store's own account, else the default one, else None (the order is skipped)."""
        if store_key and store_key in self.routes:
            return self.routes[store_key]
        return self.routes.get(DEFAULT_ACCOUNT)

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
    return Runtime(commercetools=commercetools, routes=routes)
