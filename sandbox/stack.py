"""The whole connector on one machine: the stand-ins, Pub/Sub, and the three real apps.

Used by `make run` (the demo), the end-to-end tests and the benchmarks. Every piece runs as
its own process, exactly as deployed: the apps under gunicorn, configured only through the
environment, talking HTTP to the stand-ins through the connector's own clients.

With `StackOptions(provider="voyado")` the Voyado Engage stand-in (`sandbox/voyado/`) runs too
and one commercetools store (`VOYADO_STORE`) is served by it through `LOYALTY_PROVIDERS`
(ADR 0080); every other store stays on Yotpo's account, so one project runs both providers.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests

from sandbox.processes import ROOT, ManagedProcess, free_port
from sandbox.pubsub import PubSubEmulator, emulator_available
from shared.commercetools import CommercetoolsClient

PROJECT_KEY = "sandbox"
GCP_PROJECT = "sandbox"
TOPIC = "commercetools-loyalty"
PUSH_SUBSCRIPTION = "event-app-push"
YOTPO_GUID = "sandbox-guid"
YOTPO_API_KEY = "sandbox-api-key"
EXTENSION_SECRET = "sandbox-extension-secret"
APPS = ("event", "service", "job")
WEBHOOK_SECRET = "sandbox-webhook-secret"
# Yotpo's Create/Cancel Coupons URLs (rewards redeemed in Yotpo's own widget) and the rewards
# they may ask codes for: the stand-in's default options 1 (€5 off) and 2 (10 % over €50).
COUPON_SECRET = "sandbox-coupon-secret-0123"
COUPON_REWARDS = {
    "1": {"kind": "fixed", "amount": {"EUR": 500}},
    "2": {"kind": "percentage", "percentBp": 1000, "minimum": {"EUR": 5000}},
}
# The Voyado Engage tenant of the sandbox (a `sandbox.voyado.SandboxConfig`): the commercetools
# store it serves, its one storeExternalId ("at least one store",
# https://partner-integrations.voyado.com/docs/ecom/integrating-your-ecom) and its points model.
VOYADO_STORE = "nordic"
VOYADO_TENANT = "sandbox"
VOYADO_API_KEY = "voyado-sandbox-key"
VOYADO_STORE_EXTERNAL_ID = "ecom-nordic"
VOYADO_POINTS_PER_EURO = 10
# The tenant's step model: every 1000 points become a €10 reward voucher (the points are
# deducted, https://voyado.mintlify.app/docs/loyalty/vouchers).
VOYADO_VOUCHER_STEP_POINTS = 1000
VOYADO_VOUCHER_EUR = 10
# The Svix endpoint secret of the tenant's webhooks ("whsec_" + base64 of the key,
# https://docs.svix.com/receiving/verifying-payloads/how-manual).
VOYADO_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"sandbox-voyado-webhook-key-01").decode()


def voyado_config(
    points_per_euro: int = VOYADO_POINTS_PER_EURO,
    *,
    voucher_step_points: int = VOYADO_VOUCHER_STEP_POINTS,
    webhook_url: str | None = None,
) -> dict[str, Any]:
    """The stand-in's tenant: group currency EUR (the shop's), `points_per_euro` points per
    euro paid, a €10 voucher per `voucher_step_points`, its webhooks (point.balance.updated)
    sent to `webhook_url` when given."""
    webhooks = {"webhook_url": webhook_url, "webhook_secret": VOYADO_WEBHOOK_SECRET}
    return {
        "tenants": [
            {
                "name": VOYADO_TENANT,
                "api_keys": [VOYADO_API_KEY],
                "stores": [VOYADO_STORE_EXTERNAL_ID],
                "currency": "EUR",
                "rewards": {
                    "points_per_currency_unit": str(points_per_euro),
                    "voucher_step_points": voucher_step_points,
                    "voucher_value": str(VOYADO_VOUCHER_EUR),
                },
                # Receipts are applied by the batch "all the way down to 0 minutes"
                # (https://developer.voyado.com/en/receipts/introduction-to-receipts.html).
                "batch_interval_seconds": 0,
                **(webhooks if webhook_url else {}),
            }
        ]
    }


def voyado_provider_entry(base_url: str, *, webhooks: bool = False) -> dict[str, Any]:
    """The `LOYALTY_PROVIDERS` value of the Voyado store (the adapter's `VoyadoAccount`);
    `webhooks`: with the secret its Svix webhooks are verified with."""
    entry: dict[str, Any] = {
        "provider": "voyado",
        "baseUrl": base_url,
        "apiKey": VOYADO_API_KEY,
        "storeExternalId": VOYADO_STORE_EXTERNAL_ID,
        "currencies": ["EUR"],
    }
    if webhooks:
        entry["webhookSecret"] = VOYADO_WEBHOOK_SECRET
    return entry


def eventually(
    check: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> object:
    """Poll `check` until it returns something truthy; AssertionError after `timeout`."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(0.2)


@dataclass
class StackOptions:
    pubsub: str = "auto"  # "emulator", "direct" (the stand-in pushes itself) or "auto"
    # "voyado": the Voyado stand-in runs as well and serves VOYADO_STORE; Yotpo serves the rest.
    provider: Literal["yotpo", "voyado"] = "yotpo"
    apps: tuple[str, ...] = APPS
    workers: int = 2
    threads: int = 4
    app_env: Mapping[str, str] = field(default_factory=dict)
    yotpo_program: Mapping[str, object] | None = None  # overrides of the default program
    # Deliver commercetools messages to the event app (benchmarks push them themselves).
    wire_events: bool = True
    log_dir: Path = ROOT / ".run" / "logs"


class SandboxStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        mode = self.options.pubsub
        if mode == "auto":
            mode = "emulator" if emulator_available() else "direct"
        self.pubsub_mode = mode
        names = ["yotpo", "commercetools", *self.options.apps]
        if self.options.provider == "voyado":
            names.append("voyado")
        self.ports = {name: free_port() for name in names}
        self.processes: dict[str, ManagedProcess] = {}
        self.emulator: PubSubEmulator | None = None

    # --- addresses -------------------------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def yotpo_api_url(self) -> str:
        return f"{self.url('yotpo')}/api/v2"

    @property
    def ct_url(self) -> str:
        return self.url("commercetools")

    @property
    def voyado_url(self) -> str:
        return self.url("voyado")

    def app_env(self) -> dict[str, str]:
        """The environment each app reads, exactly the keys connect.yaml declares."""
        providers: dict[str, str] = {}
        if self.options.provider == "voyado":
            entry = voyado_provider_entry(self.voyado_url, webhooks="service" in self.options.apps)
            providers["LOYALTY_PROVIDERS"] = json.dumps({VOYADO_STORE: entry})
            # Voyado takes back points by returned unit, so refunds are planned from return
            # items, which name their units, not from payment amounts (ADR 0085).
            providers["REFUND_SOURCE"] = "returns"
        return {
            "CTP_PROJECT_KEY": PROJECT_KEY,
            "CTP_CLIENT_ID": "sandbox-client",
            "CTP_CLIENT_SECRET": "sandbox-client-secret",
            "CTP_SCOPE": f"manage_project:{PROJECT_KEY}",
            "CTP_REGION": "europe-west1.gcp",
            "CTP_API_URL": self.ct_url,
            "CTP_AUTH_URL": self.ct_url,
            "YOTPO_GUID": YOTPO_GUID,
            "YOTPO_API_KEY": YOTPO_API_KEY,
            "YOTPO_API_URL": self.yotpo_api_url,
            "EXTENSION_SECRET": EXTENSION_SECRET,
            "YOTPO_WEBHOOK_SECRET": WEBHOOK_SECRET,
            # The stand-in program's base currency: Yotpo's option amounts and minimums are in
            # it, and the checkout values rewards only when it knows it.
            "REWARD_BASE_CURRENCY": "EUR",
            "YOTPO_COUPON_SECRET": COUPON_SECRET,
            "COUPON_REWARDS": json.dumps(COUPON_REWARDS),
            # The sandbox pushes messages itself, without Google-signed tokens.
            "OIDC_VERIFICATION": "off",
            **providers,
            **self.options.app_env,
        }

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> SandboxStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        log_dir = self.options.log_dir
        python = sys.executable
        # The stand-in with Yotpo's rewards page (widget) installed: sandbox/yotpo/widget.py.
        yotpo_args = [python, "-m", "sandbox.yotpo.widget", "--port", str(self.ports["yotpo"])]
        if self.options.yotpo_program:
            config = log_dir / "yotpo-config.json"
            log_dir.mkdir(parents=True, exist_ok=True)
            account = {"guid": YOTPO_GUID, "api_key": YOTPO_API_KEY}
            config.write_text(
                json.dumps({"accounts": [{**account, "program": self.options.yotpo_program}]})
            )
            yotpo_args += ["--config", str(config)]
        self._spawn("yotpo", yotpo_args, {}, f"{self.url('yotpo')}/_sandbox/state")
        if self.options.provider == "voyado":
            config = log_dir / "voyado-config.json"
            log_dir.mkdir(parents=True, exist_ok=True)
            # Voyado's webhooks go to the service app (service/voyado_webhooks.py).
            webhook_url = None
            if "service" in self.options.apps:
                webhook_url = f"{self.url('service')}/voyado/webhooks"
            config.write_text(json.dumps(voyado_config(webhook_url=webhook_url)))
            voyado_args = [python, "-m", "sandbox.voyado", "--port", str(self.ports["voyado"])]
            voyado_args += ["--config", str(config)]
            self._spawn("voyado", voyado_args, {}, f"{self.voyado_url}/_sandbox/state")

        ct_env: dict[str, str] = {}
        if self.pubsub_mode == "emulator":
            self.emulator = PubSubEmulator(log_dir, project=GCP_PROJECT).start()
            ct_env.update(self.emulator.env())
        ct_args = [
            python,
            "-m",
            "sandbox.commercetools",
            "--port",
            str(self.ports["commercetools"]),
            "--project-key",
            PROJECT_KEY,
        ]
        self._spawn("commercetools", ct_args, ct_env, f"{self.ct_url}/_sandbox/state")

        for app in self.options.apps:
            self._spawn(
                app,
                [
                    str(Path(python).parent / "gunicorn"),
                    "--bind",
                    f"127.0.0.1:{self.ports[app]}",
                    "--workers",
                    str(self.options.workers),
                    "--threads",
                    str(self.options.threads),
                    "--timeout",
                    "30",
                    # Several gunicorn masters on one machine must not share one control socket.
                    "--no-control-socket",
                    f"{app}.wsgi:app",
                ],
                {**self.app_env(), "PORT": str(self.ports[app])},
                f"{self.url(app)}/health",
            )
        if "event" in self.options.apps and self.options.wire_events:
            self._wire_events()
        if "job" in self.options.apps:
            self._wire_job()
        if "service" in self.options.apps:
            self._wire_checkout()

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str], ready_url: str) -> None:
        process = ManagedProcess(name, argv, env=env, log_dir=self.options.log_dir).start()
        self.processes[name] = process
        process.wait_http(ready_url, timeout=60)

    def _wire_events(self) -> None:
        """Deliver commercetools messages to the event app, then install its Subscription."""
        push_endpoint = f"{self.url('event')}/event"
        if self.emulator is not None:
            self.emulator.create_push_subscription(TOPIC, PUSH_SUBSCRIPTION, push_endpoint)
        else:
            requests.post(
                f"{self.ct_url}/_sandbox/push-endpoints",
                json={"topic": TOPIC, "url": push_endpoint},
                timeout=5,
            ).raise_for_status()
        from event.install import post_deploy

        post_deploy(
            self.commercetools(),
            {"CONNECT_GCP_PROJECT_ID": GCP_PROJECT, "CONNECT_GCP_TOPIC_NAME": TOPIC},
        )

    def _wire_job(self) -> None:
        """The job app's install script: the customer fields the write-back fills."""
        from job.install import post_deploy
        from job.settings import JobSettings
        from shared.settings import load_settings

        post_deploy(self.commercetools(), {}, load_settings(JobSettings, self.app_env()))

    def _wire_checkout(self) -> None:
        """Register the API Extension (the service app's own install script) and point
        Yotpo's webhooks at the service app."""
        from service.install import post_deploy
        from service.settings import ServiceSettings
        from shared.settings import load_settings

        settings = load_settings(ServiceSettings, self.app_env())
        post_deploy(
            self.commercetools(),
            {"CONNECT_SERVICE_URL": f"{self.url('service')}/service"},
            settings,
        )
        program = {
            **(self.options.yotpo_program or {}),
            "webhook_url": f"{self.url('service')}/yotpo/webhooks",
            "webhook_secret": WEBHOOK_SECRET,
        }
        requests.post(
            f"{self.url('yotpo')}/_sandbox/accounts",
            json={"guid": YOTPO_GUID, "api_key": YOTPO_API_KEY, "program": program},
            timeout=5,
        ).raise_for_status()
        # Yotpo's widget calls the service app's Create/Cancel Coupons URLs.
        requests.post(
            f"{self.url('yotpo')}/_sandbox/widget/config",
            params={"guid": YOTPO_GUID},
            json={
                "create_url": f"{self.url('service')}/yotpo/coupons",
                "cancel_url": f"{self.url('service')}/yotpo/coupons/cancel",
                "secret": COUPON_SECRET,
            },
            timeout=5,
        ).raise_for_status()

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
        if self.emulator is not None:
            self.emulator.stop()

    def __enter__(self) -> SandboxStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the connector's own clients, pointed at the stand-ins ------------------------------
    def commercetools(self) -> CommercetoolsClient:
        return CommercetoolsClient(
            project_key=PROJECT_KEY,
            client_id="sandbox-client",
            client_secret="sandbox-client-secret",
            scope=f"manage_project:{PROJECT_KEY}",
            api_url=self.ct_url,
            auth_url=self.ct_url,
        )

    def yotpo_state(self) -> dict:
        response = requests.get(f"{self.url('yotpo')}/_sandbox/state", timeout=5)
        response.raise_for_status()
        return response.json()

    def widget_redeem(self, body: Mapping[str, object]) -> requests.Response:
        """The shopper redeems in Yotpo's rewards page (the stand-in's widget)."""
        return requests.post(
            f"{self.url('yotpo')}/_sandbox/widget/redeem",
            params={"guid": YOTPO_GUID},
            json=dict(body),
            timeout=30,
        )

    # --- the Voyado stand-in's admin API (provider="voyado") -------------------------------
    def voyado_state(self) -> dict[str, Any]:
        """The Voyado tenant's contacts and receipts (`GET /_sandbox/state`)."""
        response = requests.get(
            f"{self.voyado_url}/_sandbox/state", params={"tenant": VOYADO_TENANT}, timeout=5
        )
        response.raise_for_status()
        return response.json()["tenants"][VOYADO_TENANT]

    def voyado_contact(self, contact_id: str) -> dict[str, Any]:
        """One contact's balance, receipts and transactions (`GET /_sandbox/contacts/{id}`)."""
        response = requests.get(
            f"{self.voyado_url}/_sandbox/contacts/{contact_id}",
            params={"tenant": VOYADO_TENANT},
            timeout=5,
        )
        response.raise_for_status()
        return response.json()

    def voyado_seed_contact(self, attributes: Mapping[str, object]) -> dict[str, Any]:
        """A contact made in Voyado itself (not by the connector): `POST /_sandbox/contacts`."""
        response = requests.post(
            f"{self.voyado_url}/_sandbox/contacts",
            params={"tenant": VOYADO_TENANT},
            json=dict(attributes),
            timeout=5,
        )
        response.raise_for_status()
        return response.json()

    def voyado_webhooks(self) -> list[dict[str, Any]]:
        """The Svix deliveries the stand-in made, with their attempts (`/_sandbox/webhooks`)."""
        response = requests.get(f"{self.voyado_url}/_sandbox/webhooks", timeout=5)
        response.raise_for_status()
        return response.json()["deliveries"]

    def voyado_requests(self, since: int = 0) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.voyado_url}/_sandbox/requests", params={"since": since}, timeout=5
        )
        response.raise_for_status()
        return response.json()["requests"]

    def yotpo_requests(self, since: int = 0) -> list[dict]:
        response = requests.get(
            f"{self.url('yotpo')}/_sandbox/requests", params={"since": since}, timeout=5
        )
        response.raise_for_status()
        body = response.json()
        return body["requests"] if isinstance(body, dict) else body
