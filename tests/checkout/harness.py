"""The checkout through its real path: the service app as an HTTP server, registered by its
own install script as the API Extension of the commercetools stand-in, talking to the Yotpo
stand-in. commercetools calls it on cart Create/Update and on order Create (the stand-in plays
https://docs.commercetools.com/api/projects/api-extensions), so nothing here fakes a call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests

from sandbox.serving import ServerThread
from service.app import create_app
from service.install import post_deploy
from service.settings import ServiceSettings
from shared.errors import CommercetoolsPermanentError
from shared.settings import load_settings
from tests.integration.world import GUID, PROJECT, World

SECRET = "extension-secret-value"
WEBHOOK_SECRET = "webhook-secret-value"
PASSWORD = "x1!"  # what Storefront.sign_up gives every customer


class CallCounter:
    """WSGI middleware counting the extension calls commercetools makes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.extension_calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/service":
            self.extension_calls += 1
        return self.app(environ, start_response)


class Checkout:
    def __init__(
        self, world: World, server: ServerThread, settings: ServiceSettings, calls: CallCounter
    ) -> None:
        self.world = world
        self.server = server
        self.settings = settings
        self.calls = calls

    def install(self, url: str | None = None) -> dict[str, str]:
        env = {"CONNECT_SERVICE_URL": url or f"{self.server.url}/service"}
        return post_deploy(self.world.ct, env, self.settings)

    def member(self, email: str, points: int) -> dict[str, Any]:
        customer = self.world.storefront.sign_up(email, "Sam", "Shopper")
        self.world.yotpo.upsert_customer(GUID, {"id": customer["id"], "email": email})
        self.world.yotpo.adjust_points(
            GUID, {"customer_id": customer["id"], "point_adjustment_amount": points}
        )
        return customer

    def balance(self, email: str) -> int:
        customer = self.world.yotpo_customer(email)
        assert customer is not None, email
        return int(customer["points_balance"])

    def shopper(self, email: str) -> Shopper:
        return Shopper.sign_in(self.world, email)


CHECKOUT_ENV = {
    "EXTENSION_SECRET": SECRET,
    "YOTPO_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "LOYALTY_CALL_BUDGET_MS": "800",
    "EXTENSION_TIMEOUT_MS": "1500",
    "REWARD_BASE_CURRENCY": "EUR",
}


@contextmanager
def running_checkout(world: World, **env: str) -> Iterator[Checkout]:
    """The service app serving the world's stand-ins, installed; `env` overrides settings."""
    settings = load_settings(ServiceSettings, {**world.env, **CHECKOUT_ENV, **env})
    calls = CallCounter(create_app(settings))
    server = ServerThread(calls).start()
    world.yotpo.put_account(
        {
            "guid": GUID,
            "api_key": "sandbox-api-key",
            "program": {
                "webhook_url": f"{server.url}/yotpo/webhooks",
                "webhook_secret": WEBHOOK_SECRET,
            },
        }
    )
    checkout = Checkout(world, server, settings, calls)
    checkout.install()
    try:
        yield checkout
    finally:
        server.stop()


class ShopperRefused(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.errors: list[dict[str, Any]] = body.get("errors", []) if isinstance(body, dict) else []


class Shopper:
    """A signed-in shopper's own session: a password-flow token (scope `manage_my_orders`)
    on the Me endpoints, as a storefront in the browser would hold it
    (https://docs.commercetools.com/api/authorization#password-flow)."""

    def __init__(self, base: str, token: str) -> None:
        self._base = base
        self._headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    def sign_in(cls, world: World, email: str, password: str = PASSWORD) -> Shopper:
        url = world.ct_server.url
        answer = requests.post(
            f"{url}/oauth/{PROJECT}/customers/token",
            auth=(world.env["CTP_CLIENT_ID"], world.env["CTP_CLIENT_SECRET"]),
            data={"grant_type": "password", "username": email, "password": password},
            timeout=10,
        )
        answer.raise_for_status()
        granted = answer.json()
        assert granted["scope"].startswith("manage_my_orders"), granted
        return cls(f"{url}/{PROJECT}/me", granted["access_token"])

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = requests.post(
            f"{self._base}/{path}", json=dict(body), headers=self._headers, timeout=10
        )
        if answer.status_code >= 400:
            raise ShopperRefused(answer.status_code, answer.json())
        result: dict[str, Any] = answer.json()
        return result

    def cart(self, items: list[tuple[str, int]], currency: str = "EUR") -> dict[str, Any]:
        return self._post(
            "carts",
            {
                "currency": currency,
                "country": "DE",
                "shippingAddress": {"country": "DE"},
                "lineItems": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
            },
        )

    def update(self, cart: Mapping[str, Any], *actions: dict[str, Any]) -> dict[str, Any]:
        return self._post(
            f"carts/{cart['id']}", {"version": cart["version"], "actions": list(actions)}
        )

    def order(self, cart: Mapping[str, Any]) -> dict[str, Any]:
        return self._post("orders", {"id": cart["id"], "version": cart["version"]})


def extension_error(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The extension's own error, as commercetools hands it to the storefront."""
    for error in errors:
        if error.get("extensionExtraInfo"):
            return error
        for inner in error.get("extensionErrors") or error.get("errors") or []:
            if inner.get("extensionExtraInfo"):
                return inner
    raise AssertionError(f"no extension error in {errors}")


def loyalty_error(exc: CommercetoolsPermanentError | ShopperRefused) -> str:
    return str(extension_error(exc.errors)["extensionExtraInfo"]["loyaltyError"])


def fields(resource: Mapping[str, Any]) -> dict[str, Any]:
    return dict((resource.get("custom") or {}).get("fields") or {})


def reward_discounts(cart: Mapping[str, Any]) -> list[int]:
    return [
        d["value"]["money"][0]["centAmount"]
        for d in cart.get("directDiscounts") or []
        if d["value"]["type"] == "absolute"
    ]
